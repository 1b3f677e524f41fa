"""Files that hold both directions: goose, sql-migrate and dbmate mark an Up and a Down section in one file.

Run whole, such a file would create its objects and drop them again. Its up text is the Up section (and any
comment before the first marker), with the Down section's lines left empty so every line keeps its number; its
down text is the Down section, from its marker on.

Pure: text in, frozen dataclass out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consolidate.core.lines import BREAK, Lines, split_lines

# `-- +goose Up`, `-- +migrate Down notransaction`, `-- migrate:up transaction:false`: a marker is a whole line.
# A line starts after any line end (a lone \r too, see core/lines.py), which re.MULTILINE's ^ and $ do not know.
_LINE_START = r"(?<![^\r\n])[ \t]*"
_MARKER = re.compile(
    _LINE_START + r"--[ \t]*(?:\+(?P<tool>goose|migrate)[ \t]+(?P<word>up|down)|migrate:(?P<dbmate>up|down))\b"
    r"[^\r\n]*(?=[\r\n]|\Z)",
    re.IGNORECASE,
)
_NO_TRANSACTION = re.compile(
    _LINE_START
    + r"--[ \t]*\+goose[ \t]+NO[ \t]+TRANSACTION\b|"
    + _LINE_START
    + r"--[^\r\n]*(?:notransaction|transaction:[ \t]*false)",
    re.IGNORECASE,
)
_ENVSUB = re.compile(_LINE_START + r"--[ \t]*\+goose[ \t]+ENVSUB[ \t]+ON\b", re.IGNORECASE)
_TOOLS = {"goose": "goose", "migrate": "sql-migrate"}


@dataclass(frozen=True)
class Sections:
    """The two directions of an annotated file."""

    tool: str  # "goose" | "sql-migrate" | "dbmate"
    up: str  # the file's text but for the Down section (its lines left empty, or cut when it ends the file)
    down: str | None  # the Down section from its marker to the next Up marker or the end; None without one
    up_line: int  # line of the first Up marker
    down_line: int | None
    no_transaction: bool  # the file asks its tool to run it outside a transaction
    substitutes_environment: bool  # goose ENVSUB ON: ${VAR} is replaced when goose runs it


def sections(text: str) -> Sections | None:
    """The sections of `text`, or None when it carries no Up marker (an ordinary file)."""
    markers = list(_MARKER.finditer(text))
    if not any(_direction(marker) == "up" for marker in markers):
        return None
    first = next(marker for marker in markers if _direction(marker) == "up")
    numbers = Lines(text)
    lines = split_lines(text)
    starts = {numbers.line(marker.start()) - 1: _direction(marker) for marker in markers}
    direction, up_lines, down_lines = "up", [], []
    for number, line in enumerate(lines):
        direction = starts.get(number, direction)
        up_lines.append(line if direction == "up" else _blank(line))
        if direction == "down":
            down_lines.append(line)
    down_at = next((line for line, word in sorted(starts.items()) if word == "down"), None)
    return Sections(
        tool=_tool(first),
        up=_trim("".join(up_lines)),
        down="".join(down_lines) if down_at is not None else None,
        up_line=numbers.line(first.start()),
        down_line=None if down_at is None else down_at + 1,
        no_transaction=_NO_TRANSACTION.search(text) is not None,
        substitutes_environment=_ENVSUB.search(text) is not None,
    )


def _direction(marker: re.Match[str]) -> str:
    return (marker.group("word") or marker.group("dbmate")).lower()


def _tool(marker: re.Match[str]) -> str:
    return _TOOLS[marker.group("tool").lower()] if marker.group("tool") else "dbmate"


def _blank(line: str) -> str:
    """The line's end alone: the line keeps its place and says nothing."""
    return line[len(line.rstrip("\r\n")) :]


def _trim(text: str) -> str:
    """Without the empty lines a Down section at the end left (the up lines' own numbers do not move)."""
    body = text.rstrip("\r\n")
    if not body:
        return ""
    ending = BREAK.match(text, len(body))
    return body + (ending.group() if ending else "\n")
