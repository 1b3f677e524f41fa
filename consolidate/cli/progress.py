"""Progress bars for the library's long stages (consolidate.steps): on stderr, only when it is a terminal and the
command does not print JSON; elsewhere (CI logs, pipes, --json) nothing at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from consolidate.cli.console import terminal
from consolidate.steps import watched


class _Bars:
    """One bar per open stage (`verifying` nests none today, but a stage may open inside another)."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: list[TaskID] = []

    def begin(self, what: str, total: int) -> None:
        self.tasks.append(self.bar.add_task(what, total=total))

    def advance(self) -> None:
        if self.tasks:
            self.bar.advance(self.tasks[-1])

    def end(self) -> None:
        if self.tasks:
            self.bar.remove_task(self.tasks.pop())


def shown(console: Console, as_json: bool) -> bool:
    return console.is_terminal and not as_json


@contextmanager
def progress(as_json: bool = False) -> Iterator[None]:
    """Within this block, the library's stages are drawn as bars on stderr, when anyone is there to see them."""
    console = terminal(stderr=True)
    if not shown(console, as_json):
        yield
        return
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # transient: the bars leave no trace once done; what the command prints is the result.
    with Progress(*columns, console=console, transient=True) as bar, watched(_Bars(bar)):
        yield
