"""A database's fingerprint (db/fingerprint.py): the in-place rollback proof's filter. Every difference compare
names must change it; a change undone must not, whatever OIDs and sequence positions it left behind."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.db.fingerprint import Fingerprint, differing, fingerprint
from consolidate.db.replay import replaying
from consolidate.db.server import Server, roles, scratch_database
from tests.test_db_diff import BASE

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def reader(server: Server) -> Iterator[str]:
    name = f"consolidate_fp_reader_{secrets.token_hex(4)}"
    with roles(server, [name]):
        yield name


@pytest.fixture(scope="module")
def base(server: Server, reader: str) -> Iterator[str]:
    """BASE plus a trigger, an enum and a comment: one database, every change below rolled back."""
    extra = """
    create function touch() returns trigger language plpgsql as $$begin return new; end$$;
    create trigger roles_touch before update on roles for each row execute function touch();
    create type mood as enum ('calm', 'busy');
    comment on table users is 'people';
    create table notes (id serial primary key, body text);
    """
    with scratch_database(server, "fingerprint") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute((BASE + extra).encode())
        yield url


def after(url: str, change: str) -> tuple[Fingerprint, Fingerprint]:
    """The fingerprint before and after `change`, which is then rolled back."""
    with psycopg.connect(url, autocommit=True) as connection:
        before = fingerprint(connection)
        with connection.transaction(force_rollback=True):
            connection.execute(change.encode())
            changed = fingerprint(connection)
    return before, changed


@pytest.mark.parametrize(
    "change",
    [
        "alter table users add column nickname text",
        "alter table users alter column active set default false",
        "alter table users alter column email drop not null",
        "alter table roles alter column name type varchar(200)",
        "drop index users_active_email; create index users_active_email on users (email) where not active",
        "create policy users_audit on users for select using (active)",
        "alter table users disable row level security",
        "create or replace function user_count() returns bigint language sql as 'select count(*) + 1 from users'",
        "alter function user_count() stable",
        "create or replace view active_users as select email, role_id from users where active",
        "grant select on users to {reader}",
        "grant execute on function user_count() to {reader}",
        "grant usage on schema public to {reader}",
        "grant usage on sequence roles_id_seq to {reader}",
        "grant select (email) on users to {reader}",
        "alter function user_count() owner to {reader}",
        "alter table users owner to {reader}",
        "alter domain positive drop constraint positive_check; alter domain positive add check (value > 1)",
        "create domain code as text not null",
        "alter domain positive set default 1",
        "insert into roles (name) values ('auditor')",
        "update roles set name = 'owner' where name = 'admin'",
        "alter type mood add value 'idle'",
        "drop trigger roles_touch on roles",
        "alter table roles disable trigger roles_touch",
        "comment on table users is 'persons'",
        "alter table users add constraint email_shape check (email like '%@%')",
        "alter table users set unlogged",
        "alter sequence roles_id_seq increment by 2",
        "create schema extra",
        "create table extra_table (id int)",
    ],
)
def test_every_kind_of_difference_changes_the_fingerprint(base: str, reader: str, change: str) -> None:
    before, changed = after(base, change.format(reader=reader))
    assert differing(before, changed) != ()


@pytest.mark.parametrize(
    "round_trip",
    [
        "alter table users add column nickname text; alter table users drop column nickname",
        "create index users_email on users (email); drop index users_email",
        "insert into notes (body) values ('x'); delete from notes",
        "alter table users drop constraint users_role_id_fkey; "
        "alter table users add constraint users_role_id_fkey foreign key (role_id) references roles (id)",
        "drop table notes; create table notes (id serial primary key, body text)",
        "drop view active_users; create view active_users as select email from users where active",
        "drop function user_count(); "
        "create function user_count() returns bigint language sql as 'select count(*) from users'",
        "drop trigger roles_touch on roles; "
        "create trigger roles_touch before update on roles for each row execute function touch()",
    ],
)
def test_a_change_undone_leaves_the_fingerprint_as_it_was(base: str, round_trip: str) -> None:
    before, changed = after(base, round_trip)
    assert differing(before, changed) == ()


def test_a_trial_leaves_the_database_and_its_sequences_as_they_were(base: str) -> None:
    script = "insert into roles (name) values ('temp'); create table scratch (id int);\n"
    with replaying(base) as replay:
        before = replay.look(fingerprint)
        position = replay.look(lambda c: c.execute("select last_value from roles_id_seq").fetchone())
        trial = replay.trial("down/005.sql", script, fingerprint)
        assert trial is not None and trial.seen is not None and "relation public.scratch" in trial.seen
        assert replay.look(fingerprint) == before
        assert replay.look(lambda c: c.execute("select last_value from roles_id_seq").fetchone()) == position


def test_a_trial_checks_deferred_constraints_as_the_commit_would(base: str) -> None:
    setup = """
    create table parent_d (id int primary key);
    create table child_d (parent int references parent_d deferrable initially deferred);
    """
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(setup)
    try:
        with replaying(base) as replay:
            trial = replay.trial("down/006.sql", "insert into child_d values (1);\n", fingerprint)
        assert trial is not None and trial.seen is None
        assert [failure.sqlstate for failure in trial.failures] == ["23503"]
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute("drop table child_d, parent_d")


def test_a_script_that_cannot_run_in_one_transaction_is_not_tried(base: str, tmp_path: Path) -> None:
    with replaying(base) as replay:
        trial = replay.trial("down/007.sql", "drop index concurrently if exists nothing_here;\n", fingerprint)
    assert trial is None


def test_a_search_path_a_script_leaves_set_does_not_change_the_fingerprint(base: str) -> None:
    before, changed = after(base, "set search_path = elsewhere")
    assert differing(before, changed) == ()
