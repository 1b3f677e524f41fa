"""SIGTERM and SIGHUP clean up like Ctrl-C (issue 13, promise 2), on real `consolidate verify` processes.

Each run replays a legacy file that sleeps in PostgreSQL; the test waits until the server shows that sleep (a
signal from the process, not a pause of the test's own), then signals the process and looks at what is left: on a
lent server its scratch databases (named with its pid), on a private server the postmaster and its folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from consolidate.db.owner import process_alive
from consolidate.db.server import OWNER_FILE, PRIVATE_PORT, WORKDIR_PREFIX, Server, scratch_database
from tests.clitools import REPO, run

pytestmark = pytest.mark.db

WAIT = 60.0  # seconds: a bound on waiting for a condition, never a measure of speed
POLL = 0.05

MAPPING = """\
version: 1
root: legacy
output: out
sources:
  - db
migrations:
  - version: 1
    name: init
    sources:
      - db/001_init.sql
"""
SLEEPING = "CREATE TABLE robots (id int PRIMARY KEY);\nSELECT pg_sleep(30);\n"
QUICK = "CREATE TABLE robots (id int PRIMARY KEY);\n"


def project(folder: Path, legacy: str = SLEEPING) -> Path:
    """A one-migration project with its canonical tree written (`consolidate apply`)."""
    (folder / "legacy" / "db").mkdir(parents=True, exist_ok=True)
    (folder / "legacy" / "db" / "001_init.sql").write_text(legacy)
    (folder / "mapping.yaml").write_text(MAPPING)
    applied = run("apply", cwd=folder)
    assert applied.exit_code == 0, applied.output
    return folder


def consolidate(folder: Path, *args: str, tmpdir: Path | None = None) -> subprocess.Popen[str]:
    """`python -m consolidate ARGS` in `folder`; the server comes from the arguments only; `tmpdir`: its TMPDIR."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_DB_URL")}
    environment["PYTHONPATH"] = str(REPO)
    if tmpdir is not None:
        environment["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-m", "consolidate", *args],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def started(folder: Path, *args: str, tmpdir: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """A `consolidate` process, killed at the end if the test left it running."""
    process = consolidate(folder, *args, tmpdir=tmpdir)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_until(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    """Poll `condition`, bounded by WAIT; the process ending meanwhile fails the test with its stderr."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"still not {what} after {WAIT:g} s")
        time.sleep(POLL)


def databases_of(url: str, pid: int) -> list[str]:
    """The databases whose name carries process `pid` (scratch names are <prefix>_<purpose>_<pid>_<hex>)."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"%\\_{pid}\\_%"])
        return [str(row[0]) for row in rows]


def sleeping_in(url: str, pid: int) -> bool:
    """Whether a session of process `pid`'s scratch databases is inside pg_sleep."""
    query = "SELECT 1 FROM pg_stat_activity WHERE datname LIKE %s AND wait_event = 'PgSleep'"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            return connection.execute(query, [f"%\\_{pid}\\_%"]).fetchone() is not None
    except psycopg.OperationalError:
        return False  # a private server still starting


def private_folder(pid: int, root: Path = Path("/tmp")) -> Path | None:
    """The private server folder process `pid` made in `root` (its owner.json names it), if there is one yet."""
    for folder in root.glob(f"{WORKDIR_PREFIX}*"):
        try:
            if json.loads((folder / OWNER_FILE).read_text())["pid"] == pid:
                return folder
        except (OSError, ValueError, KeyError):
            continue
    return None


def private_url(folder: Path) -> str:
    """The admin conninfo of the private server in `folder` (root may enter its 0700 folders)."""
    return make_conninfo("", host=str(folder / "socket"), port=str(PRIVATE_PORT), user="postgres", dbname="postgres")


def postmaster_of(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split("\n", 1)[0])


def wait_sleeping_on_private_server(process: subprocess.Popen[str], root: Path = Path("/tmp")) -> Path:
    """Wait until `process`'s private server (its folder in `root`) runs its legacy replay's pg_sleep; return the
    server's folder."""
    wait_until(lambda: private_folder(process.pid, root) is not None, "with a private server folder", process)
    folder = private_folder(process.pid, root)
    assert folder is not None
    wait_until(lambda: sleeping_in(private_url(folder), process.pid), "inside pg_sleep", process)
    return folder


STOPPING_SIGNALS = [pytest.param(signal.SIGTERM, 143, id="SIGTERM"), pytest.param(signal.SIGHUP, 129, id="SIGHUP")]


@pytest.mark.parametrize(("signum", "status"), STOPPING_SIGNALS)
def test_a_stopping_signal_drops_the_scratch_databases_on_a_lent_server(
    tmp_path: Path, service_url: str, signum: signal.Signals, status: int
) -> None:
    folder = project(tmp_path)
    with started(folder, "verify", "--database-url", service_url) as verify:
        wait_until(lambda: sleeping_in(service_url, verify.pid), "inside pg_sleep", verify)
        verify.send_signal(signum)
        _, stderr = verify.communicate(timeout=WAIT)
    assert verify.returncode == status, stderr
    assert f"interrupted by {signum.name}" in stderr and "Traceback" not in stderr
    assert databases_of(service_url, verify.pid) == []


@pytest.mark.parametrize(("signum", "status"), STOPPING_SIGNALS)
def test_a_stopping_signal_stops_the_private_server_and_deletes_its_folder(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    folder = project(tmp_path)
    with started(folder, "verify") as verify:
        workdir = wait_sleeping_on_private_server(verify)
        postmaster = postmaster_of(workdir)
        verify.send_signal(signum)
        _, stderr = verify.communicate(timeout=WAIT)
    assert verify.returncode == status, stderr
    assert f"interrupted by {signum.name}" in stderr and "Traceback" not in stderr
    assert not process_alive(postmaster)
    assert not workdir.exists()


def test_ctrl_c_still_exits_130_and_drops_the_scratch_databases(tmp_path: Path, service_url: str) -> None:
    folder = project(tmp_path)
    with started(folder, "verify", "--database-url", service_url) as verify:
        wait_until(lambda: sleeping_in(service_url, verify.pid), "inside pg_sleep", verify)
        verify.send_signal(signal.SIGINT)
        _, stderr = verify.communicate(timeout=WAIT)
    assert verify.returncode == 130, stderr
    assert databases_of(service_url, verify.pid) == []


def test_the_runner_entry_point_exits_143_on_sigterm_without_a_traceback(
    tmp_path: Path, service_server: Server
) -> None:
    # `python -m consolidate.migrate` has its own entry (cli.calling.run): the same handlers, the same status.
    folder = project(tmp_path)
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    with scratch_database(service_server, "signals_target") as target:
        command = [sys.executable, "-m", "consolidate.migrate", "baseline", "--version", "1", "--check-schema"]
        command += ["--dir", str(folder / "out"), "--database-url", target]
        baseline = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
        service_url = service_server.url
        try:
            wait_until(lambda: sleeping_in(service_url, baseline.pid), "inside pg_sleep", baseline)
            baseline.send_signal(signal.SIGTERM)
            _, stderr = baseline.communicate(timeout=WAIT)
        finally:
            baseline.kill()
    assert (baseline.returncode, "interrupted by SIGTERM" in stderr, "Traceback" in stderr) == (143, True, False)
    assert databases_of(service_url, baseline.pid) == []
