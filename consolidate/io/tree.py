"""Read the .sql files of the mapping's source folders from disk, without ever leaving the root.

Symlinks that resolve outside the root are reported, never followed: a mapping must not be able to pull
in (or, later, write through) files elsewhere on the machine.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from consolidate.errors import ConsolidateError
from consolidate.model import Diagnostic, Location, RawFile, SourceTree


@dataclass
class _Walk:
    """What a walk found: candidate files as (path relative to root, real path), and what it refused."""

    root: str  # real path of the root
    candidates: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    escaping: set[str] = field(default_factory=set)
    unreadable: list[Diagnostic] = field(default_factory=list)


def read_sources(root: Path, sources: Sequence[str]) -> SourceTree:
    """Every ``*.sql`` file below the source folders, each real file once; raises if one cannot be read."""
    walk = _Walk(os.path.realpath(root))
    for source in dict.fromkeys(sources):  # a source listed twice is walked once
        _walk_source(walk, root, source)
    files = _read(walk, _first_per_real_file(walk.candidates))
    if walk.unreadable:
        raise ConsolidateError(walk.unreadable)
    return SourceTree(files, tuple(walk.missing), tuple(sorted(walk.escaping)))


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
        return  # a symlink back up the tree: following it again would never end
    for entry in _entries(walk, folder, relative):
        path = posixpath.join(relative, entry.name)
        if entry.name.startswith("."):
            continue  # .git, editor files, and the atomic writer's .consolidate-tmp* folders
        if entry.is_symlink() and not _inside(walk, Path(entry.path)):
            walk.escaping.add(path)
        elif _is_dir(entry):
            _walk_folder(walk, Path(entry.path), path, ancestors | {real})
        elif entry.name.lower().endswith(".sql"):
            _add_file(walk, entry, path)


def _entries(walk: _Walk, folder: Path, relative: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        walk.unreadable.append(_unreadable(relative, error))
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _add_file(walk: _Walk, entry: os.DirEntry[str], path: str) -> None:
    try:
        regular = entry.is_file()
    except OSError:
        regular = False
    if regular:
        walk.candidates.append((path, os.path.realpath(entry.path)))
    elif entry.is_symlink():
        # A dangling link where a migration should be: dropping it silently would lose that migration.
        walk.unreadable.append(_unreadable(path, FileNotFoundError("the symlink's target does not exist")))
    # Anything else (a FIFO, a socket named .sql) is not a migration, and reading it could block.


def _inside(walk: _Walk, path: Path) -> bool:
    real = os.path.realpath(path)
    return real == walk.root or real.startswith(walk.root.rstrip(os.sep) + os.sep)


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
            walk.unreadable.append(_unreadable(path, error))
    return tuple(files)


def _unreadable(path: str, error: OSError) -> Diagnostic:
    reason = error.strerror or str(error)
    return Diagnostic(
        "tree.unreadable",
        f"cannot read {path or '.'}: {reason}",
        Location(path or "."),
        hint="check the file's permissions, or exclude it in the mapping",
    )
