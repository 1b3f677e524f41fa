"""A database state as a map from each object to a hash of its definition, read on an open connection.

The rollback proof needs to know whether a down script put the database back where the version found it. Comparing
two databases with db/diff.py takes a copy of the database per version and two whole inspections per proof, which
grows with the square of the tree (issue 16). A fingerprint is read on the connection that ran the script, inside
the transaction that is then rolled back, so no copy is made.

A fingerprint is a filter, never the verdict on its own: it is built to be at least as strict as `compare` (see
sql/fingerprint.sql), so equal fingerprints mean compare would find no difference, and any difference sends the
caller to compare, which names it. Rows are hashed whole, every column included (stricter than compare, which
leaves out the columns two replays fill differently); a table whose heap is empty is known to hold no rows without
reading it, which keeps the read short for trees that carry little data.

Reading the whole fingerprint twice per version still grows with the square of the tree. A ``Watch`` keeps one
fingerprint up to date through a replay instead, reading again only the objects a version or a down script touched
(see ``Watch``); whatever it cannot account for, it reads whole.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from consolidate.db.diff import ROW_TEXT_SETTINGS
from consolidate.db.script import SEQUENCE_POSITIONS

Fingerprint = dict[str, str]

_SQL = (files("consolidate.db") / "sql" / "fingerprint.sql").read_text(encoding="utf-8")
_MARKER = re.compile(r"\b(HITS|WATCHED|DEPENDENCIES)\(([^()]*)\)")

# A limited read looks a dependency up by either end through pg_depend's two indexes (catalog, then OID).
# (OFFSET 0: the outer conditions must not replace these as the index's.)
_DEPENDENCIES = """(
    select * from (
        select * from pg_depend where classid = any($2) and objid = any($1)
        union all
        select * from pg_depend
        where refclassid = any($2) and refobjid = any($1) and not (classid = any($2) and objid = any($1))
    ) as either_end
    offset 0
) as {alias}"""

# Row text and deparsed definitions depend on these settings: each fingerprint reads under compare's, whatever a
# script SET, for its transaction only. With only pg_catalog on the search path, every deparsed name is written
# with its schema. A version's SET LOCAL ROLE must not decide what the read may see.
_SETTINGS = "; ".join(
    f"set local {setting}"
    for setting in (*ROW_TEXT_SETTINGS, "search_path = pg_catalog", "role none", "plan_cache_mode = force_generic_plan")
)

_FILLED = """
select c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'm') and c.relispopulated and c.relpersistence <> 't'
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and not exists (
        select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
    )
    and pg_relation_size(c.oid) > 0
    and WATCHED(c.oid)
