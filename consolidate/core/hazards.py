"""Transaction hazards: what changes when several legacy files become one canonical version.

Legacy tools ran each file on its own (psql -f per file, or one transaction per file); the runner and verify run
a version, several files long, in one transaction. Four things then change, each reported at its file:line:

* ``plan.enum-value-used``: a value `ALTER TYPE … ADD VALUE` adds cannot be used before its transaction commits
  (55P04). ERROR when the use is certain, whether the add and the use come from different sources (the
  consolidation makes the failure) or from one (psql ran the file statement by statement; the canonical version
  is one transaction); WARNING when the use is only likely.
* ``plan.no-transaction``: a statement PostgreSQL refuses in a transaction block (CREATE INDEX CONCURRENTLY,
  VACUUM, …) makes the runner run its version in parts (that statement alone, the others in transactions
  between), without atomicity for the whole version. WARNING.
* ``plan.explicit-transaction``: BEGIN/COMMIT in a source. One wrapping the whole source is redundant (the
  render leaves it out: INFO); any other one commits part of a version without its `_migrations` row: ERROR.
  ``plan.transaction-mode``: SET TRANSACTION ISOLATION LEVEL after the version's first statement fails: ERROR.
* ``plan.session-setting``: a session-level SET reaches the next source of its version unless reset (the render
  resets it, see core/session.py); where the legacy tool ran every file on one connection, it used to reach all
  later migrations. WARNING.

Pure: planned targets in, findings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from consolidate.core.comments import code_start
from consolidate.core.enum_uses import (
    AddedValue,
    Evidence,
    Strength,
    TypedColumns,
    added_value,
    enum_use,
    may_add_value,
    typed_columns,
)
from consolidate.core.session import resets
from consolidate.core.transactions import cannot_run_in_transaction
from consolidate.model import Diagnostic, PlannedSource, PlannedTarget, ScanResult, Scheme, Severity, Statement

_WORD = re.compile(r"[A-Za-z_]+")
_BEGIN = (("BEGIN",), ("BEGIN", "WORK"), ("BEGIN", "TRANSACTION"), ("START", "TRANSACTION"))
_COMMIT = (
    ("COMMIT",),
    ("COMMIT", "WORK"),
    ("COMMIT", "TRANSACTION"),
    ("END",),
    ("END", "WORK"),
    ("END", "TRANSACTION"),
)
_CONTROL = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"})
# Legacy tools known from their file naming that ran every migration on one connection: a session setting made
# by one migration reached the later ones.
_ONE_CONNECTION = {Scheme.GOLANG: "golang-migrate", Scheme.FOLDER: "diesel"}
_ATOMICITY = (
    "the runner then runs the version in parts (this statement alone, the others in transactions between): a "
    "failure leaves the parts before it applied and the version unrecorded"
)


def transaction_hazards(targets: Sequence[PlannedTarget], scan: ScanResult) -> tuple[Diagnostic, ...]:
    """Every transaction hazard of the planned versions, in version order within each kind."""
    checks = (_enum_values, _no_transaction, _explicit_transactions, _session_settings)
    return tuple(finding for check in checks for finding in check(targets, scan))


def wrapping_transaction(statements: Iterable[Statement]) -> frozenset[tuple[str, int]]:
    """The (path, index) keys of each source's BEGIN and COMMIT that wrap the whole source, when nothing between
    them ends or opens a transaction: inside a version's one transaction they are redundant and left out.

    >>> from consolidate.core.statements import parse_file
    >>> parsed = parse_file("a.sql", "BEGIN;\\nCREATE TABLE t (id int);\\nCOMMIT;\\n")
    >>> sorted(wrapping_transaction(parsed.statements))
    [('a.sql', 0), ('a.sql', 2)]
    """
    by_path: dict[str, list[Statement]] = {}
    for statement in statements:
        by_path.setdefault(statement.path, []).append(statement)
    return frozenset(key for source in by_path.values() for key in _wrap(source))


def _wrap(statements: list[Statement]) -> tuple[tuple[str, int], ...]:
    if not wrapped([statement.text for statement in statements]):
        return ()
    return ((statements[0].path, statements[0].index), (statements[-1].path, statements[-1].index))


def wrapped(texts: Sequence[str]) -> bool:
    """Whether a script's statements (their texts, in order) are one BEGIN … COMMIT with nothing between that ends
    or opens a transaction: the wrapping a version's own transaction makes redundant."""
    if len(texts) < 2 or first_words(texts[0])[:3] not in _BEGIN or first_words(texts[-1])[:3] not in _COMMIT:
        return False
    return all(_control_word(text) in (None, "SAVEPOINT", "RELEASE", "ROLLBACK TO") for text in texts[1:-1])


