"""Scanning legacy files: checksums, decoding findings, and down files paired with their up files."""

from __future__ import annotations

import hashlib
import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.comments import has_content
from consolidate.core.scan import scan
from consolidate.model import Diagnostic, Direction, RawFile, ScanResult, Severity

SQL = b"CREATE TABLE robots (id int);\n"


def scan_files(files: dict[str, bytes]) -> ScanResult:
    return scan(RawFile(path, data) for path, data in files.items())


def findings(result: ScanResult, code: str) -> list[Diagnostic]:
    return [finding for finding in result.findings if finding.code == code]


def only_file(data: bytes, path: str = "db/010_robots.sql") -> ScanResult:
    return scan_files({path: data})


def test_the_checksum_is_the_sha256_of_the_bytes_as_read() -> None:
    data = b"\xef\xbb\xbfSELECT 1;\r\n"
    assert only_file(data).files[0].sha256 == hashlib.sha256(data).hexdigest()


def test_a_plain_utf8_file_has_no_findings() -> None:
    result = only_file(SQL)
    assert result.findings == ()
    assert result.files[0].text == SQL.decode()


def test_a_byte_order_mark_is_removed_from_the_text_and_reported() -> None:
    result = only_file(b"\xef\xbb\xbf" + SQL)
    assert (result.files[0].text, result.files[0].has_bom) == (SQL.decode(), True)
    assert [(f.severity, f.location.line) for f in findings(result, "scan.bom")] == [(Severity.WARNING, 1)]


def line_endings(data: bytes) -> list[tuple[Severity, int | None, str]]:
    return [(f.severity, f.location.line, f.message) for f in findings(only_file(data), "scan.line-endings")]


def test_crlf_line_endings_are_kept_and_reported_at_their_first_line() -> None:
    data = b"-- robots\r\nSELECT 1;\r\nSELECT 2;\r\n"
    result = only_file(data)
    assert (result.files[0].text, result.files[0].has_crlf) == (data.decode(), True)
    message = "file has Windows (CRLF) line endings; they are kept as they are"
    assert line_endings(data) == [(Severity.INFO, 1, message)]


def test_lone_cr_line_endings_are_named_classic_mac_and_kept() -> None:
    data = b"SELECT 1;\rSELECT 2;\r"
    assert only_file(data).files[0].text == data.decode()
    message = "file has classic Mac (CR) line endings; they are kept as they are"
    assert line_endings(data) == [(Severity.INFO, 1, message)]


def test_mixed_line_endings_are_counted_by_kind_at_the_line_where_they_change() -> None:
    data = b"SELECT 1;\nSELECT 2;\r\nSELECT 3;\r\n\rSELECT 4;\n"
    message = "file has mixed (2 CRLF, 2 LF, 1 CR) line endings; they are kept as they are"
    assert line_endings(data) == [(Severity.INFO, 2, message)]


def test_bytes_that_are_not_utf8_are_an_error_at_the_line_and_column_of_the_first() -> None:
    result = only_file(b"SELECT 1;\n-- caf\xe9 and \xff\nSELECT 2;\n")
    [finding] = findings(result, "scan.encoding")
    assert (finding.severity, finding.location.line, finding.location.column) == (Severity.ERROR, 2, 7)
    assert "0xe9" in finding.message and "encoding" in finding.hint
    assert result.files[0].is_utf8 is False


def test_the_column_of_a_bad_byte_counts_characters_not_bytes() -> None:
    [finding] = findings(only_file("-- é€ ".encode() + b"\x80;\n"), "scan.encoding")
    assert (finding.location.line, finding.location.column) == (1, 7)


def test_a_nul_byte_is_an_error_at_its_line_and_column() -> None:
    [finding] = findings(only_file(b"SELECT 1;\n  SELECT \x00 2;\n"), "scan.nul")
    assert (finding.severity, finding.location.line, finding.location.column) == (Severity.ERROR, 2, 10)
    assert "PostgreSQL cannot take a NUL byte" in finding.message


def test_a_nul_byte_after_lone_cr_lines_is_at_its_line_and_column() -> None:
    [finding] = findings(only_file(b"SELECT 1;\r\rSELECT \x00 2;\r"), "scan.nul")
    assert (finding.location.line, finding.location.column) == (3, 8)


def test_a_bad_byte_after_mixed_lines_is_at_its_line_and_column() -> None:
    [finding] = findings(only_file(b"SELECT 1;\r\n\rSELECT 2;\n-- \xff\n"), "scan.encoding")
    assert (finding.location.line, finding.location.column) == (4, 4)


