"""Write a whole folder tree atomically: an interrupted write leaves the old tree or the new one, never a mix.

The new tree is built complete in a hidden temporary folder beside the output (same filesystem, so renames are
atomic): unchanged files are hard-linked (copied where linking is refused), new files written, every file
written and every folder fsynced. Then one ``renameat2(RENAME_EXCHANGE)`` swaps the two folders, and the
temporary folder, which now holds the old tree, is deleted. A kill at any moment leaves the output holding the
old tree or the new one; `recover` (run at the start of every apply) deletes what was left beside it. Both run
under the output's writer lock (io/output_lock.py): a temporary folder beside the output is then no live
writer's, and recover may delete it.

Fallback and its window: where renameat2 is unavailable (not Linux, glibc < 2.28, a filesystem refusing the
flag), the switch takes two renames: output -> ``.consolidate-old-<name>-<random>``, then temporary -> output.
Between the two the output does not exist (a reader sees no tree, never a mixed one); a kill in that instant
leaves the old tree under its hidden name, and `recover` renames it back.

POSIX only: Windows cannot rename a folder over another, nor fsync a folder.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.io.disk import disk_error
from consolidate.model import Diagnostic, Location

TEMP_PREFIX = ".consolidate-tmp-"
OLD_PREFIX = ".consolidate-old-"
_SUFFIX_BYTES = 4  # 8 hex digits: fixed length, so `name-<suffix>` never matches another output's folders

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# What renameat2 answers when the kernel, the filesystem or the flag is not supported: use the fallback.
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})

_Renameat2 = Callable[[int, bytes, int, bytes, int], int]


def _load_renameat2() -> _Renameat2 | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None  # a libc older than 2.28, or not glibc: no wrapper exported
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast(_Renameat2, function)


# None when unavailable: the switch then takes the two-rename fallback.
_renameat2 = _load_renameat2()


@dataclass
class _Build:
    """What building the new tree remembers: folders' modes, which folders held entries, which files are new."""

    skipped: frozenset[str]
    modes: dict[str, int] = field(default_factory=dict)
    populated: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # files whose bytes are new on disk, to fsync


# --- public ------------------------------------------------------------------------------------------------


def write_tree(output: Path, files: Mapping[str, bytes], remove: Iterable[str] = ()) -> None:
    """Make `output` hold its current files minus `remove`, with `files` written over; atomically.

    Removing a folder's path removes everything below it; folders emptied by removals go too, `output` never.
    Does nothing at all (not even a temporary folder) when no file would change.
    """
    output = Path(os.path.abspath(output))
    removed = frozenset(remove)
    for path in (*files, *removed):
        _check_relative(path)
    try:
        _write_tree(output, files, removed)
    except OSError as error:
        raise disk_error(error, output) from error


def _write_tree(output: Path, files: Mapping[str, bytes], removed: frozenset[str]) -> None:
    _refuse_unwritable(output, files, removed)
    if not _changes(output, files, removed):
        return
    _refuse_read_only(output, files, removed)
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = _make_sibling(output, TEMP_PREFIX, os.mkdir)
    try:
        _build(output, temp, files, removed)
    except BaseException:
        _delete(temp, best_effort=True)  # the error that stopped the build is the one to report
        raise
    _switch(temp, output)


def recover(output: Path) -> None:
    """Undo what an interrupted write_tree left behind (called at the start of every apply).

    Only while holding the output's writer lock (`output_lock.holding`): the temporary folders it deletes would
    otherwise include a live writer's.
    """
    output = Path(os.path.abspath(output))
    try:
        _recover(output)
    except OSError as error:
        raise disk_error(error, output) from error


def _recover(output: Path) -> None:
    temps = _siblings(output, TEMP_PREFIX)
    olds = _siblings(output, OLD_PREFIX)
    if olds and not os.path.lexists(output):
        _restore(output, olds)
        olds = []
    # A temporary folder is an unfinished build or an exchanged old tree; an old folder beside an existing
    # output is a finished fallback switch. Either way the output already holds a whole tree.
    for stale in (*temps, *olds):
        _delete(stale)


# --- checks ------------------------------------------------------------------------------------------------


def _check_relative(path: str) -> None:
    parts = path.split("/")
    clean = not path.startswith("/") and not {"", ".", ".."} & set(parts)
    assert clean, f"not a clean relative path inside the output: {path!r}"


def _refuse_unwritable(output: Path, files: Mapping[str, bytes], removed: frozenset[str]) -> None:
    location = Location(str(output))
    if output.is_symlink():
        raise ConsolidateError.at(
            "write.output-symlink",
            "the output folder is a symlink: replacing it would replace the link, not the tree",
            location,
            hint="point the mapping's output at the real folder",
        )
    if os.path.lexists(output) and not output.is_dir():
        raise ConsolidateError.at("write.output-not-folder", "the output exists and is not a folder", location)
    problems = [problem for path in sorted(files) for problem in _conflicts(output, path, removed)]
    if problems:
        raise ConsolidateError(problems)


