"""Plan the consolidation: a pure function from the mapping and the parsed sources to a Plan.

Rules, applied to the statements in consolidated order (targets by version, sources as listed):

- Duplicates are order-aware. A CREATE / CREATE OR REPLACE is dropped only when the same object's latest
  definition earlier in the order is identical (same fingerprint) and nothing since may have changed the object:
  no ALTER or DROP of it, of the table it belongs to or of a relation its definition reads (a view is bound
  to its table, not to the table's name: after a rename, the same CREATE OR REPLACE VIEW points elsewhere),
  no DROP … CASCADE at all, and no opaque statement (a DO block) that mentions its name. Statements that define
  nothing (INSERT, UPDATE, GRANT, …) are never dropped: repeating them changes data or is harmless, and only a
  database can tell which.
- Conflicts: a plain CREATE (with or without IF NOT EXISTS) of an object that is already defined differently.
  PostgreSQL either skips it silently (IF NOT EXISTS) or fails; either way a person must decide, through a
  resolution in the mapping. CREATE OR REPLACE with another body is a redefinition: the later one wins.
- Ordering: every table or view a statement references, and every table, view, sequence, type or domain an
  ALTER or DROP (without IF EXISTS) acts on, must exist at that point — created earlier, renamed to that name,
  not dropped since (core/namespace.py follows PostgreSQL's rules) — or be declared under ``provided``. When
  an opaque statement (a DO block, SQL the parser cannot read) mentions the name, the plan cannot tell: a
  warning, not an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace

from consolidate.core.comments import code_start, has_content
from consolidate.core.dependents import resolution_dependents, used_names
from consolidate.core.equivalence import same_definition
from consolidate.core.hazards import transaction_hazards, wrapping_transaction
from consolidate.core.namespace import CHECKED_KINDS, Key, Namespace, key_of
from consolidate.core.objects import do_block_queries
from consolidate.core.replacements import refused_replacement
from consolidate.model import (
    Action,
    Conflict,
    Decision,
    Diagnostic,
    Duplicate,
    Mapping,
    ObjectRef,
    ParsedFile,
    Plan,
    PlannedSource,
    PlannedTarget,
    Redefinition,
    Resolution,
    ScanResult,
    Severity,
    Statement,
)

DEFINING = frozenset({Action.CREATE, Action.REPLACE})

_PUNCTUATION_SPACE = re.compile(r"\s*([(),;])\s*")

StatementKey = tuple[str, int]  # (path, index)
_Found = tuple[int, Statement]  # a statement and its position in the consolidated order


def statement_key(statement: Statement) -> StatementKey:
    return (statement.path, statement.index)


def object_text(text: str) -> str:
    """Normalise an object as written in a mapping so that it compares with the plan's spelling."""
    text = " ".join(text.lower().split())
    return re.sub(r"(^|\s)public\.", r"\1", text)


def provided_object(text: str) -> ObjectRef | None:
    """`table auth.users` → the table auth.users; None for text that names no object."""
    words = object_text(text).split()
    if len(words) < 2:
        return None
    kind, name = " ".join(words[:-1]), words[-1]
    schema, _, bare = name.rpartition(".")
    return ObjectRef(kind, None, bare) if kind == "schema" else ObjectRef(kind, schema or "public", bare)


