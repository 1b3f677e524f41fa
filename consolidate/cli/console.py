"""The one kind of console the CLI writes through: what reaches the terminal is the user's text, shown literally.

rich is imported when a console is first made, not with this module: `migrate up` in a deploy log writes plain
lines (`say`) and never needs it, and its start-up is paid on every deploy (docs/benchmarks.md, issue 16).
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from consolidate.diagnostics import printable

if TYPE_CHECKING:
    from rich.console import Console

# Variables that make rich treat a stream that is no terminal as one (https://force-color.org/).
_FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE")
# rich shows a tab as spaces up to the next multiple of this column; `say` does the same without it.
TAB_SIZE = 8


@cache
def _literal() -> type[Console]:
    """Console whose every printed string, table cells included, passes through `printable`: a control
    character in a file name or in SQL (ESC[2J clears the screen) is shown as its escape instead of reaching the
    terminal."""
    from rich.console import Console
    from rich.text import Text

    class Literal(Console):
        def render_str(self, text: str, **options: Any) -> Text:
            return super().render_str(printable(text), **options)

    return Literal


def terminal(stderr: bool = False) -> Console:
    """A console for stdout or stderr: no emoji codes (`mapping.yaml:100:` would print 💯), no highlighting of
    numbers and paths, control characters escaped; lines are wrapped on a terminal only, so logs keep them whole."""
    stream = sys.stderr if stderr else sys.stdout
    return _literal()(stderr=stderr, highlight=False, emoji=False, soft_wrap=not stream.isatty())


def say(text: str, *, stderr: bool = False) -> None:
    """Print one line of literal text as `terminal().print(text, markup=False)` does. Off a terminal (a pipe, a
    CI log) that is the escaped text, line ends as \\n, tabs expanded, and a newline: written here, without
    loading rich."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        terminal(stderr).print(text, markup=False)
        return
    stream.write(printable(text).replace("\r\n", "\n").expandtabs(TAB_SIZE) + "\n")
    stream.flush()  # as rich does: a deploy log shows each line when it happens


def draws(stderr: bool = False) -> bool:
    """Whether the console draws (a progress bar, a live display): rich's own answer, asked only where it could be
    yes, so that a run writing to a pipe or a log never loads rich to hear no."""
    stream = sys.stderr if stderr else sys.stdout
    if not stream.isatty() and not any(name in os.environ for name in _FORCING):
        return False
    return terminal(stderr).is_terminal
