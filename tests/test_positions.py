"""PostgreSQL's error positions as file lines and columns, and SQL text with its comments blanked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.statements import parse_file
from consolidate.postgres.positions import blank_comments, chunk_starts, locate, statement_starts

# Text made of the characters that matter to lines and comments, so that examples hit them often.
SQL_CHARACTERS = st.sampled_from(list("ab;'\"$-/*\n\r é"))
SQL_TEXT = st.text(SQL_CHARACTERS, max_size=80)


def naive_locate(text: str, position: int, start_line: int, start_column: int) -> tuple[int, int]:
    """Walk the characters one by one: the reference `locate` must agree with. A line ends at `\n`, or at a `\r`
    that no `\n` follows."""
    line, column = start_line, start_column
    end = min(max(position, 1), len(text) + 1) - 1
    for index, character in enumerate(text[:end]):
        if character == "\n" or (character == "\r" and text[index + 1 : index + 2] != "\n"):
            line, column = line + 1, 1
        else:
            column += 1
    return line, column


def test_a_position_on_the_first_line_counts_from_where_the_statement_starts() -> None:
    assert locate("SELECT nosuch;", 8, start_line=12, start_column=10) == (12, 17)


def test_a_position_on_a_later_line_counts_from_that_line_s_start() -> None:
    assert locate("SELECT 1,\n  nosuch;", 13, start_line=4, start_column=10) == (5, 3)


def test_crlf_is_one_line_break_and_does_not_shift_columns() -> None:
    assert locate("SELECT 1,\r\n  nosuch;", 14) == (2, 3)


def test_a_lone_carriage_return_is_a_line_break_as_in_editors_and_libpq() -> None:
    assert locate("SELECT 1,\r  nosuch;", 13) == (2, 3)


def test_positions_count_characters_not_bytes() -> None:
    assert locate("SELECT 'é', nosuch;", 13) == (1, 13)


def test_a_position_past_the_end_points_just_after_the_text() -> None:
    assert locate("SELECT (1", 99, start_line=3) == (3, 10)


@given(SQL_TEXT, st.integers(-2, 90), st.integers(1, 500), st.integers(1, 80))
def test_locate_agrees_with_walking_the_text(text: str, position: int, line: int, column: int) -> None:
    assert locate(text, position, line, column) == naive_locate(text, position, line, column)


def test_line_comments_are_blanked() -> None:
    text = "SELECT 1; -- crypt(x)\nSELECT 2;"
    assert blank_comments(text) == text.replace("-- crypt(x)", " " * len("-- crypt(x)"))


def test_a_line_comment_ends_at_a_lone_carriage_return_as_postgresql_ends_it() -> None:
    assert blank_comments("SELECT 1; -- c\rSELECT 2;") == "SELECT 1;     \rSELECT 2;"


def test_nested_block_comments_are_blanked_whole_and_keep_their_line_breaks() -> None:
    assert blank_comments("a /* x /* y */\n z */ b") == "a" + " " * 13 + "\n" + " " * 6 + "b"


def test_comment_markers_inside_strings_and_quoted_identifiers_are_text() -> None:
    text = "SELECT '-- not a comment', \"/* nor this */\", E'it\\'s -- text';"
    assert blank_comments(text) == text


def test_comments_inside_dollar_quoted_bodies_are_blanked() -> None:
    text = "CREATE FUNCTION f() RETURNS int AS $body$ -- note\nSELECT 1 $body$ LANGUAGE sql;"
    assert blank_comments(text) == text.replace("-- note", "       ")


def test_a_stray_quote_inside_a_body_does_not_hide_the_comments_after_the_body() -> None:
    text = "SELECT $$it's$$; -- gone"
    assert blank_comments(text) == "SELECT $$it's$$;        "


@given(SQL_TEXT)
def test_blanking_keeps_every_offset_and_line_break(text: str) -> None:
    blanked = blank_comments(text)
    assert len(blanked) == len(text)
    assert [i for i, c in enumerate(blanked) if c in "\r\n"] == [i for i, c in enumerate(text) if c in "\r\n"]
    assert all(b in (t, " ") for b, t in zip(blanked, text, strict=True))


@given(SQL_TEXT)
def test_blanking_twice_changes_nothing_more(text: str) -> None:
    assert blank_comments(blank_comments(text)) == blank_comments(text)


def test_a_statement_after_another_on_the_same_line_starts_mid_line() -> None:
    parsed = parse_file("a.sql", "SELECT 1; SELECT 2;\nSELECT 3;")
    starts = [(line, column) for _, line, column in statement_starts(parsed)]
    assert starts == [(1, 1), (1, 10), (1, 20)]


@given(SQL_TEXT)
def test_chunk_starts_are_where_each_chunk_begins_in_the_file(text: str) -> None:
    chunks = parse_file("a.sql", text).chunks
    for chunk, line, column in chunk_starts(chunks):
        assert (line, column) == naive_locate(text, chunk.offset + 1, 1, 1)
