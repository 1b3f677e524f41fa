"""`patches` end to end: the real CLI plans, applies and verifies a tree whose legacy history is fixed by decisions.

The legacy tree has a syntax error (a column named `order`, a reserved word: PostgreSQL rejects it) and a statement
that needs an extension production never had; the mapping patches the one and drops the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clitools import REPO, run
from tests.test_patches import EVENTS

INIT = EVENTS  # the same legacy file as the pure tests: a reserved word as a column name
QUEUE = """\
CREATE TABLE jobs (id bigint PRIMARY KEY);
-- the queue
CREATE EXTENSION IF NOT EXISTS pgmq;
INSERT INTO users VALUES (1, 'first');
"""
MAPPING = """\
version: 1
root: legacy
output: build/migrations
sources: [db]
migrations:
  - {version: 1, name: init, sources: [db/001_init.sql]}
  - {version: 2, name: queue, sources: [db/002_queue.sql]}
patches:
  - file: db/001_init.sql
    line: 5
    sql: |
      CREATE TABLE events (
          id bigint PRIMARY KEY,
          "order" int
      );
    reason: order is a reserved word, a syntax error on PostgreSQL
  - file: db/002_queue.sql
    line: 3
    drop: true
    reason: production never had pgmq
"""
VERSION_1 = Path("build/migrations/versions/001_init.sql")
VERIFICATION = Path("build/migrations/verification.json")
PATCHED = "patched legacy/db/001_init.sql:5 — order is a reserved word, a syntax error on PostgreSQL"
DROPPED = "dropped legacy/db/002_queue.sql:3 — production never had pgmq"


@pytest.fixture
def case(tmp_path: Path) -> Path:
    (tmp_path / "legacy/db").mkdir(parents=True)
    (tmp_path / "legacy/db/001_init.sql").write_text(INIT)
    (tmp_path / "legacy/db/002_queue.sql").write_text(QUEUE)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    return tmp_path


def consolidate(case: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "consolidate", *args]
    return subprocess.run(command, cwd=case, env=env, capture_output=True, text=True, timeout=300)


def test_postgresql_rejects_the_legacy_statement_the_patch_replaces(service_url: str) -> None:
    import psycopg

    with psycopg.connect(service_url, autocommit=True) as connection, pytest.raises(psycopg.errors.SyntaxError):
        connection.execute("CREATE TEMPORARY TABLE events (id bigint PRIMARY KEY, order int)")


def test_a_history_fixed_by_decisions_is_planned_applied_and_proven_by_the_real_cli(
    case: Path, service_url: str
) -> None:
    planned = consolidate(case, "plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "patched  legacy/db/001_init.sql:5" in planned.stdout
    assert "dropped  legacy/db/002_queue.sql:3" in planned.stdout
    applied = consolidate(case, "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"-- consolidate: {PATCHED}\nCREATE TABLE events (" in (case / VERSION_1).read_text()
    assert (case / "legacy/db/001_init.sql").read_text() == INIT  # the legacy files stay as they were
    verified = consolidate(case, "verify", "--database-url", service_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "legacy replay: clean" in verified.stdout
    assert f"expected difference (decision in the mapping): {PATCHED}" in verified.stdout
    assert verified.stdout.startswith("PROVEN\n")  # the verdict comes first
    document = json.loads((case / VERIFICATION).read_text())
    assert document["proven"] is True
    assert document["expected_differences"] == [PATCHED, DROPPED]


def test_without_the_decisions_the_same_tree_cannot_be_applied(case: Path) -> None:
    (case / "mapping.yaml").write_text(MAPPING.split("patches:")[0])
    applied = run("apply", cwd=case)
    assert applied.exit_code == 1
    assert 'legacy/db/001_init.sql:7:5: error: syntax error at or near "order"' in applied.output


def test_the_replay_shows_a_failure_after_a_longer_replacement_at_its_legacy_line(case: Path, service_url: str) -> None:
    (case / "legacy/db/001_init.sql").write_text(INIT + "INSERT INTO events VALUES ('not a number');\n")
    assert run("apply", "--force", cwd=case).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 1
    assert "legacy/db/001_init.sql:10:28: error: 22P02" in result.output


def test_a_changed_decision_makes_the_tree_out_of_date(case: Path) -> None:
    assert run("apply", cwd=case).exit_code == 0
    mapping = case / "mapping.yaml"
    mapping.write_text(MAPPING.replace("production never had pgmq", "pgmq is not in production"))
    checked = run("apply", "--check", cwd=case)
    assert checked.exit_code == 1
    assert "consolidation.lock (changed)" in checked.output
    assert "versions/002_queue.sql (changed)" in checked.output


def test_a_decision_on_no_statement_start_is_exit_2_at_the_mapping_line_naming_the_legacy_line(case: Path) -> None:
    (case / "mapping.yaml").write_text(MAPPING.replace("    line: 3\n", "    line: 2\n"))
    result = run("plan", cwd=case)
    assert result.exit_code == 2
    assert result.output.startswith(
        "mapping.yaml:17: error: no statement starts at legacy/db/002_queue.sql:2\n"
        "  hint: statements start at lines 1 and 3 nearby"
    )
