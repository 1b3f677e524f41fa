"""What `consolidate verify --cleanup` prints: one line per leftover of an interrupted run, or a JSON document."""

from __future__ import annotations

from typing import Any

from consolidate.db.leftovers import Leftover


def cleanup_lines(found: list[Leftover], with_server: bool) -> list[str]:
    """One line per leftover (see `Leftover.describe`), or a line saying there is none and where it looked."""
    if found:
        return [leftover.describe() for leftover in found]
    if with_server:
        return ["no leftovers of interrupted runs, on the server or in the temporary folders"]
    return ["no leftovers of interrupted runs in the temporary folders (give --database-url to look on a server too)"]


def cleanup_document(found: list[Leftover]) -> dict[str, Any]:
    """`--json`: every leftover with its owner and what became of it; ok when every gone owner's was removed."""
    return {
        "ok": not any(leftover.error for leftover in found),
        "leftovers": [
            {
                "kind": str(leftover.kind),
                "name": leftover.name,
                "owner": leftover.owner.document(),
                "state": str(leftover.state),
                "removed": leftover.removed,
                "stopped_server_pid": leftover.stopped,
                "error": leftover.error,
            }
            for leftover in found
        ],
    }
