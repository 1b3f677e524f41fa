"""Real `python -m consolidate.migrate` processes against real servers: concurrency, kill -9 and the lock wait.

tests/test_runner.py drives the runner in-process; here each runner is its own interpreter with its own
connection, as on a deploy host, so the only thing the runners share is the database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from consolidate.db.server import Server, scratch_database
from consolidate.runner.tracking import APPLICATION_NAME, LOCK_ID
from tests.test_runner import exists, rows, tree

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent
RUNNERS = 8
WAIT = 60.0  # seconds: a bound on waiting for a condition, never a measure of speed
POLL = 0.05  # seconds
GATE = 4242  # an advisory lock the test holds to keep a runner's migration waiting

Connection = psycopg.Connection[TupleRow]


@dataclass(frozen=True)
class Outcome:
    """How a runner process ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def applied(self) -> list[str]:
        """The versions it reported as applied ("applied 003_name (12 ms)")."""
        return re.findall(r"^applied (\d+)_", self.stdout, re.MULTILINE)


@pytest.fixture
def database(server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    """A scratch database of its own for each test."""
    with scratch_database(server, f"procs_{request.node.name}") as url:
        yield url


def migrate(*args: str) -> subprocess.Popen[str]:
    """Start `python -m consolidate.migrate ARGS`; the database comes from --database-url only."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_DB_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "consolidate.migrate", *args],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Outcome:
    stdout, stderr = process.communicate(timeout=WAIT)
    return Outcome(process.returncode, stdout, stderr)


@contextmanager
def started(count: int, *args: str) -> Iterator[list[subprocess.Popen[str]]]:
    """`count` runners; any still running when the block ends (a failed test) is killed, not left behind."""
    processes: list[subprocess.Popen[str]] = []
    try:
        processes += [migrate(*args) for _ in range(count)]
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()


def wait_until(condition: Callable[[], bool], what: str, alive: list[subprocess.Popen[str]] | None = None) -> None:
    """Poll `condition`, bounded by WAIT; a runner of `alive` ending meanwhile fails the test with its stderr."""
    deadline = time.monotonic() + WAIT
    while not condition():
        for process in alive or []:
            if process.poll() is not None:
                pytest.fail(f"a runner ended (exit {process.returncode}) before {what}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after {WAIT:g} s")
        time.sleep(POLL)


def runner_sessions(connection: Connection, condition: str = "true") -> list[int]:
    """The backend pids of the runners connected to this database (and matching `condition`)."""
    query = sql.SQL(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s AND {}"
    ).format(sql.SQL(condition))
    return [int(row[0]) for row in connection.execute(query, [APPLICATION_NAME])]


def together(url: str, *args: str) -> list[Outcome]:
    """RUNNERS runners started at once; the test holds the runners' lock until every one of them is connected and
    polling for it, so that they all contend for it however slowly each interpreter starts."""
    with started(RUNNERS, *args) as processes:
        with psycopg.connect(url, autocommit=True) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
            wait_until(lambda: len(runner_sessions(gate)) == RUNNERS, "all connected", processes)
        # Closing the gate's session released the lock.
        return [finish(process) for process in processes]


def kill_in_sleep(url: str, runner: subprocess.Popen[str]) -> None:
    """SIGKILL `runner` once its migration sleeps, then wait until its server backend is gone (it holds the
    runner's lock until then)."""
    with psycopg.connect(url, autocommit=True) as connection:
        sleeping = "query LIKE '%%pg_sleep%%' AND wait_event = 'PgSleep'"
        wait_until(lambda: bool(runner_sessions(connection, sleeping)), "inside pg_sleep", [runner])
        backend = runner_sessions(connection, sleeping)[0]
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        wait_until(lambda: backend not in runner_sessions(connection), f"rid of the killed runner's backend {backend}")


def recorded(url: str) -> list[str]:
    return rows(url) if exists(url, "_migrations") else []


# --- many runners at once ------------------------------------------------------------------------------------------


def test_eight_concurrent_up_processes_apply_every_version_exactly_once(tmp_path: Path, database: str) -> None:
    # Each version also logs itself: a version body run twice would show here even if its row were written once.
    versions = {"001_log": "CREATE TABLE log (version int);\nINSERT INTO log VALUES (1);\n"}
    versions |= {f"{n:03d}_t{n}": f"CREATE TABLE t{n} (id int);\nINSERT INTO log VALUES ({n});\n" for n in range(2, 21)}
    root = tree(tmp_path, versions)
    outcomes = together(database, "up", "--dir", str(root), "--database-url", database)
    every = [f"{n:03d}" for n in range(1, 21)]
    assert [outcome.code for outcome in outcomes] == [0] * RUNNERS, [outcome.stderr for outcome in outcomes]
    assert sorted(version for outcome in outcomes for version in outcome.applied) == every
    with psycopg.connect(database) as connection:
        logged = connection.execute("SELECT version, count(*) FROM log GROUP BY version ORDER BY version").fetchall()
    assert (rows(database), logged) == (every, [(n, 1) for n in range(1, 21)])


def test_a_create_index_concurrently_version_is_applied_while_seven_other_runners_wait(
    tmp_path: Path, database: str
) -> None:
    # CREATE INDEX CONCURRENTLY waits for every transaction of the database holding an older snapshot: a runner
    # blocked inside pg_advisory_lock would be one, waiting for the lock the index's runner holds: a deadlock,
    # which PostgreSQL breaks by failing one of the two.
    versions = {
        "001_items": "CREATE TABLE items (id int, label text);\n"
        "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10000) g;\n",
        "002_items_label": "CREATE INDEX CONCURRENTLY items_label ON items (label);\n",
    }
    root = tree(tmp_path, versions)
    outcomes = together(database, "up", "--dir", str(root), "--database-url", database)
    assert [outcome.code for outcome in outcomes] == [0] * RUNNERS, [outcome.stderr for outcome in outcomes]
    with psycopg.connect(database) as connection:
        valid = connection.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_label'::regclass")
        assert valid.fetchall() == [(True,)]
    applied = sorted(version for outcome in outcomes for version in outcome.applied)
    assert (rows(database), applied) == (["001", "002"], ["001", "002"])


# --- kill -9 -------------------------------------------------------------------------------------------------------

# Longer than the runner's client_connection_check_interval (1 s) after the kill, which comes at the sleep's start:
# the server aborts the sleep when it sees the client gone, so the test does not wait for it.
SLOW = "CREATE TABLE a (id int);\nSELECT pg_sleep(10);\nCREATE TABLE b (id int);\n"
FAST = "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"


def test_kill_9_in_the_middle_of_a_migration_leaves_no_objects_and_no_row_and_the_next_up_applies_it(
    tmp_path: Path, database: str
) -> None:
    # The runner sends a version and its row in one message; a server process learns that its client died only
    # when it next writes to it, after all of it ran, unless it checks the socket meanwhile: the runner asks it
    # to (client_connection_check_interval), so the version's transaction is rolled back soon after the kill.
    args = ("up", "--dir", str(tree(tmp_path, {"001_slow": SLOW})), "--database-url", database)
    with started(1, *args) as [runner]:
        kill_in_sleep(database, runner)
    assert (exists(database, "a"), exists(database, "b"), recorded(database)) == (False, False, [])
    tree(tmp_path, {"001_slow": FAST})  # the next run need not sleep: the file's checksum is not recorded yet
    again = finish(migrate(*args))
    assert again.code == 0, again.stderr
    assert (exists(database, "a"), exists(database, "b"), rows(database), again.applied) == (
        True,
        True,
        ["001"],
        ["001"],
    )


# --- the lock wait -------------------------------------------------------------------------------------------------


def test_a_waiting_runner_gives_up_after_lock_wait_naming_the_holder_process(tmp_path: Path, database: str) -> None:
    # The holder is a real runner kept inside its migration by a lock the test holds: no race with a sleep.
    root = tree(tmp_path, {"001_gated": f"SELECT pg_advisory_xact_lock({GATE});\nCREATE TABLE a (id int);\n"})
    args = ("up", "--dir", str(root), "--database-url", database)
    with psycopg.connect(database, autocommit=True) as gate, started(1, *args) as [holder]:
        gate.execute("SELECT pg_advisory_lock(%s)", [GATE])
        waiting = "wait_event_type = 'Lock' AND query LIKE '%%pg_advisory_xact_lock%%'"
        wait_until(lambda: bool(runner_sessions(gate, waiting)), "inside its migration", [holder])
        pid = runner_sessions(gate, waiting)[0]
        waiter = finish(migrate(*args, "--lock-wait", "0.5"))
        gate.execute("SELECT pg_advisory_unlock(%s)", [GATE])
        assert finish(holder).code == 0
    assert (waiter.code, f"pid {pid} ({APPLICATION_NAME}" in waiter.stderr, waiter.stdout) == (1, True, "")
    assert (rows(database), exists(database, "a")) == (["001"], True)
