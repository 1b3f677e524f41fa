"""What a replay found: failing statements at their file:line, as PostgreSQL described them, and the hints that
point at the likely cause.

Pure: the executor (db/) makes these from the server's errors; verify, the report and the consequence tracing
read them. Every text from the server is redacted when a Failure is made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from consolidate.model import Diagnostic, Location
from consolidate.postgres.extensions import KNOWN_FUNCTIONS, ways_out
from consolidate.postgres.redaction import redact

IN_FAILED_TRANSACTION = "25P02"  # "current transaction is aborted, commands ignored until end of block"
UNDEFINED_FUNCTION = "42883"
SYNTAX_ERROR = "42601"
UNDEFINED_OBJECT = "42704"
DUPLICATE_TABLE = "42P07"  # also the notice of a CREATE TABLE IF NOT EXISTS that found the table
# Replays write to throw-away databases: waiting for each commit to reach the disk buys nothing.
_FUNCTION_NAME = re.compile(r'function (?:[\w"]+\.)?"?(?P<name>\w+)"?\(')


@dataclass(frozen=True)
class Cause:
    """What a failure is a consequence of: the earlier failure at `location` of the same replay, or, with
    `skipped`, the CREATE TABLE IF NOT EXISTS at `location` that PostgreSQL skipped (that table existed)."""

    location: Location
    skipped: str = ""  # the table, as PostgreSQL named it in its notice


@dataclass(frozen=True)
class Failure:
    """One failing statement: where it is in its file, and what PostgreSQL said (redacted on construction)."""

    path: str
    line: int
    column: int | None
    sqlstate: str  # "" when the client found the problem, not the server
    message: str
    hint: str = ""
    context: str = ""
    detail: str = ""
    extension: str | None = None  # set when the cause is an extension the server lacks
    # The failing statement as the file holds it: to find what it needed (never shown: the file has it).
    statement: str = field(default="", repr=False, compare=False)
    cause: Cause | None = None  # set by postgres/consequences.py when this failure only follows from another
    source: Location | None = None  # a canonical failure's legacy file:line (the statement it came from)

    def __post_init__(self) -> None:
        for name in ("message", "hint", "context", "detail"):
            object.__setattr__(self, name, redact(getattr(self, name)))

    @property
    def location(self) -> Location:
        return Location(self.path, self.line, self.column)

    def diagnostic(self) -> Diagnostic:
        """``replay.<sqlstate>``: "SQLSTATE: message", then detail and context lines; hint with the ways out."""
        lines = [f"{self.sqlstate}: {self.message}" if self.sqlstate else self.message]
        lines += [f"detail: {self.detail}"] if self.detail else []
        lines += [f"context: {self.context}"] if self.context else []
        hint = hints(self.hint, ways_out(self.extension) if self.extension else "")
        return Diagnostic(f"replay.{self.sqlstate or 'client'}", "\n".join(lines), self.location, hint)


@dataclass(frozen=True)
class Skip:
    """A CREATE TABLE IF NOT EXISTS that PostgreSQL skipped because the table existed."""

    table: str  # as PostgreSQL named it in its notice
    path: str
    line: int


@dataclass(frozen=True)
class Replayed:
    """What a replay found: every failure in file order, how many statements ran, how long it took."""

    failures: tuple[Failure, ...]
    statements: int
    seconds: float
    notes: tuple[Diagnostic, ...] = ()  # stand-ins used in place of extensions, one per statement affected
    # Files rolled back whole by a failure (one transaction per file): their statements, as (line, text).
    rolled_back: Mapping[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.failures


def role_hint(sqlstate: str, message: str) -> str:
    """A role the migrations take for granted (an application role a bootstrap script or the platform creates)."""
    if sqlstate != UNDEFINED_OBJECT or not message.startswith("role "):
        return ""
    # One hint for verify, adopt and the runner alike: the prelude is how verify learns of the role, and the
    # database itself must have it before `migrate up`.
    return (
        "a role the migrations assume, which the platform creates: declare it in the mapping's prelude (verify "
        "sets that up first) and create it on each database before `migrate up`"
    )


def extension_function_hint(sqlstate: str, message: str) -> str:
    """For an undefined function an extension provides: which one, since a CREATE EXTENSION may be missing."""
    match = _FUNCTION_NAME.search(message)
    if sqlstate != UNDEFINED_FUNCTION or match is None:
        return ""
    name = match["name"].lower()
    owner = next((extension for extension, names in KNOWN_FUNCTIONS.items() if name in names), None)
    return f"{name}() comes from the extension {owner}: is its CREATE EXTENSION missing or later?" if owner else ""


def newer_syntax_hint(failure: Failure, server_major: int, production: int | None = None) -> str:
    """For a syntax error at a statement a newer grammar accepts: the server is too old for it, and what follows.

    Only PostgreSQL's grammar errors ("syntax error at or near …") count: other 42601s (a column given twice, …)
    are errors of the statement on any version.
    """
    # Imported here: the runner reads failures and starts without PostgreSQL's parser (tests/test_layers.py).
    from consolidate.core.grammar import GRAMMAR_MAJOR, accepts

    if (
        failure.sqlstate != SYNTAX_ERROR
        or not failure.message.startswith("syntax error")
        or server_major >= GRAMMAR_MAJOR
        or not failure.statement
        or not accepts(failure.statement)
    ):
        return ""
    needs = (
        f"PostgreSQL {GRAMMAR_MAJOR}'s grammar accepts this statement: it needs a PostgreSQL newer than {server_major}"
    )
    if production == server_major:
        return f"{needs}, and production runs {server_major} (the mapping's 'postgres'): it fails there as here"
    return f"{needs}; prove the tree on the major production runs (declare it in the mapping: 'postgres: 16')"


def fold_ignored(failures: list[Failure]) -> list[Failure]:
    """Fold the 25P02 errors that follow a failure inside a transaction block into that failure's hint."""
    folded: list[Failure] = []
    ignored = 0
    for failure in failures:
        if failure.sqlstate == IN_FAILED_TRANSACTION and folded:
            ignored += 1
            continue
        _finish(folded, ignored)
        folded.append(failure)
        ignored = 0
    _finish(folded, ignored)
    return folded


def _finish(folded: list[Failure], ignored: int) -> None:
    if ignored:
        note = (
            f"PostgreSQL then ignored the next {ignored} statement(s) of this transaction block, "
            "and the block was rolled back"
        )
        folded[-1] = replace(folded[-1], hint=hints(folded[-1].hint, note))


def hints(*hints: str) -> str:
    """Hints as one: PostgreSQL's are sentences, ours are not; "; " separates them either way."""
    return "; ".join(hint.strip().rstrip(".") for hint in hints if hint.strip())
