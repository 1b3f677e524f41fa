"""A version built from several legacy files resets what one file SET for its session before the next runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate.core.session import resets
from tests.clitools import run


@pytest.mark.parametrize(
    ("statement", "reset"),
    [
        ("SET search_path = app, public;", "RESET search_path;"),
        ("-- who owns what follows\nSET ROLE app_owner;", "RESET ROLE;"),
        ("set session authorization admin;", "RESET SESSION AUTHORIZATION;"),
        ("SET SESSION search_path TO app;", "RESET search_path;"),
        ("SET TIME ZONE 'UTC';", "RESET TIME ZONE;"),
        ("SELECT pg_catalog.set_config('search_path', '', false);", "RESET search_path;"),
        ('SET "app.tenant" = 7;', 'RESET "app.tenant";'),
    ],
)
def test_a_session_setting_is_undone_by_its_reset(statement: str, reset: str) -> None:
    assert resets([statement]) == (reset,)


@pytest.mark.parametrize(
    "statement",
    [
        "SET LOCAL statement_timeout = 0;",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;",
        "SET CONSTRAINTS ALL DEFERRED;",
        "SELECT set_config('search_path', 'app', true);",
        "UPDATE t SET a = 1;",
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN SET search_path = app; END $$ LANGUAGE plpgsql;",
    ],
)
def test_what_ends_with_its_transaction_or_is_no_setting_needs_no_reset(statement: str) -> None:
    assert resets([statement]) == ()


def two_files_one_version(root: Path) -> Path:
    folder = root / "db"
    folder.mkdir()
    (folder / "001_schema.sql").write_text(
        "CREATE SCHEMA app;\nSET search_path = app;\nCREATE TABLE app_things (id int);\n"
    )
    (folder / "002_people.sql").write_text("CREATE TABLE people (id int);\n")
    (root / "mapping.yaml").write_text(
        "version: 1\nroot: .\noutput: out\nsources: [db]\nmigrations:\n"
        "  - version: 1\n    name: start\n    sources: [db/001_schema.sql, db/002_people.sql]\n"
    )
    return root


def test_the_version_resets_the_first_files_search_path_before_the_second_file(tmp_path: Path) -> None:
    case = two_files_one_version(tmp_path)
    assert run("apply", cwd=case).exit_code == 0
    version = (case / "out" / "versions" / "001_start.sql").read_text()
    assert version.index("RESET search_path;") < version.index("CREATE TABLE people")


def test_the_merged_version_is_proven_equal_to_the_files_run_apart(tmp_path: Path, service_url: str) -> None:
    case = two_files_one_version(tmp_path)
    assert run("apply", cwd=case).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 0, result.output
