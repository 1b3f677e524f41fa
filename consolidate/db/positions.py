"""Where things are in SQL text: PostgreSQL's error positions as file lines and columns, and the code itself.

Pure: no database. Lines are counted the way the rest of consolidate counts them (``core/statements.py``) and the
way psql counts them for its ``file:line`` prefix: only ``\\n`` breaks a line, so ``\\r\\n`` is one break and a
lone ``\\r`` is an ordinary character. (libpq's ``LINE n:`` excerpt also counts a lone ``\\r``; files with lone
``\\r`` line ends are rare enough that agreeing with the plan's own locations matters more.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consolidate.model import Chunk, ParsedFile, Statement

# Things the comment scanner must step over or into: strings and quoted identifiers (whose content is kept),
# comments (blanked) and dollar quotes (whose content is code: function and DO bodies).
_LEXEME = re.compile(
    r"""(?P<estring>(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))"""
    r"""|(?P<string>'(?:[^']|'')*(?:'|\Z))"""
    r"""|(?P<ident>"(?:[^"]|"")*(?:"|\Z))"""
    r"""|(?P<line>--[^\n]*)"""
    r"""|(?P<block>/\*)"""
    r"""|(?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*)?\$)""",
    re.DOTALL,
)
_BLOCK_EDGE = re.compile(r"/\*|\*/")
_NOT_NEWLINE = re.compile(r"[^\n]")


def locate(text: str, position: int, start_line: int = 1, start_column: int = 1) -> tuple[int, int]:
    """The file's (line, column) of PostgreSQL's error `position` in `text`, the query string that was sent.

    PostgreSQL counts `position` in characters from 1; `text` starts at `start_line`, `start_column` of the file
    (a statement that follows another on the same line starts mid-line). A position past the end (PostgreSQL
    points one past the last character for "at end of input") is clamped to just after the text.
    """
    index = min(max(position, 1), len(text) + 1) - 1
    breaks = text.count("\n", 0, index)
    if not breaks:
        return start_line, start_column + index
    return start_line + breaks, index - text.rfind("\n", 0, index)


def blank_comments(text: str) -> str:
    """The text with every comment replaced by spaces (line breaks kept), so offsets and lines stay valid.

    Strings and quoted identifiers are kept as they are; dollar-quoted bodies are code (PL/pgSQL comments look
    like SQL's), so comments inside them are blanked too. Block comments nest, as in PostgreSQL.
    """
    parts: list[str] = []
    done = 0
    for start, end, replacement in _comment_spans(text):
        parts += [text[done:start], replacement]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def line_of(text: str, index: int, start_line: int = 1) -> int:
    """The line of the character at 0-based `index` of `text`, which starts at `start_line`."""
    return start_line + text.count("\n", 0, index)


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


def _comment_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for every comment in `text`, in order."""
    spans: list[tuple[int, int, str]] = []
    at = 0
    while (match := _LEXEME.search(text, at)) is not None:
        kind, at = match.lastgroup, match.end()
        if kind == "line":
            spans.append((match.start(), at, " " * (at - match.start())))
        elif kind == "block":
            at = _block_end(text, match.start())
            spans.append((match.start(), at, _NOT_NEWLINE.sub(" ", text[match.start() : at])))
        elif kind == "dollar":
            at = _dollar_body(text, match.group(), at, spans)
    return spans


def _block_end(text: str, start: int) -> int:
    """Just past the ``*/`` closing the block comment opened at `start` (nested ones included), or the end."""
    depth = 0
    for edge in _BLOCK_EDGE.finditer(text, start):
        depth += 1 if edge.group() == "/*" else -1
        if not depth:
            return edge.end()
    return len(text)


def _dollar_body(text: str, tag: str, start: int, spans: list[tuple[int, int, str]]) -> int:
    """Record the comments of the dollar-quoted body starting at `start`; return where scanning resumes."""
    close = text.find(tag, start)
    end = len(text) if close < 0 else close
    # Scanned on its own, so that a stray quote inside the body cannot swallow the SQL that follows it.
    spans += [(start + a, start + b, blank) for a, b, blank in _comment_spans(text[start:end])]
    return end if close < 0 else close + len(tag)
