"""The report is the proof's mirror, end to end: the real CLI applies and verifies, on the PostgreSQL service, a small
tree that fails, and CONSOLIDATION.md then states what verify found (issue 14, item 5).

The tree: version 1 inserts text into a bigint column (22P02), version 2 references a column that does not exist
(42703; its index and comment then fail as its consequences), version 3's legacy rollback forgets a table (wrong).
In the canonical replay version 1 rolls back whole, so version 2 fails on a missing table (a consequence).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consolidate import commands
from consolidate.render.tree import GeneratedDown
from tests.clitools import REPO

FILES = {
    "legacy/db/001_init.sql": "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n"
    "INSERT INTO users VALUES ('not a number', 'x');\n",
    "legacy/db/001_init_down.sql": "DROP TABLE users;\n",
    "legacy/db/002_orders.sql": "CREATE TABLE orders (id bigint PRIMARY KEY,\n"
    "    user_id bigint REFERENCES users (missing));\n"
    "CREATE INDEX orders_user ON orders (user_id);\n"
    "COMMENT ON TABLE orders IS 'orders';\n",
    "legacy/db/002_orders_down.sql": "DROP TABLE orders;\n",
    "legacy/db/003_tags.sql": "CREATE TABLE tags (id bigint PRIMARY KEY);\n"
    "CREATE TABLE labels (id bigint PRIMARY KEY);\n",
    "legacy/db/003_tags_down.sql": "DROP TABLE tags;\n",
    "mapping.yaml": """\
version: 1
root: legacy
output: out
sources: [db]
migrations:
  - {version: 1, name: init, sources: [db/001_init.sql]}
  - {version: 2, name: orders, sources: [db/002_orders.sql]}
  - {version: 3, name: tags, sources: [db/003_tags.sql]}
""",
}
REPORT = Path("out/CONSOLIDATION.md")
VERIFICATION = Path("out/verification.json")


@pytest.fixture
def case(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def consolidate(case: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "consolidate", *args]
    return subprocess.run(command, cwd=case, env=env, capture_output=True, text=True, timeout=300)


def verified(case: Path, url: str) -> str:
    """Apply, then verify (which fails, exit 1): the report as verify left it."""
    applied = consolidate(case, "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return verify(case, url)


def verify(case: Path, url: str) -> str:
    result = consolidate(case, "verify", "--database-url", url)
    assert result.returncode == 1, result.stdout + result.stderr
    return (case / REPORT).read_text()


def test_after_a_failed_verify_the_report_states_the_verdict_counts_and_root_causes(
    case: Path, service_url: str
) -> None:
    report = verified(case, service_url)
    assert "- **Status:** Consolidated, NOT PROVEN on PostgreSQL" in report
    assert "- Failing legacy statements: 4\n- Failing canonical statements: 4\n" in report
    assert "- Rollbacks: 0 verified, 1 wrong, 0 failing, 0 stub, 2 not proven\n" in report
    assert (
        '- `legacy/db/002_orders.sql:1` (legacy replay): 42703: column "missing" referenced in foreign key '
        "constraint does not exist — 2 consequences\n"
    ) in report
    bigint = "(legacy and canonical replays): 22P02: invalid input syntax for type bigint"
    assert f"- `legacy/db/001_init.sql:2:27` {bigint}" in report
    assert "records no proof" not in report
    assert (
        "- [ ] Rollback scripts for every migration: 3 of 3 carried from legacy, 0 stubs; the last proof found"
        in report
    )
    assert consolidate(case, "report", "--check").returncode == 0  # verify brought it up to date


def test_report_check_exits_1_once_verification_json_changed(case: Path, service_url: str) -> None:
    verified(case, service_url)
    document = json.loads((case / VERIFICATION).read_text())
    # A proof of the same files, with the same verdict and counts, recorded another day: still another proof.
    (case / VERIFICATION).write_text(json.dumps({**document, "date": "1999-12-31"}, indent=2))
    checked = consolidate(case, "report", "--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "out of date: out/CONSOLIDATION.md" in checked.stdout + checked.stderr
    assert consolidate(case, "apply", "--check").returncode == 1  # the lock records the report's checksum
    assert consolidate(case, "report").returncode == 0
    assert consolidate(case, "report", "--check").returncode == 0
    assert "(1999-12-31)" in (case / REPORT).read_text()


def test_a_generated_rollback_the_proof_found_failing_is_reported_not_ticked_nor_called_proven(
    case: Path, service_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert consolidate(case, "apply").returncode == 0
    up = (case / "out/versions/003_tags.sql").read_bytes()
    broken = GeneratedDown(hashlib.sha256(up).hexdigest(), "DROP TABLE no_such_table;")
    monkeypatch.chdir(case)  # the up script names the mapping as given: the same path keeps its checksum
    commands.apply(Path("mapping.yaml"), generated={"down/003_tags_down.sql": broken})
    report = verify(case, service_url)
    down = (case / "out/down/003_tags_down.sql").read_text()
    assert down.startswith("-- consolidate: generated") and "proven by" not in down
    assert "Unproven when written" in down
    assert "| generated; last proof: failing |" in report
    assert "- [ ] Rollback scripts for every migration: 2 of 3 carried from legacy, 0 stubs, 1 generated" in report
    assert "- `003_tags`: failing — " in report