# --- statements as words ------------------------------------------------------------------------------------------


def _words(statement: Statement, count: int = 6) -> tuple[str, ...]:
    """The statement's first words, upper case (a whole short statement: its words, and no more)."""
    return first_words(statement.text)[:count]


@lru_cache(maxsize=1 << 18)
def first_words(text: str) -> tuple[str, ...]:
    """A statement's first six words, upper case, past its leading comments (export's reading of it too)."""
    # Each pass over a version asks again; a tree has tens of thousands of statements (cached by text). The passes
    # go through the statements in order, so a cache smaller than the tree's statements hits nothing: 1 << 16
    # missed every call at 10,000 files (71,437 statements).
    start = code_start(text)
    return tuple(word.upper() for word in _WORD.findall(text, start, start + 200)[:6])


def _control(statement: Statement) -> str | None:
    """The transaction control a statement is ("BEGIN", "COMMIT", "ROLLBACK TO", …), or None."""
    return _control_word(statement.text)


def _control_word(text: str) -> str | None:
    words = first_words(text)
    first = words[0] if words else ""
    if words[:2] in (("START", "TRANSACTION"), ("PREPARE", "TRANSACTION")):
        return " ".join(words[:2])
    if first not in _CONTROL:
        return None
    if first in ("ROLLBACK", "ABORT") and "TO" in words:
        return "ROLLBACK TO"
    return "COMMIT" if first == "END" else first


def _label(target: PlannedTarget) -> str:
    return f"{target.target.version} ({target.target.name})"


@dataclass(frozen=True)
class _Placed:
    """A kept statement with the source and the version it is in."""

    statement: Statement
    source: PlannedSource
    target: PlannedTarget


def _placed(target: PlannedTarget) -> Iterator[_Placed]:
    for source in target.sources:
        for statement in source.statements:
            yield _Placed(statement, source, target)


# --- enum values --------------------------------------------------------------------------------------------------


def _enum_values(targets: Sequence[PlannedTarget], scan: ScanResult) -> Iterator[Diagnostic]:
    texts = [placed.statement.text for target in targets for placed in _placed(target)]
    if not any(may_add_value(text) for text in texts):  # most trees add no enum value: one scan at C speed
        return
    columns: dict[AddedValue, TypedColumns] = {}  # read once per added value, only for trees that add one
    for target in targets:
        adds: list[tuple[AddedValue, _Placed]] = []
        for placed in _placed(target):
            if cannot_run_in_transaction(_words(placed.statement)):
                adds = []  # runner and verify alike commit what came before it: the values are usable after it
            for added, at in adds:
                if added not in columns:
                    columns[added] = typed_columns(added, texts)
                evidence = enum_use(placed.statement.text, added, columns[added])
                if evidence is not None:
                    yield _enum_finding(added, at, placed, evidence)
            added_here = added_value(placed.statement.text)
            if added_here is not None:
                adds.append((added_here, placed))


def _next_source(placed: _Placed) -> str:
    paths = [source.path for source in placed.target.sources]
    return paths[paths.index(placed.source.path) + 1]