@dataclass
class _Walk:
    """Mutable state of one pass over the consolidated statement sequence.

    Every lookup is by key (definitions by table and by bare name, cascades by position), so a walk over N
    statements costs O(N) whatever the number of objects: trees with tens of thousands of statements are normal.
    """

    definitions: dict[ObjectRef, Statement] = field(default_factory=dict)
    defined_at: dict[ObjectRef, int] = field(default_factory=dict)  # position of the current definition
    changed: set[ObjectRef] = field(default_factory=set)
    last_cascade: int = -1  # position of the latest DROP … CASCADE: it may have changed anything defined before
    by_table: dict[str, set[ObjectRef]] = field(default_factory=dict)  # qualified table → triggers, indexes, …
    by_bare: dict[str, set[ObjectRef]] = field(default_factory=dict)  # bare name → objects, for opaque mentions
    # qualified relation → objects whose definition reads it (views, …): PostgreSQL binds them to the relation
    # itself, so renaming, altering or dropping it changes them even though their text stays the same.
    users: dict[str, set[ObjectRef]] = field(default_factory=dict)
    names: Namespace = field(default_factory=Namespace)  # what exists at this point, as PostgreSQL sees it
    opaque: dict[str, Statement] = field(default_factory=dict)  # bare name → first opaque statement naming it
    duplicates: list[Duplicate] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    redefinitions: list[Redefinition] = field(default_factory=list)
    ordering: list[Diagnostic] = field(default_factory=list)
    unsure: dict[Key, Diagnostic] = field(default_factory=dict)  # missing, but an opaque statement may create it
    dropped: set[StatementKey] = field(default_factory=set)  # statements left out of the canonical tree

    def is_changed(self, ref: ObjectRef) -> bool:
        return ref in self.changed or self.defined_at.get(ref, -1) < self.last_cascade

    def remember(self, ref: ObjectRef, statement: Statement, position: int) -> None:
        self.definitions[ref] = statement
        self.defined_at[ref] = position
        self.changed.discard(ref)
        owner = _owner(ref)
        if owner is not None:
            self.by_table.setdefault(owner, set()).add(ref)
        self.by_bare.setdefault(_bare(ref), set()).add(ref)
        for used in statement.facts.references:
            self.users.setdefault(_qualified(used), set()).add(ref)

    def forget(self, ref: ObjectRef) -> None:
        """Gone, with what belongs to it: a later CREATE defines it anew (no duplicate, no conflict)."""
        for gone in (ref, *self.by_table.pop(_qualified(ref), set())):
            self.definitions.pop(gone, None)

    def move(self, ref: ObjectRef, new: ObjectRef) -> None:
        """RENAME TO / SET SCHEMA: its definition, and those of its triggers, indexes and policies, follow it."""
        for old, moved in [(ref, new), *((o, _on_moved(o, new)) for o in self.by_table.pop(_qualified(ref), set()))]:
            if old in self.definitions:
                self.remember(moved, self.definitions.pop(old), self.defined_at.pop(old, -1))
            self.changed.add(moved)
        if ref.kind == "schema" and ref.name != new.name:
            for inner in [r for r in self.definitions if r.schema == ref.name]:
                self.remember(_schema_moved(inner, new.name), self.definitions.pop(inner), self.defined_at.pop(inner))
                self.changed.add(_schema_moved(inner, new.name))


def _schema_moved(ref: ObjectRef, schema: str) -> ObjectRef:
    """An object of a renamed schema, in the schema's new name (its table's name moves along)."""
    old = f"{ref.schema}."
    table = f"{schema}.{ref.table[len(old) :]}" if ref.table and ref.table.startswith(old) else ref.table
    key = f"{schema}.{ref.table_key[len(old) :]}" if ref.table_key and ref.table_key.startswith(old) else ref.table_key
    return replace(ref, schema=schema, table=table, table_key=key)


def _owner(ref: ObjectRef) -> str | None:
    """The qualified table an object belongs to (dropping the table drops it too)."""
    if ref.table_key is not None:
        return ref.table_key
    return _qualify(ref.table) if ref.kind == "index" else None


def _qualified(ref: ObjectRef) -> str:
    return f"{ref.schema or 'public'}.{ref.name}"


def _on_moved(ref: ObjectRef, table: ObjectRef) -> ObjectRef:
    """An object of a table after the table was renamed or moved to another schema."""
    if ref.kind == "index":
        return replace(ref, schema=table.schema, table=table.qualified)
    return replace(ref, schema=table.schema, table=table.qualified, table_key=_qualified(table))


def _qualify(name: str | None) -> str | None:
    if name is None:
        return None
    return name if "." in name else f"public.{name}"


