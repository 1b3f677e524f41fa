"""consolidation.lock as text: JSON with sorted keys and a fixed layout, so the same lock gives the same bytes.

The lock carries a digest of its own content (`digest`: the sha256 of the document without it, in that fixed
layout), so a lock changed by hand since the tool wrote it is told apart from one the tool wrote. A change of
layout alone (indentation, key order) keeps the content and so the digest; a lock without a digest (written before
it existed) cannot be checked and is taken as it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from consolidate.errors import ConsolidateError
from consolidate.model import Decision, Location, Lock, LockEntry, Preserved, Resolution

FORMAT = 1
DIGEST = "digest"


def lock_text(lock: Lock) -> str:
    document = {
        "format": FORMAT,
        "tool": "consolidate",
        "tool_version": lock.tool_version,
        "date": lock.date,
        "mapping_sha256": lock.mapping_sha256,
        "sources": [_entry(entry) for entry in lock.sources],
        "outputs": [_entry(entry) for entry in lock.outputs],
        "resolutions": [
            {"object": r.object, "decision": r.decision.value, "reason": r.reason} for r in lock.resolutions
        ],
        "preserved": [
            {"path": p.path, "sha256": p.sha256, "base64": base64.b64encode(p.data).decode("ascii")}
            for p in lock.preserved
        ],
    }
    return _dumped({**document, DIGEST: _digest(document)})


def _dumped(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(_dumped(document).encode("utf-8")).hexdigest()


def edited(text: str) -> bool:
    """Whether a lock's content changed since the tool wrote it: its digest no longer matches it. A lock that is
    not JSON is `parse_lock`'s to refuse; one without a digest cannot tell, and is not called edited."""
    try:
        document = json.loads(text)
    except ValueError:
        return False
    if not isinstance(document, dict) or DIGEST not in document:
        return False
    recorded = document.pop(DIGEST)
    return bool(recorded != _digest(document))


def _entry(entry: LockEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"path": entry.path, "sha256": entry.sha256}
    if entry.target is not None:
        data["target"] = entry.target
    if entry.by_user:
        data["by"] = "user"
    return data


def parse_lock(text: str, path: str) -> Lock:
    """Read a lock written by `lock_text`; anything else is bad input at `path`."""
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported lock format {document.get('format')!r}")
        return Lock(
            tool_version=str(document["tool_version"]),
            mapping_sha256=str(document["mapping_sha256"]),
            date=str(document["date"]),
            sources=tuple(_read_entry(item) for item in document["sources"]),
            outputs=tuple(_read_entry(item) for item in document["outputs"]),
            resolutions=tuple(
                Resolution(item["object"], Decision(item["decision"]), item["reason"], Location(path))
                for item in document["resolutions"]
            ),
            preserved=tuple(_read_preserved(item) for item in document.get("preserved", [])),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        raise ConsolidateError.at(
            "lock.invalid",
            f"not a consolidation lock: {error}",
            Location(path),
            hint="restore it from version control, or delete it and run `consolidate apply --force`",
        ) from error


def _read_preserved(item: dict[str, Any]) -> Preserved:
    data = base64.b64decode(item["base64"], validate=True)
    if hashlib.sha256(data).hexdigest() != item["sha256"]:
        raise ValueError(f"preserved copy of {item['path']} does not match its checksum")
    return Preserved(str(item["path"]), str(item["sha256"]), data)


def _read_entry(item: dict[str, Any]) -> LockEntry:
    target = item.get("target")
    by_user = item.get("by") == "user"
    return LockEntry(str(item["path"]), str(item["sha256"]), int(target) if target is not None else None, by_user)
