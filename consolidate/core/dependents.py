"""What a resolution leaves behind: kept statements that need what only a left-out definition had, or that add
again what merge-columns added.

keep-first leaves the second CREATE TABLE of a conflict out of the canonical tree. Its columns that the first
definition lacks (the conflict's lost columns) then exist nowhere, and a later kept statement that uses one — a
COMMENT ON COLUMN, an index, a foreign key, an UPDATE — fails on PostgreSQL. Each is reported at its line: an
error when the statement names no other table (the column can only be that table's), a warning otherwise (a
column of the same name may belong to another table it names). An ALTER TABLE … ADD COLUMN of the table brings
the column back; a DROP TABLE ends the watch.

merge-columns adds those columns right after the skipped definition; a later ALTER TABLE … ADD COLUMN of one of
them without IF NOT EXISTS, or a RENAME COLUMN … TO one of them, which ran in the legacy tree, then fails (42701):
an error at its line.

Pure: statements in consolidated order, conflicts and the set of statements left out; diagnostics out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consolidate.model import Action, Conflict, Decision, Diagnostic, ObjectRef, Severity, Statement

_NOT_NAMES = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$", re.DOTALL)
_WORD = re.compile(r'"((?:[^"]|"")+)"|([^\W\d][\w$]*)')
_ADD_COLUMN = re.compile(r"\bADD\s+(?:COLUMN\s+)?(?P<guarded>IF\s+NOT\s+EXISTS\s+)?", re.IGNORECASE)

_RENAME_COLUMN = re.compile(
    r'\bRENAME\s+(?:COLUMN\s+)?(?!TO\b|CONSTRAINT\b)(?P<old>"(?:[^"]|"")+"|\w+)\s+TO\s+(?P<new>"(?:[^"]|"")+"|\w+)',
    re.IGNORECASE,
)

StatementKey = tuple[str, int]


@dataclass
class _Watch:
    conflict: Conflict
    missing: set[str]  # keep-first: columns only the left-out definition had
    merged: set[str]  # merge-columns: columns the generated ALTER TABLE adds


def resolution_dependents(
    sequence: Iterable[Statement], conflicts: Sequence[Conflict], left_out: set[StatementKey]
) -> list[Diagnostic]:
    """Kept statements that use a column only a definition left out by keep-first had, or add again a column
    merge-columns added, in order."""
    starts = {(c.second.path, c.second.index): c for c in conflicts if c.resolution is not None and c.lost_columns}
    if not starts:
        return []
    watches: dict[tuple[str, str], _Watch] = {}
    added: dict[tuple[str, str], set[str]] = {}  # table → columns ALTER TABLE added since its CREATE TABLE
    found: list[Diagnostic] = []
    for statement in sequence:
        key = (statement.path, statement.index)
        if key in starts:
            conflict = starts[key]
            merges = conflict.resolution is not None and conflict.resolution.decision is Decision.MERGE_COLUMNS
            # A column an ALTER TABLE added before the skipped definition exists: it is not lost.
            lost = set(conflict.lost_columns) - added.get(_table(conflict.object), set())
            watches[_table(conflict.object)] = _Watch(conflict, set() if merges else lost, lost if merges else set())
            continue
        if key in left_out:
            continue
        _follow_columns(statement, added)
        if watches:
            found.extend(_check(statement, watches))
    return found


def _follow_columns(statement: Statement, added: dict[tuple[str, str], set[str]]) -> None:
    """Keep `added` up to date: a CREATE TABLE starts afresh, an ALTER TABLE adds or renames columns, a table
    rename moves its entry."""
    facts = statement.facts
    if facts.target is None or facts.target.kind != "table":
        return
    table = _table(facts.target)
    if facts.action in (Action.CREATE, Action.REPLACE):
        added[table] = set()
    elif facts.action is Action.ALTER and facts.renamed_to is not None:
        added[_table(facts.renamed_to)] = added.pop(table, set())
    elif facts.action is Action.ALTER:
        # A column renamed or dropped away is gone again: RENAME a TO b then b TO a leaves b absent.
        columns = added.setdefault(table, set())
        columns -= _renamed_from(statement.text) | set(facts.dropped_columns)
        columns |= _added(statement.text) | _renamed_to(statement.text)


def _table(ref: ObjectRef) -> tuple[str, str]:
    return (ref.schema or "public", ref.name)


def _check(statement: Statement, watches: dict[tuple[str, str], _Watch]) -> list[Diagnostic]:
    facts = statement.facts
    target = _table(facts.target) if facts.target is not None and facts.target.kind == "table" else None
    if facts.action is Action.DROP:
        # DROP TABLE a, b drops every table it names: each one's watch ends.
        dropped = [_table(ref) for ref in (facts.target, *facts.also_drops) if ref is not None and ref.kind == "table"]
        if any(table in watches for table in dropped):
            for table in dropped:
                watches.pop(table, None)
            return []
    if facts.action is Action.CREATE and target in watches:
        # The table exists: a CREATE TABLE IF NOT EXISTS of it is skipped whole, its columns used by nothing (a
        # plain one fails on the name, which the plan reports as a conflict of its own).
        return []
    renamed = facts.renamed_to
    if renamed is not None and target in watches and renamed.kind == "table":  # the watch follows its table
        watches[_table(renamed)] = watches.pop(target)
        return []
    tables = {_table(ref) for ref in facts.references} | ({target} if target else set())
    watched = [(table, watches[table]) for table in sorted(tables) if table in watches]
    if not watched:
        return []
    words = used_names(statement.text)
    found = []
    for table, watch in watched:
        if facts.action is Action.ALTER and target == table:
            watch.missing -= _added(statement.text) | _renamed_to(statement.text)
            again = sorted(watch.merged & (_added(statement.text, plainly=True) | _renamed_to(statement.text)))
            if again:
                found.append(_added_again(statement, watch.conflict, again))
            watch.merged -= set(again) | _renamed_from(statement.text) | set(facts.dropped_columns)
        used = sorted(watch.missing & words)
        if used:
            found.append(_dependent(statement, watch.conflict, used, sure=len(tables) == 1))
    return found


def used_names(text: str) -> set[str]:
    """Identifiers in a statement, outside comments, string literals and dollar-quoted bodies."""
    found = set()
    for match in _WORD.finditer(_NOT_NAMES.sub(" ", text)):
        quoted, word = match.groups()
        found.add(quoted.replace('""', '"') if quoted is not None else word.lower())
    return found


def _added(text: str, plainly: bool = False) -> set[str]:
    """Columns an ALTER TABLE adds: the word after each ADD [COLUMN] [IF NOT EXISTS]; `plainly`: only those added
    without IF NOT EXISTS (PostgreSQL fails on them when the column exists)."""
    added = set()
    for match in _ADD_COLUMN.finditer(text):
        if plainly and match["guarded"]:
            continue
        word = _WORD.match(text, match.end())
        if word is not None:
            quoted, bare = word.groups()
            added.add(quoted if quoted is not None else bare.lower())
    return added


def _renamed_to(text: str) -> set[str]:
    """Columns an ALTER TABLE … RENAME [COLUMN] x TO y names: the y's (PostgreSQL fails when y exists)."""
    return {_name(found["new"]) for found in _RENAME_COLUMN.finditer(text)}


