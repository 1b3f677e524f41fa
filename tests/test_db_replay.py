"""Replaying SQL files on real PostgreSQL servers (the service and the embedded one): every failure, precisely."""

from __future__ import annotations

from collections.abc import Iterator, Set
from typing import Any

import psycopg
import pytest

from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.errors import ConsolidateError
from consolidate.model import Location
from consolidate.postgres.failures import Failure, Replayed

pytestmark = pytest.mark.db

THREE_STATEMENTS = """CREATE TABLE robots (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO robots (name) VALUES ('r1');
-- the second statement fails: the column does not exist
INSERT INTO robots (name, nosuch) VALUES ('r2', 1);
INSERT INTO robots (name) VALUES ('r3');
"""


@pytest.fixture
def database(server: Server) -> Iterator[str]:
    with scratch_database(server, "replay_test") as url:
        yield url


def replay(
    url: str, *files: tuple[str, str], canonical: bool = False, stand_ins: dict[str, Set[str]] | None = None
) -> Replayed:
    return replay_files(url, files, per_file_transaction=canonical, stand_ins=stand_ins)


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def places(replayed: Replayed) -> list[tuple[str, int, int | None, str]]:
    return [(f.path, f.line, f.column, f.sqlstate) for f in replayed.failures]


# --- legacy: what psql -f did ----------------------------------------------------------------------------------


def test_a_failing_statement_is_reported_at_its_file_line_and_column(database: str) -> None:
    replayed = replay(database, ("legacy/010_robots.sql", THREE_STATEMENTS))
    assert places(replayed) == [("legacy/010_robots.sql", 4, 27, "42703")]
    assert replayed.failures[0].message == 'column "nosuch" of relation "robots" does not exist'


def test_legacy_replay_goes_on_past_a_failing_statement(database: str) -> None:
    replay(database, ("legacy/010_robots.sql", THREE_STATEMENTS))
    assert rows(database, "SELECT name FROM robots ORDER BY id") == [("r1",), ("r3",)]


def test_a_failed_attempt_leaves_sequences_where_psql_would_have(database: str) -> None:
    table = ("a.sql", "CREATE TABLE robots (id serial PRIMARY KEY, name text NOT NULL);")
    # The NULL name fails after its id was drawn: under psql, r3 gets id 3.
    seeds = "INSERT INTO robots (name) VALUES ('r1');\nINSERT INTO robots (name) VALUES (NULL);\n"
    replay(database, table, ("b.sql", seeds + "INSERT INTO robots (name) VALUES ('r3');\n"))
    assert rows(database, "SELECT id, name FROM robots ORDER BY id") == [(1, "r1"), (3, "r3")]


def test_every_failing_statement_of_every_file_is_reported(database: str) -> None:
    broken = "SELECT 1/0;\nSELECT nosuch;\n"
    replayed = replay(database, ("a.sql", broken), ("b.sql", "SELECT 1;\nCREATE TABLE t (id int, id int);"))
    assert places(replayed) == [("a.sql", 1, None, "22012"), ("a.sql", 2, 8, "42703"), ("b.sql", 2, None, "42701")]


def test_a_statement_after_another_on_the_same_line_is_located_mid_line(database: str) -> None:
    replayed = replay(database, ("a.sql", "SELECT 1; SELECT nosuch;"))
    assert places(replayed) == [("a.sql", 1, 18, "42703")]


def test_positions_in_a_crlf_file_are_lines_and_columns_of_the_file(database: str) -> None:
    text = "CREATE TABLE t (a int);\r\n\r\nINSERT INTO t\r\n  VALUES ('é', nosuch);\r\n"
    replayed = replay(database, ("crlf.sql", text))
    assert places(replayed) == [("crlf.sql", 4, 16, "42703")]


def test_positions_in_lone_cr_and_mixed_files_are_lines_and_columns_of_the_file(database: str) -> None:
    mac = "CREATE TABLE m (a int);\r\rINSERT INTO m\r  VALUES (nosuch);\r"
    mixed = "CREATE TABLE x (a int);\r\n\rINSERT INTO x\n  VALUES (nosuch);\r\n"
    replayed = replay(database, ("mac.sql", mac), ("mixed.sql", mixed))
    assert places(replayed) == [("mac.sql", 4, 11, "42703"), ("mixed.sql", 4, 11, "42703")]


def test_a_psql_meta_command_fails_at_its_own_line_and_the_statement_after_it_runs(database: str) -> None:
    replayed = replay(database, ("meta.sql", "\\set ON_ERROR_STOP on\nCREATE TABLE after_meta (a int);\n"))
    assert places(replayed) == [("meta.sql", 1, 1, "42601")]
    assert rows(database, "SELECT count(*) FROM after_meta") == [(0,)]


