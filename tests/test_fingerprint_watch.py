"""A fingerprint kept up to date through a replay (db/fingerprint.Watch): it reads again only what a version or a
down script touched, and must never call a rollback right that a whole fingerprint would call wrong."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from consolidate.db.fingerprint import WATCH_SCHEMA, Watch, digests, fingerprint
from consolidate.db.replay import Replaying, replaying
from consolidate.db.script import SEQUENCE_POSITIONS
from consolidate.db.server import Server, roles, scratch_database

pytestmark = pytest.mark.db

BASE = """
create function stamp() returns trigger language plpgsql as $$begin return new; end$$;
create table t1 (id serial primary key, c1 int default 0);
create table t2 (id serial primary key, c1 int default 0, t1_id int references t1);
insert into t1 (c1) values (1), (2);
"""

TABLES = ("t1", "t2", "t3")
COLUMNS = ("c1", "c2")

# Statements over a few names, so that versions and downs meet the same objects: some fail (the replay reports
# them and goes on), most change something a later statement depends on.
OPS = (
    "create table if not exists {t} (id serial primary key, c1 int default {n})",
    "drop table if exists {t} cascade",
    "alter table if exists {t} add column if not exists {c} text default '{n}'",
    "alter table if exists {t} drop column if exists {c} cascade",
    "alter table if exists {t} rename to {u}",
    "alter table if exists {t} rename column {c} to {d}",
    "alter table if exists {t} alter column {c} set default {n}",
    "create index if not exists {t}_{c}_idx on {t} ({c})",
    "drop index if exists {t}_{c}_idx",
    "create or replace view v_{t} as select id, {c} from {t}",
    "drop view if exists v_{t} cascade",
    "create or replace function f_{t}() returns bigint language sql as 'select count(*) + {n} from {t}'",
    "drop function if exists f_{t}()",
    "comment on table {t} is 'note {n}'",
    "comment on column {t}.{c} is 'note {n}'",
    "insert into {t} ({c}) values ({n})",
    "delete from {t} where {c} = {n}",
    "update {t} set {c} = {n}",
    "truncate {t} cascade",
    "grant select on {t} to {role}",
    "revoke select on {t} from {role}",
    "create schema if not exists s{n}",
    "drop schema if exists s{n} cascade",
    "create table if not exists s{n}.{t} (id int)",
    "alter table if exists {t} add constraint {t}_{c}_check check ({c} is not null) not valid",
    "alter table if exists {t} drop constraint if exists {t}_{c}_check",
    "create trigger {t}_stamp before update on {t} for each row execute function stamp()",
    "drop trigger if exists {t}_stamp on {t}",
    "create sequence if not exists {t}_seq start {n}",
    "alter sequence if exists {t}_seq increment by {n}",
    "alter table if exists {t} add column if not exists {c}_ref int references {u}",
    "select nextval('{t}_id_seq')",
    "select setval('{t}_seq', {n})",
    "alter sequence if exists {t}_id_seq restart with {n}",
)

INVERSES = {
    OPS[2]: OPS[3],
    OPS[4]: "alter table if exists {u} rename to {t}",
    OPS[5]: "alter table if exists {t} rename column {d} to {c}",
    OPS[7]: OPS[8],
    OPS[9]: OPS[10],
    OPS[11]: OPS[12],
    OPS[15]: OPS[16],
    OPS[19]: OPS[20],
    OPS[21]: OPS[22],
    OPS[24]: OPS[25],
    OPS[26]: OPS[27],
}


@st.composite
def statements(draw: st.DrawFn) -> tuple[str, str]:
    """One statement of a version and the statement its down script has for it."""
    op = draw(st.sampled_from(OPS))
    t, u = draw(st.permutations(TABLES))[:2]
    c, d = draw(st.permutations(COLUMNS))
    n = draw(st.integers(1, 3))
    values = {"t": t, "u": u, "c": c, "d": d, "n": n}
    undo = INVERSES.get(op) if draw(st.integers(0, 4)) else draw(st.sampled_from(OPS))  # mostly the inverse
    return op.format(**values, role="{role}"), (undo or "select 1").format(**values, role="{role}")


@st.composite
def versions(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A few versions, each with a down script that undoes its statements in reverse order, mostly."""
    found = []
    for _ in range(draw(st.integers(1, 4))):
        pairs = draw(st.lists(statements(), min_size=1, max_size=4))
        up = ";\n".join(op for op, _ in pairs) + ";\n"
        down = ";\n".join(undo for _, undo in reversed(pairs)) + ";\n"
        found.append((up, down))
    return found


@pytest.fixture(scope="module")
def grantee(service_server: Server) -> Iterator[str]:
    name = f"consolidate_watch_{secrets.token_hex(4)}"
    with roles(service_server, [name]):
        yield name


@contextmanager
def watched(server: Server, setup: str) -> Iterator[tuple[Replaying, Watch]]:
    """A new database holding `setup`, replayed into with a watch installed."""
    with scratch_database(server, "watch") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(setup.encode())
        with replaying(url) as replay:
            watch = Watch()
            replay.look(watch.install)
            yield replay, watch


