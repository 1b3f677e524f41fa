"""Promises the runner keeps under bad trees and odd databases (issue 12): never a version's effects without its
row, never another tool's history table touched, every argument error one line, every row its own facts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.errors import EXIT_USAGE, ConsolidateError
from consolidate.runner import down, up

pytestmark = pytest.mark.db


@pytest.fixture
def database(service_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    with scratch_database(service_server, f"promise_{request.node.name}") as url:
        yield url


def tree(root: Path, versions: dict[str, str], downs: dict[str, str] | None = None) -> Path:
    (root / "versions").mkdir(parents=True, exist_ok=True)
    (root / "down").mkdir(exist_ok=True)
    for name, text in versions.items():
        (root / "versions" / f"{name}.sql").write_text(text)
    for name, text in (downs or {}).items():
        (root / "down" / f"{name}_down.sql").write_text(text)
    return root


def query(url: str, text: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as connection:
        return list(connection.execute(text).fetchall())


def relation(url: str, name: str) -> bool:
    return bool(query(url, f"SELECT to_regclass('{name}') IS NOT NULL")[0][0])


def recorded(url: str) -> list[str]:
    if not relation(url, "_migrations"):
        return []
    return [str(row[0]) for row in query(url, "SELECT version FROM _migrations ORDER BY version")]


def refusal(call: object, *args: object, **kwargs: object) -> ConsolidateError:
    with pytest.raises(ConsolidateError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# --- a version's own transaction control ------------------------------------------------------------------------

OWN_COMMIT = "CREATE TABLE before_commit (a int);\nBEGIN;\nCREATE TABLE half (a int);\nCOMMIT;\nSELECT 1/0;\n"


def test_a_version_with_its_own_commit_is_refused_at_its_line_before_anything_runs(
    database: str, tmp_path: Path
) -> None:
    root = tree(tmp_path, {"001_first": "CREATE TABLE first (a int);", "002_own": OWN_COMMIT})
    error = refusal(up, root, database)
    assert error.exit_code == EXIT_USAGE
    (diagnostic,) = error.diagnostics
    assert (diagnostic.location.path, diagnostic.location.line) == (str(root / "versions" / "002_own.sql"), 2)
    assert diagnostic.code == "migrate.transaction-control"
    assert "BEGIN" in diagnostic.message and "without its row" in diagnostic.message
    # Nothing ran: neither the version before it, nor the half its COMMIT would have kept.
    assert not relation(database, "first") and not relation(database, "half") and recorded(database) == []


def test_a_dry_run_refuses_the_same_version(database: str, tmp_path: Path) -> None:
    root = tree(tmp_path, {"001_own": "START TRANSACTION;\nCREATE TABLE t (a int);\nEND;\n"})
    error = refusal(up, root, database, dry_run=True)
    assert [d.location.line for d in error.diagnostics] == [1]


def test_an_applied_version_with_its_own_commit_is_history_and_refuses_nothing(database: str, tmp_path: Path) -> None:
    # Versions a runner applied before the rule stay applied; only what would run is refused.
    root = tree(tmp_path, {"001_old": "CREATE TABLE old (a int);"})
    up(root, database)
    (root / "versions" / "001_old.sql").write_text("BEGIN;\nCREATE TABLE old (a int);\nCOMMIT;\n")
    tree(root, {"002_new": "CREATE TABLE new (a int);"})
    assert [item.version for item in up(root, database, allow_drift=True)] == ["002"]


def test_rollback_to_a_savepoint_stays_inside_the_version_and_is_applied(database: str, tmp_path: Path) -> None:
    text = "CREATE TABLE kept (a int);\nSAVEPOINT s;\nCREATE TABLE undone (a int);\nROLLBACK TO SAVEPOINT s;\n"
    root = tree(tmp_path, {"001_savepoint": text})
    up(root, database)
    assert relation(database, "kept") and not relation(database, "undone") and recorded(database) == ["001"]


def test_a_down_script_with_its_own_commit_is_refused_before_any_rollback_runs(database: str, tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {"001_a": "CREATE TABLE a (x int);", "002_b": "CREATE TABLE b (x int);"},
        {"001_a": "DROP TABLE a;", "002_b": "DROP TABLE b;\nCOMMIT;\n"},
    )
    up(root, database)
    error = refusal(down, root, database, steps=2)
    where = [(d.location.path, d.location.line) for d in error.diagnostics]
    assert where == [(str(root / "down" / "002_b_down.sql"), 2)]
    assert relation(database, "a") and relation(database, "b") and recorded(database) == ["001", "002"]


def test_verify_refuses_the_version_at_the_same_line_and_runs_none_of_it(service_server: Server) -> None:
    with scratch_database(service_server, "promise_verify_own_commit") as url:
        replayed = replay_files(url, [("versions/002_own.sql", OWN_COMMIT)], per_file_transaction=True)
        assert [(f.path, f.line, f.sqlstate) for f in replayed.failures] == [("versions/002_own.sql", 2, "")]
        assert not relation(url, "before_commit") and not relation(url, "half")


def test_a_legacy_file_with_its_own_commit_still_runs_as_psql_ran_it(service_server: Server) -> None:
    with scratch_database(service_server, "promise_legacy_own_commit") as url:
        replayed = replay_files(url, [("legacy/001.sql", OWN_COMMIT)], per_file_transaction=False)
        assert [(f.line, f.sqlstate) for f in replayed.failures] == [(5, "22012")]
        assert relation(url, "before_commit") and relation(url, "half")
