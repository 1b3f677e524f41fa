"""The one configuration (issue 17 #3): found from any subfolder, paths relative to it, flags override it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from consolidate.config import find_config, parse_config
from consolidate.db.server import Server, scratch_database
from tests.canonical_trees import exists, refusal, tree
from tests.clitools import copy_reference_case, run

CONFIG = """\
tree = "db/tree"
database-url-env = "APP_DATABASE_URL"
history-table = "app_history"
"""


@pytest.fixture
def no_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SUPABASE_DB_URL", "APP_DATABASE_URL", "CONSOLIDATE_HISTORY_TABLE"):
        monkeypatch.delenv(name, raising=False)


def test_consolidate_toml_is_found_from_a_subfolder_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "consolidate.toml").write_text(CONFIG)
    deeper = tmp_path / "src" / "app"
    deeper.mkdir(parents=True)
    found = find_config(deeper)
    assert found.path == tmp_path / "consolidate.toml"
    assert found.tree == tmp_path / "db" / "tree"
    assert (found.database_url_env, found.history_table) == ("APP_DATABASE_URL", "app_history")


def test_the_nearest_configuration_wins(tmp_path: Path) -> None:
    (tmp_path / "consolidate.toml").write_text('tree = "outer"\n')
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.consolidate]\ntree = "t"\n')
    assert find_config(tmp_path / "inner").tree == tmp_path / "inner" / "t"


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "consolidate.toml").write_text('mapping = "db/mapping.yaml"\n')
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(tmp_path / "inner").mapping == tmp_path / "db" / "mapping.yaml"


def test_an_unknown_key_is_an_error_at_its_line_listing_the_keys(tmp_path: Path) -> None:
    text = '[project]\nname = "x"\n\n[tool.consolidate]\ntree = "t"\ndatabase_url = "postgresql://x"\n'
    (problem,) = refusal(parse_config, text, tmp_path / "pyproject.toml").diagnostics
    assert (problem.location.path, problem.location.line) == (str(tmp_path / "pyproject.toml"), 6)
    assert "unknown key 'database_url'" in problem.message and "database-url-env" in problem.hint


def test_every_wrong_value_is_reported_at_once(tmp_path: Path) -> None:
    text = 'postgres = "15"\ndatabase-url-env = "not a name"\n'
    problems = refusal(parse_config, text, tmp_path / "consolidate.toml").diagnostics
    assert [(p.location.line, p.code) for p in problems] == [(1, "config.value"), (2, "config.value")]


def test_invalid_toml_is_an_error_at_its_line_and_column(tmp_path: Path) -> None:
    (problem,) = refusal(parse_config, 'tree = "a"\ntree "b"\n', tmp_path / "consolidate.toml").diagnostics
    assert problem.code == "config.syntax" and problem.location.line == 2


def test_a_malformed_configuration_stops_a_command_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "consolidate.toml").write_text("colour = 1\n")
    result = run("plan", cwd=tmp_path)
    assert result.exit_code == 2
    assert f"{tmp_path / 'consolidate.toml'}:1: error: unknown key 'colour'" in result.stderr


def test_plan_finds_the_mapping_from_a_subfolder(tmp_path: Path) -> None:
    copy_reference_case(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.consolidate]\nmapping = "mapping.yaml"\n')
    result = run("plan", cwd=tmp_path / "legacy_fixtures" / "deploy")
    assert result.exit_code == 0, result.stderr


def test_a_tree_applied_through_the_configuration_is_up_to_date_wherever_the_checkout_sits(tmp_path: Path) -> None:
    first = tmp_path / "first"
    copy_reference_case(first)
    (first / "consolidate.toml").write_text('mapping = "mapping.yaml"\n')
    assert run("apply", cwd=first / "legacy_fixtures").exit_code == 0
    second = tmp_path / "second"
    shutil.copytree(first, second)
    for where in (second, second / "legacy_fixtures"):
        result = run("apply", "--check", cwd=where)
        assert result.exit_code == 0, result.output


def test_migrate_runs_the_configured_tree_url_variable_and_history_table_from_a_subfolder(
    tmp_path: Path, service_server: Server, no_urls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "consolidate.toml").write_text(CONFIG)
    tree(tmp_path / "db" / "tree", {"001_people": "CREATE TABLE people (id int);"})
    (tmp_path / "src").mkdir()
    with scratch_database(service_server, "config") as url:
        monkeypatch.setenv("APP_DATABASE_URL", url)
        result = run("migrate", "up", cwd=tmp_path / "src")
        assert result.exit_code == 0, result.stderr
        assert exists(url, "people") and exists(url, "app_history") and not exists(url, "_migrations")


def test_a_flag_overrides_the_configuration(tmp_path: Path, no_urls: None) -> None:
    (tmp_path / "consolidate.toml").write_text(CONFIG)
    tree(tmp_path / "db" / "tree", {"001_people": "CREATE TABLE people (id int);"})
    result = run(
        "migrate", "up", "--dir", "elsewhere", "--database-url", "postgresql://nobody@127.0.0.1:1/x", cwd=tmp_path
    )
    assert result.exit_code == 2 and "elsewhere" in result.stderr


def test_without_the_configured_variable_the_message_names_it(tmp_path: Path, no_urls: None) -> None:
    (tmp_path / "consolidate.toml").write_text(CONFIG)
    result = run("migrate", "status", cwd=tmp_path)
    assert result.exit_code == 2 and "or set APP_DATABASE_URL" in result.stderr and "SUPABASE" not in result.stderr


def test_migrate_status_finds_the_tree_apply_wrote_without_dir(
    tmp_path: Path, service_server: Server, no_urls: None
) -> None:
    """`make demo` writes build/deploy/migrations: `migrate status` right after it looks there (issue 17 #2)."""
    copy_reference_case(tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    with scratch_database(service_server, "config") as url:
        result = run("migrate", "status", "--database-url", url, cwd=tmp_path)
    assert result.exit_code == 1, result.stderr  # every version pending
    assert "001_initial_schema" in result.stdout and "pending" in result.stdout


def test_a_malformed_configuration_under_json_prints_the_failure_document(tmp_path: Path) -> None:
    (tmp_path / "consolidate.toml").write_text("colour = 1\n")
    result = run("plan", "--json", cwd=tmp_path)
    assert result.exit_code == 2 and json.loads(result.stdout)["errors"][0]["code"] == "config.unknown-key"


def test_the_production_major_is_kept_with_where_it_is_set(tmp_path: Path) -> None:
    found = parse_config('tree = "t"\npostgres = 15\n', tmp_path / "consolidate.toml")
    assert found.postgres == 15 and found.postgres_location is not None and found.postgres_location.line == 2