def test_a_failing_do_block_reports_its_context_at_the_failing_line_inside_it(database: str) -> None:
    text = "SELECT 1;\nDO $$\nBEGIN\n  PERFORM 1;\n  RAISE EXCEPTION 'boom';\nEND\n$$;\n"
    failure = replay(database, ("do.sql", text)).failures[0]
    assert (failure.line, failure.sqlstate, failure.message) == (5, "P0001", "boom")
    assert "inline_code_block line 4" in failure.context


def test_a_transaction_block_that_fails_is_one_failure_and_is_rolled_back(database: str) -> None:
    text = "BEGIN;\nCREATE TABLE t (a int);\nINSERT INTO t VALUES ('x');\nINSERT INTO t VALUES (1);\nCOMMIT;\n"
    replayed = replay(database, ("block.sql", text))
    assert places(replayed) == [("block.sql", 3, 23, "22P02")]
    assert "ignored the next 1 statement" in replayed.failures[0].hint
    assert rows(database, "SELECT to_regclass('t')") == [(None,)]


def test_a_file_that_never_commits_its_transaction_is_reported(database: str) -> None:
    replayed = replay(database, ("open.sql", "BEGIN;\nCREATE TABLE t (a int);\n"), ("next.sql", "SELECT 1;"))
    assert places(replayed) == [("open.sql", 2, None, "")]
    assert rows(database, "SELECT to_regclass('t')") == [(None,)]


def test_session_settings_of_one_file_do_not_leak_into_the_next(database: str) -> None:
    first = ("a.sql", "CREATE SCHEMA app;\nSET search_path TO app;\nCREATE TABLE inner_t (a int);")
    replay(database, first, ("b.sql", "CREATE TABLE outer_t (a int);"))
    found = rows(
        database,
        "SELECT relnamespace::regnamespace::text, relname FROM pg_class WHERE relname IN ('inner_t', 'outer_t')",
    )
    assert sorted(found) == [("app", "inner_t"), ("public", "outer_t")]


@pytest.mark.parametrize("canonical", [False, True])
def test_what_a_file_prepares_holds_or_creates_in_its_session_does_not_reach_the_next(
    database: str, canonical: bool
) -> None:
    first = ("a.sql", "PREPARE mine AS SELECT 1;\nCREATE TEMP TABLE scratch (a int);\nSET ROLE NONE;\n")
    second = ("b.sql", "EXECUTE mine;\n")
    third = ("c.sql", "SELECT * FROM scratch;\n")
    found = replay(database, first, second, third, canonical=canonical)
    assert [(failure.location.path, failure.sqlstate) for failure in found.failures] == [
        ("b.sql", "26000"),
        ("c.sql", "42P01"),
    ]


def test_an_enum_value_added_by_one_statement_is_usable_by_the_next(database: str) -> None:
    text = "CREATE TYPE mood AS ENUM ('ok');\nALTER TYPE mood ADD VALUE 'sad';\nSELECT 'sad'::mood;\n"
    assert replay(database, ("enum.sql", text)).failures == ()


# --- canonical: one transaction per version ------------------------------------------------------------------


def test_canonical_replay_rolls_a_failing_version_back_whole(database: str) -> None:
    replayed = replay(database, ("versions/001_robots.sql", THREE_STATEMENTS), canonical=True)
    assert places(replayed) == [("versions/001_robots.sql", 4, 27, "42703")]
    assert rows(database, "SELECT to_regclass('robots')") == [(None,)]


def test_canonical_replay_reports_every_failing_statement_of_a_version(database: str) -> None:
    text = "CREATE TABLE t (a int);\nINSERT INTO t VALUES ('x');\nINSERT INTO t VALUES (1);\nSELECT nosuch FROM t;\n"
    replayed = replay(database, ("versions/001.sql", text), canonical=True)
    assert places(replayed) == [("versions/001.sql", 2, 23, "22P02"), ("versions/001.sql", 4, 8, "42703")]


def test_canonical_replay_goes_on_with_the_next_version(database: str) -> None:
    replayed = replay(database, ("1.sql", "SELECT nosuch;"), ("2.sql", "CREATE TABLE t (a int);"), canonical=True)
    assert places(replayed) == [("1.sql", 1, 8, "42703")]
    assert rows(database, "SELECT to_regclass('t')::text") == [("t",)]


def test_an_error_raised_at_commit_is_reported_against_the_version(database: str) -> None:
    text = """CREATE TABLE p (id int PRIMARY KEY);
CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);
INSERT INTO c VALUES (1);
"""
    replayed = replay(database, ("versions/001.sql", text), canonical=True)
    assert places(replayed) == [("versions/001.sql", 3, None, "23503")]
    assert "committed" in replayed.failures[0].hint


