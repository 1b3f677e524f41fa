"""What a legacy file's path says: scheme, direction, version and feature name."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from consolidate.core.naming import feature_key, normalise, parse_name, version_sort_key
from consolidate.model import Direction, FileName, Scheme

UP, DOWN = Direction.UP, Direction.DOWN


def test_numbered_file_is_an_up_file_with_its_version_and_name() -> None:
    assert parse_name("db/010_robots_table.sql") == FileName(Scheme.NUMBERED, UP, "010", "robots_table")


@pytest.mark.parametrize("suffix", ["_down", "_rollback", "-down", "_revert", "_undo", "_DOWN"])
def test_a_direction_suffix_makes_a_numbered_file_a_down_file(suffix: str) -> None:
    assert parse_name(f"010_robots_table{suffix}.sql") == FileName(Scheme.NUMBERED, DOWN, "010", "robots_table")


def test_an_up_suffix_is_dropped_from_the_name_so_it_matches_its_down_file() -> None:
    assert parse_name("010_robots_up.sql") == FileName(Scheme.NUMBERED, UP, "010", "robots")


def test_a_dash_separates_version_from_name() -> None:
    assert parse_name("010-robots-table.sql") == FileName(Scheme.NUMBERED, UP, "010", "robots_table")


def test_a_word_merely_ending_in_down_is_part_of_the_name() -> None:
    assert parse_name("010_markdown.sql") == FileName(Scheme.NUMBERED, UP, "010", "markdown")


def test_golang_migrate_extensions_give_the_direction() -> None:
    assert parse_name("001_users.up.sql") == FileName(Scheme.GOLANG, UP, "001", "users")
    assert parse_name("001_users.down.sql") == FileName(Scheme.GOLANG, DOWN, "001", "users")


@pytest.mark.parametrize(
    ("path", "version", "name"),
    [("V1__init.sql", "1", "init"), ("V1.2__add_x.sql", "1.2", "add_x"), ("V1_2__add_x.sql", "1_2", "add_x")],
)
def test_flyway_versioned_file_is_up_with_its_version_as_written(path: str, version: str, name: str) -> None:
    assert parse_name(path) == FileName(Scheme.FLYWAY, UP, version, name)


def test_flyway_undo_file_is_a_down_file() -> None:
    assert parse_name("U1.2__add_x.sql") == FileName(Scheme.FLYWAY, DOWN, "1.2", "add_x")


def test_flyway_repeatable_file_is_an_unnumbered_up_file_named_after_its_description() -> None:
    assert parse_name("R__refresh_views.sql") == FileName(Scheme.UNNUMBERED, UP, None, "refresh_views")


@pytest.mark.parametrize("version", ["202401011200", "2024010112000", "20240101120000"])
def test_twelve_to_fourteen_digits_are_a_timestamp(version: str) -> None:
    assert parse_name(f"{version}_name.sql") == FileName(Scheme.TIMESTAMP, UP, version, "name")


@pytest.mark.parametrize("version", ["20240101", "20240101120", "202401011200001"])
def test_other_digit_counts_are_plain_numbers(version: str) -> None:
    assert parse_name(f"{version}_name.sql").scheme is Scheme.NUMBERED


@pytest.mark.parametrize("suffix", ["_down", ".down"])
def test_a_timestamped_down_file_stays_in_the_timestamp_scheme(suffix: str) -> None:
    assert parse_name(f"20240101120000_name{suffix}.sql") == FileName(Scheme.TIMESTAMP, DOWN, "20240101120000", "name")


@pytest.mark.parametrize(("file", "direction"), [("up.sql", UP), ("down.sql", DOWN), ("migration.sql", UP)])
def test_folder_per_migration_takes_version_and_name_from_its_folder(file: str, direction: Direction) -> None:
    assert parse_name(f"prisma/20210101120000_Init/{file}") == FileName(
        Scheme.FOLDER, direction, "20210101120000", "init"
    )


def test_diesel_dashed_timestamp_folder_is_a_folder_migration() -> None:
    name = parse_name("migrations/2020-01-01-000000_create_users/up.sql")
    assert name == FileName(Scheme.FOLDER, UP, "2020-01-01-000000", "create_users")


def test_a_diesel_folder_with_a_fourth_dashed_part_keeps_it_in_the_version_not_the_name() -> None:
    name = parse_name("migrations/2026-05-27-120000-0000_add_users_index/up.sql")
    assert name == FileName(Scheme.FOLDER, UP, "2026-05-27-120000-0000", "add_users_index")


def test_a_diesel_dashed_version_sorts_among_compact_timestamps_as_diesel_reads_it() -> None:
    versions = ["2017-08-31-230457", "20140924113530", "00000000000000", "2026-05-27-120000-0000"]
    assert sorted(versions, key=version_sort_key) == [
        "00000000000000",
        "20140924113530",
        "2017-08-31-230457",
        "2026-05-27-120000-0000",
    ]


def test_up_file_in_an_unnumbered_folder_is_unnumbered_and_named_after_the_folder() -> None:
    assert parse_name("legacy/seed/down.sql") == FileName(Scheme.UNNUMBERED, DOWN, None, "seed")


def test_any_other_name_is_unnumbered_and_named_after_its_stem() -> None:
    assert parse_name("scripts/Setup DB.sql") == FileName(Scheme.UNNUMBERED, UP, None, "setup_db")


def test_an_unnumbered_file_with_a_down_suffix_is_a_down_file() -> None:
    assert parse_name("scripts/setup_db_down.sql") == FileName(Scheme.UNNUMBERED, DOWN, None, "setup_db")


def test_the_sql_extension_is_recognised_in_any_case() -> None:
    assert parse_name("010_Robots.SQL") == FileName(Scheme.NUMBERED, UP, "010", "robots")


def test_names_are_lower_case_with_runs_of_other_characters_collapsed() -> None:
    assert normalise("__Robots--Table (v2)__") == "robots_table_v2"


def test_feature_key_is_the_same_for_one_feature_under_different_versions_and_schemes() -> None:
    assert feature_key(parse_name("a/010_robots.sql")) == feature_key(parse_name("b/V3__Robots.sql"))


def test_feature_key_differs_between_features() -> None:
    assert feature_key(parse_name("010_robots.sql")) != feature_key(parse_name("010_humans.sql"))


def test_versions_sort_by_number_not_by_text() -> None:
    versions = ["10", "2", "1.10", "1.2", "1"]
    assert sorted(versions, key=version_sort_key) == ["1", "1.2", "1.10", "2", "10"]


def test_files_without_a_version_sort_last() -> None:
    assert sorted([None, "999", "1"], key=version_sort_key) == ["1", "999", None]


def test_versions_longer_than_any_int_still_sort() -> None:
    huge = "9" * 10_000
    assert sorted([huge, "1" + huge], key=version_sort_key) == [huge, "1" + huge]


@given(st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=10**30))
def test_plain_numbers_sort_like_integers(a: int, b: int) -> None:
    assert (version_sort_key(str(a)) < version_sort_key(str(b))) == (a < b)


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=4), st.integers(0, 3))
def test_leading_zeros_do_not_change_the_order(parts: list[int], zeros: int) -> None:
    plain = ".".join(str(part) for part in parts)
    padded = ".".join("0" * zeros + str(part) for part in parts)
    assert version_sort_key(plain)[:2] == version_sort_key(padded)[:2]


@given(st.text())
def test_normalising_twice_changes_nothing(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(st.text())
def test_any_path_parses_to_a_normalised_name(path: str) -> None:
    name = parse_name(path)
    assert re.fullmatch(r"([a-z0-9]+(_[a-z0-9]+)*)?", name.name)


@given(st.text())
def test_a_version_is_given_exactly_when_the_scheme_has_one(path: str) -> None:
    name = parse_name(path)
    # Sqitch orders its changes in sqitch.plan, not in their names.
    assert (name.version is None) == (name.scheme in (Scheme.UNNUMBERED, Scheme.SQITCH))


@given(st.text())
def test_the_version_is_written_in_the_path(path: str) -> None:
    version = parse_name(path).version
    assert version is None or version in path


@given(st.from_regex(r"[0-9]{1,11}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True))
def test_numbered_up_and_down_names_agree_on_version_and_name(version: str, name: str) -> None:
    # Those are direction suffixes themselves, also as the whole name (`0_up.sql`).
    assume(not re.search(r"_(up|down|rollback|revert|undo)$", f"_{name}"))
    up, down = parse_name(f"{version}_{name}.sql"), parse_name(f"{version}_{name}_down.sql")
    assert (up.direction, down.direction) == (UP, DOWN)
    assert (up.version, feature_key(up)) == (down.version, feature_key(down))
