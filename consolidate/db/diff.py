"""Are two databases equivalent? results.dbdiff in both directions, plus what dbdiff does not compare.

results.dbdiff (migra's maintained successor) compares structure and, asked to, table privileges. Measured on
PostgreSQL 15 and 18 it misses domains altogether (existence, base type, default, NOT NULL, constraints),
sequence positions and table contents. This module compares domains and the rows of every table itself.
Sequence positions are not compared: they follow from the rows and from the values left out of the row hash.

Rows are compared per table as a count and a hash of the sorted row hashes. Columns whose values legitimately
differ between two replays of the same migrations are left out of the hash and named in the difference line:
identity and generated columns, columns whose default is not immutable (serial ids, gen_random_uuid(), now(),
CURRENT_TIMESTAMP), columns a BEFORE INSERT/UPDATE row trigger assigns (found in its function's source), and
foreign-key columns pointing at such a column, transitively. Limitations: a column a trigger fills through
dynamic SQL or a called function is still hashed, and a column with such a default is left out even where every
INSERT gave it a fixed value. Only tables present in both databases are compared, on the columns present
in both: the schema diff already names the others.

dbdiff does not compare (measured on PostgreSQL 15) grants on functions, schemas, sequences, types and single
columns, nor owners: this module compares them from the catalogs (privileges.sql), a default ACL spelled out and
the entries sorted. Not compared: the order of a table's columns.

Each side is read on its own connections (opened and closed here, two databases at once in two threads): one
REPEATABLE READ, READ ONLY transaction for the schema and the catalogs, one for the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from consolidate.db.results_import import Changes, Migration, PostgreSQL, Statements, differences
from consolidate.db.urls import error_text
from consolidate.errors import ConsolidateError
from consolidate.model import Diagnostic, Location
from consolidate.postgres.redaction import redact

RUNNER_TABLE = "_migrations"  # consolidate's own bookkeeping: never part of a comparison

# What dbdiff's inspector holds, by attribute, as named in the differing-object lines. Domains are left out:
# dbdiff inspects them but never diffs them, so `domains` lines (compared here) speak for them.
CATEGORIES = {
    "schemas": "schema",
    "extensions": "extension",
    "collations": "collation",
    "enums": "enum",
    "types": "type",
    "composite_types": "composite type",
    "tables": "table",
    "views": "view",
    "materialized_views": "materialized view",
    "functions": "function",
    "sequences": "sequence",
    "constraints": "constraint",
    "indexes": "index",
    "triggers": "trigger",
    "rlspolicies": "policy",
    "privileges": "privilege",
}
# Every object map of the inspector that dbdiff reads; narrowing a scope filters all of them alike.
INSPECTED_MAPS = (*CATEGORIES, "relations", "selectables", "domains")

# In results' relations query (see _Inspector): the identity sequence lookup, and the same through the index.
IDENTITY_LOOKUP = "where dep.refobjid = r.oid"
INDEXED_IDENTITY_LOOKUP = "where dep.refclassid = 'pg_class'::regclass and dep.refobjid = r.oid"

SEQUENCE_VIEW_JOIN = (
    "left join pg_catalog.pg_sequences ps\n            on ps.schemaname = n.nspname and ps.sequencename = c.relname"
)
SEQUENCE_LAST_VALUE = (
    "left join lateral (select case when not pg_is_other_temp_schema(n.oid)"
    " and has_sequence_privilege(c.oid, 'SELECT,USAGE') then pg_sequence_last_value(c.oid) end as last_value) ps"
    " on true"
)

# Row text depends on these settings; pin them so that two sessions render the same values the same way.
ROW_TEXT_SETTINGS = (
    "timezone = 'UTC'",
    "datestyle = 'ISO, MDY'",
    "intervalstyle = 'postgres'",
    "extra_float_digits = 1",
    "bytea_output = 'hex'",
    "jit = off",
    "row_security = off",
)
SESSION_SETTINGS = "; ".join(f"set {setting}" for setting in ROW_TEXT_SETTINGS)

PUBLIC_GRANTEE = re.compile(r'^((?:grant|revoke) .* (?:to|from) )"PUBLIC";$', re.DOTALL)

A = TypeVar("A")
R = TypeVar("R")
ColumnKey = tuple[str, str, str]  # schema, table, column
TableKey = tuple[str, str]  # schema, table


@dataclass(frozen=True)
class Sides:
    """How difference lines name the two databases: A and B, or what they are (legacy and canonical), since
    "only in A" leaves a reader to guess which one A was (issue 14)."""

    a: str = "A"
    b: str = "B"

    def versus(self, x: str, y: str) -> str:
        if (self.a, self.b) == ("A", "B"):
            return f"{x} vs {y}"
        return f"{x} ({self.a}) vs {y} ({self.b})"


@dataclass(frozen=True)
class SchemaDiff:
    """What differs between databases A and B; `forward` and `backward` are dbdiff's SQL (privileges included)."""

    forward: str  # SQL turning A into B; "" when none
    backward: str  # SQL turning B into A
    domains: tuple[str, ...] = ()  # domain differences, one line each
    rows: tuple[str, ...] = ()  # table content differences: "table public.roles: 3 rows vs 2 rows"
    changed: tuple[str, ...] = ()  # objects dbdiff sees differ: 'table "public"."t": only in A'
    privileges: tuple[str, ...] = ()  # grants dbdiff does not compare, one line each
    owners: tuple[str, ...] = ()  # object owners, one line each

    @property
    def equivalent(self) -> bool:
        return not (self.forward or self.backward or self.domains or self.rows or self.privileges or self.owners)

    def objects(self) -> tuple[str, ...]:
        """Every differing object, one line each: schema objects, domains, grants, owners, table contents."""
        return self.changed + self.domains + self.privileges + self.owners + self.rows