order by 2
"""


@dataclass(frozen=True)
class Entry:
    """One key of a fingerprint: the hash of its definition, and the OIDs it hangs on (sql/fingerprint.sql)."""

    digest: str
    hits: frozenset[int]


Reading = dict[str, Entry]


def fingerprint(connection: psycopg.Connection[Any]) -> Fingerprint:
    """The state of the database `connection` is on, as its open transaction (if any) sees it."""
    return digests(read(connection))


def digests(reading: Reading) -> Fingerprint:
    """A reading's fingerprint: each key's digest."""
    return {key: entry.digest for key, entry in reading.items()}


def read(connection: psycopg.Connection[Any], watched: Watched | None = None) -> Reading:
    """The fingerprint's entries, all of them or (`watched`) only those that hang on one of the given OIDs.

    A limited read runs statements prepared in the session, so that PostgreSQL plans them once and reuses the plan
    (planning the whole query took longer than running it for a few objects); a session reset forgets them, and
    the next read prepares them again."""
    for attempt in ("prepared", "prepare"):
        try:
            with connection.transaction(force_rollback=True):
                connection.execute(_SETTINGS)
                if watched is None:
                    rows = connection.execute(_rendered(_SQL, full=True)).fetchall()
                    tables = connection.execute(_rendered(_FILLED, full=True)).fetchall()
                else:
                    if attempt == "prepare":
                        _prepare(connection, "consolidate_fingerprint", "consolidate_filled")
                    arrays = (sorted(watched.oids), sorted(watched.classes))
                    rows = connection.execute(_execution("consolidate_fingerprint", arrays)).fetchall()
                    tables = connection.execute(_execution("consolidate_filled", arrays)).fetchall()
                return _entries(connection, rows, tables)
        except psycopg.errors.InvalidSqlStatementName:
            if attempt == "prepare":
                raise
    raise AssertionError("unreachable")


def _prepared(connection: psycopg.Connection[Any], name: str, arrays: Sequence[Iterable[int]]) -> list[Any]:
    """The rows of one of the prepared statements, prepared first when the session does not have it (yet)."""
    try:
        with connection.transaction():
            return connection.execute(_execution(name, arrays)).fetchall()
    except psycopg.errors.InvalidSqlStatementName:
        _prepare(connection, name)
        return connection.execute(_execution(name, arrays)).fetchall()


def _forget_plans(connection: psycopg.Connection[Any]) -> None:
    """Drop the statements prepared here: the next read prepares and plans them again."""
    prepared = connection.execute("select name from pg_prepared_statements where name = any(%s)", [list(_PREPARED)])
    for (name,) in prepared.fetchall():
        connection.execute(sql.SQL("deallocate {}").format(sql.Identifier(name)))


def _prepare(connection: psycopg.Connection[Any], *names: str) -> None:
    for name in names:
        connection.execute(f"prepare {name}{_PREPARED[name]()}")


def _execution(name: str, arrays: Sequence[Iterable[int]]) -> str:
    """EXECUTE takes no bound parameters: the arrays are written out (integers only; the statement's parameter
    types say which)."""
    written = ("'{" + ",".join(str(int(value)) for value in values) + "}'" for values in arrays)
    return f"execute {name}({', '.join(written)})"


def _entries(connection: psycopg.Connection[Any], rows: list[Any], tables: list[Any]) -> Reading:
    found: defaultdict[str, list[str]] = defaultdict(list)
    hits: defaultdict[str, set[int]] = defaultdict(set)
    for key, digest, on in rows:
        found[key].append(digest)
        hits[key].update(on)
    if tables:
        for oid, key, digest in connection.execute(_rows_query(tables)).fetchall():
            found[key].append(digest)
            hits[key].add(oid)
    return {key: Entry(",".join(sorted(values)), frozenset(hits[key] - {0})) for key, values in found.items()}


@dataclass(frozen=True)
class Watched:
    """The OIDs a limited read is about, and the catalogs they are in (a dependency is looked up by both)."""

    oids: frozenset[int]
    classes: frozenset[int]


def _rendered(text: str, *, full: bool) -> str:
    """The query with its markers filled in: HITS(a, b) lists the OIDs a row hangs on; WATCHED(a, b) keeps the
    rows hanging on an OID of the parameter $1 (every row, `full`); DEPENDENCIES(d) is pg_depend, or only its rows
    with an end in $1, whose catalog is in $2."""

    def fill(match: re.Match[str]) -> str:
        columns = [column.strip() for column in match[2].split(",")]
        if match[1] == "HITS":
            return f"array[{', '.join(columns)}]::oid[]"
        if match[1] == "DEPENDENCIES":
            return f"pg_depend {columns[0]}" if full else _DEPENDENCIES.format(alias=columns[0])
        if full:
            return "true"
        return "(" + " or ".join(f"{column} = any($1)" for column in columns) + ")"

    return _MARKER.sub(fill, text)


def _rows_query(tables: list[tuple[int, str]]) -> sql.Composed:
    """Per table holding rows: its count and a hash of its sorted row hashes, in one statement."""
    parts = [
        sql.SQL(
            "select {oid}::oid, {key}, "
            "count(*)::text || ' ' || md5(string_agg(md5(t::text), '' order by md5(t::text))) "
            "from {table} as t having count(*) > 0"
        ).format(oid=sql.Literal(oid), key=sql.Literal(f"rows {name}"), table=sql.SQL(name))
        for oid, name in tables
    ]
    return sql.SQL(" union all ").join(parts)


def differing(a: Fingerprint, b: Fingerprint) -> tuple[str, ...]:
    """The objects whose definitions differ between two fingerprints, or that only one of them holds."""
    return tuple(sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key)))


# --- a fingerprint kept up to date through a replay ---------------------------------------------------------------

WATCH_SCHEMA = "_consolidate_watch"  # sql/fingerprint.sql leaves it and its event triggers out by this name
_TOUCHED = "consolidate.touched"

# An event trigger notes, in a transaction-local setting (so a rolled-back savepoint takes its notes with it), the
# catalog and OID of every object each DDL command creates, alters or drops. ENABLE ALWAYS: it fires under
# session_replication_role = replica too. SECURITY DEFINER: a version run under SET ROLE still has it fire.
_INSTALL = f"""
create schema {WATCH_SCHEMA};
create function {WATCH_SCHEMA}.note() returns event_trigger language plpgsql security definer
set search_path = pg_catalog as $$
declare
    noted text := coalesce(current_setting('{_TOUCHED}', true), '');
    found record;
