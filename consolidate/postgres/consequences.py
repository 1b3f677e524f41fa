"""Which replay failures are only the consequence of something earlier, and of what.

The causes real trees show, hard to see from the failing statement alone:

* a `CREATE TABLE IF NOT EXISTS t` that PostgreSQL skipped (t already existed, from an earlier file, with other
  columns): the failure surfaces later, as an index on a column t lacks, a foreign key of the wrong type, a
  comment on a missing column;
* an earlier statement that failed and so never created what a later one needs: every later use of it then
  fails with "does not exist". What a statement creates includes what it renames something to (a later use of
  the new name fails when the rename did), and, for a CREATE EXTENSION, the extension's schema, its type of the
  same name and the functions consolidate knows it for (an extension no server has: `pgmq.send(...)` fails
  because `CREATE EXTENSION pgmq` did);
* a version (one transaction) that failed and was rolled back whole: everything it created is missing
  afterwards, not only what its failing statement would have created; when the later version's own statement
  that created the object was removed as a duplicate of the rolled-back one, the hint says so too (issue 14).

Pure: failures and skips in, the same failures out, each consequence with its `cause` and the cause in its hint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from consolidate.core.statements import parse_file
from consolidate.model import Action, Facts, Location, ObjectRef
from consolidate.postgres.extensions import KNOWN_FUNCTIONS
from consolidate.postgres.failures import Cause, Failure, Skip, extension_function_hint, hints

# "does not exist" errors: undefined table, function, object (type, role, ...), schema.
MISSING = frozenset({"42P01", "42883", "42704", "3F000"})
_MISSING_NAME = re.compile(
    r'^(?:\w+(?: \w+)? "?(?P<name>[^"(]+)"?(?:\(|\s+does not exist)'
    # COMMENT ON / GRANT ON / ALTER FUNCTION f without its arguments
    r'|could not find a function named "(?P<function>[^"]+)")'
)
_QUOTED = re.compile(r'"([^"]+)"')
# Failures a table with other columns than its statement expected can cause (what a skipped CREATE TABLE IF NOT
# EXISTS leaves): a missing or duplicate column, index, constraint or trigger, a type that does not match, rows
# the other columns refuse. Not, say, a non-immutable index predicate (42P17): that fails on any table.
SHAPE = frozenset(
    {"42703", "42701", "42804", "42830", "42P10", "42P16", "42883", "42846", "42710", "42P07", "22P02"}
    | {"23502", "23503", "23505", "23514"}
)
# Of those, a view redefined with other columns fails for its own earlier definition, whatever its tables hold.
_OWN_DEFINITION = re.compile(r"cannot (?:change (?:name|data type) of view column|drop columns from view)")
_CAUSED = "a consequence of"

Found = tuple[Cause, str]  # the cause, and the hint that names it
Removed = Mapping[str, Sequence[tuple[ObjectRef, str]]]  # path → (object, why its creation was left out there)


def link(
    failures: Sequence[Failure],
    skips: Sequence[Skip],
    order: Mapping[str, int],
    rolled_back: Mapping[str, Sequence[tuple[int, str]]] | None = None,
    removed: Removed | None = None,
) -> tuple[Failure, ...]:
    """`failures` (in replay order) with the cause of each consequence set, and named in its hint; `order` gives
    each file's position in the replay, so that only what came before a failure can have caused it. `rolled_back`
    holds the statements (line, text) of each file whose failure rolled it back whole (a canonical version):
    everything such a file creates is missing afterwards. `removed` names, per file, the objects whose creation
    the canonical tree left out there as a duplicate, and why."""
    facts = [_facts_of(failure.path, failure.statement) for failure in failures]
    # What each rolled-back file created, read once: (line, object).
    lost = {
        path: [(line, ref) for line, text in statements for ref in created(_facts_of(path, text))]
        for path, statements in (rolled_back or {}).items()
    }
    first_of: dict[str, Failure] = {}  # each file's first failure: what to fix first
    linked = []
    for index, failure in enumerate(failures):
        if failure.cause is None:  # not linked already, by an earlier pass
            missing = _missing(failure)
            found = (
                _earlier_failure(missing, failures[:index], facts[:index])
                or _rolled_back(missing, failure, first_of, lost, order)
                or _skipped(failure, missing, facts[index], skips, order)
            )
            if found is not None:
                failure = _caused(failure, found, _left_out_here(missing, failure.path, removed or {}))
        linked.append(failure)
        first_of.setdefault(failure.path, failure)
    return tuple(linked)


def _caused(failure: Failure, found: Found, note: str) -> Failure:
    """`failure` as a consequence: its cause set and named; a guess at another cause (a CREATE EXTENSION
    "missing or later") goes, since the cause is known."""
    cause, why = found
    guess = extension_function_hint(failure.sqlstate, failure.message)
    kept = [part for part in failure.hint.split("; ") if part and part != guess]
    return replace(failure, cause=cause, hint=hints(*kept, why, note))


def created(facts: Facts | None) -> list[ObjectRef]:
    """What a statement creates, or makes exist under a new name (ALTER … RENAME TO, SET SCHEMA)."""
    if facts is None or facts.target is None:
        return []
    if facts.action is Action.ALTER and facts.renamed_to is not None:
        return [facts.renamed_to]
    if facts.action not in (Action.CREATE, Action.REPLACE):
        return []
    return [facts.target, *facts.also_creates]


def _makes(ref: ObjectRef, missing: str) -> bool:
    """Whether creating `ref` would have made `missing` (a name as a "does not exist" message gives it) exist."""
    bare = _bare(missing)
    if ref.kind != "extension":
        return _bare(ref.name) == bare
    # An extension brings its schema and a type of its own name (pgmq, vector), and the functions known for it.
    name = ref.name.lower()
    schema = missing.split("(", 1)[0].rsplit(".", 1)[0].strip('"').lower() if "." in missing else ""
    return bare == name or schema == name or bare in KNOWN_FUNCTIONS.get(name, frozenset())


def _facts_of(path: str, statement: str) -> Facts | None:
    """What one statement does (None for no text, or text that is not exactly one statement)."""
    if not statement:
        return None
    parsed = parse_file(path, statement)
    return parsed.statements[0].facts if len(parsed.statements) == 1 else None


def _missing(failure: Failure) -> str | None:
    """The object a "does not exist" failure names, as written (schema and all); None for other failures."""
    match = _MISSING_NAME.match(failure.message) if failure.sqlstate in MISSING else None
    return (match["name"] or match["function"]).strip() if match is not None else None


def _earlier_failure(missing: str | None, earlier: Sequence[Failure], facts: Sequence[Facts | None]) -> Found | None:
    """A "does not exist" failure caused by an earlier failing statement that would have created the object."""
    if missing is None:
        return None
    for cause, described in zip(reversed(earlier), reversed(facts), strict=True):
        made = [ref for ref in created(described) if _makes(ref, missing)]
        if made:
            why = (
                f"{_CAUSED} the failure at {cause.path}:{cause.line}, "
                f"whose statement would have created {_what(made[0], missing)}: fix that one first"
            )
            return Cause(Location(cause.path, cause.line)), why
    return None


def _rolled_back(
    missing: str | None,
    failure: Failure,
    first_of: dict[str, Failure],
    lost: Mapping[str, Sequence[tuple[int, ObjectRef]]],
    order: Mapping[str, int],
) -> Found | None:
    """A "does not exist" failure on what an earlier version created before its failure rolled it all back."""
    if missing is None:
        return None
    here = order.get(failure.path, -1)
    for cause in reversed(first_of.values()):
        if cause.path not in lost or order.get(cause.path, -1) >= here:
            continue
        for line, ref in lost[cause.path]:
            if _makes(ref, missing):
                why = (
                    f"{_CAUSED} the failure at {cause.path}:{cause.line}: that version was rolled back whole, and "
                    f"with it {_what(ref, missing)}, which it creates at line {line}: fix that one first"
                )
                return Cause(Location(cause.path, cause.line)), why
    return None


def _skipped(
    failure: Failure, missing: str | None, facts: Facts | None, skips: Sequence[Skip], order: Mapping[str, int]
) -> Found | None:
    """A failure on a table whose CREATE TABLE IF NOT EXISTS was skipped before it, of a kind other columns cause
    (not one that names a missing object: a GRANT on that table to a missing role fails for the role)."""
    if missing is not None or failure.sqlstate not in SHAPE or _OWN_DEFINITION.match(failure.message):
        return None
    touched = {_bare(ref.name) for ref in _touched(facts)} | {_bare(name) for name in _QUOTED.findall(failure.message)}
    at = (order.get(failure.path, -1), failure.line)
    for skip in reversed(skips):
        if _bare(skip.table) in touched and (order.get(skip.path, -1), skip.line) < at:
            why = (
                f"{skip.table} is not the table {skip.path}:{skip.line} defines: that CREATE TABLE IF NOT EXISTS was "
                f"skipped because {skip.table} already existed, with the columns of an earlier definition "
                "(the plan lists it as a conflict)"
            )
            return Cause(Location(skip.path, skip.line), skipped=skip.table), why
    return None


def _left_out_here(missing: str | None, path: str, removed: Removed) -> str:
    """Why the failing file itself no longer creates the missing object: its statement was a removed duplicate."""
    if missing is None:
        return ""
    return next((why for ref, why in removed.get(path, ()) if _makes(ref, missing)), "")


def _what(ref: ObjectRef, missing: str) -> str:
    """The object created, and for an extension what of it was missing."""
    if ref.kind == "extension" and _bare(missing) != ref.name.lower():
        return f"{ref} (which provides {missing})"
    return str(ref)


def _touched(facts: Facts | None) -> list[ObjectRef]:
    if facts is None:
        return []
    target = [facts.target] if facts.target is not None else []
    on_table = [ObjectRef("table", None, facts.target.table)] if facts.target and facts.target.table else []
    return [*target, *on_table, *facts.references]


def _bare(name: str) -> str:
    """A name without schema, arguments or quotes, lower case: how messages and definitions can be compared."""
    return name.split("(", 1)[0].rsplit(".", 1)[-1].strip('"').lower()