@dataclass(frozen=True)
class _Scope:
    """What a comparison looks at: some schemas (None: every non-system one), minus some tables."""

    schemas: frozenset[str] | None
    ignored: frozenset[str]  # "name" (in any schema) or "schema.name"

    @classmethod
    def of(cls, schemas: Sequence[str] | None, ignore_tables: Sequence[str]) -> _Scope:
        return cls(None if schemas is None else frozenset(schemas), frozenset((RUNNER_TABLE, *ignore_tables)))

    def has_schema(self, schema: str | None) -> bool:
        return self.schemas is None or schema is None or schema in self.schemas

    def ignores(self, schema: str | None, table: str | None) -> bool:
        return table is not None and (table in self.ignored or f"{schema}.{table}" in self.ignored)

    def keeps(self, schema: str, table: str) -> bool:
        return self.has_schema(schema) and not self.ignores(schema, table)


@dataclass(frozen=True)
class _Column:
    name: str
    left_out: str | None  # why its values may differ between replays: identity, generated, default, trigger
    refs: tuple[ColumnKey, ...]  # the columns its foreign keys point at


@dataclass(frozen=True)
class _Table:
    hashed: bool  # partitioned parents hold no rows: listed only because foreign keys may point at them
    columns: tuple[_Column, ...]


@dataclass(frozen=True)
class _Domain:
    base_type: str
    collation: str | None
    default: str | None
    not_null: bool
    constraints: tuple[tuple[str, str], ...]  # (name, definition), by name


@dataclass(frozen=True)
class _Side:
    """One database as read: dbdiff's inspector (narrowed to the scope), its domains and its tables."""

    inspected: Any  # results' PostgreSQL inspector
    domains: Mapping[str, _Domain]
    tables: Mapping[TableKey, _Table]
    privileges: Privileges


@dataclass(frozen=True)
class _RowPlan:
    """How one table's rows are hashed in both databases: the same columns, in name order."""

    table: TableKey
    columns: tuple[str, ...]
    left_out: tuple[str, ...]  # columns of both that are not hashed, for the difference line


@dataclass(frozen=True)
class ReadEarly:
    """A database's catalogs, read before something changes role names on its server (its rows, which name no
    role, are read at the comparison)."""

    url: str
    scope: _Scope
    side: _Side


def read_early(url: str, *, schemas: Sequence[str] | None = None, ignore_tables: Sequence[str] = ()) -> ReadEarly:
    """Read database A's catalogs now, for `compare` later with the same scope.

    A catalog holds a role's oid and shows its current name: a replay's roles renamed before the comparison (see
    db/replay_roles.py) would show in A under their new names.
    """
    scope = _Scope.of(schemas, ignore_tables)
    return ReadEarly(url, scope, _read_side(url, scope))