def _note_change(walk: _Walk, statement: Statement, position: int) -> None:
    """Record what a non-defining statement may have changed, conservatively."""
    facts = statement.facts
    if facts.action is Action.DROP and facts.cascade:
        walk.last_cascade = position
    if facts.target is not None and facts.action in (Action.ALTER, Action.DROP):
        for target in (facts.target, *facts.also_drops):
            walk.changed.add(target)
            walk.changed.update(walk.by_table.get(_qualified(target), set()))
            walk.changed.update(walk.users.get(_qualified(target), set()))
        if facts.action is Action.DROP:
            for target in (facts.target, *facts.also_drops):
                walk.forget(target)
                walk.names.drop(target, statement.location, facts.cascade)
        elif facts.renamed_to is not None:
            walk.move(facts.target, facts.renamed_to)
            walk.names.rename(facts.target, facts.renamed_to, statement.location)
        for index in _indexes_on(walk, facts.target, facts.dropped_columns):
            walk.forget(index)
            walk.names.drop(index, statement.location, cascade=False)
    if facts.mentions and facts.target is None:
        for name in facts.mentions:
            walk.changed.update(walk.by_bare.get(name, ()))
            walk.opaque.setdefault(name, statement)


def _indexes_on(walk: _Walk, table: ObjectRef, columns: tuple[str, ...]) -> list[ObjectRef]:
    """The table's indexes that use one of `columns`: ALTER TABLE … DROP COLUMN drops them with the column."""
    if not columns:
        return []
    owned = walk.by_table.get(_qualified(table), set())
    return sorted(
        ref
        for ref in owned
        if ref.kind == "index" and ref in walk.definitions and used_names(walk.definitions[ref].text) & set(columns)
    )


def _bare(ref: ObjectRef) -> str:
    return ref.name.split("(", 1)[0].strip('"')


def _conflict_detail(first: Statement, second: Statement) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Say what PostgreSQL does with the second definition, and what it loses."""
    verb = "skipped (IF NOT EXISTS)" if second.facts.if_not_exists else "rejected: the object already exists"
    tables = (first.target.table, second.target.table) if first.target and second.target else (None, None)
    if tables[0] != tables[1]:  # index names are unique per schema, whatever their table
        taken = f"the name is taken by the index on {tables[0]} at {first.location}"
        return f"the second definition (on {tables[1]}) is {verb}: {taken}", (), ()
    if not (first.facts.columns or second.facts.columns):
        return f"the second definition is {verb}; first at {first.location}", (), ()
    first_columns = {column.name: column.definition for column in first.facts.columns}
    lost = tuple(column.name for column in second.facts.columns if column.name not in first_columns)
    differing = tuple(
        column.name
        for column in second.facts.columns
        if column.name in first_columns and first_columns[column.name] != column.definition
    )
    lost_constraints = tuple(c for c in second.facts.constraints if c not in set(first.facts.constraints))
    parts = [f"the second definition is {verb}; first at {first.location}"]
    if lost:
        parts.append(f"columns lost: {', '.join(lost)}")
    if differing:
        parts.append(f"columns defined differently: {', '.join(differing)}")
    if lost_constraints:
        parts.append(f"constraints lost: {'; '.join(lost_constraints)}")
    return "; ".join(parts), lost, lost_constraints


def _define(walk: _Walk, statement: Statement, target: ObjectRef, version: int, position: int) -> None:
    previous = walk.definitions.get(target)
    if previous is not None and walk.defined_at.get(target, -1) < walk.last_cascade:
        previous = None  # a DROP … CASCADE since may have removed it: whatever comes now defines it anew
    unchanged = previous is not None and not walk.is_changed(target)
    same = previous is not None and _same(previous, statement)
    if unchanged and same:
        assert previous is not None
        walk.duplicates.append(Duplicate(statement, previous, version))
        walk.dropped.add(statement_key(statement))
        return
    plain = statement.facts.action is Action.CREATE
    # The same definition again, after a change of the object: a plain CREATE of what still exists fails on
    # PostgreSQL (42710, 42P07) — unless a statement the plan cannot read may have dropped it.
    rejected = plain and not statement.facts.if_not_exists and same and _bare(target) not in walk.opaque
    if previous is not None and (not same or rejected) and plain:
        detail, lost, lost_constraints = _conflict_detail(previous, statement)
        # The object as it is called now (a renamed table's new name), on the table that holds it (an index's).
        shown = replace(target, table=previous.target.table) if previous.target and target.kind == "index" else target
        walk.conflicts.append(Conflict(shown, previous, statement, detail, lost, lost_constraints))
        return
    if previous is not None and not same:
        walk.redefinitions.append(Redefinition(target, previous, statement))
    walk.remember(target, statement, position)
    walk.names.create(_placed(walk, target, statement), statement.location, statement.facts.references)


def _same(first: Statement, second: Statement) -> bool:
    """One definition: the same fingerprint, or PostgreSQL's parse trees equal but for spelling and layout."""
    return first.fingerprint == second.fingerprint or same_definition(first.text, second.text)


