"""The canonical tree in other tools' layouts: names and non-transactional markers per format, without a database."""

from __future__ import annotations

import pytest

from consolidate.core.export_layouts import (
    ADOPT_NAME,
    MARKER_NAME,
    Format,
    Version,
    export_files,
    exported_versions,
    marker_format,
)
from consolidate.core.sqitch import plan_changes
from consolidate.errors import ConsolidateError

USERS = Version("001", "users", "CREATE TABLE users (id int);\nINSERT INTO users VALUES (1);\n", "DROP TABLE users;\n")
# CREATE INDEX CONCURRENTLY cannot run in a transaction block; the table before it can.
INDEXES = Version(
    "002",
    "indexes",
    "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    "DROP INDEX CONCURRENTLY t_a;\nDROP TABLE t;\n",
)
ALONE = Version("002", "index", "CREATE INDEX CONCURRENTLY users_id ON users (id);\n", "DROP INDEX users_id;\n")
NO_DOWN = Version("003", "seed", "INSERT INTO users VALUES (2);\n", None)


def names(layout: Format, *versions: Version) -> list[str]:
    """The layout's files: every one but the adoption guide, which every format has (tested on its own)."""
    return sorted(path for path in export_files(layout, versions) if path != ADOPT_NAME)


def test_golang_migrate_writes_an_up_and_a_down_file_per_version() -> None:
    assert names(Format.GOLANG_MIGRATE, USERS, NO_DOWN) == [
        MARKER_NAME,
        "00100_users.down.sql",
        "00100_users.up.sql",
        "00300_seed.down.sql",
        "00300_seed.up.sql",
    ]


def test_golang_migrate_puts_a_statement_that_cannot_run_in_a_transaction_alone_in_its_file() -> None:
    files = export_files(Format.GOLANG_MIGRATE, [USERS, INDEXES])
    assert sorted(path for path in files if path.endswith(".up.sql")) == [
        "00100_users.up.sql",  # golang-migrate orders versions as numbers: every version gets two more digits
        "00200_indexes.up.sql",
        "00201_indexes.up.sql",
    ]
    assert files["00200_indexes.up.sql"].endswith("CREATE TABLE t (a int);")
    assert files["00201_indexes.up.sql"].endswith("\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n")


def test_dbmate_and_diesel_order_versions_as_text_so_only_a_cut_version_gets_two_more_digits() -> None:
    assert names(Format.DBMATE, USERS, INDEXES, NO_DOWN) == [
        MARKER_NAME,
        "001_users.sql",
        "00200_indexes.sql",
        "00201_indexes.sql",
        "003_seed.sql",
    ]
    assert [name for name in names(Format.DIESEL, USERS, INDEXES) if name.endswith("up.sql")] == [
        "001_users/up.sql",
        "00200_indexes/up.sql",
        "00201_indexes/up.sql",
    ]


def test_a_cut_version_rolls_back_from_its_last_part_first() -> None:
    files = export_files(Format.GOLANG_MIGRATE, [INDEXES])
    assert "DROP INDEX CONCURRENTLY t_a;" in files["00201_indexes.down.sql"]
    assert "DROP TABLE t;" in files["00200_indexes.down.sql"]
    assert "DROP TABLE" not in files["00201_indexes.down.sql"]


def test_a_version_that_is_one_such_statement_is_not_cut() -> None:
    assert names(Format.DBMATE, USERS, ALONE) == [MARKER_NAME, "001_users.sql", "002_index.sql"]


def test_flyway_writes_versioned_and_undo_scripts() -> None:
    assert names(Format.FLYWAY, USERS) == [MARKER_NAME, "U001__users.sql", "V001__users.sql"]


def test_flyway_is_told_by_a_script_config_file_to_run_outside_a_transaction() -> None:
    files = export_files(Format.FLYWAY, [INDEXES])
    assert files["V002__indexes.sql"] == INDEXES.up  # not cut: Flyway runs statement by statement
    assert files["V002__indexes.sql.conf"] == "executeInTransaction=false\n"
    assert files["U002__indexes.sql.conf"] == "executeInTransaction=false\n"
    assert "V001__users.sql.conf" not in export_files(Format.FLYWAY, [USERS])


def test_dbmate_writes_one_file_with_up_and_down_sections() -> None:
    files = export_files(Format.DBMATE, [USERS])
    assert names(Format.DBMATE, USERS) == [MARKER_NAME, "001_users.sql"]
    assert files["001_users.sql"] == f"-- migrate:up\n{USERS.up}\n-- migrate:down\n{USERS.down}"


def test_dbmate_marks_a_part_that_cannot_run_in_a_transaction_transaction_false() -> None:
    files = export_files(Format.DBMATE, [INDEXES])
    assert files["00200_indexes.sql"].startswith("-- migrate:up\n")
    assert files["00201_indexes.sql"].startswith("-- migrate:up transaction:false\n")
    assert "\n-- migrate:down transaction:false\n" in files["00201_indexes.sql"]