def _enum_finding(added: AddedValue, at: _Placed, use: _Placed, evidence: Evidence) -> Diagnostic:
    same_source = at.source.path == use.source.path
    certain = evidence.strength is Strength.CERTAIN
    message = (
        f"'{added.value}' is a new value of {added.type_name}, added at {at.statement.location} in the same "
        f"version: this statement {evidence.how}; PostgreSQL refuses such a use (55P04) until the ALTER TYPE commits"
    )
    if same_source:
        hint = (
            f"split {at.source.path} after line {at.statement.line} and map its two parts to separate versions; "
            "its legacy tool failed here too if it ran the file in one transaction"
        )
    else:
        hint = (
            f"end version {_label(at.target)} after {at.source.path}: map {_next_source(at)} and the sources after "
            "it to a new version"
        )
    if not certain:
        hint += f" (if '{added.value}' here is a value of {added.type_name})"
    # Within one source too: the canonical version is one transaction and certainly fails here, while psql ran
    # the legacy file statement by statement (tools that wrap a file in a transaction failed there as well).
    severity = Severity.ERROR if certain else Severity.WARNING
    return Diagnostic("plan.enum-value-used", message, use.statement.location, hint, severity)


# --- statements PostgreSQL refuses in a transaction block ---------------------------------------------------------


def _no_transaction(targets: Sequence[PlannedTarget], scan: ScanResult) -> Iterator[Diagnostic]:
    """One finding per version, at its first such statement: the version's fate is the same for all of them."""
    for target in targets:
        if target.kept < 2:
            continue
        found = [(p, words) for p in _placed(target) if cannot_run_in_transaction(words := _words(p.statement))]
        if found:
            placed, words = found[0]
            others = [str(p.statement.location) for p, _ in found[1:]]
            yield _no_transaction_finding(placed, _what(words), others)


def _what(words: tuple[str, ...]) -> str:
    """How to name a statement in a message: up to CONCURRENTLY, else its first two words."""
    if "CONCURRENTLY" in words:
        return " ".join(words[: words.index("CONCURRENTLY") + 1])
    return " ".join(words[:1] if words[:1] == ("VACUUM",) else words[:2])


def _no_transaction_finding(placed: _Placed, what: str, others: Sequence[str] = ()) -> Diagnostic:
    path = placed.source.path
    alone = len(placed.source.statements) == 1
    hint = f"map {path} to a version of its own" + ("" if alone else ", after splitting this statement out of it")
    more = f" (and {len(others)} more: {', '.join(others[:3])}{', …' if len(others) > 3 else ''})" if others else ""
    return Diagnostic(
        "plan.no-transaction",
        f"{what}{more} cannot run in a transaction block, so neither can version {_label(placed.target)}: {_ATOMICITY}",
        placed.statement.location,
        hint,
        Severity.WARNING,
    )


# --- explicit transaction control ---------------------------------------------------------------------------------


def _explicit_transactions(targets: Sequence[PlannedTarget], scan: ScanResult) -> Iterator[Diagnostic]:
    for target in targets:
        for source in target.sources:
            wrap = wrapping_transaction(source.statements)
            if wrap:
                yield _wrap_finding(source)
            for statement in source.statements:
                control = _control(statement)
                if control is not None and (statement.path, statement.index) not in wrap:
                    yield from _control_finding(statement, control, target, wrapped=bool(wrap))
        yield from _transaction_mode(target)


def _wrap_finding(source: PlannedSource) -> Diagnostic:
    begin, commit = source.statements[0], source.statements[-1]
    return Diagnostic(
        "plan.explicit-transaction",
        f"BEGIN here and COMMIT at line {commit.line} wrap the whole source; left out: the version runs in one "
        "transaction",
        begin.location,
        severity=Severity.INFO,
    )


def _control_finding(statement: Statement, control: str, target: PlannedTarget, wrapped: bool) -> Iterator[Diagnostic]:
    """SAVEPOINT and RELEASE work inside the version's transaction: a warning unless the source had its own."""
    if control in ("SAVEPOINT", "RELEASE"):
        if not wrapped:
            yield Diagnostic(
                "plan.explicit-transaction",
                f"{control} in a source without a transaction of its own: it now runs in the version's transaction",
                statement.location,
                "check that the source meant it to; under psql -f it failed (no transaction block)",
                Severity.WARNING,
            )
        return
    yield Diagnostic(
        "plan.explicit-transaction",
        f"{control} inside version {_label(target)}, which runs in one transaction: {_ATOMICITY}",
        statement.location,
        f"remove it, or split {statement.path} at line {statement.line} into sources mapped to separate versions",
    )