begin
    if tg_event = 'sql_drop' then
        for found in select classid, objid from pg_event_trigger_dropped_objects() loop
            noted := noted || ' ' || coalesce(found.classid::text, '0') || ':' || coalesce(found.objid::text, '0');
        end loop;
    else
        for found in select classid, objid from pg_event_trigger_ddl_commands() loop
            noted := noted || ' ' || coalesce(found.classid::text, '0') || ':' || coalesce(found.objid::text, '0');
        end loop;
    end if;
    perform set_config('{_TOUCHED}', noted, true);
end
$$;
grant usage on schema {WATCH_SCHEMA} to public;
create event trigger {WATCH_SCHEMA}_end on ddl_command_end execute function {WATCH_SCHEMA}.note();
create event trigger {WATCH_SCHEMA}_drop on sql_drop execute function {WATCH_SCHEMA}.note();
alter event trigger {WATCH_SCHEMA}_end enable always;
alter event trigger {WATCH_SCHEMA}_drop enable always;
"""

_REMOVE = f"""
drop event trigger if exists {WATCH_SCHEMA}_end;
drop event trigger if exists {WATCH_SCHEMA}_drop;
drop schema if exists {WATCH_SCHEMA} cascade;
"""

# What a transaction changed so far, in one round trip: the objects the event trigger noted (and whether it is still
# there to note them); the roles (global objects, out of an event trigger's sight; owners and ACLs name them); the
# tables whose rows may differ since the watch last looked (a new file: TRUNCATE, a rewrite; or rows written: the
# table's count of rows inserted, updated and deleted, reported plus not yet reported, which only grows, grew);
# every write happens in a transaction that ends with a look, and a transaction's own writes are among the not yet
# reported ones, so only tables with some are candidates (cheap to tell, unlike the reported count);
# and the objects whose entries may have changed with the noted ones and those carried over from an earlier
# transaction: they, their row and array types, what depends on any of them (a view's text names the tables it
# reads, a constraint's the table it references, ...), and the relation or type such a dependent belongs to.
# The reported counts are read once per transaction (stats_fetch_consistency caches them): one look each. Last,
# where the sequences the transaction may have moved, or whose definition it touched, are now.
_CHANGES = f"""
with noted(classid, oid) as (
    select split_part(note, ':', 1)::oid, split_part(note, ':', 2)::oid
    from regexp_split_to_table(btrim(coalesce(current_setting('{_TOUCHED}', true), '')), ' +') as note
    where note <> ''
),
touched(classid, oid) as (select * from noted union select * from unnest($1::oid[], $2::oid[])),
typed(classid, oid) as (
    select classid, oid from touched
    union select 'pg_type'::regclass, c.reltype from pg_class c join touched t on t.oid = c.oid and c.reltype <> 0
        where t.classid = 'pg_class'::regclass
    union select 'pg_type'::regclass, y.typarray from pg_class c join touched t on t.oid = c.oid
        join pg_type y on y.oid = c.reltype where t.classid = 'pg_class'::regclass and y.typarray <> 0
    union select 'pg_type'::regclass, y.typarray from pg_type y join touched t on t.oid = y.oid
        where t.classid = 'pg_type'::regclass and y.typarray <> 0
),
dependent(classid, oid) as (
    select d.classid, d.objid from pg_depend d join typed t on d.refclassid = t.classid and d.refobjid = t.oid
),
around(classid, oid) as (
    select classid, oid from typed
    union all select classid, oid from dependent
    union all select 'pg_class'::regclass, a.adrelid from pg_attrdef a
        join dependent d on d.oid = a.oid and d.classid = 'pg_attrdef'::regclass
    union all select 'pg_class'::regclass, w.ev_class from pg_rewrite w
        join dependent d on d.oid = w.oid and d.classid = 'pg_rewrite'::regclass
    union all select 'pg_class'::regclass, c.conrelid from pg_constraint c
        join dependent d on d.oid = c.oid and d.classid = 'pg_constraint'::regclass
    union all select 'pg_type'::regclass, c.contypid from pg_constraint c
        join dependent d on d.oid = c.oid and d.classid = 'pg_constraint'::regclass
    union all select 'pg_class'::regclass, g.tgrelid from pg_trigger g
        join dependent d on d.oid = g.oid and d.classid = 'pg_trigger'::regclass
    union all select 'pg_class'::regclass, p.polrelid from pg_policy p
        join dependent d on d.oid = p.oid and d.classid = 'pg_policy'::regclass
),
stored(oid, relkind, node) as (  -- one pass over pg_class for the tables and the sequences
    select c.oid, c.relkind, c.relfilenode
    from pg_class c
    where c.relkind in ('r', 'm', 'S') and c.relpersistence <> 't'
        and c.relnamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
),
written(oid, node, writes) as (
    select c.oid, c.node,
        pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid) + pg_stat_get_tuples_deleted(c.oid)
        + pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid)
        + pg_stat_get_xact_tuples_deleted(c.oid)
    from stored c
    left join unnest($3::oid[], $4::oid[]) as moved(oid, node) on moved.oid = c.oid
    where c.relkind <> 'S'
        and (pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid)
                + pg_stat_get_xact_tuples_deleted(c.oid) > 0
            or c.node is distinct from coalesce(moved.node, c.oid))
)
select
    (select coalesce(array_agg(array[classid, oid]), '{{}}') from noted),
    (select count(*) from pg_event_trigger
     where evtname in ('{WATCH_SCHEMA}_end', '{WATCH_SCHEMA}_drop') and evtenabled = 'A'),
    (select md5(string_agg(oid::text || ' ' || rolname, ',' order by oid)) from pg_roles)
        || (select md5(coalesce(string_agg(roleid::text || ' ' || member::text, ',' order by roleid, member), ''))
            from pg_auth_members),
    (select coalesce(array_agg(array[oid::int8, node::int8, writes]), '{{}}') from written),
    (select coalesce(array_agg(distinct oid), '{{}}') from around where oid <> 0),
    (select coalesce(array_agg(distinct classid), '{{}}') from around where oid <> 0),
    (select coalesce(array_agg(array[c.oid::int8, pg_sequence_last_value(c.oid)]), '{{}}')
     from stored c
     where c.relkind = 'S' and (pg_stat_get_xact_blocks_fetched(c.oid) > 0 or c.oid in (select oid from touched)))
