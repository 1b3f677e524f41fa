"""Findings and where they are: the vocabulary every layer reports in, kept apart from the model so that the
runner, which needs nothing else of it, starts without building the model's classes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

TOOL = "consolidate"  # what a location-less message starts with

# C0 and C1 controls (tab and line feed kept, and a carriage return ending a CRLF line), DEL, and the bidirectional
# overrides of "Trojan Source": text from the user's files that would move the cursor, clear the screen, ring or
# reorder what is shown.
_UNPRINTABLE = re.compile(r"\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` for a terminal or a Markdown page: every control character shown as its escape (ESC as `\\x1b`)."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True, order=True)
class Location:
    """Where something is: a path (as shown to the user), a 1-based line and column when known."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        return text


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Diagnostic:
    """One finding with its location; `code` is a stable identifier (e.g. ``mapping.unknown-key``)."""

    code: str
    message: str
    location: Location
    hint: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def headline(self) -> str:
        """`path:line:col: severity: message`, as compilers print it, so editors and CI annotate the line.

        A finding about no file (a missing option, the server) names the tool instead: `consolidate: error: …`.
        """
        return f"{str(self.location) or TOOL}: {self.severity.value}: {self.message}"

    def lines(self) -> tuple[str, ...]:
        """The headline, then the hint on an indented line of its own (as gcc and rustc add their notes). A message
        of several lines (a replay failure's `detail:` and `context:`) has the others indented the same way, so that
        only the headline reads as a finding, to a person and to a problem matcher alike."""
        first, *more = self.headline().split("\n")
        hint = [f"  hint: {self.hint}"] if self.hint else []
        return (first, *(f"  {line}" for line in more), *hint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "path": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "message": self.message,
            "hint": self.hint,
        }
