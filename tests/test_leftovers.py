"""What interrupted runs leave behind is marked, and reclaimed once its owner is gone (issue 13, promise 3).

Real processes killed with SIGKILL, a real server shared with other test runs: every assertion is about this
test's own databases and folders (names carry a fresh token or the killed process's pid), never about the
server as a whole.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consolidate.db.leftovers import Kind, folders, reclaim_folders
from consolidate.db.owner import Owner, State, owner_of_comment, process_alive, this_process
from consolidate.db.server import (
    OWNER_FILE,
    PREFIX_VARIABLE,
    WORKDIR_PREFIX,
    Server,
    scratch_database,
    scratch_prefix,
)
from consolidate.errors import ConsolidateError
from tests.clitools import run
from tests.test_signals import (
    QUICK,
    WAIT,
    databases_of,
    postmaster_of,
    project,
    sleeping_in,
    started,
    wait_sleeping_on_private_server,
    wait_until,
)

pytestmark = pytest.mark.db


@pytest.fixture
def own_tmpdir() -> Iterator[Path]:
    """A TMPDIR no other run looks in: every run reclaims in its TMPDIR and /tmp, so another test or user's run
    at the same moment would reclaim a killed run's folder in /tmp before the run under test does."""
    # Short, beside /tmp: a private server's socket path must stay under 108 bytes. 0711: as root, the server
    # runs as another user, who must pass through it.
    folder = Path(tempfile.mkdtemp(prefix="cl-", dir="/tmp"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def gone_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def comment_of(url: str, name: str) -> str | None:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    return None if row is None else row[0]


def exists(url: str, name: str) -> bool:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@contextmanager
def marked_database(url: str, owner: Owner | None, prefix: str = "consolidate") -> Iterator[str]:
    """A database as a run would have left it, marked with `owner`'s comment (none: unmarked); dropped after."""
    name = f"{prefix}_leftover_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if owner is not None:
            connection.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), owner.comment()))
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@contextmanager
def left_behind(url: str, names: list[str]) -> Iterator[None]:
    """Drop `names` at the end should the code under test not have: a failed test leaves the server clean."""
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            for name in names:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def server_left_behind(workdir: Path, postmaster: int) -> Iterator[None]:
    """Stop the postmaster and delete its folder at the end should the code under test not have."""
    try:
        yield
    finally:
        if process_alive(postmaster):
            os.kill(postmaster, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def marked_folder(root: Path, owner: Owner) -> Path:
    folder = root / f"{WORKDIR_PREFIX}{secrets.token_hex(4)}"
    (folder / "data").mkdir(parents=True)
    (folder / OWNER_FILE).write_text(json.dumps(owner.document()))
    return folder


def gone_owner() -> Owner:
    here = this_process()
    return Owner(gone_pid(), "1", here.host, here.ns)


# --- the marks ----------------------------------------------------------------------------------------------------


def test_every_scratch_database_names_its_owner_process_in_its_comment(service_server: Server) -> None:
    with scratch_database(service_server, "marked") as url:
        name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
        owner = owner_of_comment(comment_of(service_server.url, name))
    assert owner == this_process() and owner.pid == os.getpid() and owner.started != "-"


def test_a_private_servers_folder_names_its_owner_process(embedded_server: Server) -> None:
    folder = Path(str(psycopg.conninfo.conninfo_to_dict(embedded_server.url)["host"])).parent
    assert json.loads((folder / OWNER_FILE).read_text()) == this_process().document()


def test_a_comment_that_is_not_exactly_our_mark_names_no_owner() -> None:
    mark = this_process().comment()
    assert owner_of_comment(mark) == this_process()
    assert [owner_of_comment(text) for text in (mark + " ", "x" + mark, mark.replace("pid=", "pid=x"), None)] == [
        None
    ] * 4


def test_an_owner_whose_pid_now_names_a_process_started_at_another_time_is_gone() -> None:
    here = this_process()
    assert here.state() is State.RUNNING
    assert Owner(here.pid, str(int(here.started) + 1), here.host, here.ns).state() is State.GONE


def test_an_owner_on_another_host_is_never_judged_from_here() -> None:
    here = this_process()
    assert Owner(gone_pid(), here.started, "elsewhere.example", here.ns).state() is State.ELSEWHERE


# --- kill -9, then the next run -----------------------------------------------------------------------------------


def test_the_next_run_drops_the_scratch_databases_of_a_killed_run_and_says_so(tmp_path: Path, service_url: str) -> None:
    # The killed run used a prefix of its own: the comment, not the name, makes a database reclaimable.
    prefix = f"t{secrets.token_hex(4)}"
    folder = project(tmp_path)
    with started(folder, "verify", "--database-url", service_url, "--scratch-prefix", prefix) as killed:
        wait_until(lambda: sleeping_in(service_url, killed.pid), "inside pg_sleep", killed)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    orphans = databases_of(service_url, killed.pid)
    assert orphans and all(name.startswith(f"{prefix}_") for name in orphans)
    project(folder, QUICK)
    with left_behind(service_url, orphans), started(folder, "verify", "--database-url", service_url) as next_run:
        _, stderr = next_run.communicate(timeout=WAIT)
    assert next_run.returncode == 0, stderr
    assert re.search(
        rf"dropped {len(orphans)} scratch databases? left by an interrupted run \(pid {killed.pid}\)", stderr
    )
    assert databases_of(service_url, killed.pid) == []


def test_the_next_run_stops_the_private_server_of_a_killed_run_and_deletes_its_folder(
    tmp_path: Path, own_tmpdir: Path
) -> None:
    folder = project(tmp_path)
    with started(folder, "verify", tmpdir=own_tmpdir) as killed:
        workdir = wait_sleeping_on_private_server(killed, own_tmpdir)
        postmaster = postmaster_of(workdir)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert process_alive(postmaster) and workdir.exists()  # what kill -9 leaves
    project(folder, QUICK)
    with server_left_behind(workdir, postmaster), started(folder, "verify", tmpdir=own_tmpdir) as next_run:
        _, stderr = next_run.communicate(timeout=WAIT)
    assert next_run.returncode == 0, stderr
    assert f"left by an interrupted run (pid {killed.pid})" in stderr and "deleted" in stderr
    assert not process_alive(postmaster) and not workdir.exists()


# --- verify --cleanup ---------------------------------------------------------------------------------------------


def test_cleanup_drops_a_gone_owners_scratch_database_and_lists_it(service_url: str) -> None:
    owner = gone_owner()
    with marked_database(service_url, owner) as name:
        result = run("verify", "--cleanup", "--database-url", service_url)
        assert result.exit_code == 0, result.output
        assert f"dropped database {name} (left by pid {owner.pid}, which is gone)" in result.stdout
        assert not exists(service_url, name)


def test_cleanup_lists_a_running_owners_scratch_database_and_leaves_it(service_url: str) -> None:
    with marked_database(service_url, this_process()) as name:
        result = run("verify", "--cleanup", "--database-url", service_url)
        assert result.exit_code == 0, result.output
        assert f"in use: database {name} (by pid {os.getpid()}, which is running)" in result.stdout
        assert exists(service_url, name)


def test_cleanup_never_touches_a_database_without_our_mark_whatever_its_name(service_url: str) -> None:
    with marked_database(service_url, None) as name:
        result = run("verify", "--cleanup", "--database-url", service_url)
        assert result.exit_code == 0 and name not in result.stdout
        assert exists(service_url, name)


def test_cleanup_json_names_each_leftover_its_owner_and_what_was_done(service_url: str) -> None:
    owner = gone_owner()
    with marked_database(service_url, owner) as name:
        result = run("verify", "--cleanup", "--database-url", service_url, "--json")
    document = json.loads(result.stdout)
    (found,) = [leftover for leftover in document["leftovers"] if leftover["name"] == name]
    assert (result.exit_code, document["ok"]) == (0, True)
    assert (found["kind"], found["state"], found["removed"], found["owner"]["pid"]) == (
        "database",
        "gone",
        True,
        owner.pid,
    )


def test_the_next_run_drops_a_gone_owners_database_but_not_a_running_ones(
    service_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from consolidate.db.server import postgres

    owner = gone_owner()
    with marked_database(service_url, owner) as orphan, marked_database(service_url, this_process()) as live:
        with caplog.at_level(logging.WARNING, "consolidate"), postgres(service_url):
            pass
        assert (exists(service_url, orphan), exists(service_url, live)) == (False, True)
    assert f"left by an interrupted run (pid {owner.pid})" in caplog.text


# --- private server folders ---------------------------------------------------------------------------------------


def test_a_gone_owners_folder_is_deleted_and_a_running_owners_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = marked_folder(tmp_path, gone_owner())
    live = marked_folder(tmp_path, this_process())
    with caplog.at_level(logging.WARNING, "consolidate"):
        reclaimed = reclaim_folders([tmp_path])
    assert (gone.exists(), live.exists()) == (False, True)
    assert {(Path(leftover.name), leftover.removed) for leftover in reclaimed} == {(gone, True), (live, False)}
    assert "deleted 1 private PostgreSQL folder left by an interrupted run" in caplog.text


def test_a_folder_whose_owner_file_another_user_wrote_is_never_touched(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    forged = marked_folder(tmp_path, gone_owner())
    os.chown(forged / OWNER_FILE, 65534, 65534)  # nobody
    assert folders([tmp_path]) == [] and reclaim_folders([tmp_path]) == []
    assert forged.exists()


def test_a_postmaster_pid_naming_an_unrelated_process_never_gets_it_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        folder = marked_folder(tmp_path, gone_owner())
        (folder / "data" / "postmaster.pid").write_text(f"{bystander.pid}\n{folder / 'data'}\n")
        (found,) = reclaim_folders([tmp_path])
        assert (found.kind, found.removed, found.stopped) == (Kind.FOLDER, True, None)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


# --- the scratch prefix -------------------------------------------------------------------------------------------


def test_scratch_databases_start_with_the_servers_scratch_prefix(service_server: Server) -> None:
    prefixed = replace(service_server, scratch_prefix="ci_run7")
    with scratch_database(prefixed, "legacy") as url:
        assert str(psycopg.conninfo.conninfo_to_dict(url)["dbname"]).startswith(f"ci_run7_legacy_{os.getpid()}_")


def test_the_scratch_prefix_option_wins_over_the_variable_which_wins_over_the_default() -> None:
    variable = {PREFIX_VARIABLE: "from_env"}
    assert [scratch_prefix("from_cli", variable), scratch_prefix(None, variable), scratch_prefix("", {})] == [
        "from_cli",
        "from_env",
        "consolidate",
    ]


@pytest.mark.parametrize("prefix", ["9lives", "Upper", "has-dash", "a" * 21, "space d", "ü"])
def test_a_scratch_prefix_that_does_not_start_a_plain_identifier_is_refused(prefix: str) -> None:
    with pytest.raises(ConsolidateError) as raised:
        scratch_prefix(prefix, {})
    (found,) = raised.value.diagnostics
    assert (found.code, str(found.location), raised.value.exit_code) == ("db.scratch-prefix", "--scratch-prefix", 2)


def test_verify_refuses_a_bad_scratch_prefix_from_the_variable_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PREFIX_VARIABLE, "bad-prefix")
    result = run("verify", "--mapping", str(tmp_path / "mapping.yaml"), "--database-url", "postgresql://h/db")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{PREFIX_VARIABLE}: error: the scratch prefix 'bad-prefix' is not the start")
