"""SIGTERM and SIGHUP end the program the way Ctrl-C does: every `finally` runs (issue 13).

Python's default for both is to die on the spot, leaving scratch databases on a lent server and a private
server running with its folder. Here each becomes `Stopped`, a KeyboardInterrupt, so everything that cleans up
after a Ctrl-C — the `finally` blocks, psycopg cancelling the query in progress, subprocess killing its child —
does so for them too. The exit status is the shell's for that signal, 128 + its number (SIGINT 130, SIGTERM 143,
SIGHUP 129), and one line on stderr names it.

Stdlib only: installed before the CLI is imported (importing typer, rich and sqlglot takes a second).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a program ended by Ctrl-C

_installed_by: list[int] = []  # the pid that installed the handlers (a forked worker inherits them)
_received: list[signal.Signals] = []


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: unwind as for Ctrl-C."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signum = signum


def install() -> None:
    """Make SIGTERM and SIGHUP raise `Stopped` in the main thread."""
    _installed_by[:] = [os.getpid()]
    for signum in HANDLED:
        signal.signal(signum, _stop)


def _stop(signum: int, frame: FrameType | None) -> None:
    if _installed_by != [os.getpid()]:
        # A forked worker (the parser pool): it has nothing to clean up, and must die as its pool expects.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _received:
        return  # already unwinding: a second signal must not cut the clean-up short (SIGKILL still ends it all)
    _received.append(signal.Signals(signum))
    raise Stopped(signal.Signals(signum))


def received() -> signal.Signals | None:
    """The signal that stopped the program, if one did."""
    return _received[0] if _received else None


def interrupted(interrupt: KeyboardInterrupt | None = None) -> int:
    """Say on stderr what interrupted the program; return its exit status (128 + the signal's number)."""
    signum = interrupt.signum if isinstance(interrupt, Stopped) else received() or signal.SIGINT
    sys.stderr.write(f"\ninterrupted by {signum.name}\n")
    return 128 + signum
