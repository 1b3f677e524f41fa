"""Sqitch projects: deploy/, revert/ and verify/ scripts under one change name, their order in sqitch.plan."""

from __future__ import annotations

from pathlib import Path

import yaml

from consolidate.core.draft import draft
from consolidate.core.naming import parse_name
from consolidate.core.scan import scan
from consolidate.core.sqitch import plan_changes
from consolidate.model import Direction, RawFile, Scheme
from tests.clitools import run

PLAN = """%syntax-version=1.0.0
%project=flipr

appschema 2024-01-01T00:00:00Z Marge <m@example.com> # App schema.
users [appschema] 2024-01-02T00:00:00Z Marge <m@example.com> # Users.
@v1.0 2024-01-03T00:00:00Z Marge <m@example.com> # Tag v1.0.
flips [appschema users] 2024-01-04T00:00:00Z Marge <m@example.com> # Flips.
users [users@v1.0] 2024-01-05T00:00:00Z Marge <m@example.com> # Reworked.
"""
SCRIPTS = {
    "deploy/appschema.sql": "-- Deploy flipr:appschema\nBEGIN;\nCREATE SCHEMA flipr;\nCOMMIT;\n",
    "deploy/users.sql": "BEGIN;\nCREATE TABLE flipr.users (nickname text PRIMARY KEY);\nCOMMIT;\n",
    "deploy/flips.sql": "BEGIN;\nCREATE TABLE flipr.flips (id int, nickname text REFERENCES flipr.users);\nCOMMIT;\n",
    "revert/appschema.sql": "BEGIN;\nDROP SCHEMA flipr;\nCOMMIT;\n",
    "revert/users.sql": "BEGIN;\nDROP TABLE flipr.users;\nCOMMIT;\n",
    "revert/flips.sql": "BEGIN;\nDROP TABLE flipr.flips;\nCOMMIT;\n",
    "verify/appschema.sql": "BEGIN;\nSELECT pg_catalog.has_schema_privilege('flipr', 'usage');\nROLLBACK;\n",
    "verify/users.sql": "BEGIN;\nSELECT nickname FROM flipr.users WHERE false;\nROLLBACK;\n",
    "verify/flips.sql": "BEGIN;\nSELECT id FROM flipr.flips WHERE false;\nROLLBACK;\n",
}


def test_the_plan_lists_changes_in_order_without_pragmas_tags_or_repeats() -> None:
    assert plan_changes(PLAN) == ["appschema", "users", "flips"]


def test_deploy_and_revert_scripts_are_an_up_and_a_down_of_one_change() -> None:
    up, down = parse_name("db/deploy/users.sql"), parse_name("db/revert/users.sql")
    assert (up.scheme, up.direction, down.scheme, down.direction) == (
        Scheme.SQITCH,
        Direction.UP,
        Scheme.SQITCH,
        Direction.DOWN,
    )
    assert parse_name("db/deploy/001_users.sql").scheme is Scheme.NUMBERED  # a numbered name says more


def test_a_revert_script_pairs_with_the_deploy_script_of_its_name() -> None:
    result = scan(RawFile(f"db/{path}", text.encode()) for path, text in SCRIPTS.items())
    assert result.down_of("db/deploy/users.sql") == "db/revert/users.sql"
    assert [finding.code for finding in result.findings] == []


def test_the_draft_follows_the_plan_and_excludes_the_verify_scripts() -> None:
    result = scan(RawFile(f"db/{path}", text.encode()) for path, text in SCRIPTS.items())
    document = yaml.safe_load(draft(result, ".", ["db"], sqitch_plans={"db": plan_changes(PLAN)}).mapping)
    assert [target["sources"] for target in document["migrations"]] == [
        ["db/deploy/appschema.sql"],
        ["db/deploy/users.sql"],
        ["db/deploy/flips.sql"],
    ]
    assert [entry["path"] for entry in document["exclude"]] == ["db/verify"]


def sqitch_project(root: Path) -> Path:
    for path, text in SCRIPTS.items():
        (root / "db" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "db" / path).write_text(text)
    (root / "db" / "sqitch.plan").write_text(PLAN)
    return root


def test_a_sqitch_project_is_drafted_planned_and_applied_with_its_reverts_as_rollbacks(tmp_path: Path) -> None:
    case = sqitch_project(tmp_path)
    assert run("init", cwd=case).exit_code == 0
    assert run("plan", cwd=case).exit_code == 0  # flips after users: the plan's order, not the alphabet's
    assert run("apply", cwd=case).exit_code == 0
    down = (case / "deploy" / "migrations" / "down" / "002_users_down.sql").read_text()
    assert "DROP TABLE flipr.users;" in down


def test_a_sqitch_project_is_proven_on_postgresql(tmp_path: Path, service_url: str) -> None:
    case = sqitch_project(tmp_path)
    assert run("init", cwd=case).exit_code == 0 and run("apply", cwd=case).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 0, result.output
