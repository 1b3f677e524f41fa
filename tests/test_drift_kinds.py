"""What changed in an applied file, named: line endings, BOM, whitespace or comments only, content, or its name.

Each test applies a version on a real PostgreSQL, changes its file the way people do, and reads status, verify,
`--json` or up's refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.core.comments import folded
from consolidate.db.server import Server, scratch_database
from consolidate.errors import ConsolidateError
from consolidate.runner import State, status, up, verify
from tests.clitools import run

BOM = b"\xef\xbb\xbf"
APPLIED = b"-- accounts\nCREATE TABLE a (id int, note text DEFAULT 'x  y');\n"


@pytest.fixture
def database(service_server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    with scratch_database(service_server, f"drift_{request.node.name}") as url:
        yield url


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "versions").mkdir()
    (tmp_path / "down").mkdir()
    return tmp_path


def applied(root: Path, url: str, data: bytes = APPLIED, name: str = "001_a") -> Path:
    path = root / "versions" / f"{name}.sql"
    path.write_bytes(data)
    up(root, url)
    return path


def state(root: Path, url: str) -> State:
    (entry,) = status(root, url).entries
    return entry.state


def test_a_bom_added_is_named_and_is_not_drift(root: Path, database: str) -> None:
    applied(root, database).write_bytes(BOM + APPLIED)
    report = verify(root, database)
    assert ([entry.state for entry in report.entries], report.clean) == ([State.BOM], True)


def test_a_bom_removed_is_named_too(root: Path, database: str) -> None:
    applied(root, database, BOM + APPLIED).write_bytes(APPLIED)
    assert state(root, database) is State.BOM


def test_a_bom_and_crlf_together_are_named_together(root: Path, database: str) -> None:
    # What an editor saving "UTF-8 with BOM, Windows line endings" does to a file.
    applied(root, database).write_bytes(BOM + APPLIED.replace(b"\n", b"\r\n"))
    assert state(root, database) is State.BOM_AND_LINE_ENDINGS


def test_a_whitespace_only_change_is_named_and_is_drift(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"int, note", b"int,\n    note"))
    report = verify(root, database)
    assert ([entry.state for entry in report.entries], report.clean) == ([State.WHITESPACE], False)


def test_a_comment_only_change_is_named_as_whitespace_or_comments(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"-- accounts", b"/* the accounts */ -- of users"))
    assert state(root, database) is State.WHITESPACE


def test_whitespace_inside_a_string_literal_is_content(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"'x  y'", b"'x y'"))
    assert state(root, database) is State.MISMATCH


def test_a_changed_statement_is_content(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"id int", b"id bigint"))
    assert state(root, database) is State.MISMATCH


def test_a_renamed_file_with_the_same_bytes_is_renamed_from_its_recorded_name(root: Path, database: str) -> None:
    applied(root, database).rename(root / "versions" / "001_accounts.sql")
    (entry,) = status(root, database).entries
    assert (entry.state, entry.name, entry.row.name if entry.row else None) == (State.RENAMED, "accounts", "a")
    assert "renamed from 001_a" in str(entry.diagnostic())


def test_up_refuses_a_whitespace_change_naming_its_kind(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"int, note", b"int,  note"))
    (root / "versions" / "002_b.sql").write_text("CREATE TABLE b (id int);\n")
    with pytest.raises(ConsolidateError) as refused:
        up(root, database)
    assert "whitespace or comments changed" in str(refused.value)


def test_up_refuses_a_rename_naming_both_names(root: Path, database: str) -> None:
    applied(root, database).rename(root / "versions" / "001_accounts.sql")
    with pytest.raises(ConsolidateError) as refused:
        up(root, database)
    assert "renamed from 001_a" in str(refused.value) and "001_accounts.sql" in str(refused.value)


def test_status_json_carries_the_kind_and_the_recorded_name(root: Path, database: str) -> None:
    applied(root, database).rename(root / "versions" / "001_accounts.sql")
    result = run("migrate", "status", "--json", "--dir", str(root), "--database-url", database)
    (entry,) = json.loads(result.stdout)["versions"]
    assert (result.exit_code, entry["state"], entry["recorded_name"]) == (1, "renamed", "a")


def test_status_text_names_the_kind(root: Path, database: str) -> None:
    applied(root, database).write_bytes(APPLIED.replace(b"-- accounts", b"-- the accounts"))
    result = run("migrate", "status", "--dir", str(root), "--database-url", database)
    assert result.exit_code == 1 and "whitespace or comments changed" in result.stdout


def test_a_row_of_an_older_runner_without_the_text_checksum_calls_a_comment_change_content(
    root: Path, database: str
) -> None:
    path = applied(root, database)
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("UPDATE _migrations SET text_checksum = NULL")
    path.write_bytes(APPLIED.replace(b"-- accounts", b"-- the accounts"))
    assert state(root, database) is State.MISMATCH


def test_folding_keeps_strings_and_quoted_identifiers_and_folds_function_bodies_as_code() -> None:
    body = "CREATE FUNCTION f() RETURNS int AS $$ BEGIN -- one\n  RETURN  1; END $$ LANGUAGE plpgsql;"
    assert folded(body) == folded(body.replace("-- one\n  RETURN  1", "RETURN 1"))
    assert folded("SELECT 'a  b'") != folded("SELECT 'a b'")
    assert folded('SELECT 1 AS "a  b"') != folded('SELECT 1 AS "a b"')
    assert folded("SELECT a b") != folded("SELECT ab")