def test_dbmate_markers_carried_from_a_legacy_source_no_longer_cut_the_file() -> None:
    carried = Version("001", "users", "-- migrate:up\nCREATE TABLE users (id int);\n", "DROP TABLE users;\n")
    text = export_files(Format.DBMATE, [carried])["001_users.sql"]
    assert [line for line in text.splitlines() if line.startswith("-- migrate:")] == [
        "-- migrate:up",
        "-- migrate:down",
    ]


def test_diesel_writes_a_folder_per_version_with_metadata_where_it_runs_outside_a_transaction() -> None:
    assert names(Format.DIESEL, USERS, ALONE) == [
        MARKER_NAME,
        "001_users/down.sql",
        "001_users/up.sql",
        "002_index/down.sql",
        "002_index/metadata.toml",
        "002_index/up.sql",
    ]
    assert export_files(Format.DIESEL, [ALONE])["002_index/metadata.toml"] == "run_in_transaction = false\n"


def test_sqitch_writes_its_plan_config_and_three_scripts_per_change() -> None:
    assert names(Format.SQITCH, USERS) == [
        MARKER_NAME,
        "deploy/001_users.sql",
        "revert/001_users.sql",
        "sqitch.conf",
        "sqitch.plan",
        "verify/001_users.sql",
    ]


def test_the_sqitch_plan_lists_the_versions_in_order_as_sqitch_and_our_own_scan_read_it() -> None:
    plan = export_files(Format.SQITCH, [USERS, ALONE, NO_DOWN])["sqitch.plan"]
    assert plan.startswith("%syntax-version=1.0.0\n%project=consolidated\n")
    assert plan_changes(plan) == ["001_users", "002_index", "003_seed"]


def test_sqitch_scripts_open_their_own_transaction_unless_a_statement_cannot_run_in_one() -> None:
    files = export_files(Format.SQITCH, [USERS, ALONE])
    assert files["deploy/001_users.sql"] == f"BEGIN;\n\n{USERS.up}\nCOMMIT;\n"
    assert "BEGIN;" not in files["deploy/002_index.sql"]
    assert files["deploy/002_index.sql"].endswith(ALONE.up)


def test_a_last_statement_without_semicolon_stays_apart_from_the_commit() -> None:
    bare = Version("001", "users", "CREATE TABLE users (id int)", "DROP TABLE users")
    assert export_files(Format.SQITCH, [bare])["deploy/001_users.sql"] == (
        "BEGIN;\n\nCREATE TABLE users (id int)\n;\n\nCOMMIT;\n"
    )


@pytest.mark.parametrize("layout", list(Format))
def test_a_version_without_a_down_script_gets_a_rollback_that_refuses_to_run(layout: Format) -> None:
    text = "".join(export_files(layout, [NO_DOWN]).values())
    assert "RAISE EXCEPTION 'consolidate: no rollback for 003_seed'" in text


@pytest.mark.parametrize("layout", list(Format))
def test_the_marker_names_the_format_and_every_file_written(layout: Format) -> None:
    files = export_files(layout, [USERS, INDEXES])
    assert marker_format(files[MARKER_NAME]) == (layout, sorted(path for path in files if path != MARKER_NAME))


def test_a_file_that_is_not_a_marker_is_recognised_as_none() -> None:
    assert marker_format("") is None
    assert marker_format("consolidate export --format liquibase\n") is None


@pytest.mark.parametrize("layout", list(Format))
def test_the_same_tree_exports_the_same_bytes(layout: Format) -> None:
    assert export_files(layout, [USERS, INDEXES, NO_DOWN]) == export_files(layout, [USERS, INDEXES, NO_DOWN])


def test_a_version_cut_into_more_than_a_hundred_parts_is_refused_with_its_location() -> None:
    many = Version(
        "001", "many", "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;\n" * 51, None, "versions/001_many.sql"
    )
    with pytest.raises(ConsolidateError) as caught:
        export_files(Format.DBMATE, [many])
    assert caught.value.diagnostics[0].location.path == "versions/001_many.sql"


@pytest.mark.parametrize(
    ("layout", "step"),
    [
        (Format.DBMATE, "INSERT INTO schema_migrations (version)"),
        (Format.DIESEL, "INSERT INTO __diesel_schema_migrations (version)"),
        (Format.GOLANG_MIGRATE, "force VERSION"),
        (Format.FLYWAY, "-baselineVersion=N"),
        (Format.SQITCH, "deploy --log-only --to CHANGE"),
    ],
)
def test_every_export_says_how_existing_databases_move_onto_it(layout: Format, step: str) -> None:
    guide = export_files(layout, [USERS, ALONE])[ADOPT_NAME]
    assert "consolidate migrate adopt --dry-run" in guide and step in guide


def test_the_adoption_rows_name_every_part_of_a_cut_version() -> None:
    assert exported_versions(Format.DBMATE, [USERS, INDEXES]) == [
        ("001", "001"),
        *[("002", f"002{index:02d}") for index in range(len(exported_versions(Format.DBMATE, [INDEXES])))],
    ]
    assert [exported for _, exported in exported_versions(Format.GOLANG_MIGRATE, [USERS])] == ["00100"]
