"""Which process owns a scratch database or a private server's folder, and whether it still runs (issue 13).

Every scratch database carries a comment naming its owner, every private server's folder an owner.json, so that
a later run can tell what an interrupted run (kill -9, a power cut) left behind from what a running one uses.
A process is known by its pid and its start time (clock ticks since boot, /proc/<pid>/stat field 22), so that a
pid the system has given to another process since does not count as the owner; and by its host and pid namespace,
since a pid means nothing on another machine or in another container sharing the server.

Known limitation: without /proc (macOS) start times are unknown ("-"): an owner pid that runs counts as the owner.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

UNKNOWN = "-"
SCRATCH_MARK = "consolidate scratch"
_COMMENT = re.compile(rf"{SCRATCH_MARK}: pid=(\d+) started=(\d+|-) host=(\S+) ns=(\d+|-)")


class State(StrEnum):
    """What became of an owner."""

    RUNNING = "running"  # its process still runs: never touch what it owns
    GONE = "gone"  # its process ended (or its pid now names another process): what it owns is left over
    ELSEWHERE = "elsewhere"  # another host or pid namespace: its pid cannot be checked from here, so never touched


@dataclass(frozen=True)
class Owner:
    """A process as a mark records it."""

    pid: int
    started: str  # clock ticks since boot when the process started, or UNKNOWN
    host: str
    ns: str  # the inode of its pid namespace, or UNKNOWN

    def comment(self) -> str:
        """The text of COMMENT ON DATABASE for a scratch database this process owns."""
        return f"{SCRATCH_MARK}: pid={self.pid} started={self.started} host={self.host} ns={self.ns}"

    def document(self) -> dict[str, Any]:
        """owner.json of a private server's folder."""
        return asdict(self)

    def state(self) -> State:
        """Whether the owner still runs, as far as this process can tell."""
        here = this_process()
        if (self.host, self.ns) != (here.host, here.ns):
            return State.ELSEWHERE
        if not process_alive(self.pid):
            return State.GONE
        now = process_started(self.pid)
        reused = UNKNOWN not in (self.started, now) and now != self.started
        return State.GONE if reused else State.RUNNING


def owner_of_comment(text: str | None) -> Owner | None:
    """The owner a database comment names, None unless the comment is exactly a mark `Owner.comment` writes."""
    found = _COMMENT.fullmatch(text or "")
    if found is None:
        return None
    pid, started, host, ns = found.groups()
    return Owner(int(pid), started, host, ns)


def owner_of_document(document: object) -> Owner | None:
    """The owner an owner.json holds, None unless it has exactly the fields `Owner.document` writes."""
    if not isinstance(document, dict) or set(document) != {"pid", "started", "host", "ns"}:
        return None
    pid, started, host, ns = (document[key] for key in ("pid", "started", "host", "ns"))
    if not isinstance(pid, int) or not all(isinstance(value, str) for value in (started, host, ns)):
        return None
    return Owner(pid, started, host, ns)


@cache
def this_process() -> Owner:
    """The running process as its marks name it (computed once: none of it changes while the process runs)."""
    pid = os.getpid()
    return Owner(pid, process_started(pid), socket.gethostname() or UNKNOWN, _pid_namespace())


def process_started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot; UNKNOWN without /proc or without the process."""
    try:
        # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19] if fields[19].isdigit() else UNKNOWN
    except (OSError, IndexError):
        return UNKNOWN


def _pid_namespace() -> str:
    try:
        found = re.fullmatch(r"pid:\[(\d+)\]", os.readlink("/proc/self/ns/pid"))
    except OSError:
        return UNKNOWN
    return found.group(1) if found else UNKNOWN


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs; a zombie (exited, not yet reaped by its parent) does not count."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all we know
    return state not in ("Z", "X")


def wait_gone(pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for process `pid` to end; whether it did."""
    deadline = time.monotonic() + seconds
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
