"""psql meta-commands in SQL text: where they are, what each one is, and how to write the file without it.

psql reads a backslash outside quotes, dollar quotes and comments as a meta-command (``\\set``, ``\\i``,
``\\connect``, pg_dump 17.6+'s ``\\restrict``) and runs it itself; PostgreSQL never sees it. The rule here: a
backslash that starts a line (after spaces or tabs) outside a string, quoted identifier, dollar-quoted body or
comment begins a meta-command, which runs to the end of its line, or up to ``\\\\`` (psql's separator: the rest of
the line is SQL again). ``\\;`` and ``\\:`` are SQL to psql, and the rows of a ``COPY … FROM stdin`` up to their
``\\.`` line are data (``\\N`` starts many of them): neither is a meta-command.

Known limitation: psql also reads a backslash in the middle of a line as a meta-command (``SELECT 1 \\gset``);
such a backslash is left to PostgreSQL's parser, whose syntax error says it is a meta-command.

Pure: text in, frozen dataclasses out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consolidate.core.comments import block_comment_end, code_start

# At a line start only; a meta-command's name starts with a letter (or ! and ?, psql's shell and help), which
# leaves out \; \: and the \. ending COPY data.
_LEXEME = re.compile(
    r"""(?P<meta>(?<![^\r\n])[ \t]*\\(?P<name>[A-Za-z!?][^\s\\]*)(?:[^\r\n\\]|\\(?!\\))*(?:\\\\)?)"""
    r"""|(?P<estring>(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))"""
    r"""|(?P<string>'(?:[^']|'')*(?:'|\Z))"""
    r"""|(?P<ident>"(?:[^"]|"")*(?:"|\Z))"""
    r"""|(?P<line>--[^\r\n]*)"""
    r"""|(?P<block>/\*)"""
    r"""|(?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*)?\$)"""
    r"""|(?P<semicolon>;)""",
    re.DOTALL,
)
# The cheap first look: most files have no backslash at a line start, and need no lexing at all.
_MAYBE = re.compile(r"(?<![^\r\n])[ \t]*\\[A-Za-z!?]")
_COPY_FROM_STDIN = re.compile(r"COPY\b[^;]*\bFROM\s+STDIN\b", re.IGNORECASE)
_END_OF_DATA = re.compile(r"(?<![^\r\n])\\\.[ \t]*(?=[\r\n]|\Z)")

_HINTS = {
    "set": "\\set defines a psql variable: write its value where the file uses it (:name, :'name'), and delete "
    "the line",
    "i": "\\i reads another file: list that file in the mapping (a migration's sources) instead, and delete the line",
    "restrict": "pg_dump 17.6+ writes this security line around a dump; it means nothing to a migration: delete "
    "the line",
    "c": "\\c switches to another database: a file that does is a bootstrap script, not a migration; exclude it "
    "with a reason (consolidate init drafts that)",
}
_ALIASES = {
    "ir": "i",
    "include": "i",
    "include_relative": "i",
    "unrestrict": "restrict",
    "connect": "c",
}
_OTHER_HINT = "psql runs it, PostgreSQL never sees it: delete the line, or write what it does in SQL"


@dataclass(frozen=True, slots=True)
class MetaCommand:
    """One meta-command: from its backslash to its end (before the line end, or past a closing ``\\\\``)."""

    start: int
    end: int
    name: str  # as written, without the backslash: "set", "i", "connect"

    @property
    def message(self) -> str:
        return f"psql meta-command \\{self.name}; not SQL"

    @property
    def hint(self) -> str:
        name = self.name.lower()
        return _HINTS.get(_ALIASES.get(name, name), _OTHER_HINT)


def meta_commands(text: str) -> tuple[MetaCommand, ...]:
    """Every meta-command of the text, in order (see the module's rule)."""
    if _MAYBE.search(text) is None:
        return ()
    found: list[MetaCommand] = []
    at = statement = 0
    while (match := _LEXEME.search(text, at)) is not None:
        kind, at = match.lastgroup, match.end()
        if kind == "meta":
            found.append(MetaCommand(match.start("name") - 1, at, match.group("name")))
            statement = at  # a COPY may follow it
        elif kind == "block":
            at = block_comment_end(text, match.start())
        elif kind == "dollar":
            close = text.find(match.group(), at)
            at = len(text) if close < 0 else close + len(match.group())
        elif kind == "semicolon":
            at = statement = _past_copy_data(text, statement, at)
    return tuple(found)


def _past_copy_data(text: str, statement: int, end: int) -> int:
    """Where scanning resumes after the statement ending at `end`: past its rows when it is a COPY … FROM stdin
    (a comment or string between its words is rare enough to ignore)."""
    if not _COPY_FROM_STDIN.match(text, code_start(text, statement), end):
        return end
    rows_end = _END_OF_DATA.search(text, end)
    return len(text) if rows_end is None else rows_end.end()


def blanked(text: str, commands: tuple[MetaCommand, ...]) -> str:
    """The text with every meta-command as spaces: what PostgreSQL would read, at the same offsets and lines."""
    parts, done = [], 0
    for command in commands:
        parts += [text[done : command.start], " " * (command.end - command.start)]
        done = command.end
    parts.append(text[done:])
    return "".join(parts)
