"""A private server accepts only its owner (issue 13, promise 1): no TCP, one Unix socket in a 0700 folder.

The other user is real: a fresh Unix account made for the test (useradd, removed afterwards), trying with psql
over the socket and over TCP. As root the server runs as `nobody`; the other user is neither of them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from consolidate.db.server import SOCKET_PATH_MAX, Server, make_workdir
from consolidate.db.urls import endpoint
from tests.test_db_server import private

pytestmark = pytest.mark.db


@contextmanager
def another_user() -> Iterator[str]:
    """A new Unix user with no home, deleted afterwards; skips where users cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("making a second Unix user needs root")
    if not all(shutil.which(tool) for tool in ("useradd", "userdel", "runuser", "psql")):
        pytest.skip("useradd, userdel, runuser and psql are needed")
    name = f"ctest{secrets.token_hex(4)}"
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def psql_as(user: str, conninfo: str) -> subprocess.CompletedProcess[str]:
    """`psql -c 'SHOW data_directory'` run as `user`, with none of our PG* settings."""
    command = ["runuser", "-u", user, "--", "psql", "-X", "-At", conninfo, "-c", "SHOW data_directory"]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "5"}
    return subprocess.run(command, capture_output=True, text=True, cwd="/", env=environment, timeout=60)


def data_directory(server: Server) -> str:
    with psycopg.connect(server.url) as connection:
        found = connection.execute("SHOW data_directory").fetchone()
    assert found is not None
    return str(found[0])


def test_another_local_user_cannot_connect_to_a_private_server_over_its_socket(tmp_path: Path) -> None:
    with another_user() as name, private(tmp_path) as server:
        parts = conninfo_to_dict(server.url)
        attempt = psql_as(name, f"host={parts['host']} port={parts['port']} user=postgres dbname=postgres")
    assert attempt.returncode != 0, attempt.stdout
    assert "Permission denied" in attempt.stderr


def test_another_local_user_cannot_reach_a_private_server_over_tcp(tmp_path: Path) -> None:
    # The port may well be one another server listens on (the machine's service): what matters is that the
    # connection, if any, is not to the private server.
    with another_user() as name, private(tmp_path) as server:
        port = conninfo_to_dict(server.url)["port"]
        attempt = psql_as(name, f"host=127.0.0.1 port={port} user=postgres dbname=postgres")
        ours = data_directory(server)
    assert attempt.returncode != 0 or attempt.stdout.strip() != ours


def test_a_private_server_listens_on_no_tcp_address(embedded_server: Server) -> None:
    with psycopg.connect(embedded_server.url) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
        assert connection.execute("SELECT inet_server_addr()").fetchone() == (None,)  # a Unix socket session


def test_the_private_servers_folder_and_socket_folder_are_closed_to_everyone_else(embedded_server: Server) -> None:
    socket_folder = Path(conninfo_to_dict(embedded_server.url)["host"])
    for folder in (socket_folder.parent, socket_folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert socket_folder.stat().st_uid == Path(data_directory(embedded_server)).stat().st_uid  # the server's user


def test_the_owner_reaches_the_private_server_through_its_socket(embedded_server: Server) -> None:
    with psycopg.connect(embedded_server.url) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("postgres",)
    socket_folder = conninfo_to_dict(embedded_server.url)["host"]
    assert endpoint(embedded_server.url) == f"{socket_folder}/.s.PGSQL.5432"


def test_a_temporary_folder_too_deep_for_a_socket_path_gives_way_to_tmp(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * SOCKET_PATH_MAX)
    deep.mkdir()
    workdir = make_workdir(str(deep))
    try:
        assert workdir.parent == Path("/tmp") and stat.S_IMODE(workdir.stat().st_mode) == 0o700
        assert list(deep.iterdir()) == []
    finally:
        workdir.rmdir()


def test_a_temporary_folder_whose_path_has_a_space_gives_way_to_tmp(tmp_path: Path) -> None:
    spaced = tmp_path / "my temp"
    spaced.mkdir()
    workdir = make_workdir(str(spaced))
    try:
        assert workdir.parent == Path("/tmp")
    finally:
        workdir.rmdir()
