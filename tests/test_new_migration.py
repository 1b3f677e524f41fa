"""`consolidate new NAME` (issue 17 #2): the next migration of the canonical tree and its rollback stub, numbered
and padded as the tree's, the team's own from then on."""

from __future__ import annotations

from pathlib import Path

from consolidate.core.next_version import clean_name, next_label
from consolidate.db.server import Server, scratch_database
from consolidate.layout import UpFile
from tests.canonical_trees import exists
from tests.clitools import consolidated, run, snapshot

OUTPUT = "deploy/migrations"


def tree(root: Path) -> Path:
    """A consolidated tree of two versions, numbered 001 and 002 (the mapping's width: 3)."""
    return consolidated(
        root,
        {
            "001_users.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
            "002_posts.sql": "CREATE TABLE posts (id int PRIMARY KEY);\n",
        },
    )


def test_new_writes_the_next_version_and_its_rollback_stub(tmp_path: Path) -> None:
    root = tree(tmp_path)
    result = run("new", "add_email", cwd=root)
    assert result.exit_code == 0, result.output
    assert (root / OUTPUT / "versions/003_add_email.sql").is_file()
    assert (root / OUTPUT / "down/003_add_email_down.sql").read_text().startswith("-- consolidate: stub")


def test_new_numbers_after_the_migrations_written_since_the_consolidation(tmp_path: Path) -> None:
    root = tree(tmp_path)
    run("new", "first", cwd=root)
    run("new", "second", cwd=root)
    assert (root / OUTPUT / "versions/004_second.sql").is_file()


def test_the_name_is_lower_case_with_underscores() -> None:
    assert clean_name("Add User-Email!") == "add_user_email"


def test_the_number_is_padded_like_the_trees_highest_version() -> None:
    files = [UpFile("0001_users.sql", "0001", "users"), UpFile("0009_posts.sql", "0009", "posts")]
    assert next_label(files, last_consolidated=9, width=3, name="x") == "0010_x"


def test_the_number_follows_the_consolidation_when_versions_are_missing() -> None:
    assert next_label([], last_consolidated=7, width=3, name="x") == "008_x"


def test_a_name_without_letters_or_digits_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path)
    before = snapshot(root / OUTPUT)
    result = run("new", "--", "-!-", cwd=root)
    assert result.exit_code == 2
    assert "error: the migration name" in result.stderr
    assert snapshot(root / OUTPUT) == before


def test_a_name_already_taken_exits_2_naming_the_migration_and_writes_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path)
    assert run("new", "add_email", cwd=root).exit_code == 0
    before = snapshot(root / OUTPUT)
    result = run("new", "Add Email", cwd=root)
    assert result.exit_code == 2 and "already named add_email: 003_add_email.sql" in result.stderr
    assert snapshot(root / OUTPUT) == before


def test_a_consolidated_versions_name_is_taken_too(tmp_path: Path) -> None:
    result = run("new", "posts", cwd=tree(tmp_path))
    assert result.exit_code == 2 and "already named posts: 002_posts.sql" in result.stderr


def test_new_never_overwrites_a_file_in_its_way(tmp_path: Path) -> None:
    root = tree(tmp_path)
    left = root / OUTPUT / "down/003_add_email_down.sql"
    left.write_text("DROP TABLE leftover;\n")
    result = run("new", "add_email", cwd=root)
    assert result.exit_code == 2 and "never overwrites" in result.stderr
    assert left.read_text() == "DROP TABLE leftover;\n"
    assert not (root / OUTPUT / "versions/003_add_email.sql").exists()


def test_new_without_a_tree_exits_2_saying_to_apply_first(tmp_path: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "001_users.sql").write_text("CREATE TABLE users (id int PRIMARY KEY);\n")
    run("init", cwd=tmp_path)
    result = run("new", "add_email", cwd=tmp_path)
    assert result.exit_code == 2 and "consolidate apply" in result.stderr


def test_apply_check_passes_with_a_new_migration_written(tmp_path: Path) -> None:
    root = tree(tmp_path)
    run("new", "add_email", cwd=root)
    (root / OUTPUT / "versions/003_add_email.sql").write_text("ALTER TABLE users ADD COLUMN email text;\n")
    (root / OUTPUT / "down/003_add_email_down.sql").write_text("ALTER TABLE users DROP COLUMN email;\n")
    result = run("apply", "--check", cwd=root)
    assert result.exit_code == 0, result.output


def test_migrate_up_runs_the_new_migration_and_down_rolls_it_back(tmp_path: Path, service_server: Server) -> None:
    root = tree(tmp_path)
    run("new", "add_tags", cwd=root)
    (root / OUTPUT / "versions/003_add_tags.sql").write_text("CREATE TABLE tags (id int PRIMARY KEY);\n")
    (root / OUTPUT / "down/003_add_tags_down.sql").write_text("DROP TABLE tags;\n")
    with scratch_database(service_server, "new") as url:
        up = run("migrate", "up", "--dir", OUTPUT, "--database-url", url, cwd=root)
        assert up.exit_code == 0, up.output
        assert exists(url, "tags")
        down = run("migrate", "down", "--dir", OUTPUT, "--database-url", url, cwd=root)
        assert down.exit_code == 0, down.output
        assert not exists(url, "tags")


def test_new_with_dir_numbers_a_tree_kept_without_its_mapping(tmp_path: Path) -> None:
    tree_only = tmp_path / "migrations"
    (tree_only / "versions").mkdir(parents=True)
    (tree_only / "versions/0041_orders.sql").write_text("CREATE TABLE orders (id int);\n")
    result = run("new", "add_total", "--dir", str(tree_only), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tree_only / "versions/0042_add_total.sql").is_file()
    assert (tree_only / "down/0042_add_total_down.sql").is_file()
