"""Splitting legacy files into statements, parsing them once, and PostgreSQL's syntax check."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consolidate.core.statements import parse_file, split
from consolidate.model import Location, ParsedFile, Statement

# --- generated files ------------------------------------------------------------------------------------

_FIXED_STATEMENTS = [
    "CREATE TABLE robots (id int PRIMARY KEY, name text)",
    "INSERT INTO robots (name) VALUES ('x;y'), ('it''s; fine')",
    'CREATE TABLE "a;b" ("c;d" int)',
    "DO $$ BEGIN PERFORM 1; RAISE NOTICE 'a;b'; END $$",
    "CREATE FUNCTION f() RETURNS int AS $tag$ SELECT $$;$$; SELECT 1; $tag$ LANGUAGE sql",
    "SELECT 'ünïcødé;' AS \"名前;\"",
    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2))",
    "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END",
    "select 1",
]
_SEPARATORS = [
    " ",
    "\n",
    "\r\n",
    "\t",
    "\n\n",
    "-- a comment; with semicolons\n",
    "-- ünï;cødé\r\n",
    "/* block; comment */",
    "/* multi\n   line; comment */\n",
    "/* nested /* inner; */ still; */",
]
_LITERAL_CHARS = st.sampled_from(list("ab ;'\"$-/*\\\n\r\té名"))


@st.composite
def _string_statement(draw: st.DrawFn) -> str:
    body = draw(st.text(_LITERAL_CHARS, max_size=12))
    return "SELECT '" + body.replace("'", "''") + "'"


@st.composite
def _dollar_statement(draw: st.DrawFn) -> str:
    tag = draw(st.sampled_from(["", "body", "x_1"]))
    body = draw(st.text(_LITERAL_CHARS, max_size=12).filter(lambda text: "$" not in text))
    return f"SELECT ${tag}${body}${tag}$"


@st.composite
def _identifier_statement(draw: st.DrawFn) -> str:
    name = draw(st.text(_LITERAL_CHARS, min_size=1, max_size=8))
    return 'CREATE TABLE "' + name.replace('"', '""') + '" (id int)'


_STATEMENTS = st.one_of(
    st.sampled_from(_FIXED_STATEMENTS), _string_statement(), _dollar_statement(), _identifier_statement()
)
_GAPS = st.lists(st.sampled_from(_SEPARATORS), max_size=3).map("".join)


@st.composite
def _file(draw: st.DrawFn) -> tuple[str, int]:
    """A file made of statements, each terminated by ';' but maybe the last, and gaps between them."""
    statements = draw(st.lists(_STATEMENTS, max_size=6))
    pieces = [draw(_GAPS) + statement + ";" for statement in statements]
    if statements and draw(st.booleans()):
        pieces[-1] = pieces[-1][:-1]
    return "".join(pieces) + draw(_GAPS), len(statements)


# --- splitting ------------------------------------------------------------------------------------------


@settings(deadline=None)  # parsing cost varies with machine load, not with correctness
@given(_file())
@example(("", 0))
@example(("select 1", 1))
@example(("-- only a comment\n", 0))
@example(("select 1;\r\n-- trailing\r\n", 1))
@example(("SELECT $tag$ $$;$$ $tag$;SELECT 'a;''b';", 2))
@example(('CREATE TABLE "a;b" (id int);\n/* x; */select 1', 2))
def test_chunks_join_back_to_the_file_and_count_its_statements(case: tuple[str, int]) -> None:
    text, count = case
    chunks = split(text)
    assert "".join(chunk.text for chunk in chunks) == text
    assert sum(chunk.is_statement for chunk in chunks) == count


@settings(deadline=None)
@given(_file())
def test_every_generated_file_parses_into_its_statements_without_errors(case: tuple[str, int]) -> None:
    text, count = case
    parsed = parse_file("gen.sql", text)
    assert len(parsed.statements) == count
    assert parsed.errors == ()
    assert [s.text for s in parsed.statements] == [c.text for c in parsed.chunks if c.is_statement]


@settings(deadline=None)
@given(st.text(st.sampled_from(list("ab ;'\"$-/*\\()\n\r\té\x00")), max_size=40))
@example("select $$ never closed;")
@example("select 1; /* never closed")
def test_any_text_splits_and_parses_without_crashing(text: str) -> None:
    assert "".join(chunk.text for chunk in split(text)) == text
    parsed = parse_file("any.sql", text)
    assert "".join(chunk.text for chunk in parsed.chunks) == text


def test_chunk_offsets_and_lines_locate_each_slice() -> None:
    text = "select 1;\n\nselect 2;\n"
    chunks = split(text)
    assert [(chunk.offset, chunk.line) for chunk in chunks] == [(0, 1), (9, 1), (20, 3)]


def test_leading_comments_stay_with_the_statement_that_follows_them() -> None:
    chunks = split("select 1; -- about two\nselect 2;")
    assert [chunk.text for chunk in chunks] == ["select 1;", " -- about two\nselect 2;"]


def test_empty_statements_are_chunks_but_not_statements() -> None:
    chunks = split("select 1;;\n;select 2;")
    assert [(chunk.text, chunk.is_statement) for chunk in chunks] == [
        ("select 1;", True),
        (";", False),
        ("\n;", False),
        ("select 2;", True),
    ]


def test_text_after_the_last_semicolon_is_trailing_unless_it_holds_a_statement() -> None:
    assert [chunk.is_statement for chunk in split("select 1;\n-- end\n")] == [True, False]
    assert [chunk.is_statement for chunk in split("select 1;\nselect 2\n")] == [True, True]


def test_a_dollar_tagged_body_with_nested_dollar_quotes_stays_whole() -> None:
    text = "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT $$;$$; SELECT 1; $fn$ LANGUAGE sql;"
    assert [chunk.text for chunk in split(text)] == [text]


def test_semicolons_inside_rule_actions_do_not_end_the_statement() -> None:
    text = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));"
    assert [chunk.text for chunk in split(text + "select 1;")] == [text, "select 1;"]


def test_semicolons_inside_a_begin_atomic_body_do_not_end_the_statement() -> None:
    text = (
        "CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  SELECT 2;\nEND;"
    )
    assert [chunk.text for chunk in split(text + "\nselect 1;")] == [text, "\nselect 1;"]


# --- statements -----------------------------------------------------------------------------------------


def _statements(text: str, dialect: str = "postgres") -> tuple[Statement, ...]:
    return parse_file("m.sql", text, dialect).statements


def test_a_statement_line_is_its_first_token_not_its_leading_comment() -> None:
    text = "select 1;\n/* a comment\n   over three\n   lines */\n\n  select 2;\n-- x\nselect 3;"
    assert [statement.line for statement in _statements(text)] == [1, 6, 8]


def test_statements_are_numbered_from_zero_skipping_empty_ones() -> None:
    statements = _statements("select 1;;select 2;")
    assert [(s.index, s.text) for s in statements] == [(0, "select 1;"), (1, "select 2;")]


def test_parsed_statements_carry_sqlglot_expression_kind() -> None:
    statements = _statements("CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);")
    assert [(s.kind, s.parsed) for s in statements] == [("Create", True), ("Insert", True)]


def test_sqlglot_fallbacks_are_counted_and_kept_as_commands() -> None:
    parsed = parse_file("m.sql", "DO $$ BEGIN PERFORM 1; END $$;\nCREATE TABLE t (id int);")
    assert parsed.fallbacks == 1
    assert [(s.kind, s.parsed) for s in parsed.statements] == [("Command", False), ("Create", True)]


def test_a_sqlglot_parse_error_on_one_statement_does_not_stop_the_others() -> None:
    parsed = parse_file("m.sql", "select a from t order by a using <;\nselect 2;")
    assert parsed.errors == ()  # PostgreSQL accepts it: sqlglot does not judge syntax
    assert [(s.kind, s.parsed) for s in parsed.statements] == [("Command", False), ("Select", True)]
    assert parsed.fallbacks == 1


def test_statements_sqlglot_keeps_verbatim_are_described_from_postgresql_node() -> None:
    (policy,) = _statements("CREATE POLICY owner_only ON robots USING (true);")
    assert policy.parsed is False
    assert policy.target is not None
    assert (policy.target.kind, policy.target.name) == ("policy", "owner_only")


def test_postgresql_nodes_still_reach_statements_when_another_statement_is_broken() -> None:
    statements = _statements("select from from;\nCREATE POLICY owner_only ON robots USING (true);")
    assert statements[1].target is not None
    assert statements[1].target.kind == "policy"


def test_the_text_described_has_no_leading_comment_nor_terminator() -> None:
    (statement,) = _statements("-- robots\nDO $$ BEGIN PERFORM 1; END $$ ;\n")
    assert statement.facts.mentions  # opaque DO block: its identifiers come from the text
    assert "robots" not in statement.facts.mentions


# --- syntax errors --------------------------------------------------------------------------------------


def _errors(text: str, dialect: str = "postgres") -> list[tuple[str, str, Location]]:
    parsed: ParsedFile = parse_file("m.sql", text, dialect)
    return [(error.code, error.message, error.location) for error in parsed.errors]


def test_a_syntax_error_is_reported_at_postgresql_position_with_its_message() -> None:
    text = "CREATE TABLE ok (id int);\n-- broken:\nSELECT id\n  FROM FROM ok;\n"
    assert _errors(text) == [("sql.syntax", 'syntax error at or near "FROM"', Location("m.sql", 4, 8))]


def test_every_broken_statement_of_a_file_is_reported_in_one_run() -> None:
    text = "select from from;\nselect 1;\ncreate table (id int);\nselect 2;\nselect (;"
    assert [location.line for _, _, location in _errors(text)] == [1, 3, 5]


def test_crlf_counts_as_one_line_break_in_error_positions() -> None:
    text = "select 1;\r\n\r\nselect 2;\r\n  select from from;\r\n"
    assert [location for _, _, location in _errors(text)] == [Location("m.sql", 4, 15)]


def test_columns_count_characters_not_bytes() -> None:
    text = "select 'ünïcødé' from from;"
    assert [location for _, _, location in _errors(text)] == [Location("m.sql", 1, 23)]


def test_an_error_at_end_of_input_points_past_the_last_token() -> None:
    text = "select 1;\nselect 1 from\n-- trailing comment\n"
    assert _errors(text) == [("sql.syntax", "syntax error at end of input", Location("m.sql", 2, 14))]


@pytest.mark.parametrize(
    ("text", "line", "hint"),
    [
        ("INSERT INTO t VALUES ({{ .Value }});\n", 1, "a template placeholder"),
        ("CREATE ROLE {% raw %}app{% endraw %};\n", 1, "a template placeholder"),
        ("ALTER TABLE t ADD COLUMN v text DEFAULT ${flyway:user};\n", 1, "a placeholder ${…}"),
        ("CREATE SCHEMA :schema;\n", 1, "a psql variable"),
        ("COPY t (a) FROM stdin;\n1\n2\n\\.\n", 2, "the rows of a COPY … FROM stdin"),
    ],
)
def test_text_another_tool_replaces_is_a_syntax_error_saying_which_tool(text: str, line: int, hint: str) -> None:
    errors = parse_file("p.sql", text).errors
    assert errors and errors[0].location.line == line and errors[0].hint.startswith(hint), errors


def test_a_backslash_in_the_middle_of_a_line_is_a_syntax_error_saying_it_may_be_a_meta_command() -> None:
    parsed = parse_file("m.sql", "select 1;\nselect 2 \\gset\n")
    assert [(e.code, e.location, e.hint) for e in parsed.errors] == [
        ("sql.syntax", Location("m.sql", 2, 10), "psql meta-command; not SQL")
    ]


# --- psql meta-commands (issue 13, promise 10) ----------------------------------------------------------

PG_DUMP_17_6 = """\
\\restrict 9fTq2cZ
\\set ON_ERROR_STOP on
CREATE TABLE robots (id int);
\\i more.sql
  \\connect app