_ACTING = frozenset({Action.ALTER, Action.DROP})
_NOTHING: dict[Key, ObjectRef] = {}


def _needed(statement: Statement) -> dict[Key, ObjectRef]:
    """What must exist when the statement runs: the tables it references and, for ALTER and DROP without
    IF EXISTS, the object it acts on (PostgreSQL: "does not exist")."""
    facts = statement.facts
    if not facts.references and facts.action not in _ACTING:
        return _NOTHING  # most statements: nothing to look up
    target = key_of(facts.target) if facts.target is not None else None
    # A CREATE's own name (a self-referencing foreign key) and ALTER … IF EXISTS's object need not exist.
    skip = target if facts.action in DEFINING or facts.if_not_exists else None
    needed = {key: ref for ref in facts.references if (key := key_of(ref)) is not None and key != skip}
    if facts.action in _ACTING and not facts.if_not_exists and facts.target is not None:
        for ref in (facts.target, *facts.also_drops):
            key = key_of(ref)
            if key is not None and ref.kind in CHECKED_KINDS:
                needed.setdefault(key, ref)
    return needed


def _check_references(walk: _Walk, statement: Statement, position: int, later: MappingABC[Key, _Found]) -> None:
    for key, ref in _needed(statement).items():
        if walk.names.exists(key):
            continue
        opaque = walk.opaque.get(_bare(ref))
        if opaque is not None and key not in walk.names.gone:
            walk.unsure.setdefault(key, _unsure(ref, statement, opaque))
            continue
        walk.ordering.append(_missing(walk, ref, key, statement, later.get(key), position))


def _missing(
    walk: _Walk, ref: ObjectRef, key: Key, statement: Statement, first: _Found | None, position: int
) -> Diagnostic:
    """Why `ref` is not there: gone, created later, created under another search_path, or never."""
    gone = walk.names.gone.get(key)
    creating = first[1] if first is not None and first[1] is not statement else None
    if gone is not None:
        message = f"{ref} is referenced after it was {gone}"
        hint = "refer to it by the name it has at this point, or move this file before the change"
    elif creating is not None and first is not None and first[0] > position:
        message = f"{ref} is referenced before it is created (at {creating.location})"
        hint = "move the creating file to an earlier version, or this file to a later one"
    elif creating is not None:
        message = f"{ref} is referenced where PostgreSQL does not find it: {creating.location} creates it "
        message += "under another search_path"
        hint = "qualify the name with its schema, or set the same search_path here"
    else:
        message = f"{ref} is referenced but no mapped source creates it"
        hint = "map the file that creates it, or declare it under 'provided:' if the platform provides it"
    return Diagnostic("plan.ordering", message, statement.location, hint)


def _refused_replacements(redefinitions: Iterable[Redefinition]) -> Iterator[Diagnostic]:
    """A redefinition PostgreSQL refuses is no "later one wins": it fails where it stands, in the legacy tree too."""
    for item in redefinitions:
        reason = refused_replacement(item.earlier.text, item.later.text)
        if reason is not None:
            yield Diagnostic(
                "plan.replace-refused",
                f"PostgreSQL refuses this CREATE OR REPLACE of {item.object} over the definition at "
                f"{item.earlier.location} ({reason}): the earlier one stays",
                item.later.location,
                hint=(
                    "keep the earlier columns first and in order"
                    if reason.startswith("42P16")
                    else "keep the parameter names and the result"
                )
                + ", or drop the object before (a `patch` in the mapping); verify replays it and confirms",
                severity=Severity.WARNING,
            )


