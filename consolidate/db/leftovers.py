"""What interrupted runs left behind, and reclaiming it once its owner is gone (issue 13).

A run killed without its `finally` (kill -9, a crash, a power cut) leaves its scratch databases on the server and
its private server's folder (with the server perhaps still running) in the temporary folder. Both carry the
owner's mark (consolidate.db.owner): a database comment, an owner.json. Rules:

- Only marked things are considered: a database named like ours without our exact comment, a consolidate-pg-*
  folder without an owner.json this user wrote, is never touched.
- Only a gone owner's leftovers are removed. A running owner's are listed as in use; an owner on another host or
  in another pid namespace cannot be checked from here, so its leftovers are listed and left alone.
- A folder's server still running is stopped first, and only when it is verifiably the server of that folder
  (its working directory is the folder's data directory): a forged postmaster.pid cannot have us signal anyone.
- Reclaiming at the start of a run never fails the run: what cannot be removed is said and left in place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from consolidate.db.owner import SCRATCH_MARK, Owner, State, owner_of_comment, owner_of_document, process_alive
from consolidate.db.server import (
    OWNER_FILE,
    WORKDIR_PREFIX,
    Server,
    _connect,
    _translated,
    drop_database,
    inspect,
    stop_process,
)
from consolidate.errors import ConsolidateError

log = logging.getLogger(__name__)

# Every database's comment is read: the name alone proves nothing (a prefix is the user's choice).
MARKED_DATABASES = (
    "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
    "WHERE shobj_description(oid, 'pg_database') LIKE %s ORDER BY datname"
)
# A stopped server's postmaster gets SIGINT (fast shutdown), then SIGQUIT, then SIGKILL.
STOP_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL)


class Kind(StrEnum):
    DATABASE = "database"
    FOLDER = "folder"


@dataclass(frozen=True)
class Leftover:
    """A marked scratch database or private server folder, and what became of it."""

    kind: Kind
    name: str  # the database's name, or the folder's path
    owner: Owner
    state: State
    removed: bool = False
    stopped: int | None = None  # the folder's postmaster, stopped before the folder was deleted
    error: str = ""  # why a gone owner's leftover could not be removed

    def describe(self) -> str:
        """One line for the user: what, whose, and what was done."""
        what = f"{self.kind} {self.name}"
        if self.removed:
            verb = "dropped" if self.kind is Kind.DATABASE else "deleted"
            stopped = f", after stopping its PostgreSQL (pid {self.stopped})" if self.stopped else ""
            return f"{verb} {what} (left by pid {self.owner.pid}, which is gone){stopped}"
        if self.error:
            return f"could not remove {what} (left by pid {self.owner.pid}, which is gone): {self.error}"
        if self.state is State.RUNNING:
            return f"in use: {what} (by pid {self.owner.pid}, which is running)"
        return f"left alone: {what} (by pid {self.owner.pid} on host {self.owner.host}, not checkable from here)"


def cleanup(url: str | None, roots: Iterable[Path] | None = None) -> list[Leftover]:
    """Every marked scratch database on the server at `url` (when given) and every private server folder of this
    user, the gone owners' ones removed (`consolidate verify --cleanup`)."""
    server = inspect(url, "url") if url else None
    found = databases(server) if server is not None else []
    return [_remove(server, leftover) for leftover in [*found, *folders(roots)]]


def reclaim_databases(server: Server) -> list[Leftover]:
    """Drop the scratch databases on `server` whose owner is gone, saying so on the log; what was looked at."""
    try:
        found = databases(server)
    except ConsolidateError as error:
        log.warning("could not look for scratch databases left by interrupted runs: %s", error.message())
        return []
    return _reclaim(server, found)


def reclaim_folders(roots: Iterable[Path] | None = None) -> list[Leftover]:
    """Delete the private server folders whose owner is gone (stopping their server), saying so on the log."""
    return _reclaim(None, folders(roots))


def _reclaim(server: Server | None, found: list[Leftover]) -> list[Leftover]:
    done = [_remove(server, leftover) for leftover in found]
    removed = [leftover for leftover in done if leftover.removed]
    if removed:
        log.warning(_summary(removed))
    for failed in (leftover for leftover in done if leftover.error):
        log.warning("%s; `consolidate verify --cleanup` lists what is left", failed.describe())
    return done