def _conflicts(output: Path, path: str, removed: frozenset[str]) -> list[Diagnostic]:
    """Why `path` cannot be written: a folder above it that is a link or a file, or a folder in its place."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        above = "/".join(parts[:depth])
        if _is_removed(above, removed):
            return []  # removed first, then created as a real folder
        folder = output / above
        if os.path.lexists(folder) and (folder.is_symlink() or not folder.is_dir()):
            # Writing below a linked folder would write outside the tree, and not atomically.
            return [_conflict(output, path, f"{above} is not a real folder (a symlink or a file)")]
    target = output / path
    if target.is_dir() and not target.is_symlink() and not _is_removed(path, removed):
        return [_conflict(output, path, "a folder is in the way")]
    return []


def _conflict(output: Path, path: str, reason: str) -> Diagnostic:
    return Diagnostic(
        "write.path-conflict",
        f"cannot write {path}: {reason}",
        Location(str(output / path)),
        hint="move it out of the output folder",
    )


def _refuse_read_only(output: Path, files: Mapping[str, bytes], removed: frozenset[str]) -> None:
    """Refuse, before anything is created, to write where the folders say not to.

    The switch itself only needs the output's parent to be writable (renaming a folder does not write into it),
    so without this check a read-only output (0555) would be replaced all the same: its mode is taken as the
    user's "do not write here" (issue 13, promise 8). Even root, whom the system lets through, is refused.
    """
    changed = [path for path, data in files.items() if not _holds(output / path, data)]
    changed += [path for path in removed if os.path.lexists(output / path)]
    # The parent receives the temporary folder and the switch; the output and the folders below it, the files.
    folders = {_existing(output.parent): "the folder is not writable: the new tree is built here, beside the output"}
    if output.is_dir():
        folders[output] = "the output folder is not writable: its files would be replaced"
    for path in changed:
        folders.setdefault(
            _existing((output / path).parent), f"the folder is not writable: {path} would be written in it"
        )
    problems = [_read_only(folder, why) for folder, why in sorted(folders.items()) if not _writable(folder)]
    if problems:
        raise ConsolidateError(problems)


def _existing(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists (where the missing ones would be created)."""
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _writable(folder: Path) -> bool:
    if not folder.is_dir():
        return True  # not a folder: the write fails on it with the system's own words
    # os.access answers for the user running the command; the mode bits, for root too: 0555 means read-only.
    granted = os.access(folder, os.W_OK | os.X_OK)
    return granted and bool(stat.S_IMODE(os.stat(folder).st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _read_only(folder: Path, why: str) -> Diagnostic:
    return Diagnostic(
        "write.read-only",
        f"{why}; nothing was written",
        Location(str(folder)),
        hint=f"make it writable (chmod u+w {folder}), or choose another output ('output' in the mapping, or --out)",
    )


def _is_removed(path: str, removed: frozenset[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:depth]) in removed for depth in range(1, len(parts) + 1))


def _changes(output: Path, files: Mapping[str, bytes], removed: frozenset[str]) -> bool:
    if any(os.path.lexists(output / path) for path in removed):
        return True
    return not all(_holds(output / path, data) for path, data in files.items())


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a regular file (not a link to one) with exactly `data`."""
    try:
        status = os.lstat(path)
        return stat.S_ISREG(status.st_mode) and status.st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


# --- build -------------------------------------------------------------------------------------------------


def _build(output: Path, temp: Path, files: Mapping[str, bytes], removed: frozenset[str]) -> None:
    build = _Build(removed | frozenset(files))
    if output.is_dir():
        build.modes[""] = os.stat(output).st_mode
        _copy_folder(output, temp, "", build)
    for path, data in sorted(files.items()):
        build.written.append(_write_file(temp / path, data, _regular_mode(output / path)))
    _prune(temp, build.populated)
    for path, mode in build.modes.items():
        if os.path.isdir(temp / path):
            os.chmod(temp / path, stat.S_IMODE(mode))
    _make_durable(temp, build.written)


def _copy_folder(source: Path, target: Path, relative: str, build: _Build) -> None:
    """Link or copy every entry below `source` into `target`, except skipped paths and what lies below them."""
    with os.scandir(source) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    if entries:
        build.populated.append(relative)
    for entry in entries:
        path = posixpath.join(relative, entry.name) if relative else entry.name
        if path in build.skipped:
            continue
        if entry.is_dir(follow_symlinks=False):
            os.mkdir(target / entry.name)
            build.modes[path] = entry.stat(follow_symlinks=False).st_mode
            _copy_folder(Path(entry.path), target / entry.name, path, build)
        else:
            _copy_entry(entry, target / entry.name, build)


def _copy_entry(entry: os.DirEntry[str], destination: Path, build: _Build) -> None:
    if entry.is_symlink():
        os.symlink(os.readlink(entry.path), destination)
        return
    try:
        # Files are never modified in place, only replaced, so sharing the inode with the old tree is safe.
        os.link(entry.path, destination, follow_symlinks=False)
    except OSError:  # another device, a filesystem without hard links, protected_hardlinks
        _copy_contents(entry, destination, build)


def _copy_contents(entry: os.DirEntry[str], destination: Path, build: _Build) -> None:
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISREG(mode):
        shutil.copy2(entry.path, destination, follow_symlinks=False)
        build.written.append(destination)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(destination, stat.S_IMODE(mode))
    else:
        raise ConsolidateError.at(
            "write.uncopyable",
            "cannot carry this special file (a socket or a device) into the rewritten folder",
            Location(entry.path),
            hint="move it out of the output folder",
        )


def _regular_mode(path: Path) -> int | None:
    """The permissions of the regular file `path` replaces, so a rewrite keeps them; None for a new file."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def _write_file(path: Path, data: bytes, mode: int | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(data)
        if mode is not None:
            os.fchmod(handle.fileno(), mode)
    return path


def _prune(temp: Path, populated: list[str]) -> None:
    """Remove folders that held entries before and hold none now, deepest first; never the root."""
    for relative in sorted(populated, key=lambda path: path.count("/"), reverse=True):
        folder = temp / relative
        if relative and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _make_durable(temp: Path, written: list[Path]) -> None:
    """Fsync every new file and every folder, so a power loss after the switch cannot show an empty file."""
    # All written first, then all fsynced: the first fsync's journal commit carries most of the others' data,
    # where fsyncing each right after writing it pays one commit per file.
    for path in written:
        _fsync(path, os.O_RDONLY)
    for folder, _, _ in os.walk(temp):  # does not descend into linked folders
        _fsync_folder(Path(folder))


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- switch ------------------------------------------------------------------------------------------------


def _switch(temp: Path, output: Path) -> None:
    leftover: Path | None
    try:
        if not os.path.lexists(output):
            os.rename(temp, output)
            leftover = None
        elif _exchange(temp, output):
            leftover = temp  # now holds the old tree
        else:
            leftover = _switch_in_two(temp, output)
    except OSError as error:
        _delete(temp)
        raise _switch_failed(output, error) from error
    _fsync_folder(output.parent)
    if leftover is not None:
        _delete(leftover, best_effort=True)  # the write is done; recover removes what is left


def _exchange(temp: Path, output: Path) -> bool:
    """Swap the two folders in one atomic step; False where the system cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(temp), _AT_FDCWD, os.fsencode(output), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(output))


def _switch_in_two(temp: Path, output: Path) -> Path:
    """The fallback: move the old tree aside, then the new one in; returns where the old tree went."""
    old = _make_sibling(output, OLD_PREFIX, lambda name: os.rename(output, name))
    try:
        os.rename(temp, output)
    except OSError:
        os.rename(old, output)
        raise
    return old


def _switch_failed(output: Path, error: OSError) -> ConsolidateError:
    # An OS error like any other at the disk boundary: exit 1 (the old tree is still in place).
    hint = "the output must be an ordinary folder on the same filesystem as its parent (not a mount point)"
    message = f"cannot replace the output folder: {error.strerror or error}"
    return ConsolidateError([Diagnostic("write.switch-failed", message, Location(str(output)), hint)], EXIT_FAIL)


# --- siblings ----------------------------------------------------------------------------------------------


def _make_sibling(output: Path, prefix: str, create: Callable[[Path], None]) -> Path:
    """Create (through `create`) a hidden folder beside `output` under a fresh random name; return it."""
    while True:
        sibling = output.parent / f"{prefix}{output.name}-{secrets.token_hex(_SUFFIX_BYTES)}"
        try:
            create(sibling)
        except FileExistsError:
            continue
        return sibling


def _siblings(output: Path, prefix: str) -> list[Path]:
    pattern = re.compile(re.escape(f"{prefix}{output.name}-") + f"[0-9a-f]{{{2 * _SUFFIX_BYTES}}}")
    try:
        with os.scandir(output.parent) as scan:
            names = [entry.name for entry in scan if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return [output.parent / name for name in sorted(names) if pattern.fullmatch(name)]


def _restore(output: Path, olds: list[Path]) -> None:
    """Put back the old tree a fallback switch moved aside just before it was interrupted."""
    if len(olds) > 1:
        raise ConsolidateError.at(
            "write.recover-ambiguous",
            f"the output is missing and {len(olds)} old trees lie beside it: " + ", ".join(old.name for old in olds),
            Location(str(output)),
            hint="rename the right one back to the output's name by hand",
        )
    os.rename(olds[0], output)
    _fsync_folder(output.parent)


def _fsync_folder(folder: Path) -> None:
    _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _delete(path: Path, best_effort: bool = False) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except PermissionError:
        _unlock_folders(path)  # a read-only folder's entries cannot be unlinked
        shutil.rmtree(path, ignore_errors=best_effort)
    except OSError:
        if not best_effort:
            raise


def _unlock_folders(path: Path) -> None:
    # Folders only: files are hard links shared with the live tree, so their modes must not change.
    for folder, _, _ in os.walk(path):
        os.chmod(folder, stat.S_IMODE(os.lstat(folder).st_mode) | stat.S_IRWXU)