def _unsure(ref: ObjectRef, statement: Statement, opaque: Statement) -> Diagnostic:
    return Diagnostic(
        "plan.ordering-unsure",
        f"{ref} is referenced but no statement the plan can read creates it; the statement at "
        f"{opaque.location}, which the plan cannot read, mentions it",
        statement.location,
        hint="verify replays the tree and tells; declare it under 'provided:' if the platform provides it",
        severity=Severity.WARNING,
    )


def _creations(statements: Iterable[Statement]) -> dict[Key, _Found]:
    """The first statement creating (or renaming to) each name, with its position."""
    first: dict[Key, _Found] = {}
    for position, statement in enumerate(statements):
        for ref in (*_created(statement), statement.facts.renamed_to):
            key = key_of(ref) if ref is not None else None
            if key is not None:
                first.setdefault(key, (position, statement))
    return first


def _created(statement: Statement) -> Iterator[ObjectRef]:
    if statement.facts.action in DEFINING and statement.target is not None:
        yield statement.target
    yield from statement.facts.also_creates


def _ordered(mapping: Mapping, parsed: MappingABC[str, ParsedFile]) -> Iterator[tuple[int, Statement]]:
    for target in mapping.targets:
        for source in target.sources:
            for statement in parsed[source].statements:
                yield target.version, statement


def _walk(mapping: Mapping, parsed: MappingABC[str, ParsedFile]) -> _Walk:
    walk = _Walk()
    for text in mapping.provided:
        ref = provided_object(text)
        if ref is not None:
            walk.names.create(ref, None)
    sequence = list(_ordered(mapping, parsed))
    later = _creations(statement for _, statement in sequence)
    source = None
    for position, (version, statement) in enumerate(sequence):
        if statement.path != source:  # each source ran in a session of its own
            source, walk.names.search_path = statement.path, ()
        walk.names.search_path = _search_path(statement) or walk.names.search_path
        _check_references(walk, statement, position, later)
        target = statement.target
        if target is not None and statement.facts.action in DEFINING:
            _define(walk, statement, target, version, position)
        else:
            _note_change(walk, statement, position)
        for extra in statement.facts.also_creates:
            walk.changed.add(extra)
            walk.names.create(_placed(walk, extra, statement), statement.location)
    return walk


_MENTIONS_SEARCH_PATH = re.compile("search_path", re.IGNORECASE)
_SET_SEARCH_PATH = re.compile(r"SET\s+(?:SESSION\s+|LOCAL\s+)?search_path\s*(?:TO|=)\s*(?P<path>[^;]*)", re.IGNORECASE)


def _search_path(statement: Statement) -> tuple[str, ...]:
    """The schemas a `SET search_path` sets, in order ("$user" left out); () for any other statement."""
    if _MENTIONS_SEARCH_PATH.search(statement.text) is None:  # the common case, at C speed
        return ()
    found = _SET_SEARCH_PATH.match(statement.text, code_start(statement.text))
    if found is None:
        return ()
    schemas = (part.strip() for part in found["path"].split(","))
    named = (part[1:-1] if part.startswith('"') else part.strip("'").lower() for part in schemas)
    return tuple(name for name in named if name and name != "$user") or ("public",)


def _placed(walk: _Walk, ref: ObjectRef, statement: Statement) -> ObjectRef:
    """Where the statement creates `ref`, along the search path; a statement that writes `public.` itself means
    public (names in public and unqualified ones look alike in an ObjectRef)."""
    if not walk.names.search_path:
        return ref
    return walk.names.placed(ref, qualified="public." in statement.text.lower())