def compare(
    url_a: str | ReadEarly,
    url_b: str,
    *,
    schemas: Sequence[str] | None = None,
    ignore_tables: Sequence[str] = (),
    sides: Sides = Sides(),
) -> SchemaDiff:
    """Compare databases A and B: schema and privileges both ways (dbdiff), domains, and every table's rows;
    `sides` names them in the difference lines.

    A may have been read already (`read_early`, with the same `schemas` and `ignore_tables`).
    """
    scope = _Scope.of(schemas, ignore_tables)
    if isinstance(url_a, ReadEarly):
        if url_a.scope != scope:
            raise ValueError("compare: database A was read with another scope")
        side_a, side_b, url_a = url_a.side, _read_side(url_b, scope), url_a.url
    else:
        side_a, side_b = _both(_read_side, url_a, url_b, scope)
    plans = _row_plans(side_a.tables, side_b.tables)
    hashes_a, hashes_b = _both(_row_hashes, url_a, url_b, plans)
    return SchemaDiff(
        forward=_dbdiff(side_a.inspected, side_b.inspected),
        backward=_dbdiff(side_b.inspected, side_a.inspected),
        domains=_domain_lines(side_a.domains, side_b.domains, sides),
        rows=tuple(
            line for plan in plans if (line := _row_line(plan, hashes_a[plan.table], hashes_b[plan.table], sides))
        ),
        changed=_changed(side_a.inspected, side_b.inspected, sides),
        privileges=_privilege_lines(side_a.privileges, side_b.privileges, sides),
        owners=_owner_lines(side_a.privileges, side_b.privileges, sides),
    )


def reconcile_sql(
    url_from: str, url_to: str, *, schemas: Sequence[str] | None = None, ignore_tables: Sequence[str] = ()
) -> str:
    """The SQL (dbdiff, privileges included) turning database `from` into `to`; domains and rows are not covered."""
    scope = _Scope.of(schemas, ignore_tables)
    side_from, side_to = _both(_read_schema, url_from, url_to, scope)
    return _dbdiff(side_from, side_to)


@dataclass(frozen=True)
class Schema:
    """One database's schema as dbdiff reads it (read_schema), to diff against others later (schema_sql)."""

    inspected: Any  # results' PostgreSQL inspector, narrowed to the scope


def read_schema(url: str, *, schemas: Sequence[str] | None = None, ignore_tables: Sequence[str] = ()) -> Schema:
    """Read database `url`'s schema once, for as many `schema_sql` diffs as need it (a rollback generator's
    state k is the target of k's down and the source of k+1's)."""
    return Schema(_read_schema(url, _Scope.of(schemas, ignore_tables)))


def schema_sql(source: Schema, target: Schema) -> str:
    """`reconcile_sql` of two schemas already read: the SQL turning `source` into `target`."""
    return _dbdiff(source.inspected, target.inspected)


# --- reading one database -----------------------------------------------------------------------------------


def _both(read: Callable[[str, A], R], url_a: str, url_b: str, arg: A) -> tuple[R, R]:
    """Run `read` on both databases at once; report the failures of both sides together."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="compare") as pool:
        futures = [pool.submit(read, url, arg) for url in (url_a, url_b)]
    failures = [future.exception() for future in futures]
    user_errors = [failure for failure in failures if isinstance(failure, ConsolidateError)]
    if user_errors:
        raise ConsolidateError([diagnostic for error in user_errors for diagnostic in error.diagnostics])
    for failure in failures:
        if failure is not None:
            raise failure
    return futures[0].result(), futures[1].result()


def _read_side(url: str, scope: _Scope) -> _Side:
    with _reading(url) as conn:
        inspected = _inspected(conn, scope)
        domains = _domains(_catalog(conn, "domains.sql"), scope)
        tables = _tables(_catalog(conn, "tables.sql"), scope)
        privileges = {
            (kind, identity): (owner, _owner_free(acl, owner))
            for kind, schema, identity, table, owner, acl in _catalog(conn, "privileges.sql")
            if scope.has_schema(schema) and not scope.ignores(schema, table)
        }
    return _Side(inspected, domains, tables, privileges)


def _read_schema(url: str, scope: _Scope) -> Any:
    with _reading(url) as conn:
        return _inspected(conn, scope)


@contextmanager
def _reading(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An open connection in a REPEATABLE READ, READ ONLY transaction; psycopg errors become user errors."""
    conn = _connect(url)
    try:
        yield conn
    except psycopg.Error as error:
        raise _failure("db.compare", "cannot read the database", url, error) from None
    finally:
        conn.close()  # read only: nothing to commit


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url)
    except psycopg.Error as error:
        raise _failure("db.connect", "cannot connect to the database", url, error) from None
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        conn.execute(SESSION_SETTINGS)
    except psycopg.Error as error:
        conn.close()
        raise _failure("db.connect", "cannot set up the session", url, error) from None
    return conn


