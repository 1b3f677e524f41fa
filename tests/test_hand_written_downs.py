"""Hand-written rollbacks are the user's (issue 17 #1): apply keeps them, --check passes with them, --force keeps a
copy of what it replaces, verify proves them; and a stub says truthfully what its up script does."""

from __future__ import annotations

import json
from pathlib import Path

from consolidate.core.changes import Change, Status
from consolidate.core.hand_written import backups, hand_written
from tests.clitools import consolidated, run

OUTPUT = "deploy/migrations"
DOWN = f"{OUTPUT}/down/002_add_name_down.sql"
ROLLBACK = "ALTER TABLE users DROP COLUMN name;\n"


def tree(root: Path) -> Path:
    """Two migrations without legacy down scripts: a table, then a column added to it."""
    return consolidated(
        root,
        {
            "001_users.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
            "002_add_name.sql": "ALTER TABLE users ADD COLUMN name text;\n",
        },
    )


def lock_entry(root: Path, path: str) -> dict[str, str]:
    lock = json.loads((root / OUTPUT / "consolidation.lock").read_text())
    return next(entry for entry in lock["outputs"] if f"{OUTPUT}/{entry['path']}" == path)


def test_a_stub_names_the_table_its_up_script_alters(tmp_path: Path) -> None:
    stub = (tree(tmp_path) / DOWN).read_text()
    assert "table users (alter)" in stub
    assert "no schema objects" not in stub


def test_a_stub_says_to_restore_what_its_up_script_replaces_and_not_a_comment_on_what_it_creates(
    tmp_path: Path,
) -> None:
    function = "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT {} $$;\n"
    root = consolidated(
        tmp_path,
        {
            "001_answer.sql": function.format(1),
            "002_answer.sql": function.format(2)
            + "CREATE VIEW answers AS SELECT answer() AS a;\nCOMMENT ON VIEW answers IS 'one row';\n",
        },
    )
    stub = (root / OUTPUT / "down/002_answer_2_down.sql").read_text()
    creates, replaces = stub.split("replaces these objects an earlier version created")
    assert "view answers" in creates and "function answer()" not in creates
    assert "function answer()" in replaces and "(comment)" not in stub


def test_apply_keeps_a_hand_written_rollback_and_the_lock_marks_it_as_the_users(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text(ROLLBACK)
    result = run("apply", cwd=root)
    assert result.exit_code == 0, result.output
    assert (root / DOWN).read_text() == ROLLBACK
    assert lock_entry(root, DOWN)["by"] == "user"
    assert "hand-written" in result.output


def test_apply_check_passes_with_a_recorded_hand_written_rollback_and_says_it_is_the_users(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text(ROLLBACK)
    run("apply", cwd=root)
    result = run("apply", "--check", cwd=root)
    assert result.exit_code == 0, result.output
    assert f"kept {DOWN}: your hand-written rollback" in result.output


def test_apply_check_fails_on_a_hand_written_rollback_that_kept_the_stubs_first_line(tmp_path: Path) -> None:
    root = tree(tmp_path)
    down = root / DOWN
    down.write_text(down.read_text().replace("DO $$", f"{ROLLBACK}-- DO $$"))
    run("apply", cwd=root)
    result = run("apply", "--check", cwd=root)
    assert result.exit_code == 1
    assert f"{DOWN}:1: error:" in result.output and "delete its first line" in result.output


def test_force_keeps_the_hand_written_rollback(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text(ROLLBACK)
    assert run("apply", "--force", cwd=root).exit_code == 0
    assert (root / DOWN).read_text() == ROLLBACK


def test_force_saves_a_copy_beside_a_file_edited_by_hand_before_replacing_it(tmp_path: Path) -> None:
    root = tree(tmp_path)
    up = root / OUTPUT / "versions/002_add_name.sql"
    edited = up.read_text() + "-- mine\n"
    up.write_text(edited)
    result = run("apply", "--force", cwd=root)
    assert result.exit_code == 0, result.output
    assert (root / f"{OUTPUT}/versions/002_add_name.sql.bak").read_text() == edited
    assert "002_add_name.sql.bak" in result.output
    assert "-- mine" not in up.read_text()


def test_a_copy_forced_aside_leaves_the_tree_up_to_date(tmp_path: Path) -> None:
    root = tree(tmp_path)
    up = root / OUTPUT / "versions/002_add_name.sql"
    up.write_text(up.read_text() + "-- mine\n")
    run("apply", "--force", cwd=root)
    assert run("apply", "--check", cwd=root).exit_code == 0
    assert run("report", "--check", cwd=root).exit_code == 0


def test_a_second_forced_copy_does_not_replace_the_first(tmp_path: Path) -> None:
    root = tree(tmp_path)
    up = root / OUTPUT / "versions/002_add_name.sql"
    original = up.read_text()
    for mark in ("-- first\n", "-- second\n"):
        up.write_text(original + mark)
        run("apply", "--force", cwd=root)
    assert (root / f"{OUTPUT}/versions/002_add_name.sql.bak").read_text() == original + "-- first\n"
    assert (root / f"{OUTPUT}/versions/002_add_name.sql.bak.2").read_text() == original + "-- second\n"


def rollback_of(root: Path, url: str, version: int) -> str:
    run("verify", "--database-url", url, cwd=root)
    versions = json.loads((root / OUTPUT / "verification.json").read_text())["versions"]
    return str(next(item["rollback"] for item in versions if item["version"] == version))


def test_verify_proves_a_hand_written_rollback(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text(ROLLBACK)
    run("apply", cwd=root)
    assert rollback_of(root, service_url, 2) == "verified"


def test_verify_finds_a_hand_written_rollback_that_does_not_undo_its_version(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text("SELECT 1;\n")
    run("apply", cwd=root)
    assert rollback_of(root, service_url, 2) not in ("verified", "stub")


def test_an_unlisted_down_file_without_the_tools_marker_is_the_users() -> None:
    rendered = {"down/001_a_down.sql": b"-- consolidate: stub\n", "down/002_b_down.sql": b"-- consolidate: stub\n"}
    current = {"down/001_a_down.sql": b"DROP TABLE a;\n", "down/002_b_down.sql": b"-- consolidate: legacy\nx\n"}
    assert hand_written(rendered, current, None, frozenset()) == {"down/001_a_down.sql": b"DROP TABLE a;\n"}


def test_a_backup_never_replaces_an_earlier_one_with_other_bytes() -> None:
    change = Change("versions/001_a.sql", Status.CHANGED, b"mine\n", b"ours\n")
    current = {"versions/001_a.sql": b"mine\n", "versions/001_a.sql.bak": b"older\n"}
    assert backups([change], current, None, frozenset()) == {"versions/001_a.sql": "versions/001_a.sql.bak.2"}


def test_a_stub_does_not_call_an_up_script_it_cannot_read_data_only(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "001_setup.sql").write_text("DO $$ BEGIN PERFORM pg_sleep(0); END $$;\n")
    run("init", cwd=tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    stub = (tmp_path / OUTPUT / "down/001_setup_down.sql").read_text()
    assert "statements it cannot read, at db/001_setup.sql:1" in stub
    assert "data or settings only" not in stub


def test_apply_check_before_apply_records_the_rollback_says_it_is_yours_and_to_apply(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / DOWN).write_text(ROLLBACK)
    result = run("apply", "--check", cwd=root)
    assert result.exit_code == 1
    assert f"kept {DOWN}: your hand-written rollback" in result.stderr
    assert "run `consolidate apply`" in result.stderr
    assert (root / DOWN).read_text() == ROLLBACK
