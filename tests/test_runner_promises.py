"""Promises the runner keeps under bad trees and odd databases (issue 12): never a version's effects without its
row, never another tool's history table touched, every argument error one line, every row its own facts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.errors import EXIT_USAGE
from consolidate.runner import baseline, down, status, up
from consolidate.runner.tracking import LOCK_ID, Limits
from tests.canonical_trees import exists, refusal, rows, tree

pytestmark = pytest.mark.db


@pytest.fixture
def database(service_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    with scratch_database(service_server, f"promise_{request.node.name}") as url:
        yield url


def query(url: str, text: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as connection:
        cursor = connection.execute(text)
        return list(cursor.fetchall()) if cursor.description else []


# --- a version's own transaction control ------------------------------------------------------------------------

OWN_COMMIT = "CREATE TABLE before_commit (a int);\nBEGIN;\nCREATE TABLE half (a int);\nCOMMIT;\nSELECT 1/0;\n"


def test_a_version_with_its_own_commit_is_refused_at_its_line_before_anything_runs(
    database: str, tmp_path: Path
) -> None:
    root = tree(tmp_path, {"001_first": "CREATE TABLE first (a int);", "002_own": OWN_COMMIT})
    error = refusal(up, root, database)
    assert error.exit_code == EXIT_USAGE
    (diagnostic,) = error.diagnostics
    assert (diagnostic.location.path, diagnostic.location.line) == (str(root / "versions" / "002_own.sql"), 2)
    assert diagnostic.code == "migrate.transaction-control"
    assert "BEGIN" in diagnostic.message and "without its row" in diagnostic.message
    # Nothing ran: neither the version before it, nor the half its COMMIT would have kept.
    assert not exists(database, "first") and not exists(database, "half") and rows(database) == []


def test_a_dry_run_refuses_the_same_version(database: str, tmp_path: Path) -> None:
    root = tree(tmp_path, {"001_own": "START TRANSACTION;\nCREATE TABLE t (a int);\nEND;\n"})
    error = refusal(up, root, database, dry_run=True)
    assert [d.location.line for d in error.diagnostics] == [1]


def test_an_applied_version_with_its_own_commit_is_history_and_refuses_nothing(database: str, tmp_path: Path) -> None:
    # Versions a runner applied before the rule stay applied; only what would run is refused.
    root = tree(tmp_path, {"001_old": "CREATE TABLE old (a int);"})
    up(root, database)
    (root / "versions" / "001_old.sql").write_text("BEGIN;\nCREATE TABLE old (a int);\nCOMMIT;\n")
    tree(root, {"002_new": "CREATE TABLE new (a int);"})
    assert [item.version for item in up(root, database, allow_drift=True)] == ["002"]


def test_rollback_to_a_savepoint_stays_inside_the_version_and_is_applied(database: str, tmp_path: Path) -> None:
    text = "CREATE TABLE kept (a int);\nSAVEPOINT s;\nCREATE TABLE undone (a int);\nROLLBACK TO SAVEPOINT s;\n"
    root = tree(tmp_path, {"001_savepoint": text})
    up(root, database)
    assert exists(database, "kept") and not exists(database, "undone") and rows(database) == ["001"]


def test_a_down_script_with_its_own_commit_is_refused_before_any_rollback_runs(database: str, tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"001_a": "CREATE TABLE a (x int);", "002_b": "CREATE TABLE b (x int);"},
        {"001_a": "DROP TABLE a;", "002_b": "DROP TABLE b;\nCOMMIT;\n"},
    )
    up(root, database)
    error = refusal(down, root, database, steps=2)
    where = [(d.location.path, d.location.line) for d in error.diagnostics]
    assert where == [(str(root / "down" / "002_b_down.sql"), 2)]
    assert exists(database, "a") and exists(database, "b") and rows(database) == ["001", "002"]


def test_verify_refuses_the_version_at_the_same_line_and_runs_none_of_it(service_server: Server) -> None:
    with scratch_database(service_server, "promise_verify_own_commit") as url:
        replayed = replay_files(url, [("versions/002_own.sql", OWN_COMMIT)], per_file_transaction=True)
        assert [(f.path, f.line, f.sqlstate) for f in replayed.failures] == [("versions/002_own.sql", 2, "")]
        assert not exists(url, "before_commit") and not exists(url, "half")


def test_a_legacy_file_with_its_own_commit_still_runs_as_psql_ran_it(service_server: Server) -> None:
    with scratch_database(service_server, "promise_legacy_own_commit") as url:
        replayed = replay_files(url, [("legacy/001.sql", OWN_COMMIT)], per_file_transaction=False)
        assert [(f.line, f.sqlstate) for f in replayed.failures] == [(5, "22012")]
        assert exists(url, "before_commit") and exists(url, "half")


# --- a history table the runner did not create ---------------------------------------------------------------------

GOLANG_MIGRATE = "CREATE TABLE _migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);"


def layout(url: str, table: str = "_migrations") -> list[tuple[object, ...]]:
    return query(
        url,
        f"""SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
            WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
    )