@pytest.mark.parametrize("canonical", [False, True])
def test_create_index_concurrently_replays_outside_any_transaction(database: str, canonical: bool) -> None:
    text = "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nINSERT INTO t VALUES (1);\n"
    replayed = replay(database, ("idx.sql", text), canonical=canonical)
    assert replayed.failures == ()
    assert rows(database, "SELECT to_regclass('t_a')::text, (SELECT count(*) FROM t)") == [("t_a", 1)]


# --- extensions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("canonical", [False, True])
def test_an_extension_the_server_lacks_is_named_as_such(database: str, canonical: bool) -> None:
    failure = replay(database, ("ext.sql", 'CREATE EXTENSION "no_such_ext";'), canonical=canonical).failures[0]
    assert (failure.line, failure.extension) == (1, "no_such_ext")
    assert "a server that has no_such_ext (--database-url URL)" in failure.diagnostic().hint


def test_a_stood_in_extension_plays_its_part_and_is_noted(database: str) -> None:
    text = """CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE TABLE t (id uuid DEFAULT uuid_generate_v4(), n int);
INSERT INTO t (n) VALUES (1);
"""
    replayed = replay(database, ("ext.sql", text), stand_ins={"uuid-ossp": {"uuid_generate_v4"}})
    assert replayed.failures == ()
    assert [note.location for note in replayed.notes] == [Location("ext.sql", 1)]
    assert rows(database, "SELECT count(*) FROM t WHERE id IS NOT NULL") == [(1,)]


def test_a_stood_in_extension_goes_into_the_schema_its_statement_names(database: str) -> None:
    text = 'CREATE SCHEMA extensions;\nCREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;\n'
    text += "SELECT extensions.uuid_nil();"
    assert replay(database, ("ext.sql", text), canonical=True, stand_ins={"uuid-ossp": {"uuid_nil"}}).failures == ()


def test_dropping_a_stood_in_extension_drops_its_stand_in(database: str) -> None:
    up = ("up.sql", 'CREATE EXTENSION IF NOT EXISTS pgcrypto;\nCREATE EXTENSION IF NOT EXISTS "pgcrypto";')
    down = ("down.sql", "DROP EXTENSION IF EXISTS pgcrypto;")
    replayed = replay(database, up, down, stand_ins={"pgcrypto": {"digest"}})
    assert (replayed.failures, len(replayed.notes)) == ((), 3)
    assert rows(database, "SELECT count(*) FROM pg_proc WHERE proname = 'digest'") == [(0,)]


def test_a_stand_in_that_cannot_be_created_is_reported_at_its_create_extension(database: str) -> None:
    text = 'SELECT 1;\nCREATE EXTENSION "uuid-ossp" WITH SCHEMA missing;'
    replayed = replay(database, ("ext.sql", text), canonical=True, stand_ins={"uuid-ossp": {"uuid_nil"}})
    assert places(replayed) == [("ext.sql", 2, None, "3F000")]


def test_a_stand_in_without_an_honest_replacement_is_refused(database: str) -> None:
    with pytest.raises(ValueError, match="crypt"):
        replay(database, ("a.sql", "SELECT 1;"), stand_ins={"pgcrypto": {"crypt"}})


def test_a_version_with_its_own_transaction_control_is_refused_at_it_and_runs_nothing(database: str) -> None:
    # As the runner refuses it: its COMMIT would keep part of the version without the version's row.
    text = "CREATE TABLE t (a int);\nBEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\nSELECT nosuch;\n"
    replayed = replay(database, ("versions/001.sql", text), canonical=True)
    assert places(replayed) == [("versions/001.sql", 2, None, "")]
    assert rows(database, "SELECT to_regclass('t') IS NULL") == [(True,)]


# --- odd statements ------------------------------------------------------------------------------------------


def test_copy_from_stdin_is_reported_and_the_replay_goes_on(database: str) -> None:
    text = "CREATE TABLE t (a int);\nCOPY t FROM STDIN;\nCOPY t TO STDOUT;\nINSERT INTO t VALUES (1);\n"
    replayed = replay(database, ("copy.sql", text))
    assert places(replayed) == [("copy.sql", 2, None, "")]
    assert rows(database, "SELECT count(*) FROM t") == [(1,)]


def test_the_number_of_statements_replayed_is_counted(database: str) -> None:
    replayed = replay(database, ("a.sql", THREE_STATEMENTS), ("b.sql", "-- nothing but a comment\n"))
    assert replayed.statements == 4


# --- reporting -----------------------------------------------------------------------------------------------