def _renamed_from(text: str) -> set[str]:
    """Columns an ALTER TABLE … RENAME [COLUMN] x TO y renames away: the x's."""
    return {_name(found["old"]) for found in _RENAME_COLUMN.finditer(text)}


def _name(word: str) -> str:
    return word[1:-1].replace('""', '"') if word.startswith('"') else word.lower()


def _added_again(statement: Statement, conflict: Conflict, columns: list[str]) -> Diagnostic:
    named = ", ".join(columns)
    return Diagnostic(
        "plan.resolution-dependent",
        f"adds {named} to {conflict.object} (ADD COLUMN or RENAME … TO), which merge-columns already added after the "
        "skipped definition "
        f"({conflict.second.location}): PostgreSQL fails here (42701, column already exists)",
        statement.location,
        hint=f"resolve '{conflict.object}' with keep-first (this statement adds the column, as in the legacy tree), "
        "or accept this finding if PostgreSQL's failure here is expected",
    )


def _dependent(statement: Statement, conflict: Conflict, columns: list[str], sure: bool) -> Diagnostic:
    named = ", ".join(columns)
    left_out = conflict.second.location
    if sure:
        message = f"uses {named} of {conflict.object}, which only the definition keep-first leaves out had "
        message += f"({left_out}): PostgreSQL fails here"
    else:
        message = f"may use {named} of {conflict.object}, which only the definition keep-first leaves out had "
        message += f"({left_out}); it names other tables too, so the plan cannot tell"
    return Diagnostic(
        "plan.resolution-dependent",
        message,
        statement.location,
        hint=f"resolve '{conflict.object}' with merge-columns (adds the columns), add them in an ALTER TABLE, "
        "or accept this finding if PostgreSQL's failure here is expected",
        severity=Severity.ERROR if sure else Severity.WARNING,
    )
