"""How apply shows what it would write or wrote: one line per file, unified diffs for changed ones."""

from __future__ import annotations

import difflib

from rich.console import Console

from consolidate.core.changes import Change, Status
from consolidate.diagnostics import printable


def _lines(data: bytes | None) -> list[str]:
    return (data or b"").decode("utf-8", errors="replace").splitlines(keepends=True)


def print_changes(console: Console, changes: list[Change], diffs: bool) -> None:
    counts = {status: sum(1 for c in changes if c.status is status) for status in Status}
    for change in changes:
        if change.status is not Status.UNCHANGED:
            console.print(f"{change.status.value:9} {change.path}", markup=False, highlight=False)
        if diffs and change.status is Status.CHANGED:
            diff = difflib.unified_diff(_lines(change.old), _lines(change.new), f"a/{change.path}", f"b/{change.path}")
            console.file.write(printable("".join(diff)))
    summary = ", ".join(f"{counts[status]} {status.value}" for status in Status)
    console.print(summary, markup=False, highlight=False)
