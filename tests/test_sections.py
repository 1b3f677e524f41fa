"""Files holding both directions (goose, sql-migrate, dbmate): the Up half is the migration, the Down half its
rollback, and neither runs the other's statements."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.scan import SECTION_DOWN, scan
from consolidate.core.sections import sections
from consolidate.model import Direction, RawFile
from tests.clitools import run

GOOSE = """-- a users table
-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END; $$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TABLE users (id int);

-- +goose Down
DROP TABLE users;
DROP FUNCTION f();
"""


def test_the_up_half_stops_before_the_down_marker() -> None:
    found = sections(GOOSE)
    assert found is not None
    assert (found.tool, found.up_line, found.down_line) == ("goose", 2, 8)
    assert "DROP" not in found.up and found.up.endswith("CREATE TABLE users (id int);\n")


def test_the_down_half_starts_at_its_marker() -> None:
    found = sections(GOOSE)
    assert found is not None and found.down == "-- +goose Down\nDROP TABLE users;\nDROP FUNCTION f();\n"


def test_a_down_section_before_the_up_section_leaves_the_up_lines_where_they_were() -> None:
    text = "-- +migrate Down\nDROP TABLE t;\n-- +migrate Up\nCREATE TABLE t (a int);\n"
    found = sections(text)
    assert found is not None and found.tool == "sql-migrate"
    assert found.up.splitlines() == ["", "", "-- +migrate Up", "CREATE TABLE t (a int);"]
    assert found.down == "-- +migrate Down\nDROP TABLE t;\n"


def test_dbmate_markers_and_its_transaction_option_are_read() -> None:
    found = sections("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n-- migrate:down\n")
    assert found is not None and (found.tool, found.no_transaction, found.down) == ("dbmate", True, "-- migrate:down\n")


def test_a_file_without_an_up_marker_is_an_ordinary_file() -> None:
    assert sections("-- +goose Down\nDROP TABLE t;\n") is None
    assert sections("-- a comment mentioning -- +goose Up in passing\nSELECT 1;\n") is None


def test_crlf_lines_stay_crlf_in_both_halves() -> None:
    found = sections("-- +goose Up\r\nCREATE TABLE t (a int);\r\n-- +goose Down\r\nDROP TABLE t;\r\n")
    assert found is not None
    assert (found.up, found.down) == (
        "-- +goose Up\r\nCREATE TABLE t (a int);\r\n",
        "-- +goose Down\r\nDROP TABLE t;\r\n",
    )


def test_lone_cr_lines_are_lines_the_markers_and_their_numbers_are_found() -> None:
    found = sections("-- users\r-- +goose Up\rCREATE TABLE t (a int);\r-- +goose Down\rDROP TABLE t;\r")
    assert found is not None
    assert (found.up_line, found.down_line, found.down) == (2, 4, "-- +goose Down\rDROP TABLE t;\r")
    assert found.up == "-- users\r-- +goose Up\rCREATE TABLE t (a int);\r"


def test_a_form_feed_does_not_end_a_line_so_the_down_section_starts_at_its_marker() -> None:
    found = sections("-- +goose Up\nSELECT 1;\x0c\n-- +goose Down\nSELECT 2;\n")
    assert found is not None and (found.down_line, found.down) == (3, "-- +goose Down\nSELECT 2;\n")


LINES = st.sampled_from(
    ["-- +goose Up", "-- +goose Down", "CREATE TABLE t (a int);", "DROP TABLE t;", "", "-- note", "SELECT 1;"]
)


@given(st.lists(LINES, max_size=12))
def test_every_line_is_in_exactly_one_half_at_its_own_number(lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    found = sections(text)
    if found is None:
        assert "-- +goose Up" not in lines
        return
    up, down = found.up.splitlines(), (found.down or "").splitlines()
    assert all(up[number] in ("", lines[number]) for number in range(len(up)))  # nothing moved
    assert all(
        line == "" or (number < len(up) and up[number] == line) or line in down for number, line in enumerate(lines)
    )


def test_the_scan_pairs_the_down_half_with_its_file() -> None:
    result = scan([RawFile("db/20230101000000_users.sql", GOOSE.encode())])
    up, down = result.files
    assert (up.path, down.path, down.direction) == (
        "db/20230101000000_users.sql",
        "db/20230101000000_users.sql" + SECTION_DOWN,
        Direction.DOWN,
    )
    assert result.down_of(up.path) == down.path and "DROP" not in up.text
    assert [finding.code for finding in result.findings] == ["scan.sections"]


def test_goose_environment_substitution_is_a_warning() -> None:
    text = "-- +goose ENVSUB ON\n-- +goose Up\nCREATE ROLE ${APP_ROLE};\n"
    codes = [finding.code for finding in scan([RawFile("db/001_role.sql", text.encode())]).findings]
    assert codes == ["scan.envsub", "scan.sections"]


# --- a goose tree, end to end -----------------------------------------------------------------------------------

POSTS = "-- +goose Up\nCREATE TABLE posts (id int, user_id int);\n\n-- +goose Down\nDROP TABLE posts;\n"
INDEX = (
    "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY posts_user ON posts (user_id);\n"
    "-- +goose Down\nDROP INDEX CONCURRENTLY posts_user;\n"
)


def goose_case(root: Path) -> Path:
    folder = root / "db" / "migrations"
    folder.mkdir(parents=True)
    for name, text in {
        "20230101000000_users": GOOSE,
        "20230102000000_posts": POSTS,
        "20230103000000_index": INDEX,
    }.items():
        (folder / f"{name}.sql").write_text(text)
    assert run("init", cwd=root).exit_code == 0
    return root


def test_a_goose_tree_consolidates_with_its_down_sections_as_rollbacks(tmp_path: Path) -> None:
    case = goose_case(tmp_path)
    assert run("plan", cwd=case).exit_code == 0
    assert run("apply", cwd=case).exit_code == 0
    tree = case / "deploy" / "migrations"
    up, down = (tree / "versions" / "001_users.sql").read_text(), (tree / "down" / "001_users_down.sql").read_text()
    assert ("DROP TABLE users" in up, "CREATE TABLE users" in up) == (False, True)
    assert ("DROP TABLE users;\nDROP FUNCTION f();" in down, "CREATE" in down) == (True, False)


def test_a_goose_tree_and_its_rollbacks_are_proven_on_postgresql(tmp_path: Path, service_url: str) -> None:
    case = goose_case(tmp_path)
    assert run("apply", cwd=case).exit_code == 0
    result = run("verify", "--database-url", service_url, "--verbose", cwd=case)
    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if line.startswith("rollback ")] == [
        "rollback 001_users: verified",
        "rollback 002_posts: verified",
        "rollback 003_index: verified",
    ]