CREATE TABLE jobs (id int);
\\unrestrict 9fTq2cZ
"""


def _metas(text: str) -> list[tuple[str, int, int]]:
    errors = parse_file("m.sql", text).errors
    return [(e.message, e.location.line, e.location.column or 0) for e in errors if e.code == "sql.meta-command"]


def test_every_meta_command_is_a_finding_of_its_own_at_its_own_line() -> None:
    assert _metas(PG_DUMP_17_6) == [
        ("psql meta-command \\restrict; not SQL", 1, 1),
        ("psql meta-command \\set; not SQL", 2, 1),
        ("psql meta-command \\i; not SQL", 4, 1),
        ("psql meta-command \\connect; not SQL", 5, 3),
        ("psql meta-command \\unrestrict; not SQL", 7, 1),
    ]


def test_meta_commands_are_the_only_findings_the_statements_around_them_have_none() -> None:
    assert {e.code for e in parse_file("m.sql", PG_DUMP_17_6).errors} == {"sql.meta-command"}


def test_the_statements_around_meta_commands_keep_their_own_text_and_lines() -> None:
    statements = parse_file("m.sql", PG_DUMP_17_6).statements
    assert [(s.line, s.text, s.kind) for s in statements] == [
        (3, "\nCREATE TABLE robots (id int);", "Create"),
        (6, "\nCREATE TABLE jobs (id int);", "Create"),
    ]


def test_a_meta_command_before_a_statement_is_a_chunk_of_its_own_and_the_file_joins_back() -> None:
    chunks = split("select 1;\n\\set x 1\nselect 2;")
    assert [(c.text, c.is_statement, c.is_meta) for c in chunks] == [
        ("select 1;", True, False),
        ("\n\\set x 1", False, True),
        ("\nselect 2;", True, False),
    ]


def test_a_meta_command_inside_a_statement_is_found_and_the_statement_read_without_it() -> None:
    parsed = parse_file("m.sql", "CREATE TABLE t (\n\\set x 1\n  a int);\n")
    assert [(e.code, e.location.line) for e in parsed.errors] == [("sql.meta-command", 2)]
    assert [s.kind for s in parsed.statements] == ["Create"]


def test_a_double_backslash_ends_a_meta_command_and_the_rest_of_the_line_is_sql() -> None:
    parsed = parse_file("m.sql", "\\set x 1 \\\\ select 1;\n")
    assert [e.code for e in parsed.errors] == ["sql.meta-command"]
    assert [s.text for s in parsed.statements] == [" select 1;"]


@pytest.mark.parametrize(
    "text",
    [
        "select '\n\\set x';",
        'select "\n\\set";',
        "select 1; -- \\set x\n",
        "/* a\n\\set x */ select 1;",
        "DO $$\n\\set x\n$$;",
        "select E'\\'\n\\set';",
    ],
)
def test_a_backslash_inside_a_string_comment_or_dollar_body_is_no_meta_command(text: str) -> None:
    assert _metas(text) == []


def test_the_rows_of_a_copy_from_stdin_are_data_not_meta_commands() -> None:
    text = "COPY t (a, b) FROM stdin;\n\\N\t1\n\\t\t2\n\\.\n\\set after 1\n"
    assert _metas(text) == [("psql meta-command \\set; not SQL", 5, 1)]


def test_a_meta_command_after_lone_carriage_returns_is_at_its_line() -> None:
    assert _metas("select 1;\r\r\\set x 1\rselect 2;\r") == [("psql meta-command \\set; not SQL", 3, 1)]


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("\\set schema app", "write its value where the file uses it"),
        ("\\i 002_more.sql", "list that file in the mapping"),
        ("\\ir ../common.sql", "list that file in the mapping"),
        ("\\restrict abc", "pg_dump 17.6+ writes this security line"),
        ("\\unrestrict abc", "pg_dump 17.6+ writes this security line"),
        ("\\c app", "a bootstrap script"),
        ("\\connect app", "a bootstrap script"),
        ("\\echo hello", "psql runs it, PostgreSQL never sees it"),
    ],
)
def test_each_meta_command_carries_the_fix_for_its_kind(line: str, hint: str) -> None:
    (error,) = parse_file("m.sql", f"select 1;\n{line}\n").errors
    assert hint in error.hint, error.hint


def test_an_unterminated_dollar_body_is_reported_and_earlier_statements_survive() -> None:
    text = "select 1;\nDO $$ BEGIN PERFORM 1;\nselect 2;\n"
    parsed = parse_file("m.sql", text)
    assert [e.location for e in parsed.errors] == [Location("m.sql", 2, 4)]
    assert "unterminated dollar-quoted string" in parsed.errors[0].message
    assert [s.text for s in parsed.statements] == ["select 1;", "\nDO $$ BEGIN PERFORM 1;\nselect 2;\n"]
    assert "".join(chunk.text for chunk in parsed.chunks) == text


def test_an_unterminated_string_is_reported_by_the_tokenizer_for_other_dialects() -> None:
    text = "select 1;\n/* fine */\nselect 'never closed;\n"
    assert _errors(text, "mysql") == [
        (
            "sql.tokenize",
            "cannot split statements from here: unterminated quote, quoted identifier, comment or dollar-quoted body",
            Location("m.sql", 3, 8),
        )
    ]


def test_other_dialects_skip_postgresql_syntax_check() -> None:
    assert _errors("select from from;", "mysql") == []


def test_a_valid_file_has_no_errors() -> None:
    text = "CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\nDO $$ BEGIN NULL; END $$;"
    assert _errors(text) == []


# --- fingerprints ---------------------------------------------------------------------------------------


def _fingerprint(text: str) -> str:
    (statement,) = _statements(text)
    return statement.fingerprint


def test_formatting_and_comments_do_not_change_a_parsed_statement_fingerprint() -> None:
    one = "CREATE TABLE robots (id int, name text);"
    two = "-- robots\ncreate table ROBOTS (\n    id   INT,  /* key */\n    name TEXT\n)"
    assert _fingerprint(one) == _fingerprint(two)
    assert _fingerprint(one).startswith("ast:")


def test_unquoted_identifiers_compare_case_insensitively_as_postgresql_folds_them() -> None:
    assert _fingerprint("CREATE TABLE Robots (Id int);") == _fingerprint("CREATE TABLE robots (id int);")


def test_non_ascii_identifiers_are_not_folded_as_postgresql_folds_ascii_only() -> None:
    assert _fingerprint("CREATE TABLE Äpfel (id int);") != _fingerprint("CREATE TABLE äpfel (id int);")


def test_a_changed_literal_changes_the_fingerprint() -> None:
    assert _fingerprint("INSERT INTO t VALUES ('a');") != _fingerprint("INSERT INTO t VALUES ('b');")
    assert _fingerprint("INSERT INTO t VALUES ('a');") != _fingerprint("INSERT INTO t VALUES ('A');")


def test_timestamptz_and_timestamp_with_time_zone_share_a_fingerprint() -> None:
    one = "CREATE TABLE t (at TIMESTAMPTZ);"
    two = "CREATE TABLE t (at TIMESTAMP WITH TIME ZONE);"
    assert _fingerprint(one) == _fingerprint(two)


def test_quoted_identifiers_keep_their_case_in_the_fingerprint() -> None:
    assert _fingerprint('CREATE TABLE "Robots" (id int);') != _fingerprint('CREATE TABLE "robots" (id int);')


def test_formatting_and_comments_do_not_change_a_command_fingerprint() -> None:
    one = "DO $$\nBEGIN\n    PERFORM 1;\nEND\n$$;"
    two = "-- once\ndo $$ BEGIN PERFORM 1;  END $$"
    assert _fingerprint(one) == _fingerprint(two)
    assert _fingerprint(one).startswith("txt:")


def test_a_changed_literal_changes_a_command_fingerprint() -> None:
    one = "DO $$ BEGIN RAISE NOTICE 'a'; END $$;"
    two = "DO $$ BEGIN RAISE NOTICE 'b'; END $$;"
    assert _fingerprint(one) != _fingerprint(two)


def test_unparsed_statements_compare_strings_exactly_and_words_case_insensitively() -> None:
    one = "select a from t order by a using <;"
    assert _fingerprint(one) == _fingerprint("SELECT A FROM T\n  ORDER BY A USING <")
    assert _fingerprint("select 'a  b' from t order by a using <") != _fingerprint(
        "select 'a b' from t order by a using <"
    )