@pytest.mark.parametrize("command", ["up", "status", "baseline", "down"])
def test_another_tools_table_named_migrations_is_never_altered_and_is_named(
    database: str, tmp_path: Path, command: str
) -> None:
    query(database, GOLANG_MIGRATE + "INSERT INTO _migrations VALUES (100, false);")
    before = layout(database)
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (x int);"}, {"001_a": "DROP TABLE a;"})
    calls = {
        "up": lambda: up(root, database),
        "status": lambda: status(root, database),
        "baseline": lambda: baseline(root, database, "1"),
        "down": lambda: down(root, database),
    }
    error = refusal(calls[command])
    assert error.exit_code == EXIT_USAGE
    (diagnostic,) = error.diagnostics
    assert diagnostic.code == "migrate.foreign-table"
    assert "golang-migrate" in diagnostic.message and "--history-table" in diagnostic.hint
    assert layout(database) == before and query(database, "SELECT * FROM _migrations") == [(100, False)]
    assert not exists(database, "a")


def test_a_table_of_no_known_tool_is_refused_too(database: str, tmp_path: Path) -> None:
    query(database, "CREATE TABLE _migrations (label text, happened date);")
    error = refusal(up, tree(tmp_path, {"001_a": "SELECT 1;"}), database)
    assert "no migration tool's layout we know" in error.diagnostics[0].message


def test_an_older_runners_table_is_ours_and_gains_the_columns_it_lacked(database: str, tmp_path: Path) -> None:
    query(
        database,
        """CREATE TABLE _migrations (id serial PRIMARY KEY, version varchar(10) UNIQUE NOT NULL, name text NOT NULL,
           checksum varchar(32) NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""",
    )
    up(tree(tmp_path, {"001_a": "CREATE TABLE a (x int);"}), database)
    added = [name for name, _ in layout(database)][5:]
    assert {"execution_time_ms", "git_commit", "applied_by"} <= set(added)
    assert rows(database) == ["001"]


def test_the_history_table_can_be_named_and_the_foreign_one_is_left_alone(database: str, tmp_path: Path) -> None:
    query(database, GOLANG_MIGRATE + "CREATE SCHEMA ops;")
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (x int);", "002_b": "CREATE TABLE b (x int);"})
    assert [item.version for item in up(root, database, history="ops.consolidate_history")] == ["001", "002"]
    assert query(database, "SELECT version FROM ops.consolidate_history ORDER BY 1") == [("001",), ("002",)]
    assert status(root, database, history="ops.consolidate_history").clean
    assert layout(database) == [("version", "bigint"), ("dirty", "boolean")]


def test_a_history_table_name_postgresql_cannot_hold_is_bad_input(database: str, tmp_path: Path) -> None:
    error = refusal(up, tree(tmp_path, {"001_a": "SELECT 1;"}), database, history="a.b.c")
    assert error.exit_code == EXIT_USAGE and error.diagnostics[0].location.path == "--history-table"


def test_the_cli_takes_the_history_table_from_the_environment(database: str, tmp_path: Path) -> None:
    query(database, GOLANG_MIGRATE)
    root = tree(tmp_path / "tree", {"001_a": "CREATE TABLE a (x int);"})
    environment = {**os.environ, "CONSOLIDATE_HISTORY_TABLE": "ours", "DATABASE_URL": database}
    command = [sys.executable, "-m", "consolidate.migrate", "up", "--dir", str(root)]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert query(database, "SELECT version FROM ours") == [("001",)]


# --- arguments -----------------------------------------------------------------------------------------------------

TWO = {"001_a": "CREATE TABLE a (x int);", "003_c": "CREATE TABLE c (x int);"}


def test_a_target_beyond_the_tree_is_refused_naming_its_last_version(database: str, tmp_path: Path) -> None:
    error = refusal(up, tree(tmp_path, TWO), database, target="999")
    assert error.exit_code == EXIT_USAGE and "its last version is 003" in error.diagnostics[0].message
    assert rows(database) == []