def _failure(code: str, what: str, url: str, error: psycopg.Error) -> ConsolidateError:
    # libpq's messages may quote the connection string: never let a password through.
    message = f"{what}: {error_text(error, url)}"
    return ConsolidateError([Diagnostic(code, message, Location(redact(url)))])


def _catalog(conn: psycopg.Connection[Any], name: str) -> list[tuple[Any, ...]]:
    query = (files("consolidate.db") / "sql" / name).read_text(encoding="utf-8")
    return conn.execute(query).fetchall()


class _Inspector(PostgreSQL):
    """results' inspector, its relations query finding each column's identity sequence through pg_depend's index.

    results looks the sequence up by `refobjid` and `refobjsubid` alone, which pg_depend's index cannot serve (its
    first column is `refclassid`): a scan of pg_depend per column of every table, 87 % of an inspection of 100
    tables (0.17 s of 0.25 s). The added `refclassid` is what an identity sequence's dependency holds: same rows.

    Its sequences query joins the pg_sequences view by name, which the planner runs again for every sequence
    (pg_sequence_last_value of every sequence, per sequence: 0.10 s of 0.22 s at 200 serial columns); the view's
    own expression for `last_value`, on the one sequence, gives the same value.
    """

    def load_all(self) -> None:
        self.ALL_RELATIONS_QUERY = self.ALL_RELATIONS_QUERY.replace(IDENTITY_LOOKUP, INDEXED_IDENTITY_LOOKUP)
        self.SEQUENCES_QUERY = self.SEQUENCES_QUERY.replace(SEQUENCE_VIEW_JOIN, SEQUENCE_LAST_VALUE)
        super().load_all()  # type: ignore[no-untyped-call]


def _inspected(conn: psycopg.Connection[Any], scope: _Scope) -> Any:
    inspected = _Inspector(conn.cursor())  # type: ignore[no-untyped-call]  # results: py.typed, unannotated
    for attribute in INSPECTED_MAPS:
        objects = getattr(inspected, attribute)
        setattr(inspected, attribute, {key: obj for key, obj in objects.items() if _in_scope(obj, scope)})
    return inspected


def _in_scope(obj: Any, scope: _Scope) -> bool:
    schema = getattr(obj, "schema", None)
    return scope.has_schema(schema) and not scope.ignores(schema, _table_of(obj))


def _table_of(obj: Any) -> str | None:
    """The table an inspected object is or belongs to: indexes, constraints, owned sequences, grants on it."""
    table = getattr(obj, "table_name", None)
    is_table = getattr(obj, "relationtype", None) in ("r", "p") or getattr(obj, "object_type", None) == "table"
    if table is None and is_table:
        return str(obj.name)
    return table


def _domains(rows: Iterable[tuple[Any, ...]], scope: _Scope) -> dict[str, _Domain]:
    return {
        f"{schema}.{name}": _Domain(base, collation, default, not_null, tuple((c, d) for c, d in constraints))
        for schema, name, base, collation, default, not_null, constraints in rows
        if scope.has_schema(schema)
    }


def _tables(rows: Iterable[tuple[Any, ...]], scope: _Scope) -> dict[TableKey, _Table]:
    columns: dict[TableKey, list[_Column]] = {}
    hashed: dict[TableKey, bool] = {}
    for schema, table, column, is_hashed, left_out, refs in rows:
        # Out-of-scope tables stay: a foreign key may point at them, and their left-out columns count.
        columns.setdefault((schema, table), []).append(_Column(column, left_out, tuple(map(tuple, refs))))
        hashed[(schema, table)] = is_hashed and scope.keeps(schema, table)
    return {key: _Table(hashed[key], tuple(found)) for key, found in columns.items()}


# --- schema: dbdiff ---------------------------------------------------------------------------------------------


