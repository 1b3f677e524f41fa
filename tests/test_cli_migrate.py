"""`consolidate migrate` as a user meets it: exit codes and messages (the runner's behaviour is in test_runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate.db.server import Server, scratch_database
from tests.clitools import copy_reference_case, run

TREE = "build/deploy/migrations"


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    copy_reference_case(tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    return tmp_path


def test_up_then_status_is_clean_and_exits_0(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        up = run("migrate", "up", "--dir", TREE, "--database-url", url, cwd=case)
        assert up.exit_code == 0, up.output
        assert "11 version(s) applied" in up.stdout
        status = run("migrate", "status", "--dir", TREE, "--database-url", url, cwd=case)
        assert status.exit_code == 0 and status.stdout.strip().endswith("clean")
        again = run("migrate", "up", "--dir", TREE, "--database-url", url, cwd=case)
        assert "nothing to apply" in again.stdout


def test_status_with_pending_versions_exits_1(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        assert run("migrate", "up", "--steps", "3", "--dir", TREE, "--database-url", url, cwd=case).exit_code == 0
        status = run("migrate", "status", "--dir", TREE, "--database-url", url, cwd=case)
        assert status.exit_code == 1 and "pending" in status.stdout


def test_down_over_a_stub_stops_before_anything_runs_with_exit_1(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        assert run("migrate", "up", "--dir", TREE, "--database-url", url, cwd=case).exit_code == 0
        result = run("migrate", "down", "--dir", TREE, "--database-url", url, cwd=case)
        assert result.exit_code == 1
        assert "011_robot_logs" in result.stderr and "stub" in result.stderr
        status = run("migrate", "status", "--dir", TREE, "--database-url", url, cwd=case)
        assert status.exit_code == 0  # nothing was rolled back


def test_no_database_url_exits_2_saying_how_to_give_one(case: Path) -> None:
    result = run("migrate", "status", "--dir", TREE, cwd=case)
    assert result.exit_code == 2 and "--database-url" in result.stderr


def test_the_runner_also_runs_as_python_m_consolidate_migrate(case: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "consolidate.migrate", "status", "--dir", TREE],
        cwd=case,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "--database-url" in result.stderr
