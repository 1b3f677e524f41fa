"""How far long work got, told to whoever watches: a small protocol, silent unless the CLI draws it (issue 17 #3).

The library stays free of typer and rich: a step that can take more than a second (parsing many files, the
replays, the rollback proofs) opens a `stage` and advances it; the CLI's `watched` (cli/progress.py) decides
whether anyone sees it. A context variable, not a parameter: the stages sit deep under the verbs, and a caller
that does not watch (tests, the library used from Python) passes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Steps(Protocol):
    """Told when a stage begins (with how many steps it has), at each step, and when it ends."""

    def begin(self, what: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def end(self) -> None: ...


_WATCHER: ContextVar[Steps | None] = ContextVar("steps", default=None)


@contextmanager
def watched(steps: Steps) -> Iterator[None]:
    """Within this block, every stage is told to `steps`."""
    token = _WATCHER.set(steps)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def _nothing() -> None:
    return None


@contextmanager
def stage(what: str, total: int) -> Iterator[Callable[[], None]]:
    """A stage of `total` steps; yields the function to call after each one (it does nothing when unwatched)."""
    watcher = _WATCHER.get()
    if watcher is None:
        yield _nothing
        return
    watcher.begin(what, total)
    try:
        yield watcher.advance
    finally:
        watcher.end()