"""

# The sequences a transaction may have moved (nextval and setval read the sequence's block; not yet reported).
_ADVANCED = """
select oid from pg_class
where relkind = 'S' and relpersistence <> 't' and pg_stat_get_xact_blocks_fetched(oid) > 0
"""

# The statements a watch prepares in the session (each planned once; see ``read``), their parameters OID arrays.
_PREPARED = {
    "consolidate_fingerprint": lambda: f"(oid[], oid[]) as {_rendered(_SQL, full=False)}",
    "consolidate_filled": lambda: f"(oid[], oid[]) as {_rendered(_FILLED, full=False)}",
    "consolidate_changes": lambda: f"(oid[], oid[], oid[], oid[]) as {_CHANGES}",
}

# Catalogs whose objects a limited read accounts for (sql/fingerprint.sql's sections and what _CHANGES maps);
# anything else a command touched (an extension, a cast, a GRANT, which names no object, ...) means a whole read.
_FOLLOWED = (
    "pg_class",
    "pg_type",
    "pg_proc",
    "pg_constraint",
    "pg_trigger",
    "pg_rewrite",
    "pg_policy",
    "pg_attrdef",
    "pg_namespace",
)


@dataclass(frozen=True)
class Changes:
    """What one transaction changed, as the watch saw it (`touched` None: read everything), and the objects whose
    entries a read must see again for it."""

    touched: frozenset[tuple[int, int]] | None
    nodes: Mapping[int, tuple[int, int]]  # tables whose rows may differ: their file, and their count of writes
    sequences: Mapping[int, int | None]  # where the sequences it may have moved are
    roles: str
    watched: Watched


@dataclass(frozen=True)
class Undo:
    """How to see the fingerprint as it was before an update: the entries it replaced and the keys it added."""

    changes: Changes
    removed: Reading
    added: frozenset[str]
    whole: bool = False  # the update read everything: `removed` is the whole earlier fingerprint


@dataclass
class Watch:
    """One database's fingerprint, kept up to date through a replay on one connection.

    Every version runs inside a transaction the replay controls; before it commits, ``update`` reads again only
    the entries that hang on what the version touched: the objects its DDL created, altered or dropped (an event
    trigger notes them), those that depend on them, and the tables it wrote rows to. An entry that hangs on none
    of them cannot have changed: its catalog rows were not written, and the names its text shows belong to objects
    that were not touched. ``same_as_before`` then tells, in a later transaction that ran a down script, whether
    the database is back at the fingerprint the version found, reading again only what the version and the down
    script touched. What the watch cannot follow (a GRANT, an extension, a schema that was there, a role renamed,
    the event trigger gone) makes it read everything, as a whole fingerprint would. It needs a superuser (event
    triggers); without one, `enabled` stays False and the caller reads whole fingerprints.
    """

    enabled: bool = False
    entries: dict[str, Entry] = field(default_factory=dict)
    by_oid: defaultdict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    nodes: dict[int, tuple[int, int]] = field(default_factory=dict)
    sequences: dict[int, int | None] = field(default_factory=dict)  # where each sequence is
    planned_for: int = 100  # entries when the prepared statements were last planned
    roles: str = ""
    classes: dict[int, str] = field(default_factory=dict)
    stale: bool = True

    @property
    def pg_class(self) -> int:
        return next((oid for oid, name in self.classes.items() if name == "pg_class"), 1259)

    def install(self, connection: psycopg.Connection[Any]) -> None:
        """Set up the event triggers in `connection`'s database, when its user may (autocommit connection)."""
        try:
            with connection.transaction():
                settings = connection.execute(
                    "select rolsuper, current_setting('track_counts')::bool,"
                    # before 15, reported counts reach the server late (a stats collector): writes could hide
                    " current_setting('server_version_num')::int >= 150000"
                    " from pg_roles where rolname = current_user"
                ).fetchone()
                if settings is None or not all(settings):
                    return
                connection.execute(_INSTALL.encode())
                names = ", ".join(f"'{name}'::regclass::oid" for name in _FOLLOWED)
                found = connection.execute(f"select unnest(array[{names}]), unnest(%s::text[])", [list(_FOLLOWED)])
                self.classes = {int(oid): name for oid, name in found.fetchall()}
        except psycopg.Error:
            return
        self.enabled = True

    def remove(self, connection: psycopg.Connection[Any]) -> None:
        """Take the event triggers away again: the database is compared with others after the replay."""
        if self.enabled:
            connection.execute(_REMOVE.encode())
            self.enabled = False

    def refresh(self, connection: psycopg.Connection[Any]) -> None:
        """Read the whole fingerprint when it is not known to be up to date (first use, a version not watched)."""
        if self.stale:
            changes = self.changes(connection, whole=True)
            self._replace_all(read(connection), changes)
            self.sequences = {int(oid): value for oid, value in connection.execute(SEQUENCE_POSITIONS).fetchall()}
            self.stale = False

    def advanced(self, connection: psycopg.Connection[Any]) -> list[tuple[int, int | None]]:
        """Where the sequences a rolled-back trial may have moved were before it (see ``Replaying.trial``)."""
        return [(int(oid), self.sequences.get(int(oid))) for (oid,) in connection.execute(_ADVANCED).fetchall()]

    def changes(
        self,
        connection: psycopg.Connection[Any],
        carried: frozenset[tuple[int, int]] = frozenset(),
        *,
        whole: bool = False,
    ) -> Changes:
        """What the open transaction changed so far, with what an earlier one touched (`carried`); `whole`: a
        whole read follows whatever it finds."""
        # A table's file is its OID until TRUNCATE or a rewrite gives it another: only those are sent.
        moved, pairs = sorted((oid, node) for oid, (node, _) in self.nodes.items() if node != oid), sorted(carried)
        arrays = [[c for c, _ in pairs], [o for _, o in pairs], [oid for oid, _ in moved], [node for _, node in moved]]
        (noted, alive, roles, written, oids, classes, moved_to), *_ = _prepared(
            connection, "consolidate_changes", arrays
        )
        touched = None if whole or alive != 2 or roles != self.roles else self._touched(noted)
        counted = ((int(oid), (int(node), int(writes))) for oid, node, writes in written)
        nodes = {oid: seen for oid, seen in counted if self.nodes.get(oid) != seen}
        watched = Watched(frozenset(oids) | set(nodes), frozenset(classes) | {self.pg_class})
        sequences = {int(oid): None if value is None else int(value) for oid, value in moved_to}
        return Changes(touched, nodes, sequences, roles or "", watched)

    def update(self, connection: psycopg.Connection[Any], changes: Changes) -> Undo:
        """Bring the fingerprint up to date with what `changes` says a transaction did (it may have committed).

        Outside a transaction (the version committed), it also has the watch's statements planned again each time
        the database has doubled: a plan made for a few tables scans whole catalogs once there are thousands."""
        if len(self.entries) > 2 * self.planned_for and connection.info.transaction_status is TransactionStatus.IDLE:
            _forget_plans(connection)
            self.planned_for = len(self.entries)
        self.sequences.update(changes.sequences)
        if changes.touched is None:
            undo = Undo(changes, dict(self.entries), frozenset(), whole=True)
            self._replace_all(read(connection), changes)
            return undo
        fresh = read(connection, changes.watched)
        removed = {key: self.entries[key] for key in self._keys(changes.watched.oids)}
        for key, entry in removed.items():
            self._forget(key, entry)
        for key, entry in fresh.items():
            self._remember(key, entry)
        self.nodes.update(changes.nodes)
        return Undo(changes, removed, frozenset(fresh))

    def same_as_before(self, connection: psycopg.Connection[Any], undo: Undo) -> bool:
        """Whether the database, as the open transaction sees it, has the fingerprint it had before the update
        `undo` describes (the state the version found)."""
        earlier_touched = undo.changes.touched
        if earlier_touched is None or undo.whole:
            return digests(read(connection)) == digests(self._earlier_whole(undo))
        changes = self.changes(connection, earlier_touched)
        # The trial's writes are rolled back but stay counted: the next look must not take them for new ones.
        counted = changes.nodes.items()
        self.nodes.update({oid: (self.nodes[oid][0], writes) for oid, (_, writes) in counted if oid in self.nodes})
        if changes.touched is None:
            return digests(read(connection)) == digests(self._earlier_whole(undo))
        watched = Watched(
            changes.watched.oids | undo.changes.watched.oids, changes.watched.classes | undo.changes.watched.classes
        )
        now = digests(read(connection, watched))
        earlier = self._earlier(undo, watched.oids)
        if any(now.get(key) != digest for key, digest in earlier.items()):
            return False
        return all(self._earlier_entry(undo, key) == digest for key, digest in now.items() if key not in earlier)

    # the fingerprint before the last update, seen through its undo

    def _earlier(self, undo: Undo, watched: Set[int]) -> Fingerprint:
        found = {key: self.entries[key].digest for key in self._keys(watched) if key not in undo.added}
        found |= {key: entry.digest for key, entry in undo.removed.items() if entry.hits & watched}
        return found

    def _earlier_entry(self, undo: Undo, key: str) -> str | None:
        if key in undo.removed:
            return undo.removed[key].digest
        if key in undo.added or key not in self.entries:
            return None
        return self.entries[key].digest

    def _earlier_whole(self, undo: Undo) -> Reading:
        if undo.whole:
            return undo.removed
        earlier = {key: entry for key, entry in self.entries.items() if key not in undo.added}
        return earlier | undo.removed

    # bookkeeping

    def _touched(self, noted: list[list[int]]) -> frozenset[tuple[int, int]] | None:
        """The event trigger's notes as (catalog, OID) pairs, or None when one is of a kind not followed."""
        pairs = set()
        for classid, oid in noted:
            name = self.classes.get(int(classid))
            if name is None or not oid:
                return None
            if name == "pg_namespace" and oid in self.by_oid:
                return None  # a schema that was there changed: every name in it may have
            pairs.add((int(classid), int(oid)))
        return frozenset(pairs)

    def _keys(self, watched: Iterable[int]) -> set[str]:
        keys: set[str] = set()
        for oid in watched:
            keys |= self.by_oid.get(oid, set())
        return keys

    def _replace_all(self, reading: Reading, changes: Changes) -> None:
        self.entries = {}
        self.by_oid = defaultdict(set)
        for key, entry in reading.items():
            self._remember(key, entry)
        self.roles = changes.roles
        self.nodes.update(changes.nodes)

    def _remember(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        for oid in entry.hits:
            self.by_oid[oid].add(key)

    def _forget(self, key: str, entry: Entry) -> None:
        del self.entries[key]
        for oid in entry.hits:
            keys = self.by_oid.get(oid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_oid[oid]