def _resolve(conflicts: list[Conflict], resolutions: tuple[Resolution, ...]) -> tuple[list[Conflict], list[Diagnostic]]:
    """Attach each resolution to the conflicts of its object; a resolution with no conflict is bad input."""
    by_object = {object_text(resolution.object): resolution for resolution in resolutions}
    used: set[str] = set()
    resolved: list[Conflict] = []
    for conflict in conflicts:
        key = object_text(str(conflict.object))
        resolution = by_object.get(key) or by_object.get(object_text(_identity_text(conflict.object)))
        if resolution is not None:
            used.add(object_text(resolution.object))
            conflict = replace(conflict, resolution=resolution)
        resolved.append(conflict)
    problems = [
        Diagnostic(
            "mapping.unused-resolution",
            f"resolution for '{resolution.object}', which has no conflict in this plan",
            resolution.location,
            hint="remove it, or spell the object as `consolidate plan` prints it",
        )
        for resolution in resolutions
        if object_text(resolution.object) not in used
    ]
    problems += [
        Diagnostic(
            "mapping.bad-decision",
            f"merge-columns applies to tables only, not to {conflict.object}",
            conflict.resolution.location,
            hint="use keep-first",
        )
        for conflict in resolved
        if conflict.resolution is not None
        and conflict.resolution.decision is Decision.MERGE_COLUMNS
        and conflict.object.kind != "table"
    ]
    return resolved, problems


def _identity_text(ref: ObjectRef) -> str:
    return f"{ref.kind} {ref.qualified}"


def _dropped_by_resolution(conflicts: Iterable[Conflict]) -> set[StatementKey]:
    """keep-first leaves the later definition out: in the legacy replay it was skipped or failed anyway."""
    return {
        statement_key(conflict.second)
        for conflict in conflicts
        if conflict.resolution is not None and conflict.resolution.decision is Decision.KEEP_FIRST
    }


def _same_index_findings(parsed: Iterable[ParsedFile], skipped: set[StatementKey]) -> list[Diagnostic]:
    """The same index created under two names costs writes twice; worth a warning, not an error. A create that
    PostgreSQL skips or rejects (its name is taken: a conflict) creates nothing."""
    seen: dict[tuple[str | None, str], Statement] = {}
    findings = []
    for parsed_file in parsed:
        for statement in parsed_file.statements:
            target = statement.target
            if target is None or target.kind != "index" or statement.facts.action not in DEFINING:
                continue
            if statement_key(statement) in skipped:
                continue
            shape = _index_shape(statement)
            first = seen.setdefault((_qualify(target.table), shape), statement)
            if first is not statement and first.target is not None and first.target.name != target.name:
                findings.append(
                    Diagnostic(
                        "plan.same-index",
                        f"{target} duplicates index {first.target.qualified} ({first.location}) under another name",
                        statement.location,
                        hint="drop one of them in a new migration once the consolidation is live",
                        severity=Severity.WARNING,
                    )
                )
    return findings


# Statements that change the whole server, not the database they run in.
_SERVER_WIDE = re.compile(
    r"(?:CREATE|ALTER|DROP)\s+(?:ROLE|USER(?!\s+MAPPING)|GROUP|DATABASE|TABLESPACE)\b|ALTER\s+SYSTEM\b", re.IGNORECASE
)
_DO = re.compile(r"DO\b", re.IGNORECASE)


def server_wide(statement: Statement) -> str | None:
    """What a statement does to the whole server ("CREATE ROLE", "ALTER SYSTEM", …), or None."""
    return _server_wide_text(statement.text)


def _server_wide_text(text: str) -> str | None:
    found = _SERVER_WIDE.match(text, code_start(text))
    return " ".join(found.group().upper().split()) if found is not None else None


def server_wide_in_do(statement: Statement) -> tuple[str, ...]:
    """What the statements a DO block runs do to the whole server ("CREATE ROLE", …), each once, in order.

    Only the SQL the block's text holds (core/objects.py `do_block_queries`): SQL it builds at run time is not seen.
    """
    text = statement.text
    if not _DO.match(text, code_start(text)) or not _SERVER_WIDE.search(text):
        return ()  # most DO blocks change nothing beyond their database: no plpgsql parse for them
    return tuple(dict.fromkeys(what for query in do_block_queries(text) if (what := _server_wide_text(query))))


