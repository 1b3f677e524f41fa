"""Read the .sql files of the mapping's source folders from disk, without ever leaving the root.

Symlinks that resolve outside the root are reported, never followed: a mapping must not be able to pull
in (or, later, write through) files elsewhere on the machine.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from consolidate.model import Diagnostic, Location, RawFile, Severity, SourceTree


@dataclass
class _Walk:
    """What a walk found: candidate files as (path relative to root, real path), and what it refused."""

    root: str  # real path of the root
    candidates: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    escaping: set[str] = field(default_factory=set)
    unreadable: list[Diagnostic] = field(default_factory=list)
    findings: list[Diagnostic] = field(default_factory=list)  # entries not read, and why
    others: list[RawFile] = field(default_factory=list)  # other tools' migration files, for core to name (issue 17)


def read_sources(root: Path, sources: Sequence[str]) -> SourceTree:
    """Every ``*.sql`` file below the source folders, each real file once.

    What cannot be read (a file without read permission, a folder that cannot be listed, a dangling link) is
    in `unreadable`, and the walk goes on: the caller reports it beside every other problem of the tree, in
    one run, instead of stopping at the first (issue 13, promise 8).
    """
    walk = _Walk(os.path.realpath(root))
    for source in dict.fromkeys(sources):  # a source listed twice is walked once
        _walk_source(walk, root, source)
    files = _read(walk, _first_per_real_file(walk.candidates))
    return SourceTree(
        files,
        tuple(walk.missing),
        tuple(sorted(walk.escaping)),
        tuple(walk.findings),
        tuple(walk.unreadable),
        tuple(walk.others),
    )


def _walk_source(walk: _Walk, root: Path, source: str) -> None:
    relative = posixpath.normpath(source)
    if relative.startswith(("/", "../")) or relative == "..":
        walk.escaping.add(source)  # lexically outside the root: nothing there is ours to read
        return
    path = root / relative
    if not _inside(walk, path):
        walk.escaping.add(relative)
    elif not path.is_dir():
        walk.missing.append(source)
    else:
        _walk_folder(walk, path, "" if relative == "." else relative, frozenset())


def _walk_folder(walk: _Walk, folder: Path, relative: str, ancestors: frozenset[str]) -> None:
    real = os.path.realpath(folder)
    if real in ancestors:
        walk.findings.append(_note(relative, "a symlink to a folder above it: not followed (its files are read once)"))
        return
    for entry in _entries(walk, folder, relative):
        path = posixpath.join(relative, entry.name)
        if entry.name.startswith(".") or _editor_file(entry.name):
            _skip_hidden(walk, entry.name, path)
        elif entry.is_symlink() and not _inside(walk, Path(entry.path)):
            walk.escaping.add(path)
        else:
            _visit(walk, entry, path, ancestors | {real})


def _visit(walk: _Walk, entry: os.DirEntry[str], path: str, ancestors: frozenset[str]) -> None:
    """Read, walk or report one entry; stat only: a named pipe is never opened (that would block)."""
    try:
        mode = os.stat(entry.path).st_mode  # through a symlink: what it points to
    except OSError as error:
        walk.unreadable.append(_broken(entry, path, error))
        return
    is_sql = entry.name.lower().endswith(".sql")
    if stat.S_ISDIR(mode):
        if is_sql:
            walk.findings.append(
                _warning(path, "a folder named like a migration file: only the .sql files in it are read")
            )
        _walk_folder(walk, Path(entry.path), path, ancestors)
    elif stat.S_ISREG(mode):
        if is_sql:
            walk.candidates.append((path, os.path.realpath(entry.path)))
        elif entry.name.lower().endswith(OTHER_MIGRATION_SUFFIXES):
            _read_other(walk, path, entry.path)
    else:
        what = _SPECIAL.get(stat.S_IFMT(mode), "a special file")
        message = f"{what}, not a regular file: not read"
        if is_sql:  # where a migration should be: the tool cannot tell what it was meant to hold
            walk.unreadable.append(_unreadable(path, message, "replace it with the migration's file, or remove it"))
        else:
            walk.findings.append(_warning(path, message))


_SPECIAL = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
# Files editors keep beside the one being edited: a lock or an autosave means unsaved changes may exist.
_EDITOR_FILES = (
    (re.compile(r"\.#(.+)"), "an editor's lock file (emacs): {name} may be open with unsaved changes"),
    (re.compile(r"#(.+)#"), "an editor's autosave (emacs): {name} may be open with unsaved changes"),
    (re.compile(r"\.(.+)\.sw[a-p]"), "an editor's swap file (vim): {name} may be open with unsaved changes"),
    (re.compile(r"(.+)~"), "an editor's backup of {name}"),
)


def _editor_file(name: str) -> bool:
    return name.endswith(("~", "#"))


def _skip_hidden(walk: _Walk, name: str, path: str) -> None:
    """Hidden entries and editor files are never read; those about a .sql file are reported, the rest
    (.git, .DS_Store, the atomic writer's .consolidate-tmp* folders) are not a migration's business."""
    for pattern, message in _EDITOR_FILES:
        match = pattern.fullmatch(name)
        if match and match.group(1).lower().endswith(".sql"):
            walk.findings.append(_warning(path, message.format(name=match.group(1)) + "; not read"))
            return
    if name.lower().endswith(".sql"):
        walk.findings.append(_warning(path, "a hidden file: not read", "rename it without the leading dot to read it"))


def _broken(entry: os.DirEntry[str], path: str, error: OSError) -> Diagnostic:
    """A link whose target cannot be reached: it may have stood for a migration or a whole folder of them."""
    hint = "point the link at an existing file or folder below root, or remove it"
    if error.errno == errno.ELOOP:
        return _unreadable(path, "symlink loop: the link leads back to itself", hint)
    if entry.is_symlink() and isinstance(error, FileNotFoundError):
        return _unreadable(path, f"dangling symlink to {os.readlink(entry.path)}", hint)
    return _unreadable(path, f"cannot look at it: {_reason(error)}")


def _entries(walk: _Walk, folder: Path, relative: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        message = f"cannot list the folder: {_reason(error)}"
        walk.unreadable.append(_unreadable(relative, message, "make it readable and searchable (chmod a+rx)"))
        return []


def _inside(walk: _Walk, path: Path) -> bool:
    real = os.path.realpath(path)
    return real == walk.root or real.startswith(walk.root.rstrip(os.sep) + os.sep)


# Migrations other tools write in code (Alembic, Django, Rails): read only to be named in the plan, never run.
OTHER_MIGRATION_SUFFIXES = (".py", ".rb")
_OTHER_HEAD = 64 * 1024  # their markers sit in the head of the file


def _read_other(walk: _Walk, path: str, real: str) -> None:
    try:
        with open(real, "rb") as file:
            walk.others.append(RawFile(path, file.read(_OTHER_HEAD)))
    except OSError:
        pass  # not a .sql file: what cannot be read of it is not the consolidation's to report


def _first_per_real_file(candidates: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One path per real file, the first by sort order, so links and overlapping sources read it once."""
    chosen: dict[str, str] = {}
    for path, real in sorted(candidates):
        chosen.setdefault(real, path)
    return sorted((path, real) for real, path in chosen.items())


def _read(walk: _Walk, chosen: list[tuple[str, str]]) -> tuple[RawFile, ...]:
    files: list[RawFile] = []
    for path, real in chosen:
        try:
            files.append(RawFile(path, Path(real).read_bytes()))
        except OSError as error:
            walk.unreadable.append(_unreadable(path, f"cannot read the file: {_reason(error)}"))
    return tuple(files)


_UNREADABLE_HINT = "make it readable by the user running consolidate (chmod a+r), or remove it"


def _reason(error: OSError) -> str:
    # The message leaves the path out: the location names it, relative to the mapping's folder, where
    # OSError's own text would name it relative to root.
    return error.strerror or error.__class__.__name__


def _unreadable(path: str, message: str, hint: str = _UNREADABLE_HINT) -> Diagnostic:
    return Diagnostic("tree.unreadable", message, Location(path or "."), hint=hint)


def _warning(path: str, message: str, hint: str = "") -> Diagnostic:
    return Diagnostic("tree.skipped", message, Location(path), hint, Severity.WARNING)


def _note(path: str, message: str) -> Diagnostic:
    return Diagnostic("tree.skipped", message, Location(path), severity=Severity.INFO)
