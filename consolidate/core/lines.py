"""Lines as PostgreSQL and editors count them: ``\\r\\n``, ``\\n`` and a lone ``\\r`` each end one line.

Every offset that becomes a ``line:column`` goes through here (statements, scan findings, PostgreSQL's error
positions), so that they all agree. libpq counts lines this way for its ``LINE n:`` excerpt, PostgreSQL's scanner
ends a ``--`` comment at either character, and editors show a lone ``\\r`` as a line end. (psql's own
``file:line`` prefix counts ``\\n`` only: in a file with lone ``\\r`` endings it would call everything line 1,
which points nobody anywhere; issue 13.)

Pure: text in, numbers out.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from consolidate.model import Location

BREAK = re.compile(r"\r\n?|\n")


class Lines:
    """Maps character offsets of one text to 1-based lines and columns (columns count characters)."""

    __slots__ = ("_starts",)

    def __init__(self, text: str) -> None:
        self._starts = [0, *(match.end() for match in BREAK.finditer(text))]

    def line(self, offset: int) -> int:
        return bisect_right(self._starts, offset)

    def column(self, offset: int) -> int:
        return offset - self._starts[self.line(offset) - 1] + 1

    def location(self, path: str, offset: int) -> Location:
        line = self.line(offset)
        return Location(path, line, offset - self._starts[line - 1] + 1)


def split_lines(text: str) -> list[str]:
    """The text's lines, each with its own line end (unlike str.splitlines, which also breaks at form feeds,
    vertical tabs and Unicode separators that PostgreSQL and editors leave inside a line)."""
    lines, start = [], 0
    for match in BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


@dataclass(frozen=True)
class Endings:
    """How many lines of a text end in each way."""

    crlf: int
    lf: int
    cr: int

    @property
    def mixed(self) -> bool:
        return sum(count > 0 for count in (self.crlf, self.lf, self.cr)) > 1

    @property
    def kind(self) -> str | None:
        """What the text has, as the scan names it; None for plain LF (or no line end at all)."""
        if self.mixed:
            return f"mixed ({self.crlf} CRLF, {self.lf} LF, {self.cr} CR)"
        if self.crlf:
            return "Windows (CRLF)"
        if self.cr:
            return "classic Mac (CR)"
        return None


def endings(text: str) -> Endings:
    """Count the text's line ends by kind."""
    crlf = text.count("\r\n")
    return Endings(crlf, text.count("\n") - crlf, text.count("\r") - crlf)


def first_change(text: str) -> int | None:
    """Offset of the first line end unlike the text's first one (where a mixed file turns), else None."""
    first = BREAK.search(text)
    if first is None:
        return None
    return next((match.start() for match in BREAK.finditer(text, first.end()) if match.group() != first.group()), None)