def _server_acts(statement: Statement) -> tuple[str, ...]:
    what = server_wide(statement)
    return (what,) if what is not None else server_wide_in_do(statement)


def created_roles(statements: Iterable[Statement]) -> tuple[str, ...]:
    """The roles statements create, each once, as PostgreSQL names them: by CREATE ROLE / USER / GROUP, and by
    those a DO block runs (literal SQL only, as `server_wide_in_do`)."""
    names: list[str] = []
    for statement in statements:
        facts = statement.facts
        created = [facts.target] if facts.action is Action.CREATE and facts.target is not None else []
        names += [ref.name for ref in (*created, *facts.also_creates) if ref.kind == "role"]
    return tuple(dict.fromkeys(names))


def _acts_text(acts: tuple[str, ...], statement: Statement) -> str:
    """How a finding names what a statement does to the server: the statement itself, or what its DO block runs."""
    if server_wide(statement) is not None:
        return acts[0]
    return f"{', '.join(acts)} in this DO block"


def _server_wide_findings(parsed: Iterable[ParsedFile]) -> list[Diagnostic]:
    """Roles, databases, tablespaces and server settings outlive the database a migration runs in: a second
    database migrated on the same server meets them (already exists). A DO block that runs such a statement is
    warned about like the statement (issue 13, 7)."""
    return [
        Diagnostic(
            "plan.server-wide",
            f"{_acts_text(acts, statement)} {'changes' if len(acts) == 1 else 'change'} the whole server, not the "
            "database: what it does outlives the database and every database on the server shares it",
            statement.location,
            hint="create roles in the mapping's prelude (created if missing, dropped after verify), or "
            "exclude a bootstrap script",
            severity=Severity.WARNING,
        )
        for parsed_file in parsed
        for statement in parsed_file.statements
        if (acts := _server_acts(statement))
    ]


# What a replay must not do to a server it was only lent (--database-url): change its configuration, or create,
# drop or alter a database or tablespace, none of which lives in a scratch database. Roles a replay creates are
# dropped after it (db/replay_roles.py).
_NOT_ON_A_LENT_SERVER = frozenset(
    {"ALTER SYSTEM", "CREATE DATABASE", "DROP DATABASE", "ALTER DATABASE"}
    | {"CREATE TABLESPACE", "DROP TABLESPACE", "ALTER TABLESPACE"}
)


def lent_server_changes(parsed: Iterable[ParsedFile]) -> list[Diagnostic]:
    """The statements a replay on a lent server must not run, each as an error at its line (a DO block that runs
    one, at the DO block's)."""
    hint = "replay on a throw-away private server (no --database-url), or exclude the bootstrap script"
    return [
        Diagnostic(
            "replay.server-change",
            f"{_acts_text(refused, statement)} would change the lent server itself, beyond the scratch databases: "
            "nothing was run",
            statement.location,
            hint,
        )
        for parsed_file in parsed
        for statement in parsed_file.statements
        if (refused := tuple(what for what in _server_acts(statement) if what in _NOT_ON_A_LENT_SERVER))
    ]


def _index_shape(statement: Statement) -> str:
    """What an index covers, without its name: UNIQUE or not, and everything from ON on, normalised."""
    lines = (line.split("--", 1)[0] for line in statement.text.lower().splitlines())
    head, _, tail = " ".join(" ".join(lines).split()).partition(" on ")
    unique = "unique " if " unique " in f" {head} " else ""
    return unique + _PUNCTUATION_SPACE.sub(r"\1", tail)