class _Changes(Changes):
    """dbdiff's changes without its drop-and-recreate of a modified enum.

    The ordered diff emits a modified enum twice: dropped and recreated (which fails as soon as a column uses the
    enum), then renamed, replaced and dropped around the table changes. Only the second is right.
    """

    def enums(self, **options: bool) -> Any:
        if options == {"modifications": True}:
            return Statements()  # type: ignore[no-untyped-call]
        return super().__getattr__("enums")(**options)  # type: ignore[no-untyped-call]


def _dbdiff(source: Any, target: Any) -> str:
    # results ships py.typed but leaves these unannotated.
    migration = Migration(source, target)  # type: ignore[no-untyped-call]
    migration.changes = _Changes(source, target)  # type: ignore[no-untyped-call]
    migration.set_safety(False)  # type: ignore[no-untyped-call]
    migration.add_all_changes_ordered(privileges=True)  # type: ignore[no-untyped-call]
    migration.statements[:] = [_unquote_public(str(statement)) for statement in migration.statements]
    return str(migration.sql)


def _unquote_public(statement: str) -> str:
    """Grant to / revoke from the pseudo-role PUBLIC, which dbdiff quotes into a role named "PUBLIC".

    information_schema names the pseudo-role 'PUBLIC', like a role of that name would be: the pseudo-role,
    granted far more often, is what it means here.
    """
    return PUBLIC_GRANTEE.sub(r"\1PUBLIC;", statement)


def _changed(a: Any, b: Any, sides: Sides) -> tuple[str, ...]:
    """The objects dbdiff's inspectors see differ, by category, as 'kind name: only in A | only in B | differs'."""
    lines: list[str] = []
    for category, kind in CATEGORIES.items():
        added, removed, modified, _ = differences(getattr(a, category), getattr(b, category))  # type: ignore[no-untyped-call]
        for keys, how in ((removed, f"only in {sides.a}"), (added, f"only in {sides.b}"), (modified, "differs")):
            lines.extend(f"{kind} {_object_name(key)}: {how}" for key in keys)
    return tuple(lines)


def _object_name(key: object) -> str:
    if isinstance(key, tuple):  # a privilege: (object type, object, grantee, privilege)
        object_type, name, grantee, privilege = key
        return f"{privilege} on {object_type} {name} to {grantee}"
    return str(key)


# --- domains ---------------------------------------------------------------------------------------------------


def _domain_lines(a: Mapping[str, _Domain], b: Mapping[str, _Domain], sides: Sides) -> tuple[str, ...]:
    lines: list[str] = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            lines.append(f"domain {name}: only in {sides.a}")
        elif name not in a:
            lines.append(f"domain {name}: only in {sides.b}")
        else:
            lines.extend(f"domain {name}: {change}" for change in _domain_changes(a[name], b[name], sides))
    return tuple(lines)


Privileges = Mapping[tuple[str, str], tuple[str | None, str]]  # (kind, identity) -> (owner, ACL without owner)


def _owner_free(acl: str, owner: str | None) -> str:
    """The ACL with the owner's name as "(owner)" wherever it grants or is granted: who owns an object is compared
    on its own (owner lines), so that an object owned by another role shows one difference, not two."""

    def named(role: str) -> str:
        return "(owner)" if role == owner else role

    items = []
    for item in filter(None, acl.split(",")):
        grantee, _, rest = item.partition("=")
        rights, _, grantor = rest.partition("/")
        items.append(f"{named(grantee)}={rights}/{named(grantor)}")
    return ",".join(sorted(items))


def _privilege_lines(a: Privileges, b: Privileges, sides: Sides) -> tuple[str, ...]:
    """Grants of objects both sides have (an object on one side only is dbdiff's to report); a column is listed
    only where it has grants of its own, so a column missing on one side has none there."""
    columns = {key for key in a.keys() | b.keys() if key[0] == "column"}
    lines = []
    for key in sorted(a.keys() & b.keys() | columns):
        kind, identity = key
        acl_a, acl_b = a.get(key, (None, ""))[1], b.get(key, (None, ""))[1]
        if acl_a != acl_b:
            lines.append(f"{kind} {identity}: privileges {sides.versus(f'{{{acl_a}}}', f'{{{acl_b}}}')}")
    return tuple(lines)


