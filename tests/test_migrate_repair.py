"""`consolidate migrate repair` (issue 17 #2): an intended change to an applied version's file is recorded in
`_migrations` with who and why, and is drift no more — instead of `--allow-drift` on every run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.db.server import Server, scratch_database
from consolidate.errors import ConsolidateError
from consolidate.runner import State, status, up
from consolidate.runner.repair import repair
from tests.canonical_trees import refusal, tree
from tests.clitools import run

FIRST = "CREATE TABLE a (id int);\n"
SECOND = "CREATE TABLE b (id int);\n"


@pytest.fixture
def database(service_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    with scratch_database(service_server, f"repair_{request.node.name}") as url:
        yield url


@pytest.fixture
def root(tmp_path: Path, database: str) -> Path:
    """Two versions applied, then both files edited: a comment added to each."""
    folder = tree(tmp_path, {"001_a": FIRST, "002_b": SECOND})
    up(folder, database)
    for name, text in (("001_a", FIRST), ("002_b", SECOND)):
        (folder / "versions" / f"{name}.sql").write_text(f"-- fixed on purpose\n{text}")
    return folder


def recorded(url: str, version: str) -> tuple[str, str, str, bool]:
    """What the version's row says of its last repair: by whom, why, the checksum replaced, and whether dated."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT repaired_by, repair_reason, repaired_from, repaired_at IS NOT NULL FROM _migrations "
            "WHERE version = %s",
            [version],
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_repair_records_who_why_and_the_checksum_it_replaced(root: Path, database: str) -> None:
    before = {entry.version: entry.row.checksum for entry in status(root, database).entries if entry.row}
    repair(root, database, "comment added")
    who, why, replaced, dated = recorded(database, "001")
    assert who.startswith("postgres") and why == "comment added" and replaced == before["001"] and dated


def test_status_is_clean_after_a_repair(root: Path, database: str) -> None:
    assert not status(root, database).clean
    repair(root, database, "comment added")
    report = status(root, database)
    assert report.clean and {entry.state for entry in report.entries} == {State.APPLIED}


def test_up_no_longer_refuses_a_repaired_version(root: Path, database: str) -> None:
    refusal(up, root, database)
    repair(root, database, "comment added")
    (root / "versions" / "003_c.sql").write_text("CREATE TABLE c (id int);\n")
    assert [item.version for item in up(root, database)] == ["003"]


def test_repair_of_one_version_leaves_the_others_drifted(root: Path, database: str) -> None:
    repaired = repair(root, database, "comment added", version="2")
    assert [item.version for item in repaired] == ["002"]
    states = {entry.version: entry.state for entry in status(root, database).entries}
    assert states == {"001": State.WHITESPACE, "002": State.APPLIED}


def test_repair_without_a_reason_is_refused_and_records_nothing(root: Path, database: str) -> None:
    error = refusal(repair, root, database, "  ")
    assert error.exit_code == 2 and "reason" in str(error)
    assert not status(root, database).clean


def test_repair_of_a_pending_version_is_refused(tmp_path: Path, database: str) -> None:
    folder = tree(tmp_path, {"001_a": FIRST})
    with pytest.raises(ConsolidateError) as caught:
        repair(folder, database, "why", version="1")
    assert caught.value.exit_code == 2 and "not applied" in str(caught.value)


def test_repair_with_nothing_changed_repairs_nothing(tmp_path: Path, database: str) -> None:
    folder = tree(tmp_path, {"001_a": FIRST})
    up(folder, database)
    assert repair(folder, database, "nothing really") == []


def test_the_cli_says_what_it_repaired_and_status_shows_the_repair(root: Path, database: str) -> None:
    result = run("migrate", "repair", "--dir", str(root), "--database-url", database, "--reason", "comment added")
    assert result.exit_code == 0, result.output
    assert "repaired 001_a" in result.stdout and "2 version(s) repaired" in result.stdout
    status_run = run("migrate", "status", "--dir", str(root), "--database-url", database)
    assert status_run.exit_code == 0 and "comment added" in status_run.stdout


def test_repair_of_a_renamed_file_records_its_new_name(tmp_path: Path, database: str) -> None:
    folder = tree(tmp_path, {"001_a": FIRST})
    up(folder, database)
    (folder / "versions" / "001_a.sql").rename(folder / "versions" / "001_accounts.sql")
    assert [entry.state for entry in status(folder, database).entries] == [State.RENAMED]
    repair(folder, database, "named for what it creates")
    (entry,) = status(folder, database).entries
    assert entry.state is State.APPLIED and entry.row is not None and entry.row.name == "accounts"
