"""The migration runner on real servers: up, down, status, verify, the lock, and failures that leave no trace."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import make_conninfo

from consolidate import commands
from consolidate.db.server import Server, roles, scratch_database
from consolidate.runner import Progress, State, baseline, down, status, up, verify
from consolidate.runner.runner import compare, read_tree
from consolidate.runner.tracking import LOCK_ID, Limits, Row, checksum
from tests.canonical_trees import exists, rows, tree
from tests.canonical_trees import refusal as failure

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def fixture_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The canonical tree `consolidate apply` writes for the repository's fixtures."""
    work = tmp_path_factory.mktemp("apply")
    shutil.copy(REPO / "mapping.yaml", work / "mapping.yaml")
    shutil.copytree(REPO / "legacy_fixtures", work / "legacy_fixtures")
    commands.apply(work / "mapping.yaml")
    return work / "build" / "deploy" / "migrations"


@pytest.fixture
def extensions(server: Server) -> None:
    """The fixture tree creates pgcrypto: a server without it (the embedded one) cannot apply it."""
    if "pgcrypto" not in server.available_extensions:
        pytest.skip("this server lacks pgcrypto, which the fixture tree creates")


@pytest.fixture
def database(server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A scratch database of its own for each test; its URL carries a password (trust auth ignores it)."""
    with scratch_database(server, f"runner_{request.node.name}") as url:
        yield make_conninfo(url, password=PASSWORD)


# --- up ----------------------------------------------------------------------------------------------------------


def test_up_applies_every_version_of_the_fixture_tree_and_status_is_clean(
    fixture_tree: Path, database: str, extensions: None
) -> None:
    applied = up(fixture_tree, database)
    assert [item.version for item in applied] == [item.version for item in read_tree(fixture_tree)]
    assert status(fixture_tree, database).clean


def test_a_second_up_applies_nothing(fixture_tree: Path, database: str, extensions: None) -> None:
    up(fixture_tree, database)
    assert up(fixture_tree, database) == []


def test_dry_run_lists_the_pending_versions_and_runs_nothing(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);"})
    assert [item.version for item in up(root, database, dry_run=True)] == ["001"]
    assert (exists(database, "_migrations"), exists(database, "a")) == (False, False)


def test_steps_and_target_limit_what_up_applies(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {f"00{n}_t{n}": f"CREATE TABLE t{n} (id int);" for n in range(1, 5)})
    up(root, database, steps=1)
    assert rows(database) == ["001"]
    up(root, database, target="3")
    assert rows(database) == ["001", "002", "003"]


def test_a_target_that_is_not_a_version_number_is_refused_before_anything_runs(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);"})
    assert failure(up, root, database, target="latest").exit_code == 2
    assert exists(database, "_migrations") is False


def test_the_row_records_checksum_duration_commit_and_user(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_COMMIT", "abc123")
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n-- no newline at the end"})
    up(root, database)
    with psycopg.connect(database) as connection:
        row = connection.execute(
            "SELECT checksum, execution_time_ms, git_commit, applied_by FROM _migrations"
        ).fetchone()
    data = (root / "versions" / "001_a.sql").read_bytes()
    assert row is not None and (row[0], row[2], row[3]) == (checksum(data), "abc123", "postgres")
    assert row[1] is not None and row[1] >= 0


def test_a_version_setting_search_path_does_not_move_the_next_version_or_the_row(tmp_path: Path, database: str) -> None:
    root = tree(
        tmp_path,
        {
            "001_elsewhere": "CREATE SCHEMA other; SET search_path = other; CREATE TABLE a (id int);",
            "002_b": "CREATE TABLE b (id int);",
        },
    )
    up(root, database)
    assert (exists(database, "other.a"), exists(database, "public.b"), rows(database)) == (True, True, ["001", "002"])


# --- failures ----------------------------------------------------------------------------------------------------


def test_a_migration_failing_half_way_leaves_no_objects_and_no_row(tmp_path: Path, database: str) -> None:
    text = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES ('x');\n"
    root = tree(tmp_path, {"001_ok": "CREATE TABLE ok (id int);", "002_broken": text})
    error = failure(up, root, database)
    assert (rows(database), exists(database, "a"), exists(database, "ok")) == (["001"], False, True)
    diagnostic = error.diagnostics[0]
    assert (diagnostic.location.path.endswith("002_broken.sql"), diagnostic.location.line, error.exit_code) == (
        True,
        3,
        1,
    )
    assert diagnostic.message.startswith("22P02:")


def test_a_run_time_error_without_a_position_is_located_at_its_statement(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_divide": "CREATE TABLE a (id int);\n\nSELECT 1 / 0;\nCREATE TABLE b (id int);\n"})
    error = failure(up, root, database)
    assert (error.diagnostics[0].location.line, error.diagnostics[0].message[:5]) == (3, "22012")
    assert (rows(database), exists(database, "a")) == ([], False)


def test_a_non_transactional_version_runs_statement_by_statement_and_is_recorded(tmp_path: Path, database: str) -> None:
    text = "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n"
    root = tree(tmp_path, {"001_concurrent": text})
    up(root, database)
    assert (exists(database, "a_id"), rows(database)) == (True, ["001"])


def test_a_version_opening_with_a_long_header_then_create_index_concurrently_runs_it_outside_a_transaction(
    tmp_path: Path, database: str
) -> None:
    header = "".join(f"-- header line {n}: the canonical tree's generated comments run long\n" for n in range(12))
    root = tree(
        tmp_path,
        {
            "001_table": "CREATE TABLE a (id int);\n",
            "002_index": header + "CREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        },
    )
    up(root, database)
    assert (exists(database, "a_id"), rows(database)) == (True, ["001", "002"])


def test_a_lock_timeout_is_located_under_the_same_timeout_never_waiting_for_the_lock(
    tmp_path: Path, database: str
) -> None:
    # Locating a failure without a position reruns the version: on the runner's own session, so with its
    # lock_timeout; a fresh session without it would wait for the lock forever.
    with psycopg.connect(database, autocommit=True) as setup:
        setup.execute("CREATE TABLE held (a int)")
    root = tree(tmp_path, {"001_alter": "SELECT 1;\nALTER TABLE held ADD COLUMN b int;\n"})
    with psycopg.connect(database) as holder:
        holder.execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        error = failure(up, root, database, limits=Limits(lock_timeout="200ms"))
    found = error.diagnostics[0]
    assert (found.code, found.location.line, rows(database)) == ("migrate.55P03", 2, [])


def test_a_non_transactional_version_failing_says_what_already_ran(tmp_path: Path, database: str) -> None:
    text = "CREATE TABLE a (id int);\nCREATE INDEX CONCURRENTLY a_x ON a (missing);\n"
    root = tree(tmp_path, {"001_concurrent": text})
    error = failure(up, root, database)
    assert (rows(database), exists(database, "a"), error.diagnostics[0].location.line) == ([], True, 2)
    assert "lines 1 ran" in error.diagnostics[0].hint


def test_a_failed_create_index_concurrently_leaves_no_invalid_index_and_says_it_dropped_one(
    tmp_path: Path, database: str
) -> None:
    text = "CREATE TABLE d (a int);\nINSERT INTO d VALUES (1), (1);\nCREATE UNIQUE INDEX CONCURRENTLY d_a ON d (a);\n"
    error = failure(up, tree(tmp_path, {"001_unique": text}), database)
    found = error.diagnostics[0]
    assert (found.code, found.location.line, exists(database, "d_a"), rows(database)) == ("migrate.23505", 3, False, [])
    assert "invalid index public.d_a behind: it was dropped" in found.hint
    assert "the statements at lines 1, 2 ran and stay" in found.hint


def test_a_version_failing_at_its_first_part_says_nothing_of_it_ran(tmp_path: Path, database: str) -> None:
    error = failure(up, tree(tmp_path, {"001_vacuum": "VACUUM missing;\nCREATE TABLE e (a int);\n"}), database)
    assert "nothing of it ran before this statement" in error.diagnostics[0].hint


def test_passwords_never_appear_in_errors(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_broken": "SELECT missing_column FROM pg_class;"})
    unreachable = make_conninfo(database, port="1", host="127.0.0.1")
    errors = [failure(up, root, database), failure(up, root, unreachable)]
    assert all(PASSWORD not in str(error) for error in errors)


# --- down ----------------------------------------------------------------------------------------------------------


def test_up_down_up_on_the_fixture_tree_round_trips_a_legacy_down(
    fixture_tree: Path, database: str, extensions: None
) -> None:
    up(fixture_tree, database, target="3")
    assert down(fixture_tree, database, steps=1) == ["003"]
    assert (rows(database), exists(database, "robot_heartbeats")) == (["001", "002"], False)
    up(fixture_tree, database, target="3")
    assert (rows(database), exists(database, "robot_heartbeats")) == (["001", "002", "003"], True)


def test_down_runs_the_down_scripts_newest_first_down_to_the_target(tmp_path: Path, database: str) -> None:
    versions = {f"00{n}_t{n}": f"CREATE TABLE t{n} (id int);" for n in range(1, 4)}
    downs = {f"00{n}_t{n}": f"DROP TABLE t{n};" for n in range(1, 4)}
    root = tree(tmp_path, versions, downs)
    up(root, database)
    assert down(root, database, target="1") == ["003", "002"]
    assert (rows(database), exists(database, "t2")) == (["001"], False)


def test_a_stub_down_stops_before_anything_runs(tmp_path: Path, database: str) -> None:
    root = tree(
        tmp_path,
        {"001_a": "CREATE TABLE a (id int);", "002_b": "CREATE TABLE b (id int);"},
        {"001_a": "-- consolidate: stub\nDO $$ BEGIN RAISE EXCEPTION 'no'; END $$;", "002_b": "DROP TABLE b;"},
    )
    up(root, database)
    error = failure(down, root, database, steps=2)
    assert (rows(database), exists(database, "b"), error.exit_code) == (["001", "002"], True, 1)
    assert "stub" in str(error)


def test_a_down_script_without_sql_stops_before_anything_runs(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);"}, {"001_a": "-- TODO\n"})
    up(root, database)
    error = failure(down, root, database)
    assert (rows(database), exists(database, "a"), "without SQL" in str(error)) == (["001"], True, True)


def test_a_failing_down_keeps_its_row_and_its_objects(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);"}, {"001_a": "DROP TABLE a;\nDROP TABLE nope;"})
    up(root, database)
    failure(down, root, database)
    assert (rows(database), exists(database, "a")) == (["001"], True)


# --- status and verify -----------------------------------------------------------------------------------------------


def test_status_reports_pending_missing_and_unknown_versions(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {f"00{n}_t{n}": f"CREATE TABLE t{n} (id int);" for n in range(1, 4)})
    up(root, database, target="2")
    with psycopg.connect(database) as connection:
        connection.execute("INSERT INTO _migrations (version, name, checksum) VALUES ('009', 'later', 'x')")
    (root / "versions" / "001_t1.sql").unlink()
    states = [(entry.version, entry.state) for entry in status(root, database).entries]
    expected = [("001", State.MISSING_FILE), ("002", State.APPLIED), ("003", State.PENDING), ("009", State.UNKNOWN_ROW)]
    assert states == expected


def test_verify_detects_an_edited_applied_file(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"})
    up(root, database, steps=1)
    (root / "versions" / "001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    report = verify(root, database)
    assert ([(entry.version, entry.state) for entry in report.entries], report.clean) == (
        [("001", State.MISMATCH)],
        False,
    )


def test_a_change_of_line_endings_alone_is_reported_apart_and_is_not_drift(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n"})
    up(root, database)
    (root / "versions" / "001_a.sql").write_bytes(b"CREATE TABLE a (id int);\r\n")
    report = verify(root, database)
    assert ([entry.state for entry in report.entries], report.clean) == ([State.LINE_ENDINGS], True)


def test_up_refuses_to_build_on_an_edited_applied_file_and_runs_nothing(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"})
    up(root, database, steps=1)
    (root / "versions" / "001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    error = failure(up, root, database)
    assert (error.exit_code, "001_a.sql" in str(error), "--allow-drift" in str(error)) == (1, True, True)
    assert (rows(database), exists(database, "b")) == (["001"], False)


def test_up_refuses_when_an_applied_versions_file_is_gone(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"})
    up(root, database, steps=1)
    (root / "versions" / "001_a.sql").unlink()
    assert "missing file" in str(failure(up, root, database))
    assert exists(database, "b") is False


def test_allow_drift_applies_the_pending_versions_all_the_same(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"})
    up(root, database, steps=1)
    (root / "versions" / "001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    assert [item.version for item in up(root, database, allow_drift=True)] == ["002"]


def test_a_row_newer_than_every_file_or_new_line_endings_do_not_stop_up(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"})
    up(root, database, steps=1)
    (root / "versions" / "001_a.sql").write_bytes(b"CREATE TABLE a (id int);\r\n")
    with psycopg.connect(database) as connection:  # applied from a newer checkout of the tree
        connection.execute("INSERT INTO _migrations (version, name, checksum) VALUES ('009', 'later', 'x')")
    assert [item.version for item in up(root, database)] == ["002"]


def test_progress_hears_of_each_version_as_it_runs(tmp_path: Path, database: str) -> None:
    heard: list[tuple[str, ...]] = []

    class Recorder(Progress):
        def begin(self, total: int) -> None:
            heard.append(("begin", str(total)))

        def start(self, version: str, name: str) -> None:
            heard.append(("start", version, str(exists(database, name))))

        def done(self, version: str, name: str, milliseconds: int) -> None:
            heard.append(("done", version, str(exists(database, name))))

    versions = {"001_a": "CREATE TABLE a (id int);\n", "002_b": "CREATE TABLE b (id int);\n"}
    root = tree(tmp_path, versions, {"002_b": "DROP TABLE b;\n"})
    up(root, database, progress=Recorder())
    down(root, database, steps=1, progress=Recorder())
    assert heard == [
        ("begin", "2"),
        ("start", "001", "False"),
        ("done", "001", "True"),
        ("start", "002", "False"),
        ("done", "002", "True"),
        ("begin", "1"),
        ("start", "002", "True"),
        ("done", "002", "False"),
    ]


def test_status_leaves_a_database_without_the_table_as_it_was(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n"})
    assert [entry.state for entry in status(root, database).entries] == [State.PENDING]
    assert exists(database, "_migrations") is False


def test_a_read_only_role_can_ask_for_the_status(tmp_path: Path, server: Server, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\n"})
    up(root, database)
    name = f"consolidate_reader_{secrets.token_hex(4)}"
    with roles(server, [name]):
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(name)))
            connection.execute(sql.SQL("GRANT SELECT ON _migrations TO {}").format(sql.Identifier(name)))
        reader = make_conninfo(database, user=name)
        try:
            assert [entry.state for entry in status(root, reader).entries] == [State.APPLIED]
        finally:
            with psycopg.connect(database, autocommit=True) as connection:
                connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))


def test_an_older_runners_table_gains_the_applied_by_column(tmp_path: Path, database: str) -> None:
    with psycopg.connect(database) as connection:
        connection.execute(
            "CREATE TABLE _migrations (id serial PRIMARY KEY, version varchar(10) UNIQUE NOT NULL, name text NOT NULL,"
            " checksum varchar(32) NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), execution_time_ms integer,"
            " git_commit text)"
        )
        connection.execute(
            "INSERT INTO _migrations (version, name, checksum) VALUES ('001', 'a', %s)", [checksum(b"x")]
        )
    root = tree(tmp_path, {"001_a": "x", "002_b": "CREATE TABLE b (id int);"})
    assert [item.version for item in up(root, database)] == ["002"]
    with psycopg.connect(database) as connection:
        assert connection.execute("SELECT applied_by FROM _migrations WHERE version = '002'").fetchone() == (
            "postgres",
        )


# --- the lock (processes racing for it: tests/test_runner_processes.py) ---------------------------------------------


def test_the_lock_wait_times_out_naming_the_holder(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);"})
    with psycopg.connect(database, autocommit=True, application_name="the holder") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        error = failure(up, root, database, lock_wait=0.5)
        assert f"pid {holder.info.backend_pid} (the holder" in str(error) and error.exit_code == 1
    assert (rows(database) if exists(database, "_migrations") else [], exists(database, "a")) == ([], False)


# --- pure rules ------------------------------------------------------------------------------------------------------


@given(st.lists(st.sampled_from(["CREATE TABLE t (a int);", "SELECT 1;", "-- c", ""]), max_size=8))
def test_a_file_whose_line_endings_changed_compares_as_line_endings(lines: list[str]) -> None:
    lf = ("\n".join(lines) + "\n").encode()
    crlf = lf.replace(b"\n", b"\r\n")
    row = Row("001", "a", checksum(lf), None, None, None, None)  # type: ignore[arg-type]
    assert compare(crlf, row) is State.LINE_ENDINGS and compare(lf, row) is State.APPLIED


# --- several versions in one message ---------------------------------------------------------------------------

TINY = {f"{n:03d}_t{n}": f"CREATE TABLE t{n} (id int);\n" for n in range(1, 21)}


@pytest.mark.parametrize(
    ("broken", "line", "column"),
    [
        ("CREATE TABLE t6 (id int);\nSELEC 1;\n", 2, 1),  # a syntax error: PostgreSQL refuses the whole message
        ("CREATE TABLE t6 (id int);\nSELECT 1 / 0;\n", 2, None),  # a run-time error, without a position
        ("CREATE TABLE t6 (id int);\nCREATE TABLE t6 (id int);\n", 2, None),  # an error at execution
    ],
)
def test_a_failure_among_small_versions_leaves_exactly_the_versions_before_it_applied(
    tmp_path: Path, database: str, broken: str, line: int, column: int | None
) -> None:
    root = tree(tmp_path, TINY | {"006_t6": broken})
    heard: list[str] = []

    class Recorder(Progress):
        def done(self, version: str, name: str, milliseconds: int) -> None:
            heard.append(version)

    error = failure(up, root, database, progress=Recorder())
    diagnostic = error.diagnostics[0]
    assert (Path(diagnostic.location.path).name, diagnostic.location.line) == ("006_t6.sql", line)
    assert column is None or diagnostic.location.column == column
    assert (rows(database), heard) == (["001", "002", "003", "004", "005"], ["001", "002", "003", "004", "005"])
    assert [exists(database, f"t{n}") for n in (5, 6, 7)] == [True, False, False]


def test_many_small_versions_each_record_the_servers_own_duration(tmp_path: Path, database: str) -> None:
    applied = up(tree(tmp_path, TINY), database)
    with psycopg.connect(database) as connection:
        recorded = dict(connection.execute("SELECT version, execution_time_ms FROM _migrations").fetchall())
    assert [item.version for item in applied] == sorted(recorded)
    assert all(recorded[item.version] == item.execution_time_ms is not None for item in applied)


def test_a_baseline_check_will_not_replay_what_would_reconfigure_the_live_server(tmp_path: Path, database: str) -> None:
    root = tree(tmp_path, {"001_a": "CREATE TABLE a (id int);\nALTER SYSTEM SET work_mem = '77MB';\n"})
    error = failure(baseline, root, database, "1", check_schema=True)
    assert (error.exit_code, "ALTER SYSTEM" in str(error), exists(database, "_migrations")) == (2, True, False)