VERDICTS: Counter[tuple[bool, bool]] = Counter()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=versions())
def test_a_watched_rollback_is_called_right_only_when_the_whole_fingerprint_agrees(
    service_server: Server, grantee: str, tree: list[tuple[str, str]]
) -> None:
    with watched(service_server, BASE) as (replay, watch):
        assert watch.enabled
        for number, (up, down) in enumerate(tree, 1):
            up, down = up.format(role=grantee), down.format(role=grantee)
            note(f"version {number}:\n{up}down:\n{down}")
            before = replay.look(fingerprint)
            replayed, same = replay.version((f"{number}.sql", up), (f"{number}.down.sql", down), watch)
            if replayed.failures:
                continue
            if not watch.stale:
                assert digests(watch.entries) == replay.look(fingerprint)
                positions = replay.look(lambda c: c.execute(SEQUENCE_POSITIONS).fetchall())
                assert {oid: watch.sequences.get(oid) for oid, _ in positions} == dict(positions)
            truth = replay.trial(f"{number}.down.sql", down, fingerprint)
            right = truth is not None and truth.seen == before
            VERDICTS[same, right] += 1
            assert right or not same


def test_a_rollback_that_leaves_a_renamed_dependency_is_not_called_right(service_server: Server) -> None:
    """A view's text names the table it reads: renaming the table back and forth is right, once only is not."""
    with watched(service_server, BASE + "create view v1 as select id from t1;") as (replay, watch):
        up, down = "alter table t1 rename to t9;\n", "alter table t9 rename to t1;\n"
        _, back = replay.version(("1.sql", "select 1;\n"), ("1.down.sql", up + down), watch)
        again = "alter table t1 rename to t8;\n"
        _, renamed = replay.version(("2.sql", "select 1;\n"), ("2.down.sql", again), watch)
    assert back and not renamed


def test_the_watch_leaves_nothing_in_the_fingerprint_or_the_database(service_server: Server) -> None:
    with scratch_database(service_server, "watch") as url, psycopg.connect(url, autocommit=True) as connection:
        connection.execute(BASE.encode())
        bare = fingerprint(connection)
        watch = Watch()
        watch.install(connection)
        assert watch.enabled and fingerprint(connection) == bare
        watch.remove(connection)
        left = connection.execute("select count(*) from pg_namespace where nspname = %s", [WATCH_SCHEMA]).fetchone()
        events = connection.execute("select count(*) from pg_event_trigger").fetchone()
    assert left == (0,) and events == (0,)


@pytest.mark.parametrize(
    "change",
    [
        "alter table t1 rename to t9",  # the view's text names it
        "alter table t1 rename column c1 to c9",  # the view's text and the index's definition name it
        "alter function stamp() rename to stamped",  # the trigger's definition names it
        "alter table t1 rename to t9; alter table t9 rename to t1",
        "create schema s1; alter table t2 set schema s1",
        "truncate t1 cascade",
    ],
)
def test_what_depends_on_a_touched_object_is_read_again(service_server: Server, change: str) -> None:
    setup = "create view v1 as select c1 from t1; create index t1_c1 on t1 (c1);"
    setup += "create trigger t2_stamp before update on t2 for each row execute function stamp();"
    with watched(service_server, BASE + setup) as (replay, watch):
        replayed, _ = replay.version(("1.sql", change + ";\n"), None, watch)
        assert replayed.failures == () and not watch.stale
        assert digests(watch.entries) == replay.look(fingerprint)


def test_a_sequence_a_trial_moves_is_put_back(service_server: Server) -> None:
    """nextval is never rolled back: the watch knows where each sequence was without reading them all."""
    with watched(service_server, BASE) as (replay, watch):
        up = "insert into t2 (c1) values (7);\n"
        down = "select nextval('t1_id_seq'); delete from t2 where c1 = 7; select setval('t2_id_seq', 40);\n"
        replay.version(("1.sql", up), ("1.down.sql", down), watch)
        where = "select a.last_value, b.last_value from t1_id_seq a, t2_id_seq b"
        now = replay.look(lambda c: c.execute(where).fetchone())
    assert now == (2, 1)


def test_without_event_triggers_a_rollback_is_judged_by_whole_fingerprints(service_server: Server) -> None:
    """A user who may not create event triggers: the watch stays off and every trial reads everything."""
    name = f"consolidate_plain_{secrets.token_hex(4)}"
    with roles(service_server, [name]), scratch_database(service_server, "watch") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(BASE.encode())
            connection.execute(f"set role {name}")
            plain = Watch()
            plain.install(connection)
        assert not plain.enabled
        with replaying(url) as replay:
            up = "alter table t2 add column c9 text;\n"
            _, right = replay.version(("1.sql", up), ("1.down.sql", "alter table t2 drop column c9;\n"), plain)
            _, wrong = replay.version(("2.sql", up.replace("c9", "c8")), ("2.down.sql", "select 1;\n"), plain)
    assert right and not wrong