def test_a_failure_reads_as_sqlstate_and_message_with_detail_context_and_hint() -> None:
    failure = Failure("a.sql", 3, 5, "23505", "duplicate key", "Check the seed.", "SQL statement", "Key (id)=(1).")
    diagnostic = failure.diagnostic()
    assert (diagnostic.code, diagnostic.location) == ("replay.23505", Location("a.sql", 3, 5))
    assert diagnostic.message == "23505: duplicate key\ndetail: Key (id)=(1).\ncontext: SQL statement"
    assert diagnostic.hint == "Check the seed"


def test_a_missing_extension_s_diagnostic_names_the_ways_out() -> None:
    hint = Failure("a.sql", 1, None, "0A000", "not available", extension="postgis").diagnostic().hint
    assert "has postgis (--database-url URL)" in hint and "--postgres-bin DIR" in hint
    assert "--database-url" in hint


def test_the_ways_out_say_a_contrib_extension_comes_with_postgresql_contrib() -> None:
    hint = Failure("a.sql", 1, None, "0A000", "not available", extension="pgcrypto").diagnostic().hint
    assert "pgcrypto is a contrib extension: install the distribution's postgresql-contrib package" in hint


def test_the_ways_out_never_send_an_extension_outside_contrib_to_postgresql_contrib() -> None:
    hint = Failure("a.sql", 1, None, "0A000", "not available", extension="pgmq").diagnostic().hint
    assert "postgresql-contrib" not in hint
    assert "pgmq is not one of PostgreSQL's contrib extensions" in hint and "`drop` decisions" in hint


# --- secrets -------------------------------------------------------------------------------------------------


def test_a_failure_never_holds_a_password() -> None:
    url = "postgresql://u:s3cr3t@h/db"
    failure = Failure("a.sql", 1, None, "XX000", f"cannot reach {url}", url, f"password=s3cr3t {url}", url)
    assert "s3cr3t" not in repr(failure) + str(failure.diagnostic())


def test_a_failure_to_connect_is_reported_without_the_password() -> None:
    with pytest.raises(ConsolidateError) as caught:
        replay("postgresql://u:s3cr3t@127.0.0.1:1/db?connect_timeout=2", ("a.sql", "SELECT 1;"))
    assert caught.value.diagnostics[0].code == "db.connect"
    assert "s3cr3t" not in str(caught.value)


# --- consequences -----------------------------------------------------------------------------------------------

FIRST = "CREATE TABLE t (id int);\nCREATE TABLE a (id int REFERENCES missing (id));\n"
SECOND = (
    "CREATE TABLE IF NOT EXISTS t (id int, name text);\n"
    "CREATE INDEX t_name ON t (name);\n"
    "CREATE INDEX a_id ON a (id);\n"
    "COMMENT ON COLUMN t.name IS 'shown';\n"
)


def test_a_failure_on_a_table_whose_create_if_not_exists_was_skipped_names_the_skipped_create(database: str) -> None:
    failures = replay(database, ("a.sql", FIRST), ("b.sql", SECOND)).failures
    caused = [
        (f.path, f.line) for f in failures if "b.sql:1 defines: that CREATE TABLE IF NOT EXISTS was skipped" in f.hint
    ]
    assert caused == [("b.sql", 2), ("b.sql", 4)]


def test_a_failure_caused_by_an_earlier_failure_names_it(database: str) -> None:
    failures = replay(database, ("a.sql", FIRST), ("b.sql", SECOND)).failures
    third = next(f for f in failures if f.line == 3)
    assert "a consequence of the failure at a.sql:2, whose statement would have created table a" in third.hint
    assert [f.hint for f in failures if f.path == "a.sql"] == [""]  # the cause itself has no cause


def test_a_failure_after_a_version_rolled_back_whole_names_that_versions_failure(database: str) -> None:
    first = "CREATE TABLE jobs (id int);\nCREATE INDEX jobs_due ON jobs (id) WHERE now() > '2020-01-01';\n"
    second = "INSERT INTO jobs VALUES (1);\n"
    failures = replay(database, ("001.sql", first), ("002.sql", second), canonical=True).failures
    assert [(f.path, f.sqlstate) for f in failures] == [("001.sql", "42P17"), ("002.sql", "42P01")]
    assert "the failure at 001.sql:2: that version was rolled back whole, and with it table jobs" in failures[1].hint


def test_a_grant_to_a_role_nobody_created_points_at_the_prelude(database: str) -> None:
    text = "CREATE TABLE t (id int);\nGRANT SELECT ON t TO app_reader_never_made;\n"
    (failure,) = replay(database, ("001.sql", text)).failures
    assert (failure.sqlstate, "prelude" in failure.hint) == ("42704", True)