def test_a_target_between_versions_names_the_nearest_below(database: str, tmp_path: Path) -> None:
    error = refusal(up, tree(tmp_path, TWO), database, target="2")
    assert "the nearest below is 001" in error.diagnostics[0].message and rows(database) == []


def test_down_to_zero_rolls_back_everything(database: str, tmp_path: Path) -> None:
    root = tree(tmp_path, TWO, {"001_a": "DROP TABLE a;", "003_c": "DROP TABLE c;"})
    up(root, database)
    assert down(root, database, target="0") == ["003", "001"]


def test_baseline_beyond_the_tree_records_nothing(database: str, tmp_path: Path) -> None:
    error = refusal(baseline, tree(tmp_path, TWO), database, "100")
    assert error.diagnostics[0].location.path == "--version" and rows(database) == []


def test_a_first_up_names_the_first_version_whose_tables_the_database_already_holds(
    database: str, tmp_path: Path
) -> None:
    # One question to the server for the whole tree: the answer still names the first such version, and only the
    # tables of it that exist.
    query(database, 'CREATE TABLE b (x int); CREATE TABLE "D" (x int)')
    versions = {
        "001_a": "CREATE TABLE a (x int);",
        "002_bc": "CREATE TABLE c (x int);\nCREATE TABLE IF NOT EXISTS public.b (x int);",
        "003_d": 'CREATE TABLE "D" (x int);',
    }
    error = refusal(up, tree(tmp_path, versions), database)
    (diagnostic,) = error.diagnostics
    assert diagnostic.code == "migrate.adopt-first" and "holds what 002_bc.sql creates (b)" in diagnostic.message
    assert rows(database) == [] and not exists(database, "a")


# --- recorded facts ------------------------------------------------------------------------------------------------


def test_versions_sharing_a_message_each_record_their_own_start_and_duration(database: str, tmp_path: Path) -> None:
    # Small versions travel several to a message (the batch doubles while a message takes < 0.25 s): with eight
    # of 0.05 s, the last ones share one. now() is the message's arrival for all of them.
    versions = {f"{n:03d}_nap": "SELECT pg_sleep(0.05);" for n in range(1, 9)}
    up(tree(tmp_path, versions), database)
    found = query(database, "SELECT applied_at, execution_time_ms FROM _migrations ORDER BY version")
    starts = [started for started, _ in found]
    durations = [int(str(ms)) for _, ms in found]
    assert all(ms >= 50 for ms in durations)
    for (this, ms), following in zip(found, starts[1:], strict=False):
        gap = (following - this).total_seconds() * 1000  # type: ignore[operator]
        # Each version starts after the one before ended, and its own time fits between the two starts.
        assert gap >= 50 and ms <= gap + 5  # type: ignore[operator]


def test_a_version_run_in_parts_records_when_it_began(database: str, tmp_path: Path) -> None:
    text = "CREATE TABLE t (a int);\nSELECT pg_sleep(0.05);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n"
    up(tree(tmp_path, {"001_first": "SELECT pg_sleep(0.05);", "002_parts": text}), database)
    ((first, first_ms), (second, second_ms)) = query(
        database, "SELECT applied_at, execution_time_ms FROM _migrations ORDER BY version"
    )
    assert (second - first).total_seconds() * 1000 >= first_ms  # type: ignore[operator]
    assert int(str(second_ms)) >= 50


def test_status_does_not_wait_for_a_deploy_holding_the_lock_and_names_it(database: str, tmp_path: Path) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (x int);"})
    up(root, database)
    with psycopg.connect(database, autocommit=True, application_name="a deploy") as deploy:
        deploy.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        report = status(root, database)
    assert report.clean and report.running is not None and report.running.application_name == "a deploy"


def test_status_says_no_runner_is_at_work_when_none_is(database: str, tmp_path: Path) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (x int);"})
    assert status(root, database).running is None


def test_a_statement_timeout_is_reported_at_the_statement_that_ran_too_long(database: str, tmp_path: Path) -> None:
    text = "CREATE TABLE quick (a int);\nSELECT 1;\nSELECT pg_sleep(5);\nCREATE TABLE after (a int);\n"
    root = tree(tmp_path, {"001_slow": text})
    error = refusal(up, root, database, limits=Limits(statement_timeout="200ms"))
    (diagnostic,) = error.diagnostics
    assert (diagnostic.code, diagnostic.location.line) == ("migrate.57014", 3)
    assert rows(database) == [] and not exists(database, "quick")
