"""Reading the source folders from disk: real files, real symlinks, never outside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from consolidate.io.tree import read_sources


def write(path: Path, data: bytes = b"SELECT 1;\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def paths(root: Path, *sources: str) -> list[str]:
    return [raw.path for raw in read_sources(root, sources).files]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def test_every_sql_file_below_a_source_is_read_with_its_bytes(root: Path) -> None:
    write(root / "db/010_a.sql", b"CREATE TABLE a ();\r\n")
    write(root / "db/sub/deeper/020_b.sql", b"\xff\xfe")
    tree = read_sources(root, ["db"])
    assert [(raw.path, raw.data) for raw in tree.files] == [
        ("db/010_a.sql", b"CREATE TABLE a ();\r\n"),
        ("db/sub/deeper/020_b.sql", b"\xff\xfe"),
    ]
    assert (tree.missing, tree.escaping) == ((), ())


def test_files_come_out_sorted_by_path_across_sources(root: Path) -> None:
    for path in ["z/1.sql", "a/b/2.sql", "a/10.sql", "a/9.sql"]:
        write(root / path)
    assert paths(root, "z", "a") == ["a/10.sql", "a/9.sql", "a/b/2.sql", "z/1.sql"]


def test_the_sql_suffix_is_matched_in_any_case_and_other_files_are_ignored(root: Path) -> None:
    for name in ["a.sql", "b.SQL", "c.Sql", "notes.md", "d.sql.bak", "sql"]:
        write(root / "db" / name)
    assert paths(root, "db") == ["db/a.sql", "db/b.SQL", "db/c.Sql"]


def test_hidden_files_and_folders_are_skipped(root: Path) -> None:
    write(root / "db/.git/objects/x.sql")
    write(root / "db/.consolidate-tmp-1234/010_a.sql")
    write(root / "db/.hidden.sql")
    write(root / "db/010_a.sql")
    assert paths(root, "db") == ["db/010_a.sql"]


def test_a_source_written_with_dot_segments_or_a_trailing_slash_gives_clean_paths(root: Path) -> None:
    write(root / "db/010_a.sql")
    assert paths(root, "./db/") == ["db/010_a.sql"]


def test_a_source_that_does_not_exist_is_missing(root: Path) -> None:
    write(root / "db/010_a.sql")
    tree = read_sources(root, ["db", "nope"])
    assert (tree.missing, [raw.path for raw in tree.files]) == (("nope",), ["db/010_a.sql"])


def test_a_source_that_is_a_file_is_missing(root: Path) -> None:
    write(root / "db.sql")
    assert read_sources(root, ["db.sql"]).missing == ("db.sql",)


def test_a_source_listed_twice_yields_each_file_once(root: Path) -> None:
    write(root / "db/010_a.sql")
    assert paths(root, "db", "db", "db/") == ["db/010_a.sql"]


def test_a_source_nested_in_another_yields_each_file_once(root: Path) -> None:
    write(root / "db/010_a.sql")
    write(root / "db/old/020_b.sql")
    assert paths(root, "db/old", "db") == ["db/010_a.sql", "db/old/020_b.sql"]


def test_a_symlinked_file_outside_the_root_is_escaping_and_not_read(root: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.sql", b"SELECT 'secret';")
    write(root / "db/010_a.sql")
    (root / "db/020_b.sql").symlink_to(secret)
    tree = read_sources(root, ["db"])
    assert ([raw.path for raw in tree.files], tree.escaping) == (["db/010_a.sql"], ("db/020_b.sql",))


def test_a_symlinked_folder_outside_the_root_is_escaping_and_not_followed(root: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere/010_a.sql")
    (root / "db").mkdir()
    (root / "db/shared").symlink_to(tmp_path / "elsewhere")
    tree = read_sources(root, ["db"])
    assert (tree.files, tree.escaping) == ((), ("db/shared",))


def test_a_source_that_is_a_symlink_outside_the_root_is_escaping(root: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere/010_a.sql")
    (root / "db").symlink_to(tmp_path / "elsewhere")
    tree = read_sources(root, ["db"])
    assert (tree.files, tree.missing, tree.escaping) == ((), (), ("db",))


def test_a_source_written_outside_the_root_is_escaping(root: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere/010_a.sql")
    tree = read_sources(root, ["../elsewhere"])
    assert (tree.files, tree.escaping) == ((), ("../elsewhere",))


def test_a_symlink_inside_the_root_is_followed(root: Path) -> None:
    write(root / "shared/010_a.sql", b"CREATE TABLE a ();")
    (root / "db").mkdir()
    (root / "db/common").symlink_to(root / "shared")
    tree = read_sources(root, ["db"])
    assert [(raw.path, raw.data) for raw in tree.files] == [("db/common/010_a.sql", b"CREATE TABLE a ();")]


def test_a_file_reached_twice_through_symlinks_is_read_once_under_its_first_path(root: Path) -> None:
    write(root / "db/b_real/010_a.sql")
    (root / "db/a_link").symlink_to(root / "db/b_real")
    (root / "db/c_file.sql").symlink_to(root / "db/b_real/010_a.sql")
    assert paths(root, "db") == ["db/a_link/010_a.sql"]


def test_a_symlink_cycle_is_walked_once(root: Path) -> None:
    write(root / "db/sub/010_a.sql")
    (root / "db/sub/loop").symlink_to(root / "db")
    (root / "db/self").symlink_to(".")
    assert paths(root, "db") == ["db/sub/010_a.sql"]


def test_a_dangling_symlinked_sql_file_is_an_error(root: Path) -> None:
    (root / "db").mkdir()
    (root / "db/010_a.sql").symlink_to(root / "db/gone.sql")
    found = read_sources(root, ["db"]).unreadable
    assert [(d.code, d.location.path) for d in found] == [("tree.unreadable", "db/010_a.sql")]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_a_file_that_cannot_be_read_is_an_error_and_the_walk_goes_on(root: Path) -> None:
    write(root / "db/010_a.sql").chmod(0)
    write(root / "db/020_b.sql")
    tree = read_sources(root, ["db"])
    assert [(d.code, d.location.path) for d in tree.unreadable] == [("tree.unreadable", "db/010_a.sql")]
    assert [raw.path for raw in tree.files] == ["db/020_b.sql"]


def test_a_root_reached_through_a_symlink_reads_its_files(root: Path, tmp_path: Path) -> None:
    write(root / "db/010_a.sql")
    (tmp_path / "alias").symlink_to(root)
    assert paths(tmp_path / "alias", "db") == ["db/010_a.sql"]


def skipped(root: Path, *sources: str) -> dict[str, tuple[str, str]]:
    """Path → (severity, message) of every entry the walk reported instead of reading."""
    found = read_sources(root, sources).findings
    return {d.location.path: (d.severity.value, d.message) for d in found}


def unreadable(root: Path, *sources: str) -> dict[str, str]:
    return {d.location.path: d.message for d in read_sources(root, sources).unreadable}


def test_a_named_pipe_named_like_a_migration_is_an_error_and_never_opened(root: Path) -> None:
    write(root / "db/010_a.sql")
    os.mkfifo(root / "db/020_b.sql")  # opening it would block until a writer came: the test would hang
    assert unreadable(root, "db") == {"db/020_b.sql": "a named pipe, not a regular file: not read"}


def test_a_named_pipe_with_another_name_is_reported_and_not_read(root: Path) -> None:
    write(root / "db/010_a.sql")
    os.mkfifo(root / "db/feed")
    assert skipped(root, "db") == {"db/feed": ("warning", "a named pipe, not a regular file: not read")}


@pytest.mark.parametrize("name", ["020_b.sql", "sub"])
def test_a_dangling_symlink_is_an_error_that_names_its_target(root: Path, name: str) -> None:
    write(root / "db/010_a.sql")
    (root / "db" / name).symlink_to("gone.sql")
    assert unreadable(root, "db") == {f"db/{name}": "dangling symlink to gone.sql"}


def test_a_symlink_loop_is_an_error_called_a_loop(root: Path) -> None:
    write(root / "db/010_a.sql")
    (root / "db/020_b.sql").symlink_to("030_c.sql")
    (root / "db/030_c.sql").symlink_to("020_b.sql")
    found = unreadable(root, "db")
    assert set(found) == {"db/020_b.sql", "db/030_c.sql"}
    assert all(message.startswith("symlink loop") for message in found.values())


def test_a_folder_named_like_a_migration_is_walked_and_reported(root: Path) -> None:
    write(root / "db/010_a.sql/up.sql")
    assert paths(root, "db") == ["db/010_a.sql/up.sql"]
    assert skipped(root, "db")["db/010_a.sql"][0] == "warning"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        (".#010_a.sql", "lock file"),
        ("#010_a.sql#", "autosave"),
        (".010_a.sql.swp", "swap file"),
        ("010_a.sql~", "backup of 010_a.sql"),
        (".hidden.sql", "hidden file"),
    ],
)
def test_editor_files_and_hidden_sql_files_are_reported_and_not_read(root: Path, name: str, says: str) -> None:
    write(root / "db/010_a.sql")
    write(root / "db" / name)
    assert paths(root, "db") == ["db/010_a.sql"]
    severity, message = skipped(root, "db")[f"db/{name}"]
    assert severity == "warning" and says in message


def test_hidden_folders_and_other_files_are_skipped_without_a_word(root: Path) -> None:
    write(root / "db/.git/objects/x.sql")
    write(root / "db/notes.md")
    write(root / "db/.notes.md.swp")
    write(root / "db/010_a.sql")
    assert skipped(root, "db") == {}