def test_a_folder_declared_latin1_is_decoded_as_latin1_without_findings() -> None:
    data = b"SELECT 1;\n-- caf\xe9\n"
    result = scan([RawFile("legacy/001_a.sql", data), RawFile("db/001_a.sql", data)], {"legacy": "latin-1"})
    by_path = {legacy.path: legacy for legacy in result.files}
    assert by_path["legacy/001_a.sql"].text == "SELECT 1;\n-- café\n"
    assert [finding.location.path for finding in findings(result, "scan.encoding")] == ["db/001_a.sql"]


def test_a_utf16_file_reads_as_declared() -> None:
    data = "SELECT 'ü';\n".encode("utf-16")
    assert only_file(data).findings != ()  # as UTF-8: undecodable
    result = scan([RawFile("db/001_a.sql", data)], {"db": "utf-16"})
    assert (result.files[0].text, result.findings) == ("SELECT 'ü';\n", ())


def test_the_checksum_of_a_file_with_a_bom_covers_the_bom() -> None:
    data = b"\xef\xbb\xbf" + SQL
    assert only_file(data).files[0].sha256 != only_file(SQL).files[0].sha256


@pytest.mark.parametrize(
    "data",
    [b"", b"  \n\t\r\n", b"-- nothing yet\n", b"/* outer /* nested */ still a comment */\n;\n", b"/* unclosed"],
)
def test_a_file_without_sql_is_reported_as_empty(data: bytes) -> None:
    assert [f.severity for f in findings(only_file(data), "scan.empty")] == [Severity.WARNING]


@pytest.mark.parametrize("text", ["-- comment\nSELECT 1", "/* a */ SELECT 1", "/* a /* b */ */ x", "x"])
def test_any_statement_outside_comments_is_content(text: str) -> None:
    assert has_content(text)


def test_a_file_with_sql_after_comments_is_not_empty() -> None:
    assert findings(only_file(b"-- robots\n/* table */\n" + SQL), "scan.empty") == []


def test_sql_after_a_line_comment_ended_by_a_lone_cr_is_content() -> None:
    assert findings(only_file(b"-- robots\rCREATE TABLE robots (id int);\r"), "scan.empty") == []


@pytest.mark.parametrize(
    ("up", "down"),
    [
        ("db/010_robots.sql", "db/010_robots_down.sql"),
        ("db/010_robots.sql", "db/010_robots.down.sql"),
        ("db/001_robots.up.sql", "db/001_robots.down.sql"),
        ("db/20240101120000_robots.sql", "db/20240101120000_robots_rollback.sql"),
        ("db/V1.2__robots.sql", "db/U1.2__robots.sql"),
        ("db/V1.2__robots.sql", "db/U1_2__undo_robots.sql"),
        ("db/0001_robots/up.sql", "db/0001_robots/down.sql"),
        ("db/20210101120000_init/migration.sql", "db/20210101120000_init/down.sql"),
        ("db/setup.sql", "db/setup_down.sql"),
        ("db/010_sign_up.sql", "db/010_sign_up_down.sql"),
    ],
)
def test_a_down_file_is_paired_with_its_up_file(up: str, down: str) -> None:
    result = scan_files({up: SQL, down: SQL})
    assert (result.downs, result.findings) == (((up, down),), ())


def test_a_down_file_is_not_paired_with_an_up_file_of_another_version() -> None:
    result = scan_files({"db/010_robots.sql": SQL, "db/011_robots_down.sql": SQL})
    assert result.downs == ()


def test_a_down_file_is_not_paired_with_an_up_file_in_another_folder() -> None:
    result = scan_files({"a/010_robots.sql": SQL, "b/010_robots_down.sql": SQL})
    assert result.downs == ()
    assert [f.location.path for f in findings(result, "scan.unpaired-down")] == ["b/010_robots_down.sql"]


def test_a_down_file_without_an_up_file_is_reported() -> None:
    result = scan_files({"db/010_robots_down.sql": SQL})
    assert [(f.severity, f.location.path) for f in findings(result, "scan.unpaired-down")] == [
        (Severity.WARNING, "db/010_robots_down.sql")
    ]


def test_the_name_decides_between_up_files_sharing_a_version() -> None:
    files = {"db/010_humans.sql": SQL, "db/010_robots.sql": SQL, "db/010_robots_down.sql": SQL}
    assert scan_files(files).downs == (("db/010_robots.sql", "db/010_robots_down.sql"),)


