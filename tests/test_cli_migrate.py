"""`consolidate migrate` as a user meets it: exit codes and messages (the runner's behaviour is in test_runner)."""

from __future__ import annotations

import json
import re
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


def _legacy_database(case: Path, url: str) -> None:
    """A database built the old way: every mapped legacy source, in the mapping's order."""
    from consolidate.db.replay import replay_files
    from consolidate.pipeline import display_path, planned

    done = planned(case / "mapping.yaml")
    files = []
    for target in done.plan.mapping.targets:
        for source in target.sources:
            legacy = done.scan.file(source)
            assert legacy is not None
            files.append((display_path(done.plan.mapping, source), legacy.text))
    assert replay_files(url, files, per_file_transaction=False).clean


def test_baseline_with_check_schema_adopts_a_legacy_built_database(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "baseline") as url:
        _legacy_database(case, url)
        args = ("--dir", TREE, "--database-url", url)
        result = run("migrate", "baseline", "--version", "11", "--check-schema", *args, cwd=case)
        assert result.exit_code == 0, result.output
        assert "11 version(s) recorded" in result.stdout
        assert "nothing to apply" in run("migrate", "up", *args, cwd=case).stdout
        assert run("migrate", "status", *args, cwd=case).exit_code == 0


def test_baseline_refuses_a_drifted_database_and_records_nothing(case: Path, service_server: Server) -> None:
    import psycopg

    with scratch_database(service_server, "baseline") as url:
        _legacy_database(case, url)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("ALTER TABLE robots ADD COLUMN hand_added int")
        args = ("--dir", TREE, "--database-url", url)
        result = run("migrate", "baseline", "--version", "11", "--check-schema", *args, cwd=case)
        assert result.exit_code == 1
        assert "robots" in result.stderr and "nothing was recorded" in result.stderr
        status = run("migrate", "status", *args, cwd=case)
        assert status.exit_code == 1 and "pending" in status.stdout


def test_reset_rolls_everything_back_and_needs_yes_without_a_terminal(tmp_path: Path, service_server: Server) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "down").mkdir()
    for number, name in ((1, "a"), (2, "b")):
        (tmp_path / f"versions/00{number}_{name}.sql").write_text(f"CREATE TABLE {name} (id int);\n")
        (tmp_path / f"down/00{number}_{name}_down.sql").write_text(f"DROP TABLE {name};\n")
    with scratch_database(service_server, "reset") as url:
        args = ("--dir", str(tmp_path), "--database-url", url)
        assert run("migrate", "up", *args).exit_code == 0
        refused = run("migrate", "reset", *args)
        assert refused.exit_code == 2 and "--yes" in refused.stderr
        result = run("migrate", "reset", "--yes", *args)
        assert result.exit_code == 0 and "2 version(s) rolled back" in result.stdout
        status = run("migrate", "status", "--json", *args)
        assert '"state": "pending"' in status.stdout and '"applied"' not in status.stdout


def test_statement_timeout_is_passed_to_the_server(tmp_path: Path, service_server: Server) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions/001_slow.sql").write_text("SELECT pg_sleep(2);\n")
    with scratch_database(service_server, "timeout") as url:
        result = run("migrate", "up", "--dir", str(tmp_path), "--database-url", url, "--statement-timeout", "200ms")
        assert result.exit_code == 1
        assert "57014" in result.stderr  # query_canceled: statement timeout


def test_apply_writes_a_runner_that_runs_the_tree_it_sits_in(case: Path, service_server: Server) -> None:
    import os
    import subprocess
    import sys

    runner = case / TREE / "migrate.py"
    assert runner.is_file()
    with scratch_database(service_server, "runner") as url:
        env = {**os.environ, "DATABASE_URL": url}
        result = subprocess.run([sys.executable, str(runner), "up"], cwd=case, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "11 version(s) applied" in result.stdout


def test_the_full_cycle_on_a_tree_with_proven_rollbacks(case: Path, service_server: Server) -> None:
    """Issue 6's done-when: up applies the fixture tree, status shows 11 and exits 0, down --steps 2 then up
    work, verify passes — on a tree whose stubs `apply --generate-down` replaced with proven rollbacks."""
    generated = run("apply", "--generate-down", "--database-url", service_server.url, cwd=case)
    assert generated.exit_code == 0, generated.output
    with scratch_database(service_server, "cycle") as url:
        args = ("--dir", TREE, "--database-url", url)
        assert "11 version(s) applied" in run("migrate", "up", *args, cwd=case).stdout
        status = run("migrate", "status", "--json", *args, cwd=case)
        assert status.exit_code == 0 and status.stdout.count('"state": "applied"') == 11
        down = run("migrate", "down", "--steps", "2", *args, cwd=case)
        assert down.exit_code == 0, down.output
        assert "rolled back 011" in down.stdout and "rolled back 010" in down.stdout
        assert run("migrate", "status", *args, cwd=case).exit_code == 1  # two pending now
        assert "2 version(s) applied" in run("migrate", "up", *args, cwd=case).stdout
        assert run("migrate", "verify", *args, cwd=case).exit_code == 0


def test_status_shows_when_how_long_from_which_commit_and_by_whom(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        assert run("migrate", "up", "--steps", "1", "--dir", TREE, "--database-url", url, cwd=case).exit_code == 0
        text = run("migrate", "status", "--dir", TREE, "--database-url", url, cwd=case).stdout
        first = next(line for line in text.splitlines() if "001_" in line)
        assert re.search(r"applied — \d{4}-\d\d-\d\d \d\d:\d\d:\d\d.* \(\d+ ms, .*by postgres\)", first), first
        listed = json.loads(run("migrate", "status", "--json", "--dir", TREE, "--database-url", url, cwd=case).stdout)
        applied, pending = listed["versions"][0], listed["versions"][1]
        assert (applied["applied_by"], isinstance(applied["execution_time_ms"], int), pending["applied_at"]) == (
            "postgres",
            True,
            None,
        )


def test_each_applied_version_is_reported_as_it_completes(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        result = run("migrate", "up", "--steps", "2", "--dir", TREE, "--database-url", url, cwd=case)
    lines = result.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines[:2]] == ["applied 001_initial_schema", "applied 002_job_queue"], lines
    assert all(re.search(r"\(\d+ ms\)$", line) for line in lines[:2]) and lines[2] == "2 version(s) applied"


def test_up_over_an_edited_applied_version_exits_1_naming_it(case: Path, service_server: Server) -> None:
    with scratch_database(service_server, "cli") as url:
        assert run("migrate", "up", "--steps", "1", "--dir", TREE, "--database-url", url, cwd=case).exit_code == 0
        first = next((case / TREE / "versions").glob("001_*.sql"))
        first.write_text(first.read_text() + "\n-- edited after it ran\n")
        result = run("migrate", "up", "--dir", TREE, "--database-url", url, cwd=case)
        assert (result.exit_code, first.name in result.stderr, "nothing was applied" in result.stderr) == (1, 1, 1)


def test_embedded_runs_the_tree_on_a_throwaway_server(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions" / "001_a.sql").write_text("CREATE TABLE a (id int);\n")
    result = run("migrate", "up", "--embedded", "--dir", str(tmp_path))
    assert (result.exit_code, "throw-away" in result.stderr, "1 version(s) applied" in result.stdout) == (0, 1, 1)


def test_embedded_and_a_database_url_together_exit_2(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    result = run("migrate", "up", "--embedded", "--database-url", "postgresql://x@h/db", "--dir", str(tmp_path))
    assert result.exit_code == 2 and "exclude each other" in result.stderr