def _transaction_mode(target: PlannedTarget) -> Iterator[Diagnostic]:
    """SET TRANSACTION ISOLATION LEVEL must come before any query of its transaction: here, the version's."""
    left_out = wrapping_transaction(placed.statement for placed in _placed(target))
    kept = [placed for placed in _placed(target) if (placed.statement.path, placed.statement.index) not in left_out]
    for position, placed in enumerate(kept):
        words = _words(placed.statement)
        if position and words[:2] == ("SET", "TRANSACTION") and "ISOLATION" in words:
            yield Diagnostic(
                "plan.transaction-mode",
                f"SET TRANSACTION ISOLATION LEVEL after the first statement of version {_label(target)}: "
                "PostgreSQL refuses it once the transaction has run a query",
                placed.statement.location,
                f"map {placed.source.path} to a version of its own, starting with this statement",
            )


# --- session settings ---------------------------------------------------------------------------------------------


def _session_settings(targets: Sequence[PlannedTarget], scan: ScanResult) -> Iterator[Diagnostic]:
    """One finding per source, at its first lasting SET: a pg_dump header alone sets half a dozen."""
    for number, target in enumerate(targets):
        later = number + 1 < len(targets)
        for position, source in enumerate(target.sources):
            following = target.sources[position + 1] if position + 1 < len(target.sources) else None
            tool = _one_connection_tool(scan, source.path)
            lasting = _lasting_settings(source) if following is not None or (tool is not None and later) else []
            if lasting:
                yield _setting_finding(lasting, target, following, tool)


def _lasting_settings(source: PlannedSource) -> list[tuple[str, Statement]]:
    """The session settings the source makes and does not reset itself, with the statement making each."""
    found = []
    for index, statement in enumerate(source.statements):
        name = _setting(statement)
        if name is not None and not _undone(name, source.statements[index + 1 :]):
            found.append((name, statement))
    return found


def _one_connection_tool(scan: ScanResult, path: str) -> str | None:
    """The legacy tool that ran `path` with every other migration on one connection, as its naming tells."""
    legacy = scan.file(path)
    if legacy is None or (legacy.name.scheme is Scheme.FOLDER and not path.endswith("/up.sql")):
        return None  # Prisma's <id>_name/migration.sql shares the folder scheme; how it connects is not known here
    return _ONE_CONNECTION.get(legacy.name.scheme)


def _setting(statement: Statement) -> str | None:
    """The session setting a statement makes (``search_path``, ``ROLE``, …), or None."""
    found = resets([statement.text])
    return found[0].removeprefix("RESET ").removesuffix(";") if found else None


def _undone(name: str, later: Sequence[Statement]) -> bool:
    """Whether a later statement of the same source resets the setting itself."""
    words = r"\s+".join(re.escape(word) for word in name.split())
    extra = r"|SET\s+ROLE\s+NONE\b" if name == "ROLE" else ""
    undo = re.compile(
        rf"(?:RESET\s+ALL|DISCARD\s+ALL|RESET\s+{words}|SET\s+(?:SESSION\s+)?{words}(?:\s*(?:TO|=))?\s*DEFAULT){extra}\b",
        re.IGNORECASE,
    )
    return any(undo.match(statement.text, code_start(statement.text)) for statement in later)


def _setting_finding(
    lasting: list[tuple[str, Statement]], target: PlannedTarget, following: PlannedSource | None, tool: str | None
) -> Diagnostic:
    first = lasting[0][1]
    names = (
        ", ".join(f"{name} (line {statement.line})" for name, statement in lasting) if lasting[1:] else lasting[0][0]
    )
    it, last = ("it", "lasts") if len(lasting) == 1 else ("them", "last")
    if following is not None:
        message = f"SET {names} {last} for the session: version {_label(target)} resets {it} before {following.path}"
    else:
        message = f"SET {names} {last} for the session: the runner resets {it} after version {_label(target)}"
    if tool is not None:
        message += f"; {tool} ran later migrations on the same connection, so there {it} reached them"
        hint = "check that later sources do not rely on it; repeat the SET in those that do"
    else:
        hint = f"if {following.path if following else 'a later source'} relies on it, repeat the SET there"
    return Diagnostic("plan.session-setting", message, first.location, hint, Severity.WARNING)
