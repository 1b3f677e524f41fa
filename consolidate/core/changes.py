"""Compare the tree apply wants with the tree on disk: what is new, changed, unchanged or removed, and what
must not be touched.

A file is ours when the lock lists it with the checksum it has on disk. Anything else in the way — a file the
lock does not know, or one of ours edited by hand since — is never overwritten or removed without `force`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from consolidate.model import Diagnostic, Location, Lock


class Status(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"


@dataclass(frozen=True)
class Change:
    path: str  # relative to the output folder
    status: Status
    old: bytes | None
    new: bytes | None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def owned(path: str, data: bytes, lock: Lock | None, always_owned: frozenset[str]) -> bool:
    """Whether the file at `path` holds what the tool wrote there: apply may replace or remove it."""
    if path in always_owned:
        return True
    entry = lock.output(path) if lock is not None else None
    return entry is not None and not entry.by_user and entry.sha256 == sha256(data)


def compute_changes(
    desired: Mapping[str, bytes],
    current: Mapping[str, bytes],
    lock: Lock | None,
    output: str,
    force: bool = False,
    always_owned: frozenset[str] = frozenset(),
) -> tuple[list[Change], list[Diagnostic]]:
    """Changes sorted by path, and the refusals (empty with `force`)."""
    changes: list[Change] = []
    refusals: list[Diagnostic] = []
    for path in sorted(desired):
        old = current.get(path)
        if old is None:
            changes.append(Change(path, Status.NEW, None, desired[path]))
        elif old == desired[path]:
            changes.append(Change(path, Status.UNCHANGED, old, old))
        else:
            changes.append(Change(path, Status.CHANGED, old, desired[path]))
            if not force and not owned(path, old, lock, always_owned):
                refusals.append(_refusal(output, path, "overwrite"))
    previous = {entry.path for entry in lock.outputs} if lock is not None else set()
    for path in sorted(previous - set(desired)):
        old = current.get(path)
        if old is None:
            continue
        changes.append(Change(path, Status.REMOVED, old, None))
        if not force and not owned(path, old, lock, always_owned):
            refusals.append(_refusal(output, path, "remove"))
    return sorted(changes, key=lambda change: change.path), refusals


def _refusal(output: str, path: str, verb: str) -> Diagnostic:
    return Diagnostic(
        "apply.foreign-file",
        f"refusing to {verb} a file consolidate did not write (or that was edited by hand since)",
        Location(f"{output}/{path}"),
        hint="move it out of the way, or run `consolidate apply --force` to replace it",
    )
