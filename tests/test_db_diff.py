"""Comparing two databases: dbdiff both ways with privileges, plus domains and table rows, on real servers."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consolidate.db.diff import (
    INDEXED_IDENTITY_LOOKUP,
    SEQUENCE_LAST_VALUE,
    Sides,
    compare,
    read_schema,
    reconcile_sql,
    schema_sql,
)
from consolidate.db.server import Server, roles, scratch_database
from consolidate.errors import ConsolidateError

pytestmark = pytest.mark.db

MakeDatabase = Callable[[str], str]

# A small application schema with seed rows: enough objects for every kind of difference below.
BASE = """
create table roles (
    id serial primary key,
    name text not null unique,
    created_at timestamptz not null default now()
);
create table users (
    id uuid primary key default gen_random_uuid(),
    email text not null,
    role_id integer references roles (id),
    active boolean default true
);
create index users_active_email on users (email) where active;
create view active_users as select email from users where active;
create function user_count() returns bigint language sql as 'select count(*) from users';
alter table users enable row level security;
create policy users_self on users using (email = current_user);
create domain positive as integer check (value > 0);
insert into roles (name) values ('admin'), ('member'), ('guest');
"""


def run(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(text.encode())


@pytest.fixture
def databases(server: Server) -> Iterator[MakeDatabase]:
    """Make a scratch database from SQL text; every one is dropped after the test."""
    with ExitStack() as stack:

        def make(text: str) -> str:
            url = stack.enter_context(scratch_database(server, "diff"))
            if text:
                run(url, text)
            return url

        yield make


@pytest.fixture(scope="module")
def base(server: Server) -> Iterator[str]:
    """A database holding BASE, shared by the tests that only read it (creating databases is what takes time)."""
    with scratch_database(server, "diff_base") as url:
        run(url, BASE)
        yield url


@pytest.fixture
def reader(server: Server) -> Iterator[str]:
    """A role to grant to. Request it before `databases`: the databases granting to it must go first."""
    name = f"consolidate_diff_reader_{secrets.token_hex(4)}"
    with roles(server, [name]):
        yield name


def test_identical_databases_are_equivalent(base: str, databases: MakeDatabase) -> None:
    result = compare(base, databases(BASE))
    assert (result.equivalent, result.forward, result.backward, result.objects()) == (True, "", "", ())


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ("alter table users add column nickname text", "nickname"),
        ("alter table users alter column active set default false", "active"),
        (
            "drop index users_active_email; create index users_active_email on users (email) where not active",
            "users_active_email",
        ),
        ("create policy users_audit on users for select using (active)", "users_audit"),
        (
            "create or replace function user_count() returns bigint language sql as 'select count(*) + 1 from users'",
            "user_count",
        ),
        ("create or replace view active_users as select email, role_id from users where active", "active_users"),
    ],
    ids=["missing column", "changed default", "partial index predicate", "policy", "function body", "view"],
)
def test_a_schema_difference_gives_sql_both_ways_naming_the_object(
    base: str, databases: MakeDatabase, change: str, name: str
) -> None:
    result = compare(base, databases(BASE + change))
    assert (name in result.forward, name in result.backward, result.equivalent) == (True, True, False)


def test_a_schema_difference_is_listed_among_the_objects(base: str, databases: MakeDatabase) -> None:
    result = compare(databases(BASE + "create table extra (id integer)"), base)
    assert 'table "public"."extra": only in A' in result.objects()


def test_named_sides_say_which_database_has_what(base: str, databases: MakeDatabase) -> None:
    sides = Sides("legacy", "canonical")
    result = compare(databases(BASE + "insert into roles (name) values ('auditor')"), base, sides=sides)
    assert result.rows == (
        "table public.roles: 4 rows (legacy) vs 3 rows (canonical) (compared without created_at, id)",
    )
    result = compare(databases(BASE + "create table extra (id integer)"), base, sides=sides)
    assert 'table "public"."extra": only in legacy' in result.objects()


def test_a_grant_to_a_role_gives_sql_both_ways(reader: str, base: str, databases: MakeDatabase) -> None:
    result = compare(base, databases(BASE + f"grant select on users to {reader}"))
    assert (reader in result.forward, reader in result.backward, result.equivalent) == (True, True, False)


def test_a_grant_to_public_reconciles_to_the_pseudo_role(databases: MakeDatabase) -> None:
    a, b = databases(BASE), databases(BASE + "grant select on roles to public")
    run(a, reconcile_sql(a, b))
    assert compare(a, b).equivalent


@pytest.mark.parametrize(
    ("grant", "line"),
    [
        ("grant execute on function user_count() to {reader}", "function user_count(): privileges"),
        ("grant usage on schema public to {reader}", "schema public: privileges"),
        ("grant usage on sequence roles_id_seq to {reader}", "sequence public.roles_id_seq: privileges"),
        ("grant select (email) on users to {reader}", "column public.users.email: privileges"),
        ("alter function user_count() owner to {reader}", "function user_count(): owner"),
    ],
    ids=["function", "schema", "sequence", "column", "owner"],
)
def test_grants_and_owners_dbdiff_does_not_compare_are_compared(
    reader: str, base: str, databases: MakeDatabase, grant: str, line: str
) -> None:
    result = compare(base, databases(BASE + grant.format(reader=reader)))
    lines = result.privileges + result.owners
    found = [difference for difference in lines if difference.startswith(line)]
    assert (result.equivalent, len(found), set(lines) <= set(result.objects())) == (False, 1, True)


def test_another_owner_is_one_owner_difference_not_also_a_privilege_one(
    reader: str, base: str, databases: MakeDatabase
) -> None:
    result = compare(base, databases(BASE + f"alter table users owner to {reader}"))
    assert (result.owners, result.privileges) == (("table public.users: owner postgres vs " + reader,), ())


def test_the_same_privileges_written_another_way_are_equivalent(reader: str, databases: MakeDatabase) -> None:
    granted = f"grant execute on function user_count() to {reader}; grant select (email) on users to {reader};"
    a = databases(BASE + granted)
    # Another order, and a grant taken back: the same ACL in the end, spelled out rather than left NULL.
    b = databases(BASE + " ".join(reversed(granted.split("; "))) + f"; revoke usage on schema public from {reader};")
    assert compare(a, b).privileges == ()


def test_a_changed_domain_check_is_found_though_dbdiff_misses_it(base: str, databases: MakeDatabase) -> None:
    other = BASE.replace("check (value > 0)", "check (value > 1)")
    result = compare(base, databases(other))
    assert (result.forward, result.backward, result.equivalent) == ("", "", False)
    assert result.domains == (
        "domain public.positive: constraint positive_check CHECK ((VALUE > 0)) vs CHECK ((VALUE > 1))",
    )


def test_a_domain_in_one_database_only_is_found(base: str, databases: MakeDatabase) -> None:
    result = compare(databases(BASE + "create domain code as text not null"), base)
    assert result.domains == ("domain public.code: only in A",)


def test_seed_rows_missing_in_one_database_are_found(base: str, databases: MakeDatabase) -> None:
    result = compare(base, databases(BASE + "insert into roles (name) values ('auditor')"))
    assert result.rows == ("table public.roles: 3 rows vs 4 rows (compared without created_at, id)",)


def test_changed_seed_rows_with_the_same_count_are_found(base: str, databases: MakeDatabase) -> None:
    result = compare(base, databases(BASE + "update roles set name = 'owner' where name = 'admin'"))
    assert result.rows == ("table public.roles: same count (3 rows), different rows (compared without created_at, id)",)


def test_generated_ids_and_timestamps_inserted_separately_still_compare_equal(databases: MakeDatabase) -> None:
    rows = """
    create table events (
        id bigint generated always as identity primary key,
        token uuid not null default gen_random_uuid(),
        kind text not null,
        at timestamptz default current_timestamp,
        seen timestamptz default clock_timestamp()
    );
    insert into events (kind) values ('start'), ('stop');
    insert into users (email, role_id) select 'root@example.org', id from roles where name = 'admin';
    """
    # B's serial ids start elsewhere, so users.role_id differs too: it points at a left-out column.
    shifted = BASE.replace("insert into roles", "select setval('roles_id_seq', 100); insert into roles")
    result = compare(databases(BASE + rows), databases(shifted + rows))
    assert (result.rows, result.equivalent) == ((), True)


def test_a_row_pointing_at_another_row_is_still_compared_on_its_own_values(databases: MakeDatabase) -> None:
    a = databases(
        BASE + "insert into users (email, role_id) select 'a@example.org', id from roles where name = 'admin'"
    )
    b = databases(
        BASE + "insert into users (email, role_id) select 'b@example.org', id from roles where name = 'admin'"
    )
    assert compare(a, b).rows == (
        "table public.users: same count (1 row), different rows (compared without id, role_id)",
    )


def test_rows_of_partitions_are_compared_leaf_by_leaf(databases: MakeDatabase) -> None:
    partitioned = """
    create table readings (day date not null, value integer) partition by range (day);
    create table readings_2024 partition of readings for values from ('2024-01-01') to ('2025-01-01');
    create table readings_2025 partition of readings for values from ('2025-01-01') to ('2026-01-01');
    insert into readings values ('2024-05-01', 1), ('2025-05-01', 2);
    """
    result = compare(databases(partitioned), databases(partitioned + "insert into readings values ('2025-06-01', 3)"))
    assert result.rows == ("table public.readings_2025: 1 row vs 2 rows",)


def test_rows_of_an_inheriting_table_count_for_it_not_for_its_parent(databases: MakeDatabase) -> None:
    inherited = "create table animals (name text); create table cats (lives integer) inherits (animals);"
    inherited += "insert into animals values ('generic'); insert into cats values ('tom', 9);"
    result = compare(databases(inherited), databases(inherited + "insert into cats values ('felix', 7)"))
    assert result.rows == ("table public.cats: 1 row vs 2 rows",)


def test_the_runner_table_and_ignored_tables_are_not_compared(base: str, databases: MakeDatabase) -> None:
    extra = "create table _migrations (version text); insert into _migrations values ('1');"
    extra += "create schema work; create table work.scratch (n integer); insert into work.scratch values (1);"
    result = compare(databases(BASE + extra), base, ignore_tables=["work.scratch"])
    assert result.objects() == ("schema work: only in A",)


def test_only_the_given_schemas_are_compared(base: str, databases: MakeDatabase) -> None:
    other = "create schema other; create table other.notes (body text); insert into other.notes values ('x');"
    result = compare(databases(BASE + other), base, schemas=["public"])
    assert result.equivalent


def test_reconcile_sql_applied_to_a_makes_it_equivalent_to_b(reader: str, databases: MakeDatabase) -> None:
    changes = f"""
    alter table users add column nickname text;
    alter table users alter column active set default false;
    drop index users_active_email;
    create index users_active_email on users (email) where not active;
    create policy users_audit on users for select using (active);
    create or replace function user_count() returns bigint language sql as 'select count(*) + 1 from users';
    create or replace view active_users as select email, nickname from users where active;
    create materialized view role_names as select name from roles;
    grant select on users to {reader};
    """
    a, b = databases(BASE), databases(BASE + changes)
    run(a, reconcile_sql(a, b))
    assert compare(a, b).equivalent


def test_a_schema_read_once_diffs_as_source_and_as_target_as_fresh_reads_do(databases: MakeDatabase) -> None:
    # apply --generate-down reads each state once: state k is the target of k's down and the source of k+1's.
    states = [BASE, BASE + "alter table users add column nickname text;", BASE + "drop view active_users;"]
    a, b, c = (databases(text) for text in states)
    read = {url: read_schema(url) for url in (a, b, c)}
    pairs = [(b, a), (c, b), (a, c), (b, c)]
    assert all(reconcile_sql(x, y) for x, y in pairs)
    assert [schema_sql(read[x], read[y]) for x, y in pairs] == [reconcile_sql(x, y) for x, y in pairs]


def test_the_rewritten_inspector_queries_find_the_same_sequences(databases: MakeDatabase) -> None:
    # The rewrites of results' relations and sequences queries (db/diff._Inspector) must apply, and find the same.
    url = databases(
        "create table jobs (id int generated always as identity, note text);"
        "create sequence tickets; select nextval('tickets'); select nextval('tickets');"
    )
    inspected = read_schema(url).inspected
    assert INDEXED_IDENTITY_LOOKUP in inspected.ALL_RELATIONS_QUERY
    assert SEQUENCE_LAST_VALUE in inspected.SEQUENCES_QUERY
    columns = inspected.tables['"public"."jobs"'].columns
    assert (columns["id"].identity_sequence_name, columns["note"].identity_sequence_name) == ("jobs_id_seq", None)
    tickets = inspected.sequences['"public"."tickets"']
    assert (tickets.current_value, tickets.is_called) == (2, True)


def test_an_enum_gaining_a_value_reconciles_though_a_column_uses_it(databases: MakeDatabase) -> None:
    enum = "create type status as enum ('new', 'done'); create table tasks (state status default 'new');"
    a, b = databases(enum), databases(enum.replace("'done'", "'done', 'failed'"))
    run(a, reconcile_sql(a, b))
    assert compare(a, b).equivalent


def test_unreachable_databases_are_all_reported_without_their_passwords() -> None:
    # Port 1 on the loopback refuses at once: no server is needed to see the failure.
    urls = [f"postgresql://someone:{secret}@127.0.0.1:1/nowhere" for secret in ("s3cret-a", "s3cret-b")]
    with pytest.raises(ConsolidateError) as raised:
        compare(*urls)
    codes = [diagnostic.code for diagnostic in raised.value.diagnostics]
    assert (codes, "s3cret" in str(raised.value)) == (["db.connect", "db.connect"], False)


@pytest.fixture
def cell_tables(databases: MakeDatabase) -> tuple[str, str]:
    """Two databases with an empty table `cells`, shared by every example of a hypothesis test."""
    table = "create table cells (n integer, body text)"
    return databases(table), databases(table)


# Text that stresses the row text: separators, quotes, parentheses, backslashes; and NULLs.
CELLS = st.tuples(st.integers(-3, 3), st.none() | st.text(alphabet='ab,()" \\', max_size=4))


# The fixture's databases outlive the examples on purpose: each example empties and refills them.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows_a=st.lists(CELLS, max_size=6), rows_b=st.lists(CELLS, max_size=6), same=st.booleans())
def test_rows_compare_equal_exactly_when_they_are_the_same_rows_in_any_order(
    cell_tables: tuple[str, str],
    rows_a: list[tuple[int, str | None]],
    rows_b: list[tuple[int, str | None]],
    same: bool,
) -> None:
    if same:
        rows_b = list(reversed(rows_a))
    for url, rows in zip(cell_tables, (rows_a, rows_b), strict=True):
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("truncate cells")
            connection.cursor().executemany("insert into cells values (%s, %s)", rows)
    assert (compare(*cell_tables).rows == ()) == (Counter(rows_a) == Counter(rows_b))
