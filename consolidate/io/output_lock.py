"""One writer at a time per output folder: an OS lock (flock) on a file beside it, waited for with a deadline.

The file is ``<parent>/.consolidate-lock-<output name>``: beside the output, not in it, because apply swaps the
output folder for a rebuilt one and a lock inside would be swapped away with it. Its holder writes who it is
(command, pid, start time) into it, so a writer that waits can name it. The kernel drops the lock when its process
ends, however it ends (kill -9 included): no lock outlives its holder.

The holder deletes the file before it lets go, so a finished write leaves nothing beside the output (an output
kept in git would show it as untracked). Deleting a lock file races unless every taker checks, once it holds the
lock, that the name still leads to the file it locked: a waiter that locked a file its holder had just deleted
lets it go and opens the name again. A file left by a killed holder is locked by nobody: the next writer takes it.

Two applies 50 ms apart both wrote, and one's recovery deleted the other's live temporary folder (issue 13 #4):
every writer, and `atomic.recover` with it, now runs only while holding this lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.io.disk import disk_error
from consolidate.model import Diagnostic, Location

LOCK_PREFIX = ".consolidate-lock-"
DEFAULT_WAIT = 60.0  # seconds, as `migrate --lock-wait`
POLL_SECONDS = 0.05
CANNOT_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass(frozen=True)
class Waiting:
    """How long a writer waits for another one's lock, and whom it tells once that it waits (a line of text)."""

    seconds: float = DEFAULT_WAIT
    notify: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Holder:
    """Who holds an output's lock, as its holder recorded it in the lock file."""

    command: str
    pid: int
    started: str  # local time, as a person reads it

    def __str__(self) -> str:
        return f"{self.command} (pid {self.pid}, started {self.started})"


def lock_path(output: Path) -> Path:
    """The lock file of `output`: hidden, beside it (the scan and `read_output` skip hidden names)."""
    return output.parent / f"{LOCK_PREFIX}{output.name}"


@contextmanager
def holding(output: Path, command: str, waiting: Waiting = Waiting()) -> Iterator[None]:
    """Hold `output`'s writer lock for the body of the `with`.

    Waits up to `waiting.seconds` while another process holds it, telling `waiting.notify` once whom it waits
    for; then raises ConsolidateError (exit 1) naming the holder. Creates the output's parent folder if need be.
    """
    path = lock_path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor: int | None = _acquire(path, waiting)
    except OSError as error:
        if error.errno not in CANNOT_WRITE:
            raise disk_error(error, path) from error
        descriptor = None
    if descriptor is None:
        # Where this user cannot create the lock file it cannot write the tree either: it goes on as a reader (as
        # `--check` does), and the writer refuses, in its own words, if the command would write (atomic.py).
        yield
        return
    try:
        _record(descriptor, Holder(command, os.getpid(), datetime.now().strftime("%Y-%m-%d %H:%M:%S")))
        yield
    finally:
        # Deleted while still locked: a waiter that then locks the deleted file sees it is gone, and starts again.
        with suppress(OSError):
            path.unlink()
        os.close(descriptor)  # releases the lock


def _acquire(path: Path, waiting: Waiting) -> int:
    """A descriptor of the lock file at `path`, locked."""
    deadline = time.monotonic() + waiting.seconds
    told = False
    descriptor = _open(path)
    while True:
        if _try_lock(descriptor):
            if _still_named(descriptor, path):
                return descriptor
            os.close(descriptor)  # its holder deleted it as it finished: the lock is the file now at `path`
            descriptor = _open(path)
            continue
        if time.monotonic() >= deadline:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise _locked(path, holder, waiting.seconds)
        if not told and waiting.notify is not None:
            waiting.notify(f"waiting for {_who(_holder(descriptor))} to finish writing (lock: {path})")
            told = True
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)


def _still_named(descriptor: int, path: Path) -> bool:
    """Whether `path` still names the file `descriptor` is open on."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _record(descriptor: int, holder: Holder) -> None:
    data = json.dumps({"command": holder.command, "pid": holder.pid, "started": holder.started}) + "\n"
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, data.encode("utf-8"), 0)


def _holder(descriptor: int) -> Holder | None:
    """The holder's record; None while it has not written it yet (or never will: a foreign flock)."""
    try:
        document = json.loads(os.pread(descriptor, 4096, 0))
        return Holder(str(document["command"]), int(document["pid"]), str(document["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _who(holder: Holder | None) -> str:
    return str(holder) if holder is not None else "another process"


def _locked(path: Path, holder: Holder | None, seconds: float) -> ConsolidateError:
    message = f"{_who(holder)} is writing this output: its lock was still held after {seconds:g} s"
    hint = "wait for it to finish, or raise --lock-wait (the lock ends with its process, however it ends)"
    return ConsolidateError([Diagnostic("output.locked", message, Location(str(path)), hint)], EXIT_FAIL)
