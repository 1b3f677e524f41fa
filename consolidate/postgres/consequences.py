"""Which replay failures are only the consequence of something earlier, and of what.

Two causes are common in real trees and hard to see from the failing statement alone:

* a `CREATE TABLE IF NOT EXISTS t` that PostgreSQL skipped (t already existed, from an earlier file, with other
  columns): the failure surfaces later, as an index on a column t lacks, a foreign key of the wrong type, a
  comment on a missing column;
* an earlier statement that failed and so never created what a later one needs: every later use of it then
  fails with "does not exist".

Pure: failures and skips in, the same failures out with the cause added to their hint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from consolidate.core.statements import parse_file
from consolidate.model import Action, Facts, ObjectRef
from consolidate.postgres.failures import Failure, Skip

# "does not exist" errors: undefined table, function, object (type, role, ...), schema.
MISSING = frozenset({"42P01", "42883", "42704", "3F000"})
_MISSING_NAME = re.compile(r'^\w+(?: \w+)? "?(?P<name>[^"(]+)"?(?:\(|\s+does not exist)')
_QUOTED = re.compile(r'"([^"]+)"')
_CAUSED = "a consequence of"


def link(
    failures: Sequence[Failure],
    skips: Sequence[Skip],
    order: Mapping[str, int],
    rolled_back: Mapping[str, Sequence[tuple[int, str]]] | None = None,
) -> tuple[Failure, ...]:
    """`failures` (in replay order) with the cause of each consequence in its hint; `order` gives each file's
    position in the replay, so that only what came before a failure can have caused it. `rolled_back` holds the
    statements (line, text) of each file whose failure rolled it back whole (a canonical version): everything
    such a file creates is missing afterwards, not only what its failing statement would have created."""
    facts = [_facts_of(failure.path, failure.statement) for failure in failures]
    # What each rolled-back file created, read once: (line, object).
    lost = {
        path: [(line, ref) for line, text in statements for ref in _created(_facts_of(path, text))]
        for path, statements in (rolled_back or {}).items()
    }
    first_of: dict[str, Failure] = {}  # each file's first failure: what to fix first
    linked = []
    for index, failure in enumerate(failures):
        if _CAUSED in failure.hint:  # linked already, by an earlier pass
            causes = []
        else:
            missing = _missing(failure)
            causes = _earlier_failure(missing, failures[:index], facts[:index])
            causes += _rolled_back(missing, failure, first_of, lost, order)
            causes += _skipped(failure, facts[index], skips, order)
        hint = "; ".join(filter(None, [failure.hint, *causes[:1]]))
        linked.append(replace(failure, hint=hint) if causes else failure)
        first_of.setdefault(failure.path, failure)
    return tuple(linked)


def _facts_of(path: str, statement: str) -> Facts | None:
    """What one statement does (None for no text, or text that is not exactly one statement)."""
    if not statement:
        return None
    parsed = parse_file(path, statement)
    return parsed.statements[0].facts if len(parsed.statements) == 1 else None


def _missing(failure: Failure) -> str | None:
    """The object a "does not exist" failure names, bare; None for other failures."""
    match = _MISSING_NAME.match(failure.message) if failure.sqlstate in MISSING else None
    return _bare(match["name"]) if match is not None else None


def _earlier_failure(missing: str | None, earlier: Sequence[Failure], facts: Sequence[Facts | None]) -> list[str]:
    """A "does not exist" failure caused by an earlier failing statement that would have created the object."""
    if missing is None:
        return []
    for cause, described in zip(reversed(earlier), reversed(facts), strict=True):
        created = [ref for ref in _created(described) if _bare(ref.name) == missing]
        if created:
            return [
                f"{_CAUSED} the failure at {cause.path}:{cause.line}, "
                f"whose statement would have created {created[0]}: fix that one first"
            ]
    return []


def _rolled_back(
    missing: str | None,
    failure: Failure,
    first_of: dict[str, Failure],
    lost: Mapping[str, Sequence[tuple[int, ObjectRef]]],
    order: Mapping[str, int],
) -> list[str]:
    """A "does not exist" failure on what an earlier version created before its failure rolled it all back."""
    if missing is None:
        return []
    here = order.get(failure.path, -1)
    for cause in reversed(first_of.values()):
        if cause.path not in lost or order.get(cause.path, -1) >= here:
            continue
        for line, ref in lost[cause.path]:
            if _bare(ref.name) == missing:
                return [
                    f"{_CAUSED} the failure at {cause.path}:{cause.line}: that version was rolled back whole, and "
                    f"with it {ref}, which it creates at line {line}: fix that one first"
                ]
    return []


def _skipped(failure: Failure, facts: Facts | None, skips: Sequence[Skip], order: Mapping[str, int]) -> list[str]:
    """A failure on a table whose CREATE TABLE IF NOT EXISTS was skipped before it."""
    touched = {_bare(ref.name) for ref in _touched(facts)} | {_bare(name) for name in _QUOTED.findall(failure.message)}
    at = (order.get(failure.path, -1), failure.line)
    return [
        f"{skip.table} is not the table {skip.path}:{skip.line} defines: that CREATE TABLE IF NOT EXISTS was "
        f"skipped because {skip.table} already existed, with the columns of an earlier definition "
        "(the plan lists it as a conflict)"
        for skip in reversed(skips)
        if _bare(skip.table) in touched and (order.get(skip.path, -1), skip.line) < at
    ]


def _created(facts: Facts | None) -> list[ObjectRef]:
    if facts is None or facts.target is None or facts.action not in (Action.CREATE, Action.REPLACE):
        return []
    return [facts.target, *facts.also_creates]


def _touched(facts: Facts | None) -> list[ObjectRef]:
    if facts is None:
        return []
    target = [facts.target] if facts.target is not None else []
    on_table = [ObjectRef("table", None, facts.target.table)] if facts.target and facts.target.table else []
    return [*target, *on_table, *facts.references]


def _bare(name: str) -> str:
    """A name without schema, arguments or quotes, lower case: how messages and definitions can be compared."""
    return name.split("(", 1)[0].rsplit(".", 1)[-1].strip('"').lower()
