"""The one kind of console the CLI writes through: what reaches the terminal is the user's text, shown literally."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from consolidate.diagnostics import printable


class _Literal(Console):
    """Every string printed, table cells included, passes here: a control character in a file name or in SQL
    (ESC[2J clears the screen) is shown as its escape instead of reaching the terminal."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(printable(text), **options)


def terminal(stderr: bool = False) -> Console:
    """A console for stdout or stderr: no emoji codes (`mapping.yaml:100:` would print 💯), no highlighting of
    numbers and paths, control characters escaped; lines are wrapped on a terminal only, so logs keep them whole."""
    stream = sys.stderr if stderr else sys.stdout
    return _Literal(stderr=stderr, highlight=False, emoji=False, soft_wrap=not stream.isatty())
