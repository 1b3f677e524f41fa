"""`consolidate init` drafts a mapping its own `plan` accepts, on the layouts real trees use, or says what remains.

Each tree here is a small legacy tree written for the test, shaped like one tool's layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from consolidate.core.draft import draft
from consolidate.core.exclusions import bootstrap_reason
from consolidate.core.scan import scan
from consolidate.model import RawFile
from tests.clitools import run, snapshot
from tests.test_fixtures_replay import scratch_database

DIESEL = {
    "migrations/00000000000000_diesel_initial_setup/up.sql": "CREATE FUNCTION touch() RETURNS int "
    "LANGUAGE sql AS 'SELECT 1';\n",
    "migrations/00000000000000_diesel_initial_setup/down.sql": "DROP FUNCTION touch();\n",
    "migrations/20150101000000_create_users/up.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
    "migrations/20150101000000_create_users/down.sql": "DROP TABLE users;\n",
    "migrations/2017-08-31-230457_create_posts/up.sql": "CREATE TABLE posts (id int, user_id int REFERENCES users);\n",
    "migrations/2017-08-31-230457_create_posts/down.sql": "DROP TABLE posts;\n",
    "migrations/2025-11-19-091444-0000_add_posts_title/up.sql": "ALTER TABLE posts ADD COLUMN title text;\n",
    "migrations/2025-11-19-091444-0000_add_posts_title/down.sql": "ALTER TABLE posts DROP COLUMN title;\n",
}
GOLANG = {
    "db/migrations/000001_create_events.up.sql": "CREATE TABLE events (id bigint PRIMARY KEY, at bigint);\n",
    "db/migrations/000001_create_events.down.sql": "DROP TABLE events;\n",
    "db/migrations/000002_stamp_events.up.sql": "UPDATE events SET at = (SELECT max(version) "
    "FROM schema_migrations);\n",
    "db/migrations/000002_stamp_events.down.sql": "UPDATE events SET at = NULL;\n",
}
HAND_GROWN = {
    "deploy/setup_db.sql": "-- run once as postgres\nCREATE DATABASE shop;\nCREATE USER shop_app WITH PASSWORD 'x';\n"
    "GRANT ALL PRIVILEGES ON DATABASE shop TO shop_app;\n\\c shop\nCREATE EXTENSION IF NOT EXISTS pgcrypto;\n",
    "deploy/dump/current.sql": "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n"
    "CREATE TABLE public.orders (id integer NOT NULL);\n",
    "src/orders/migrations/001_orders.sql": "CREATE TABLE orders (id int PRIMARY KEY);\n",
    "src/orders/migrations/002_order_lines.sql": "CREATE TABLE order_lines (order_id int REFERENCES orders);\n",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def drafted(tmp_path: Path, files: dict[str, str]) -> dict[str, Any]:
    """init in a folder holding the tree; the mapping it wrote, as data."""
    result = run("init", cwd=write_tree(tmp_path, files))
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = yaml.safe_load((tmp_path / "mapping.yaml").read_text())
    return document


def reasons(document: dict[str, Any]) -> dict[str, str]:
    return {entry["path"]: entry["reason"] for entry in document.get("exclude", [])}


def scanned(files: dict[str, str]) -> Any:
    return scan(tuple(RawFile(path, text.encode()) for path, text in sorted(files.items())))


# --- diesel: one folder per migration -----------------------------------------------------------------------


def test_a_folder_of_migration_folders_is_one_source(tmp_path: Path) -> None:
    assert drafted(tmp_path, DIESEL)["sources"] == ["migrations"]


def test_migration_folders_at_the_root_are_the_root_itself(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "migrations", {k.removeprefix("migrations/"): v for k, v in DIESEL.items()})
    assert run("init", "--root", str(root), "--mapping", str(tmp_path / "mapping.yaml")).exit_code == 0
    assert yaml.safe_load((tmp_path / "mapping.yaml").read_text())["sources"] == ["."]


def test_diesel_names_read_as_the_feature_and_follow_diesel_order(tmp_path: Path) -> None:
    document = drafted(tmp_path, DIESEL)
    assert [target["name"] for target in document["migrations"]] == [
        "diesel_initial_setup",
        "create_users",
        "create_posts",
        "add_posts_title",
    ]


def test_a_loose_file_beside_migration_folders_is_an_exclusion_since_the_tool_never_runs_it(tmp_path: Path) -> None:
    document = drafted(tmp_path, DIESEL | {"migrations/backfill_posts.sql": "UPDATE posts SET title = '';\n"})
    assert reasons(document)["migrations/backfill_posts.sql"].startswith("a loose file beside per-migration folders")


def test_init_on_a_diesel_tree_says_the_plan_on_its_draft_is_clean(tmp_path: Path) -> None:
    result = run("init", cwd=write_tree(tmp_path, DIESEL))
    assert result.exit_code == 0 and "plan on the draft: clean" in result.stdout
    assert run("plan", cwd=tmp_path).exit_code == 0


def test_two_files_of_one_feature_in_one_folder_stay_two_targets_in_the_folder_order(tmp_path: Path) -> None:
    files = {
        "db/014_templates.sql": "CREATE TABLE templates (id int);\n",
        "db/016_tenants.sql": "CREATE TABLE tenants (id int);\n",
        "db/017_templates.sql": "ALTER TABLE templates ADD COLUMN tenant_id int REFERENCES tenants;\n",
    }
    document = drafted(tmp_path, files)
    assert [target["name"] for target in document["migrations"]] == ["templates", "tenants", "templates_2"]
    assert run("plan", cwd=tmp_path).exit_code == 0


def test_target_names_stay_unique_when_a_feature_is_named_like_a_second_target() -> None:
    files = {f"db/{n:03d}_{name}.sql": "SELECT 1;\n" for n, name in enumerate(["t", "t_2", "t"], start=1)}
    names = [target["name"] for target in yaml.safe_load(draft(scanned(files), ".", ["db"]).mapping)["migrations"]]
    assert names == ["t", "t_2", "t_3"]


# --- release folders with a manifest (Temporal's schema tool) ----------------------------------------------

RELEASES = {
    "database.sql": "CREATE DATABASE orders;\n",
    "schema.sql": "CREATE TABLE orders (id int, note text);\n",
    "versioned/v1.0/schema.sql": "CREATE TABLE orders (id int);\n",
    "versioned/v1.0/manifest.json": '{"CurrVersion": "1.0", "SchemaUpdateCqlFiles": ["schema.sql"]}',
    "versioned/v1.2/add_note.sql": "ALTER TABLE orders ADD COLUMN note text;\n",
    "versioned/v1.2/manifest.json": '{"SchemaUpdateCqlFiles": ["add_note.sql"]}',
    "versioned/v1.10/index_note.sql": "CREATE INDEX orders_note ON orders (note);\n",
    "versioned/v1.10/comment_note.sql": "COMMENT ON INDEX orders_note IS 'by note';\n",
    "versioned/v1.10/manifest.json": '{"SchemaUpdateCqlFiles": ["index_note.sql", "comment_note.sql"]}',
    "versioned/v1.11/add_note_again.sql": "ALTER TABLE orders ADD COLUMN note text;\n",
    "versioned/v1.11/manifest.json": '{"SchemaUpdateCqlFiles": [], "AllowNoCqlFiles": true}',
}


def test_release_folders_run_in_version_order_and_in_their_manifest_order(tmp_path: Path) -> None:
    document = drafted(tmp_path, RELEASES)
    assert [target["sources"] for target in document["migrations"]] == [
        ["versioned/v1.0/schema.sql"],
        ["versioned/v1.2/add_note.sql"],
        ["versioned/v1.10/index_note.sql"],
        ["versioned/v1.10/comment_note.sql"],
    ]


def test_a_file_its_release_manifest_does_not_list_is_an_exclusion(tmp_path: Path) -> None:
    excluded = reasons(drafted(tmp_path, RELEASES))
    assert "never runs it" in excluded["versioned/v1.11/add_note_again.sql"]
    assert list(excluded) == ["versioned/v1.11/add_note_again.sql", "database.sql", "schema.sql"]


def test_the_release_folder_draft_plans_clean(tmp_path: Path) -> None:
    result = run("init", cwd=write_tree(tmp_path, RELEASES))
    assert "plan on the draft: clean" in result.stdout, result.output


# --- golang-migrate, and the tools' history tables -----------------------------------------------------------


def test_a_history_table_the_sql_uses_is_provided_and_created_in_the_prelude(tmp_path: Path) -> None:
    document = drafted(tmp_path, GOLANG)
    assert document["provided"] == ["table schema_migrations"] and document["prelude"] == "prelude.sql"
    prelude = (tmp_path / "prelude.sql").read_text()
    assert "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);" in prelude
    assert [target["name"] for target in document["migrations"]] == ["create_events", "stamp_events"]


def test_the_golang_migrate_draft_plans_clean(tmp_path: Path) -> None:
    result = run("init", cwd=write_tree(tmp_path, GOLANG))
    assert "plan on the draft: clean" in result.stdout, result.output
    assert run("plan", cwd=tmp_path).exit_code == 0


def test_the_drafted_prelude_lets_the_legacy_sql_run_on_postgresql(tmp_path: Path, service_url: str) -> None:
    drafted(tmp_path, GOLANG)
    with scratch_database() as conn:
        conn.execute((tmp_path / "prelude.sql").read_text())
        for name in ("000001_create_events.up.sql", "000002_stamp_events.up.sql"):
            conn.execute((tmp_path / "db/migrations" / name).read_text())


@pytest.mark.parametrize(
    ("use", "table", "columns"),
    [
        ("SELECT run_on FROM __diesel_schema_migrations;", "__diesel_schema_migrations", "run_on timestamp"),
        ("SELECT script FROM flyway_schema_history;", "flyway_schema_history", "installed_rank integer NOT NULL"),
        ("-- migrate:up\nSELECT version FROM schema_migrations;", "schema_migrations", "version varchar(128)"),
    ],
)
def test_each_tool_history_table_is_drafted_with_the_tool_columns(use: str, table: str, columns: str) -> None:
    result = draft(scanned({"db/20200101000000_read.sql": use}), ".", ["db"])
    assert f"- table {table}" in result.mapping and result.prelude is not None and columns in result.prelude


def test_a_history_table_a_migration_creates_or_only_drops_if_it_exists_is_not_declared() -> None:
    files = {
        "db/001_own.sql": "CREATE TABLE schema_migrations (version text);\n",
        "db/002_use.sql": "SELECT version FROM schema_migrations;\n-- flyway_schema_history in a comment\n",
        "db/003_drop.sql": "DROP TABLE IF EXISTS __diesel_schema_migrations;\n",
    }
    result = draft(scanned(files), ".", ["db"])
    assert result.prelude is None and "provided" not in yaml.safe_load(result.mapping)


# --- a hand-grown tree: bootstrap scripts and snapshots ------------------------------------------------------


def test_a_bootstrap_script_is_an_exclusion_naming_what_it_does(tmp_path: Path) -> None:
    reason = reasons(drafted(tmp_path, HAND_GROWN))["deploy/setup_db.sql"]
    assert reason.startswith("bootstrap script (CREATE DATABASE, CREATE USER, GRANT ON DATABASE, \\c)")


def test_a_bootstrap_script_reason_names_the_database_statements_left_out_with_it(tmp_path: Path) -> None:
    reason = reasons(drafted(tmp_path, HAND_GROWN))["deploy/setup_db.sql"]
    assert reason.endswith(
        "; it also runs CREATE EXTENSION IF NOT EXISTS pgcrypto: "
        "if the migrations need that, move it to a migration or the prelude"
    )


def test_a_pg_dump_is_an_exclusion(tmp_path: Path) -> None:
    assert reasons(drafted(tmp_path, HAND_GROWN))["deploy/dump/current.sql"].startswith("a pg_dump")


def test_the_hand_grown_draft_plans_clean(tmp_path: Path) -> None:
    result = run("init", cwd=write_tree(tmp_path, HAND_GROWN))
    assert "plan on the draft: clean" in result.stdout, result.output
    assert run("plan", cwd=tmp_path).exit_code == 0


def test_an_unnumbered_file_repeating_the_numbered_tables_is_a_snapshot() -> None:
    files = {
        "db/001_users.sql": "CREATE TABLE users (id int);\n",
        "db/002_posts.sql": "CREATE TABLE IF NOT EXISTS public.posts (id int);\n",
        "db/reference.sql": 'CREATE TABLE "users" (id int);\nCREATE TABLE posts (id int);\n',
        "db/events.sql": "CREATE TABLE users (id int);\nCREATE TABLE events (id int);\n",
    }
    document = yaml.safe_load(draft(scanned(files), ".", ["db"]).mapping)
    assert list(reasons(document)) == ["db/reference.sql"]


@pytest.mark.parametrize(
    "text",
    [
        "CREATE ROLE reader NOLOGIN;\nGRANT reader TO app;\nALTER ROLE app SET search_path = app;\n",
        "DROP DATABASE IF EXISTS shop;\nCREATE TABLE t (id int);\n",
        "\\connect shop\nCREATE TABLE t (id int);\n",
        "DO $$ BEGIN EXECUTE 'CREATE DATABASE shop'; END $$;\nCREATE TABLE t (id int);\n",
        "DO $$ BEGIN\n"
        "IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF;\nEND $$;\n",
    ],
)
def test_a_file_that_makes_its_database_or_acts_only_on_the_server_is_a_bootstrap_script(text: str) -> None:
    assert bootstrap_reason("setup.sql", text) is not None


def test_a_connect_line_inside_a_function_body_does_not_make_a_bootstrap_script() -> None:
    text = "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\n\\connect shop\n$$;\nCREATE ROLE r;\n"
    assert bootstrap_reason("001_x.sql", text) is None


@pytest.mark.parametrize(
    "text",
    [
        "CREATE ROLE reader NOLOGIN;\nCREATE TABLE reports (id int);\nGRANT SELECT ON reports TO reader;\n",
        "ALTER DATABASE current SET timezone TO 'UTC';\nCREATE TABLE t (id int);\n",
        'CREATE TABLE users (id int, role text, "group" text);\n',
    ],
)
def test_a_migration_that_also_touches_the_server_stays_a_migration(text: str) -> None:
    assert bootstrap_reason("001_x.sql", text) is None


def test_a_numbered_file_of_roles_only_stays_a_migration_the_tool_ran_in_its_sequence() -> None:
    roles = "CREATE ROLE reader NOLOGIN;\nGRANT reader TO app;\n"
    assert bootstrap_reason("20240101000000_roles.sql", roles, numbered=True) is None
    assert bootstrap_reason("000_create_db.sql", "CREATE DATABASE shop;\n", numbered=True) is not None


def test_a_down_file_paired_with_no_up_file_is_excluded_with_the_way_to_keep_it() -> None:
    files = {"db/versions/001_init.sql": "CREATE TABLE t (id int);\n", "db/down/001_init_down.sql": "DROP TABLE t;\n"}
    excluded = reasons(yaml.safe_load(draft(scanned(files), ".", ["db"]).mapping))
    assert "move it beside its up file" in excluded["db/down/001_init_down.sql"]


# --- what init says when errors remain -----------------------------------------------------------------------


def test_init_lists_the_first_remaining_errors_and_why_they_remain_and_exits_0(tmp_path: Path) -> None:
    files = {f"db/{n:03d}_use_{n}.sql": f"INSERT INTO missing_{n} VALUES (1);\n" for n in range(1, 13)}
    files["db/013_twice.sql"] = "CREATE TABLE twice (id int);\n"
    files["other/014_twice.sql"] = "CREATE TABLE twice (id text);\n"
    result = run("init", cwd=write_tree(tmp_path, files))
    assert result.exit_code == 0
    lines, errors = result.stdout.splitlines(), result.stderr.splitlines()
    assert lines[0] == "plan on the draft: 13 error(s) remain"
    assert errors[1] == "db/001_use_1.sql:1: error: table missing_1 is referenced but no mapped source creates it"
    assert "  and 3 more" in errors
    assert any(line.startswith("  plan.ordering (12): ") and "move one of the files" in line for line in lines)
    assert any(line.startswith("  plan.unresolved-conflict (1): ") and "resolution" in line for line in lines)


def test_init_says_a_legacy_syntax_error_remains_because_the_file_itself_fails(tmp_path: Path) -> None:
    result = run("init", cwd=write_tree(tmp_path, {"db/001_bad.sql": "CREATE TABLE t (id int,);\n"}))
    assert result.exit_code == 0
    assert 'db/001_bad.sql:1:24: error: syntax error at or near ")"' in result.stderr.splitlines()
    assert any(line.startswith("  sql (1): ") and "fails as it is" in line for line in result.stdout.splitlines())


def test_init_says_two_files_claiming_one_version_remain_for_the_team_to_renumber(tmp_path: Path) -> None:
    files = {"db/000001_a.up.sql": "CREATE TABLE a (id int);\n", "db/000001_b.up.sql": "CREATE TABLE b (id int);\n"}
    lines = run("init", cwd=write_tree(tmp_path, files)).stdout.splitlines()
    assert any(line.startswith("  scan.same-version (1): ") and "renumber one" in line for line in lines)


def test_init_never_overwrites_an_existing_prelude(tmp_path: Path) -> None:
    write_tree(tmp_path, GOLANG | {"prelude.sql": "-- mine\n"})
    before = snapshot(tmp_path)
    result = run("init", cwd=tmp_path)
    assert result.exit_code == 2 and "never overwrites" in result.stderr
    assert snapshot(tmp_path) == before


def test_the_drafted_output_is_never_a_legacy_source_folder_apply_would_refuse_or_overwrite_it() -> None:
    def output(root: str, sources: list[str]) -> str:
        return str(yaml.safe_load(draft(scanned({}), root, sources).mapping)["output"])

    assert output("legacy", ["db/migrations"]) == "deploy/migrations"
    assert output(".", ["deploy/migrations", "src/db"]) == "consolidated/migrations"
    assert output(".", ["deploy", "consolidated"]) == "build/consolidated/migrations"