def test_a_second_down_file_for_one_up_file_is_reported_and_not_used() -> None:
    files = {"db/010_robots.sql": SQL, "db/010_robots.down.sql": SQL, "db/010_robots_down.sql": SQL}
    result = scan_files(files)
    assert result.downs == (("db/010_robots.sql", "db/010_robots.down.sql"),)
    assert [f.location.path for f in findings(result, "scan.extra-down")] == ["db/010_robots_down.sql"]


def test_two_up_files_with_one_version_in_one_folder_are_an_error_as_the_legacy_tools_say() -> None:
    result = scan_files({"db/010_humans.sql": SQL, "db/010_robots.sql": SQL})
    assert [(f.severity, f.location.path) for f in findings(result, "scan.same-version")] == [
        (Severity.ERROR, "db/010_robots.sql")
    ]


def test_versions_that_differ_only_in_leading_zeros_are_the_same_version() -> None:
    result = scan_files({"db/010_humans.sql": SQL, "db/10_robots.sql": SQL})
    assert len(findings(result, "scan.same-version")) == 1


def test_one_version_in_two_folders_is_normal() -> None:
    assert scan_files({"a/010_humans.sql": SQL, "b/010_robots.sql": SQL}).findings == ()


def test_sibling_migration_folders_with_one_version_are_reported() -> None:
    result = scan_files({"db/001_a/up.sql": SQL, "db/001_b/up.sql": SQL})
    assert [f.location.path for f in findings(result, "scan.same-version")] == ["db/001_b/up.sql"]


def test_an_up_and_a_down_file_do_not_claim_the_same_version_twice() -> None:
    assert scan_files({"db/010_robots.sql": SQL, "db/010_robots_down.sql": SQL}).findings == ()


def test_files_come_out_sorted_by_path_whatever_order_they_came_in() -> None:
    paths = ["b/2.sql", "a/10.sql", "a/1.sql"]
    assert [legacy.path for legacy in scan_files(dict.fromkeys(paths, SQL)).files] == sorted(paths)


def test_the_file_parsed_from_a_path_is_its_name_s_meaning() -> None:
    legacy = only_file(SQL, "db/010_robots_down.sql").files[0]
    assert (legacy.direction, legacy.name.version, legacy.name.name) == (Direction.DOWN, "010", "robots")


def test_a_path_given_twice_is_scanned_once_from_its_first_bytes() -> None:
    result = scan([RawFile("a.sql", b"SELECT 1;"), RawFile("a.sql", b"SELECT 2;")])
    assert [legacy.text for legacy in result.files] == ["SELECT 1;"]


paths = st.lists(st.sampled_from(["a", "b", "010_x", "V1__x", "U1__x", "up", "down", "x_down"]), max_size=3).map(
    lambda parts: "/".join(parts)
) | st.text(max_size=30)
suffixes = st.sampled_from([".sql", "_down.sql", ".down.sql", ".up.sql", ""])


@given(st.lists(st.tuples(paths, suffixes, st.binary(max_size=200))))
def test_scanning_never_fails_whatever_the_bytes_and_names(items: list[tuple[str, str, bytes]]) -> None:
    result = scan(RawFile(path + suffix, data) for path, suffix, data in items)
    assert [legacy.path for legacy in result.files] == sorted({path + suffix for path, suffix, _ in items})
    assert list(result.downs) == sorted(result.downs)


@given(st.lists(st.tuples(paths, suffixes), unique=True))
def test_every_pair_joins_an_up_file_to_a_down_file_next_to_it(names: list[tuple[str, str]]) -> None:
    result = scan(RawFile(path + suffix, SQL) for path, suffix in names)
    direction = {legacy.path: legacy.direction for legacy in result.files}
    for up, down in result.downs:
        assert (direction[up], direction[down]) == (Direction.UP, Direction.DOWN)
        assert posixpath.dirname(up) == posixpath.dirname(down)
    assert len({down for _, down in result.downs}) == len(result.downs)


@given(st.text(st.characters(blacklist_categories=["Cs"])).filter(lambda text: not text.startswith("\ufeff")))
def test_utf8_text_without_bom_is_kept_exactly(text: str) -> None:
    legacy = only_file(text.encode()).files[0]
    assert (legacy.text, legacy.is_utf8, legacy.has_bom) == (text, True, False)


@given(st.binary())
def test_the_text_of_valid_utf8_encodes_back_to_the_bytes_after_the_bom(data: bytes) -> None:
    legacy = only_file(data).files[0]
    body = data.removeprefix(b"\xef\xbb\xbf")
    assert legacy.is_utf8 == (legacy.text.encode() == body)