def _owner_lines(a: Privileges, b: Privileges, sides: Sides) -> tuple[str, ...]:
    """Owners of objects both sides have (a column's owner is its table's: said once, for the table)."""
    return tuple(
        f"{kind} {identity}: owner {sides.versus(_shown(a[(kind, identity)][0]), _shown(b[(kind, identity)][0]))}"
        for kind, identity in sorted(a.keys() & b.keys())
        if kind != "column" and a[(kind, identity)][0] != b[(kind, identity)][0]
    )


def _domain_changes(a: _Domain, b: _Domain, sides: Sides) -> list[str]:
    nullability = {True: "NOT NULL", False: "NULL"}
    pairs = [
        ("base type", a.base_type, b.base_type),
        ("collation", a.collation, b.collation),
        ("default", a.default, b.default),
        ("nullability", nullability[a.not_null], nullability[b.not_null]),
    ]
    constraints_a, constraints_b = dict(a.constraints), dict(b.constraints)
    for name in sorted(constraints_a.keys() | constraints_b.keys()):
        pairs.append((f"constraint {name}", constraints_a.get(name), constraints_b.get(name)))
    return [f"{what} {sides.versus(_shown(x), _shown(y))}" for what, x, y in pairs if x != y]


def _shown(value: str | None) -> str:
    return "(none)" if value is None else value


# --- rows --------------------------------------------------------------------------------------------------------


def _row_plans(a: Mapping[TableKey, _Table], b: Mapping[TableKey, _Table]) -> tuple[_RowPlan, ...]:
    """Every table both databases hash, with the columns both hold and neither leaves out."""
    left_out = _left_out(a) | _left_out(b)
    plans = []
    for key in sorted(a.keys() & b.keys()):
        if not (a[key].hashed and b[key].hashed):
            continue
        common = {column.name for column in a[key].columns} & {column.name for column in b[key].columns}
        skipped = {name for name in common if (*key, name) in left_out}
        plans.append(_RowPlan(key, tuple(sorted(common - skipped)), tuple(sorted(skipped))))
    return tuple(plans)


def _left_out(tables: Mapping[TableKey, _Table]) -> set[ColumnKey]:
    """Columns whose values may differ between replays, and the foreign-key columns pointing at them (closure)."""
    out = {(*key, column.name) for key, table in tables.items() for column in table.columns if column.left_out}
    pointing = [((*key, c.name), c.refs) for key, table in tables.items() for c in table.columns if c.refs]
    grew = True
    while grew:
        grown = {column for column, refs in pointing if column not in out and any(ref in out for ref in refs)}
        out |= grown
        grew = bool(grown)
    return out


def _row_hashes(url: str, plans: Sequence[_RowPlan]) -> dict[TableKey, tuple[int, str]]:
    """Each planned table's row count and hash, in one round trip."""
    if not plans:
        return {}
    with _reading(url) as conn:
        found = conn.execute(_hash_query(plans)).fetchall()
    by_index = {index: (count, digest) for index, count, digest in found}
    return {plan.table: by_index[index] for index, plan in enumerate(plans)}


def _hash_query(plans: Sequence[_RowPlan]) -> sql.Composed:
    # md5 per row, then md5 of the sorted row hashes: the text held at once stays 33 bytes a row, whatever the
    # rows' width; sorting makes the hash independent of physical order, as sets of rows are compared.
    one = sql.SQL(
        "select {index}, count(*), md5(coalesce(string_agg(h, ',' order by h collate \"C\"), ''))"
        " from (select md5(row({columns})::text) as h from only {table}) as hashed"
    )
    parts = [
        one.format(
            index=sql.Literal(index),
            columns=sql.SQL(", ").join(sql.Identifier(column) for column in plan.columns),
            table=sql.Identifier(*plan.table),
        )
        for index, plan in enumerate(plans)
    ]
    return sql.SQL(" union all ").join(parts)


def _row_line(plan: _RowPlan, a: tuple[int, str], b: tuple[int, str], sides: Sides) -> str | None:
    if a == b:
        return None
    (count_a, _), (count_b, _) = a, b
    if count_a != count_b:
        text = sides.versus(_rows(count_a), _rows(count_b))
    else:
        text = f"same count ({_rows(count_a)}), different rows"
    if plan.left_out:
        text += f" (compared without {', '.join(plan.left_out)})"
    schema, table = plan.table
    return f"table {schema}.{table}: {text}"


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
