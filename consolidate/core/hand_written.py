"""Rollbacks written by hand in the canonical tree, and the copies `apply --force` keeps of what it replaces.

A down file is the user's once it differs from what the tool wrote there: the lock lists it with another
checksum (an edited stub, legacy or generated rollback), or marks it as the user's already (`LockEntry.by_user`),
or, unlisted, it carries none of the tool's first-line markers. Apply keeps such a file as it is and records it
in the lock as the user's; `verify` proves it like any rollback, since it reads down/ from the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from consolidate.core.changes import Change, Status, owned
from consolidate.layout import DOWNS, STUB_MARKER, written_by_consolidate
from consolidate.model import Diagnostic, Location, Lock

BACKUP_SUFFIX = ".bak"
_BACKUP = re.compile(r".+\.bak(?:\.\d+)?")


def is_backup(path: str) -> bool:
    """Whether `path` is named as `backups` names its copies: the report describes the tree without them."""
    return _BACKUP.fullmatch(path) is not None


def hand_written(
    rendered: Mapping[str, bytes], current: Mapping[str, bytes], lock: Lock | None, always_owned: frozenset[str]
) -> dict[str, bytes]:
    """The down files of `rendered` that are the user's on disk: path → their bytes, to be kept as they are."""
    found = {}
    for path, ours in rendered.items():
        data = current.get(path)
        if not path.startswith(f"{DOWNS}/") or data is None or data == ours or path in always_owned:
            continue
        entry = lock.output(path) if lock is not None else None
        if entry is not None:
            if not owned(path, data, lock, always_owned):
                found[path] = data
        elif not written_by_consolidate(data):  # unlisted: only the tool's marker tells its own file
            found[path] = data
    return found


def stub_kept(output: str, paths: Iterable[str], current: Mapping[str, bytes]) -> list[Diagnostic]:
    """Hand-written rollbacks that still open with the stub's first line: `migrate down` refuses them."""
    return [
        Diagnostic(
            "check.hand-written-stub",
            f"this rollback was written by hand but still opens with `{STUB_MARKER}`: `consolidate migrate down` "
            "takes it for the stub and refuses to run it",
            Location(f"{output}/{path}", 1),
            hint="delete its first line",
        )
        for path in sorted(paths)
        if current[path].startswith(STUB_MARKER.encode())
    ]


def backups(
    changes: Iterable[Change], current: Mapping[str, bytes], lock: Lock | None, always_owned: frozenset[str]
) -> dict[str, str]:
    """What `apply --force` replaces or removes that the tool did not write (or that was edited since): path →
    where its copy goes, beside it (`down/003_x_down.sql.bak`; `.bak.2`, … when that name holds other bytes)."""
    copies = {}
    for change in changes:
        old = change.old
        if change.status not in (Status.CHANGED, Status.REMOVED) or old is None:
            continue
        if owned(change.path, old, lock, always_owned):
            continue
        copy, n = f"{change.path}{BACKUP_SUFFIX}", 1
        while current.get(copy, old) != old:
            n += 1
            copy = f"{change.path}{BACKUP_SUFFIX}.{n}"
        copies[change.path] = copy
    return copies