def build_plan(
    mapping: Mapping,
    scan: ScanResult,
    parsed: MappingABC[str, ParsedFile],
) -> tuple[Plan, tuple[Diagnostic, ...]]:
    """Plan the consolidation; the second value lists bad input in the mapping found on the way (exit 2)."""
    walk = _walk(mapping, parsed)
    conflicts, problems = _resolve(walk.conflicts, mapping.resolutions)
    dropped = walk.dropped | _dropped_by_resolution(conflicts)
    ordered = (statement for _, statement in _ordered(mapping, parsed))
    dependents = resolution_dependents(ordered, conflicts, dropped)
    by_removed = {statement_key(duplicate.removed): duplicate for duplicate in walk.duplicates}
    kept = _planned_targets(mapping, scan, parsed, dropped, by_removed)
    hazards = transaction_hazards(kept, scan)
    # A BEGIN … COMMIT wrapping a whole source is redundant inside its version's one transaction, and its COMMIT
    # would end that transaction early: left out, with a comment line (the hazards report it as a note).
    wraps = wrapping_transaction(s for target in kept for source in target.sources for s in source.statements)
    targets = _planned_targets(mapping, scan, parsed, dropped | wraps, by_removed) if wraps else kept
    mapped = [parsed[source] for target in mapping.targets for source in target.sources]
    plan = Plan(
        mapping=mapping,
        targets=targets,
        duplicates=tuple(walk.duplicates),
        conflicts=tuple(conflicts),
        redefinitions=tuple(walk.redefinitions),
        ordering_errors=tuple(walk.ordering),
        syntax_errors=tuple(error for parsed_file in mapped for error in parsed_file.errors),
        findings=tuple(scan.findings)
        + tuple(_same_index_findings(mapped, {statement_key(c.second) for c in conflicts}))
        + tuple(_server_wide_findings(mapped))
        + tuple(walk.unsure.values())
        + tuple(_refused_replacements(walk.redefinitions))
        + tuple(dependents)
        + hazards,
        excluded=tuple(sorted(mapping.excludes, key=lambda exclusion: exclusion.path)),
        fallbacks=sum(parsed_file.fallbacks for parsed_file in mapped),
        statements=sum(len(parsed_file.statements) for parsed_file in mapped),
        transaction_wraps=wraps,
    )
    return plan, tuple(problems) + _unused_acceptances(plan)


def _unused_acceptances(plan: Plan) -> tuple[Diagnostic, ...]:
    """An acceptance that covers nothing is stale (the finding was fixed, or it is misspelt): bad input, as an
    unused resolution is, so that no acknowledgement outlives what it acknowledged."""
    accepted = plan.accepted
    return tuple(
        Diagnostic(
            "mapping.unused-accept",
            f"accepts {acceptance.code} at {acceptance.path}{f':{acceptance.line}' if acceptance.line else ''}, "
            "which this plan does not report as an error",
            acceptance.location,
            hint="remove it, or copy the code and file:line from `consolidate plan`",
        )
        for acceptance in plan.mapping.accepted
        if not any(acceptance.covers(error) for error in accepted)
    )


def _planned_targets(
    mapping: Mapping,
    scan: ScanResult,
    parsed: MappingABC[str, ParsedFile],
    dropped: set[StatementKey] | frozenset[StatementKey],
    duplicates: MappingABC[StatementKey, Duplicate],
) -> tuple[PlannedTarget, ...]:
    return tuple(
        PlannedTarget(
            target, tuple(_planned_source(source, scan, parsed, dropped, duplicates) for source in target.sources)
        )
        for target in mapping.targets
    )


def _planned_source(
    path: str,
    scan: ScanResult,
    parsed: MappingABC[str, ParsedFile],
    dropped: set[StatementKey] | frozenset[StatementKey],
    duplicates: MappingABC[StatementKey, Duplicate],
) -> PlannedSource:
    statements = parsed[path].statements
    legacy = scan.file(path)
    return PlannedSource(
        path=path,
        statements=tuple(s for s in statements if statement_key(s) not in dropped),
        removed=tuple(duplicates[statement_key(s)] for s in statements if statement_key(s) in duplicates),
        down=_usable_down(scan, path),
        sha256=legacy.sha256 if legacy is not None else "",
    )


def _usable_down(scan: ScanResult, path: str) -> str | None:
    """The down file of `path`, unless it holds no SQL: an empty placeholder (golang-migrate trees are full of
    them) would let `migrate down` forget a version while its objects stay. The scan reports it (scan.empty)."""
    down = scan.down_of(path)
    legacy = scan.file(down) if down is not None else None
    return down if legacy is not None and has_content(legacy.text) else None
