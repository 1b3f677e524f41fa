"""The one executor's cut (db/script.py): statements with their file position and how each must run.

Pure of any server: how a script is cut does not depend on a connection, only on the server's version.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consolidate.db.script import Mode, pieces, quick_look, runs_whole, sent_whole


def test_a_statement_after_a_long_leading_comment_is_classified_by_its_own_words() -> None:
    text = "-- " + "x" * 600 + "\nCREATE EXTENSION IF NOT EXISTS pgcrypto;\n"
    (piece,) = pieces("f.sql", text, None, {"pgcrypto": set()})
    assert piece.mode is Mode.EXTENSION


@pytest.mark.parametrize("control", ["BEGIN;", "START TRANSACTION;", "COMMIT;", "ROLLBACK;", "END;"])
def test_a_script_with_its_own_transaction_control_does_not_run_whole(control: str) -> None:
    assert not runs_whole(pieces("f.sql", f"CREATE TABLE t (a int);\n{control}\n"))


@pytest.mark.parametrize("savepoint", ["SAVEPOINT a;", "RELEASE a;", "ROLLBACK TO SAVEPOINT a;", "ROLLBACK WORK TO a;"])
def test_a_savepoint_runs_inside_the_versions_transaction(savepoint: str) -> None:
    assert sent_whole(pieces("f.sql", f"CREATE TABLE t (a int);\n{savepoint}\n"))


def test_statements_keep_their_file_line_and_the_line_of_their_first_token() -> None:
    first, second = pieces("f.sql", "SELECT 1;\n-- lead\n\nSELECT 2;\n")
    assert [(first.line, first.head), (second.line, second.head)] == [(1, 1), (1, 4)]


def test_a_psql_meta_command_is_sent_alone_at_its_line_for_postgresql_to_refuse() -> None:
    meta, statement = pieces("f.sql", "SELECT 1;\n\\set x 1\nSELECT 2;\n")[1:]
    assert (meta.text, meta.line, meta.head, meta.mode) == ("\n\\set x 1", 1, 2, Mode.SQL)
    assert (statement.text, statement.head) == ("\nSELECT 2;", 3)


# Statements whose words may fool a quick look: transaction control inside routine bodies, strings, comments.
STATEMENTS = [
    "CREATE TABLE t (a int);",
    "CREATE INDEX CONCURRENTLY i ON t (a);",
    "/* lead */ CREATE /* in */ INDEX -- here\n CONCURRENTLY j ON t (a);",
    "-- a header longer than any window the quick look might read" + "." * 500 + "\nVACUUM t;",
    "VACUUM t;",
    "COPY t (a) FROM STDIN;",
    "BEGIN;",
    "COMMIT;",
    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN COMMIT; END; $$ LANGUAGE plpgsql;",
    "CREATE PROCEDURE p() AS $b$ BEGIN; VACUUM; $b$ LANGUAGE sql;",
    "SELECT 'VACUUM; COMMIT;';",
    "-- VACUUM;\nSELECT 1;",
    "DO $$ BEGIN PERFORM 1; END $$;",
    "COMMENT ON TABLE t IS 'BEGIN; COMMIT';",
]


@given(st.lists(st.sampled_from(STATEMENTS), max_size=6), st.sampled_from(["\n", " ", "\n\n-- c\n"]))
def test_the_quick_look_finds_exactly_the_files_the_exact_split_runs_statement_by_statement(
    statements: list[str], separator: str
) -> None:
    text = separator.join(statements)
    exact = not sent_whole(pieces("f.sql", text))
    assert quick_look(text).may_need_pieces() is exact


# One statement for every way a statement runs alone, controls its transaction or needs the copy protocol, written
# in lower case: each must bring the quick look to the scanner (core.transactions.TELLING_WORDS), old servers too.
ALONE_OR_CONTROL = [
    "create database d;",
    "drop database d;",
    "create tablespace s location '/x';",
    "drop tablespace s;",
    "alter system set work_mem = '1MB';",
    "create subscription s connection 'x' publication p;",
    "alter subscription s disable;",
    "drop subscription s;",
    "discard all;",
    "vacuum;",
    "cluster;",
    "create index concurrently i on t (a);",
    "drop index concurrently i;",
    "reindex table concurrently t;",
    "reindex database d;",
    "reindex system d;",
    "alter database d set tablespace s;",
    "alter type mood add value 'calm';",
    "begin;",
    "commit;",
    "end;",
    "rollback;",
    "abort;",
    "start transaction;",
    "prepare transaction 'x';",
    "copy t from stdin;",
]


@pytest.mark.parametrize("statement", ALONE_OR_CONTROL)
def test_the_quick_look_never_skips_a_statement_that_runs_alone_or_controls_its_transaction(statement: str) -> None:
    text = f"create table t (a int);\n{statement}\n"
    assert quick_look(text).may_need_pieces(110022) and not sent_whole(pieces("f.sql", text, 110022))


def test_a_script_without_any_telling_word_needs_no_scanner() -> None:
    text = "-- plain\nCREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nALTER TABLE t ADD COLUMN b text;\n"
    assert quick_look(text).heads == () and not quick_look(text).may_need_pieces()


@pytest.mark.parametrize(
    ("words", "alone"),
    [
        (["CREATE", "INDEX", "CONCURRENTLY", "X"], True),
        (["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"], True),
        (["CREATE", "INDEX", "X", "ON"], False),
        (["VACUUM"], True),
        (["ALTER", "SYSTEM", "SET"], True),
        (["CREATE", "DATABASE", "X"], True),
        (["COMMIT"], True),
        (["CREATE", "TABLE", "X"], False),
    ],
)
def test_statements_postgresql_refuses_in_a_transaction_are_detected(words: list[str], alone: bool) -> None:
    (piece,) = pieces("f.sql", " ".join(words) + ";")
    assert (piece.mode in (Mode.OUTSIDE, Mode.CONTROL)) is alone


@pytest.mark.parametrize(("server_version", "alone"), [(110022, True), (120000, False), (150020, False)])
def test_adding_an_enum_value_runs_alone_only_on_servers_before_12(server_version: int, alone: bool) -> None:
    text = "CREATE TABLE t (a int);\nALTER TYPE app.mood ADD VALUE IF NOT EXISTS 'calm';\n"
    exact = not sent_whole(pieces("f.sql", text, server_version))
    assert (quick_look(text).may_need_pieces(server_version), exact) == (alone, alone)
