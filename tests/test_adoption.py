"""Where a legacy tool's history places a database on the canonical tree (core/adoption.py), without a database."""

from __future__ import annotations

from consolidate.core.adoption import (
    KINDS,
    CanonicalVersion,
    HistoryRow,
    file_keys,
    history_verdict,
    kind_for,
    sources_of,
)

GOLANG, DBMATE = KINDS[0], KINDS[1]
FILES = ("db/1_a.up.sql", "db/2_b.up.sql", "db/3_x.up.sql", "db/10_c.up.sql")


def _version(number: int, *sources: str) -> CanonicalVersion:
    body = "".join(f"\n-- ==== consolidate: source {s} ====\nCREATE TABLE t{number} (a int);\n" for s in sources)
    header = "".join(f"--   {s} (sha256 {'0' * 64})\n" for s in sources)
    text = f"-- title\n--\n-- Sources, applied in this order:\n{header}-- Statements: 1 kept.\n{body}"
    return CanonicalVersion(f"00{number}", f"v{number}", f"versions/00{number}_v{number}.sql", text, sources)


TREE = (_version(1, FILES[0], FILES[1]), _version(2, FILES[2]), _version(3, FILES[3]))


def _applied(*keys: str) -> list[HistoryRow]:
    return [HistoryRow(key, True, False) for key in keys]


def test_a_versions_sources_are_read_from_its_header() -> None:
    assert sources_of(TREE[0].text) == (FILES[0], FILES[1])


def test_each_tools_file_names_carry_the_version_its_history_records() -> None:
    assert "42" in file_keys("db/0042_users.up.sql")
    assert "1.2" in file_keys("sql/V1_2__users.sql")
    assert "20230101000001" in file_keys("migrations/2023-01-01-000001_users/up.sql")
    assert "20230101_init" in file_keys("prisma/migrations/20230101_init/migration.sql")
    assert "add_users" in file_keys("deploy/add_users.sql")
    assert "ae10" in file_keys("alembic/ae10_users.sql")


def test_golang_migrates_newest_version_stands_for_every_file_numbered_up_to_it() -> None:
    # 10 sorts after 3 as a number, not as text.
    assert history_verdict(GOLANG, _applied("3"), TREE).version == "002"
    assert history_verdict(GOLANG, _applied("10"), TREE).version == "003"


def test_a_version_only_some_of_whose_files_ran_is_partial_with_the_missing_statements() -> None:
    verdict = history_verdict(DBMATE, _applied("1"), TREE)
    (partial,) = verdict.partial
    assert (partial.version.version, partial.ran) == ("001", (FILES[0],))
    (missing,) = partial.missing
    assert (missing.source, missing.statements) == (FILES[1], ("CREATE TABLE t1 (a int);",))
    assert not verdict.certain


def test_a_version_skipped_below_a_later_one_is_a_gap() -> None:
    verdict = history_verdict(DBMATE, _applied("1", "2", "10"), TREE)
    assert (verdict.version, verdict.gaps) == ("003", ("002",))


def test_a_dirty_row_is_failed() -> None:
    verdict = history_verdict(GOLANG, [HistoryRow("3", False, True)], TREE)
    assert verdict.failed == ("3",) and not verdict.certain


def test_recorded_versions_no_file_carries_are_named_unknown() -> None:
    assert history_verdict(DBMATE, _applied("1", "2", "99"), TREE).unknown == ("99",)


def test_schema_migrations_with_a_dirty_column_is_golang_migrates_without_one_dbmates() -> None:
    assert kind_for("schema_migrations", ["version", "dirty"]) is GOLANG
    assert kind_for("schema_migrations", ["version"]) is DBMATE


def test_files_of_folders_the_history_never_names_are_left_to_the_schema() -> None:
    # Version 001 merges a dbmate folder with another tool's: dbmate's history knows its own folder's files only.
    tree = (_version(1, "db/1_a.sql", "app/001_z.sql"), _version(2, "app/002_y.sql"), _version(3, "db/2_b.sql"))
    verdict = history_verdict(DBMATE, _applied("1", "2"), tree)
    assert (verdict.version, verdict.partial, verdict.gaps) == ("003", (), ())
