"""Where things are in SQL text: PostgreSQL's error positions as file lines and columns, and the code itself.

Pure: no database. Lines are counted the way the rest of consolidate counts them (``core/lines.py``), as libpq's
``LINE n:`` excerpt and editors count them: ``\\r\\n``, ``\\n`` and a lone ``\\r`` each end one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

# blank_comments lives in the core now (rendering needs it too); it stays importable from here.
from consolidate.core.comments import blank_comments as blank_comments
from consolidate.core.lines import Lines

if TYPE_CHECKING:
    from consolidate.model import Chunk, ParsedFile, Statement


def locate(text: str, position: int, start_line: int = 1, start_column: int = 1) -> tuple[int, int]:
    """The file's (line, column) of PostgreSQL's error `position` in `text`, the query string that was sent.

    PostgreSQL counts `position` in characters from 1; `text` starts at `start_line`, `start_column` of the file
    (a statement that follows another on the same line starts mid-line). A position past the end (PostgreSQL
    points one past the last character for "at end of input") is clamped to just after the text.
    """
    index = min(max(position, 1), len(text) + 1) - 1
    lines = Lines(text)
    line = lines.line(index)
    if line == 1:
        return start_line, start_column + index
    return start_line + line - 1, lines.column(index)


def line_of(text: str, index: int, start_line: int = 1) -> int:
    """The line of the character at 0-based `index` of `text`, which starts at `start_line`."""
    return start_line + Lines(text).line(index) - 1


def chunk_starts(chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, int, int]]:
    """Every chunk of a file with the line and column where it starts (a chunk may start mid-line)."""
    line, column = 1, 1
    for chunk in chunks:
        yield chunk, line, column
        line, column = locate(chunk.text, len(chunk.text) + 1, line, column)


def statement_starts(parsed: ParsedFile) -> Iterator[tuple[Statement, int, int]]:
    """Every statement of a parsed file with the line and column where its text starts."""
    starts = ((line, column) for chunk, line, column in chunk_starts(parsed.chunks) if chunk.is_statement)
    for statement, (line, column) in zip(parsed.statements, starts, strict=True):
        yield statement, line, column
