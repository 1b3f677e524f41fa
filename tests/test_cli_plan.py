"""`consolidate plan` and `consolidate init` as a user meets them: exit codes, messages with file:line, no writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.clitools import REPO, run, snapshot

MAPPING = """\
version: 1
root: legacy
output: out
sources:
  - db
  - other
migrations:
  - version: 1
    name: init
    sources:
      - db/001_init.sql
  - version: 2
    name: more
    sources:
      - db/002_more.sql
exclude:
  - path: other/setup.sql
    reason: bootstrap, run once by an administrator
"""

FILES = {
    "legacy/db/001_init.sql": "CREATE TABLE robots (id int PRIMARY KEY);\n",
    "legacy/db/002_more.sql": "CREATE TABLE jobs (id int, robot_id int REFERENCES robots (id));\n",
    "legacy/db/002_more_down.sql": "DROP TABLE jobs;\n",
    "legacy/other/setup.sql": "CREATE ROLE app;\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    return tmp_path


def plan_fails_with(project: Path, edit: Callable[[str], str], expected: str) -> None:
    """Edit the mapping, run plan: exit 2, the expected `file:line: error: message` on stderr, nothing written."""
    mapping = project / "mapping.yaml"
    mapping.write_text(edit(mapping.read_text()))
    before = snapshot(project)
    result = run("plan", "--mapping", str(mapping))
    assert result.exit_code == 2, result.output
    assert expected.replace("MAP", str(mapping)) in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(project) == before


def test_plan_of_the_shipped_fixtures_is_clean_and_exits_0() -> None:
    result = run("plan", "--mapping", "mapping.yaml", cwd=REPO)
    assert result.exit_code == 0, result.output
    assert "001      initial_schema" in result.stdout
    assert "011      robot_logs" in result.stdout
    assert "Plan is clean." in result.stdout


def test_plan_json_is_valid_and_has_the_documented_shape() -> None:
    result = run("plan", "--mapping", "mapping.yaml", "--json", cwd=REPO)
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["format"] == 1 and document["clean"] is True
    assert [t["label"] for t in document["targets"]][:2] == ["001_initial_schema", "002_job_queue"]
    assert set(document["summary"]) >= {"statements", "kept", "duplicates", "conflicts", "unresolved_conflicts"}
    assert document["summary"]["duplicates"] == len(document["duplicates"]) > 0
    assert document["conflicts"][0]["resolution"]["decision"] == "keep-first"
    assert document["errors"] == []


def test_a_small_tree_plans_clean(project: Path) -> None:
    result = run("plan", "--mapping", str(project / "mapping.yaml"))
    assert result.exit_code == 0, result.output
    assert "002_more_down.sql" in result.stdout


def test_a_plan_with_an_ordering_error_exits_1(project: Path) -> None:
    (project / "legacy/db/001_init.sql").write_text("CREATE INDEX ix ON jobs (id);\nCREATE TABLE robots (id int);\n")
    result = run("plan", "--mapping", str(project / "mapping.yaml"))
    assert result.exit_code == 1
    assert "legacy/db/001_init.sql:1" in result.stderr and "referenced before it is created" in result.stderr


def test_a_syntax_error_is_a_plan_error_with_file_line_and_postgresql_message(project: Path) -> None:
    (project / "legacy/db/002_more.sql").write_text("\n\nCREATE TABLE jobs (id int,, robot_id int);\n")
    result = run("plan", "--mapping", str(project / "mapping.yaml"), "--json")
    assert result.exit_code == 1
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["path"], error["line"], error["code"]) == ("legacy/db/002_more.sql", 3, "sql.syntax")
    assert 'syntax error at or near ","' in error["message"]


def plan_process(project: Path) -> subprocess.CompletedProcess[str]:
    """`consolidate plan` as a user runs it: a process of its own, importing this worktree's code."""
    command = [sys.executable, "-m", "consolidate", "plan", "--mapping", "mapping.yaml"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_plan_shows_lines_of_lone_cr_and_mixed_files_and_names_their_line_endings(project: Path) -> None:
    (project / "legacy/db/001_init.sql").write_bytes(
        b"CREATE TABLE robots (id int PRIMARY KEY);\rCREATE TABLE x (a int);\r\rCREATE TABLE y (id int,, b int);\r"
    )
    (project / "legacy/db/002_more.sql").write_bytes(
        b"CREATE TABLE jobs (id int);\r\nCREATE TABLE n (a int);\n\rCREATE TABLE o (id int,, b int);\n"
    )
    result = plan_process(project)
    assert result.returncode == 1, result.stderr
    shown = result.stderr.splitlines()
    assert 'legacy/db/001_init.sql:4:24: error: syntax error at or near ","' in shown
    assert 'legacy/db/002_more.sql:4:24: error: syntax error at or near ","' in shown
    assert "legacy/db/001_init.sql:1: info: file has classic Mac (CR) line endings; they are kept as they are" in shown
    mixed = (
        "legacy/db/002_more.sql:2: info: file has mixed (1 CRLF, 2 LF, 1 CR) line endings; they are kept as they are"
    )
    assert mixed in shown


def test_plan_names_every_psql_meta_command_at_its_own_line_with_its_fix(project: Path) -> None:
    (project / "legacy/db/002_more.sql").write_text(
        "\\restrict k1\n\\set ON_ERROR_STOP on\n"
        "CREATE TABLE jobs (id int, robot_id int REFERENCES robots (id));\n\\i 003_more.sql\n\\unrestrict k1\n"
    )
    result = plan_process(project)
    assert result.returncode == 1, result.stderr
    shown = " ".join(" ".join(line.split()) for line in result.stderr.splitlines())
    fixes = {
        1: "\\restrict; not SQL hint: pg_dump 17.6+ writes this security line",
        2: "\\set; not SQL hint: \\set defines a psql variable: write its value",
        4: "\\i; not SQL hint: \\i reads another file: list that file in the mapping",
        5: "\\unrestrict; not SQL hint: pg_dump 17.6+ writes this security line",
    }
    for line, fix in fixes.items():
        assert f"legacy/db/002_more.sql:{line}:1: error: psql meta-command {fix}" in shown, fix
    assert shown.count(": error: psql meta-command") == 4
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_key_exits_2_at_its_line(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("output: out\n", "output: out\ncolour: blue\n"), "MAP:4: error:")


def test_a_missing_required_key_exits_2(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("root: legacy\n", ""), "has no 'root'")


def test_versions_with_a_gap_exit_2_naming_the_missing_one(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("version: 2", "version: 3"), "2")


def test_a_repeated_version_exits_2_at_the_second_entry(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("  - version: 2", "  - version: 1"), "MAP:12: error:")


def test_a_bad_name_exits_2_at_its_line(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("name: more", "name: More-Stuff"), "MAP:13: error:")


def test_a_source_that_does_not_exist_exits_2_at_its_line(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("db/002_more.sql", "db/003_missing.sql"), "MAP:15: error:")


def test_a_source_listed_twice_exits_2_at_the_second_listing(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("db/002_more.sql", "db/001_init.sql"), "MAP:15: error:")


def test_a_source_with_dotdot_escaping_root_exits_2(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("db/002_more.sql", "../outside.sql"), "MAP:15: error:")


def test_an_absolute_source_exits_2(project: Path) -> None:
    plan_fails_with(project, lambda t: t.replace("db/002_more.sql", "/etc/passwd.sql"), "MAP:15: error:")


def test_a_symlink_pointing_outside_root_exits_2(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "evil.sql"
    outside.write_text("DROP TABLE robots;\n")
    (project / "legacy/db/003_evil.sql").symlink_to(outside)
    plan_fails_with(project, lambda t: t, "003_evil.sql")


def test_an_unmapped_legacy_file_exits_2_naming_it(project: Path) -> None:
    (project / "legacy/db/003_new.sql").write_text("CREATE TABLE extra (id int);\n")
    plan_fails_with(project, lambda t: t, "legacy/db/003_new.sql")


def test_an_exclude_without_reason_exits_2_at_its_line(project: Path) -> None:
    plan_fails_with(
        project, lambda t: t.replace("    reason: bootstrap, run once by an administrator\n", ""), "MAP:17: error:"
    )


def test_a_resolution_for_an_object_without_conflict_exits_2_at_its_line(project: Path) -> None:
    extra = "resolutions:\n  - object: table robots\n    decision: keep-first\n    reason: no conflict here\n"
    plan_fails_with(project, lambda t: t + extra, "MAP:20: error:")


def test_a_missing_mapping_file_exits_2_with_a_hint(tmp_path: Path) -> None:
    result = run("plan", "--mapping", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "mapping file not found" in result.stderr and "consolidate init" in result.stderr


def test_init_drafts_a_mapping_that_merges_same_named_features(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    for name in ("a/001_core.sql", "a/014_templates.sql", "b/017_templates.sql", "b/002_jobs.sql"):
        (legacy / name).parent.mkdir(parents=True, exist_ok=True)
        (legacy / name).write_text("SELECT 1;\n")
    result = run("init", "--root", str(legacy), "--mapping", str(tmp_path / "mapping.yaml"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "mapping.yaml").read_text()
    assert "root: legacy" in text
    planned = run("plan", "--mapping", str(tmp_path / "mapping.yaml"), "--json")
    targets = json.loads(planned.stdout)["targets"]
    assert [(t["name"], [s["path"] for s in t["sources"]]) for t in targets] == [
        ("core", ["a/001_core.sql"]),
        ("jobs", ["b/002_jobs.sql"]),
        ("templates", ["a/014_templates.sql", "b/017_templates.sql"]),
    ]


def test_init_leaves_sqlc_queries_and_schema_snapshots_out_with_a_reason(tmp_path: Path) -> None:
    files = {
        "db/migrations/001_users.sql": "CREATE TABLE users (id int);\n",
        "db/schema.sql": "CREATE TABLE users (id int);\n",
        "db/query.sql": "-- name: GetUser :one\nSELECT * FROM users WHERE id = $1;\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert run("init", cwd=tmp_path).exit_code == 0
    document = yaml.safe_load((tmp_path / "mapping.yaml").read_text())
    assert [target["sources"] for target in document["migrations"]] == [["db/migrations/001_users.sql"]]
    assert {entry["path"]: entry["reason"].split(" ")[0] for entry in document["exclude"]} == {
        "db/query.sql": "sqlc",
        "db/schema.sql": "a",
    }
    assert run("plan", cwd=tmp_path).exit_code == 0


def test_init_never_overwrites_an_existing_mapping(project: Path) -> None:
    before = snapshot(project)
    result = run("init", "--root", str(project / "legacy"), "--mapping", str(project / "mapping.yaml"))
    assert result.exit_code == 2
    assert "never overwrites" in result.stderr
    assert snapshot(project) == before


def test_statements_that_change_the_whole_server_are_a_warning_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_roles.sql").write_text(
        "CREATE TABLE role (id int);\n"
        "-- the application's login\n"
        "CREATE ROLE app LOGIN;\n"
        "CREATE USER MAPPING FOR app SERVER remote;\n"
        "ALTER SYSTEM SET work_mem = '64MB';\n"
    )
    assert run("init", cwd=tmp_path).exit_code == 0
    findings = json.loads(run("plan", "--json", cwd=tmp_path).stdout)["findings"]
    assert [(f["code"], f["line"], f["severity"]) for f in findings if f["code"] == "plan.server-wide"] == [
        ("plan.server-wide", 3, "warning"),
        ("plan.server-wide", 5, "warning"),
    ]


def test_a_do_block_that_creates_a_role_is_a_server_wide_warning_at_the_do_line(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_roles.sql").write_text(
        "CREATE TABLE t (id int);\n"
        "DO $$\nBEGIN\n  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN\n"
        "    CREATE ROLE app;\n  END IF;\nEND $$;\n"
        "GRANT SELECT ON t TO app;\n"
    )
    assert run("init", cwd=tmp_path).exit_code == 0
    findings = json.loads(run("plan", "--json", cwd=tmp_path).stdout)["findings"]
    found = [(f["line"], f["severity"], f["message"]) for f in findings if f["code"] == "plan.server-wide"]
    assert [(line, severity, message.split(" changes")[0]) for line, severity, message in found] == [
        (2, "warning", "CREATE ROLE in this DO block")
    ]


def test_an_accepted_ordering_error_leaves_the_plan_clean_and_is_listed_with_its_reason(project: Path) -> None:
    (project / "legacy/db/001_init.sql").write_text("CREATE TABLE robots (id int PRIMARY KEY);\nSELECT * FROM audit;\n")
    mapping = project / "mapping.yaml"
    mapping.write_text(
        mapping.read_text()
        + "accept:\n  - finding: plan.ordering\n    at: legacy/db/001_init.sql:2\n"
        + "    reason: audit is created by the DBA's setup script\n"
    )
    result = run("plan", "--mapping", str(mapping), "--json")
    document = json.loads(result.stdout)
    assert (result.exit_code, document["clean"], document["errors"]) == (0, True, [])
    assert [(item["code"], item["path"], item["line"]) for item in document["accepted"]] == [
        ("plan.ordering", "legacy/db/001_init.sql", 2)
    ]


def test_an_acceptance_that_covers_no_error_exits_2_at_its_line(project: Path) -> None:
    plan_fails_with(
        project,
        lambda text: text + "accept:\n  - {finding: plan.ordering, at: db/001_init.sql:1, reason: stale}\n",
        "MAP:20: error: accepts plan.ordering at legacy/db/001_init.sql:1, which this plan does not report as an error",
    )


def test_two_migrations_with_one_version_in_one_folder_make_the_plan_fail_until_accepted(project: Path) -> None:
    (project / "legacy/db/002_other.sql").write_text("CREATE TABLE other (id int);\n")
    mapping = project / "mapping.yaml"
    mapping.write_text(
        mapping.read_text().replace("      - db/002_more.sql\n", "      - db/002_more.sql\n      - db/002_other.sql\n")
    )
    failing = run("plan", "--mapping", str(mapping))
    assert failing.exit_code == 1 and "version 002 is also claimed by" in failing.stderr
    mapping.write_text(
        mapping.read_text()
        + "accept:\n  - {finding: scan.same-version, at: db/002_other.sql, reason: ran in path order}\n"
    )
    assert run("plan", "--mapping", str(mapping)).exit_code == 0
