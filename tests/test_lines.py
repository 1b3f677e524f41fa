"""Line numbers on any line endings (issue 13, promise 9): `\\r\\n`, `\\n` and a lone `\\r` each end one line, and
every place that turns an offset into line:column counts them that way."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from consolidate.core.lines import Lines, endings, split_lines
from consolidate.core.statements import parse_file
from consolidate.postgres.positions import chunk_starts, line_of, locate

ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def numbered_lines(draw: st.DrawFn) -> tuple[str, list[int]]:
    """Lines `select <k>;` (k from 1) joined by random line ends, and the offset where each line starts."""
    count = draw(st.integers(1, 12))
    text, starts = "", []
    for number in range(1, count + 1):
        starts.append(len(text))
        text += f"select {number};" + (draw(ENDINGS) if number < count else "")
    return text, starts


@given(numbered_lines())
@example(("select 1;\rselect 2;\r\nselect 3;\nselect 4;", [0, 10, 21, 31]))
def test_the_start_of_line_k_is_line_k_column_1(case: tuple[str, list[int]]) -> None:
    text, starts = case
    lines = Lines(text)
    assert [(lines.line(start), lines.column(start)) for start in starts] == [(k, 1) for k in range(1, len(starts) + 1)]


@given(numbered_lines())
def test_postgresql_positions_at_the_start_of_line_k_are_line_k(case: tuple[str, list[int]]) -> None:
    text, starts = case
    expected = [(k, 1) for k in range(1, len(starts) + 1)]
    assert [locate(text, start + 1) for start in starts] == expected
    assert [line_of(text, start) for start in starts] == [k for k, _ in expected]


@given(numbered_lines())
def test_the_statement_on_line_k_is_at_line_k(case: tuple[str, list[int]]) -> None:
    text, starts = case
    assert [statement.line for statement in parse_file("any.sql", text).statements] == list(range(1, len(starts) + 1))


@given(numbered_lines())
def test_an_error_at_the_first_word_of_the_statement_sent_from_line_k_is_at_line_k(case: tuple[str, list[int]]) -> None:
    """The executor's path: a statement's chunk, where it starts in the file, PostgreSQL's position in it."""
    text, starts = case
    found = []
    for chunk, line, column in chunk_starts(parse_file("any.sql", text).chunks):
        first_word = len(chunk.text) - len(chunk.text.lstrip())
        found += [locate(chunk.text, first_word + 1, line, column)] if chunk.is_statement else []
    assert found == [(k, 1) for k in range(1, len(starts) + 1)]


def test_a_syntax_error_after_lone_carriage_returns_is_at_its_line_and_column() -> None:
    text = "CREATE TABLE a (id int);\rCREATE TABLE b (a int);\r\rCREATE TABLE c (id int,, b int);\r"
    (error,) = parse_file("mac.sql", text).errors
    assert (error.location.line, error.location.column) == (4, 24)


def test_a_syntax_error_in_a_mixed_file_is_at_its_line_and_column() -> None:
    text = "CREATE TABLE m (id int);\r\nCREATE TABLE n (a int);\n\rCREATE TABLE o (id int,, b int);\n"
    (error,) = parse_file("mixed.sql", text).errors
    assert (error.location.line, error.location.column) == (4, 24)


def test_a_line_comment_ends_at_a_lone_carriage_return_as_postgresql_ends_it() -> None:
    parsed = parse_file("c.sql", "-- header\rSELECT 1;\r-- about two\rSELECT 2;")
    assert [statement.line for statement in parsed.statements] == [2, 4]


def test_lines_keep_their_own_ends_and_nothing_else_breaks_a_line() -> None:
    assert split_lines("a\r\nb\rc\nd\x0ce\u2028f") == ["a\r\n", "b\r", "c\n", "d\x0ce\u2028f"]


def test_line_ends_are_counted_by_kind() -> None:
    found = endings("a\r\nb\nc\rd\r\n")
    assert (found.crlf, found.lf, found.cr, found.kind) == (2, 1, 1, "mixed (2 CRLF, 1 LF, 1 CR)")


def test_a_file_with_one_kind_of_line_end_is_named_by_it() -> None:
    assert [endings(text).kind for text in ("a\nb\n", "a\r\nb\r\n", "a\rb\r", "a")] == [
        None,
        "Windows (CRLF)",
        "classic Mac (CR)",
        None,
    ]