def _summary(removed: list[Leftover]) -> str:
    """One line for leftovers of one kind, e.g. dropped 2 scratch databases left by an interrupted run (pid 1234)."""
    kind = removed[0].kind
    count = len(removed)
    pids = sorted({leftover.owner.pid for leftover in removed})
    runs = "an interrupted run (pid" if len(pids) == 1 else "interrupted runs (pids"
    if kind is Kind.DATABASE:
        text = f"dropped {count} scratch database{'s' if count > 1 else ''}"
    else:
        text = f"deleted {count} private PostgreSQL folder{'s' if count > 1 else ''}"
    text += f" left by {runs} {', '.join(map(str, pids))})"
    stopped = sum(1 for leftover in removed if leftover.stopped)
    return text + (f", stopping {stopped} server{'s' if stopped > 1 else ''} still running there" if stopped else "")


# --- finding ------------------------------------------------------------------------------------------------------


def databases(server: Server) -> list[Leftover]:
    """The scratch databases on `server` that carry an owner's mark, with whether that owner runs."""
    with _connect(server.url) as connection, _translated("db.leftovers", "cannot list databases", server.url):
        rows = connection.execute(MARKED_DATABASES, [f"{SCRATCH_MARK}: %"]).fetchall()
    found = []
    for name, comment in rows:
        owner = owner_of_comment(comment)
        if owner is not None:
            found.append(Leftover(Kind.DATABASE, str(name), owner, owner.state()))
    return found


def folders(roots: Iterable[Path] | None = None) -> list[Leftover]:
    """The private server folders below `roots` (default: the temporary folder and /tmp) this user's runs
    marked, with whether their owner runs."""
    found = []
    for folder in _candidates(roots):
        owner = _folder_owner(folder)
        if owner is not None:
            found.append(Leftover(Kind.FOLDER, str(folder), owner, owner.state()))
    return found


def _candidates(roots: Iterable[Path] | None) -> list[Path]:
    chosen = roots if roots is not None else [Path(tempfile.gettempdir()), Path("/tmp")]
    seen: dict[Path, None] = {}
    for root in chosen:
        try:
            entries = sorted(root.glob(f"{WORKDIR_PREFIX}*"))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_symlink() and entry.is_dir():
                seen.setdefault(entry.resolve(), None)
    return list(seen)


def _folder_owner(folder: Path) -> Owner | None:
    """The owner in the folder's owner.json, when this user wrote it (a file another user could forge is none)."""
    marker = folder / OWNER_FILE
    try:
        status = marker.lstat()
        if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid():
            return None
        return owner_of_document(json.loads(marker.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


# --- removing -----------------------------------------------------------------------------------------------------


def _remove(server: Server | None, leftover: Leftover) -> Leftover:
    if leftover.state is not State.GONE:
        return leftover
    if leftover.kind is Kind.FOLDER:
        return _delete_folder(leftover)
    assert server is not None  # databases are found on a server
    try:
        drop_database(server, leftover.name)
    except ConsolidateError as error:
        return replace(leftover, error=error.diagnostics[0].message)
    return replace(leftover, removed=True)


def _delete_folder(leftover: Leftover) -> Leftover:
    folder = Path(leftover.name)
    data = folder / "data"
    pid = _postmaster(data)
    stopped = None
    if pid is not None and process_alive(pid):
        serves = _serves(pid, data)
        if serves is None:
            return replace(leftover, error=f"its PostgreSQL may still run (pid {pid}); stop it, then delete the folder")
        if serves:
            if not stop_process(pid, STOP_SIGNALS):
                return replace(leftover, error=f"its PostgreSQL (pid {pid}) does not stop")
            stopped = pid
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        # Another run reclaimed it at the same moment: gone, as wanted, and that run says so.
        return replace(leftover, stopped=stopped)
    except OSError as error:
        return replace(leftover, error=f"{error.strerror or error}", stopped=stopped)
    return replace(leftover, removed=True, stopped=stopped)


def _postmaster(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _serves(pid: int, data: Path) -> bool | None:
    """Whether process `pid` is the server of `data` (a postmaster works in its data directory); None when this
    cannot be told (no /proc)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == data.resolve()
    except FileNotFoundError:
        # No such process any more, or no /proc at all (macOS): only the first is an answer.
        return False if Path("/proc/self").exists() else None
    except OSError:
        return None  # another user's process: its working directory is hidden from us
