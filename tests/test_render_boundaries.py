"""Rendering never moves a statement boundary: a canonical file splits into its sources' statements, in order.

psql runs a file's last statement even without its `;`; in a canonical file the next source (or the lines the
renderer adds after a source) follows it, so the renderer writes that `;`, after the code and before any comment
trailing it.

How the property compares statements (`code`): a statement's text with its comments blanked, stripped of white
space at both ends, then of its terminating `;` and the white space before it. Comments are not compared: the
renderer adds its own (the header, `-- ==== consolidate: source …`, removed duplicates, left-out definitions,
the RESET note), and they may join the legacy comments that lead a statement. Statements are: every canonical
statement `split` finds, and on the legacy side every statement the plan keeps, each followed by the statements
the renderer adds after it on purpose: the ALTER … ADD COLUMN lines of a merge-columns resolution after the
definition they complete, and after a source followed by another in its version, the RESET statements
`session.resets` gives for it. A down file holds the legacy down scripts' statements, last source first. And when
PostgreSQL's parser accepts every source, it accepts the canonical file too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consolidate.core.comments import blank_comments
from consolidate.core.plan import build_plan
from consolidate.core.session import resets
from consolidate.core.statements import parse_file, split
from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.model import Decision, FileName, LegacyFile, ParsedFile, Plan, ScanResult, Scheme
from consolidate.model import Direction as D
from consolidate.render.environment import environment
from consolidate.render.tree import TRANSACTION_NOTE, merged_columns, render_tree, terminated, without_wrapping
from tests.planning import mapping

UP_BODIES = (
    "CREATE TABLE IF NOT EXISTS a (id int)",
    "CREATE TABLE a (id int, note text)",  # a conflict with the one above: resolutions apply
    "CREATE INDEX IF NOT EXISTS ix_a ON a (id)",
    "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DO $body$\nBEGIN\n  -- a comment; inside the body\n  PERFORM 2;\nEND\n$body$",
    "INSERT INTO a (id) VALUES (1)",
    "SET search_path TO public",
    "SET statement_timeout = '5s'",
    "COMMENT ON TABLE a IS 'not -- a comment; nor /* this */'",
    "SELECT 1 /* inline */ + 1",
    "SELECT E'it\\'s -- not a comment;' AS \"quoted; too\"",
    "CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
    'CREATE TABLE IF NOT EXISTS "line\nbreak" (id int)',  # its name goes into comment lines of ours
)
DOWN_BODIES = (
    "DROP TABLE IF EXISTS a",
    "DROP FUNCTION IF EXISTS f()",
    "DO $$ BEGIN PERFORM 1; END $$",
    "DELETE FROM a WHERE note = '-- kept; text'",
    "RESET search_path",
)
LEADS = ("", "\n", "-- lead\n", "/* lead */ ")
SEPARATORS = ("\n", "\n\n", " ", "\n-- between; statements\n")
TAILS = ("", "\n", "\n\n", " -- tail", " -- tail\n", " /* tail */", "\n/* a /* nested */ b */\n", "\n-- tail; too")


@st.composite
def scripts(draw: st.DrawFn, bodies: Sequence[str], min_size: int = 0) -> str:
    """A legacy script: statements from `bodies`, the last one with or without its `;`, maybe in CRLF."""
    statements = draw(
        st.lists(st.tuples(st.sampled_from(LEADS), st.sampled_from(bodies)), min_size=min_size, max_size=4)
    )
    text = ""
    for index, (lead, body) in enumerate(statements):
        last = index == len(statements) - 1
        ending = (";" if draw(st.booleans()) else "") if last else ";" + draw(st.sampled_from(SEPARATORS))
        text += lead + body + ending
    text += draw(st.sampled_from(TAILS))
    return text.replace("\n", "\r\n") if draw(st.booleans()) else text


def code(text: str) -> str:
    """A statement as the property compares it (see the module's docstring)."""
    return blank_comments(text).strip().removesuffix(";").rstrip()


def canonical(text: str) -> list[str]:
    return [code(chunk.text) for chunk in split(text) if chunk.is_statement]


def scan_of(ups: Sequence[str], downs: dict[str, str]) -> ScanResult:
    """Up files (read from their parsed statements) and down files `down path → text`, paired in order."""
    files = [LegacyFile(path, FileName(Scheme.UNNUMBERED, D.UP, None, path), "0" * 64, "") for path in ups]
    files += [
        LegacyFile(path, FileName(Scheme.UNNUMBERED, D.DOWN, None, path), "0" * 64, text)
        for path, text in downs.items()
    ]
    pairs = tuple(
        (up, f"{up.removesuffix('.sql')}_down.sql") for up in ups if f"{up.removesuffix('.sql')}_down.sql" in downs
    )
    return ScanResult(tuple(sorted(files, key=lambda legacy: legacy.path)), pairs, ())


def render(
    layout: Sequence[Sequence[str]], decision: str | None = None, downs: Sequence[Sequence[str]] = ()
) -> tuple[Plan, dict[str, ParsedFile], dict[str, str]]:
    """The canonical tree of versions of sources (their texts) through the real parser and planner."""
    texts = {f"t{t}/f{f}.sql": text for t, files in enumerate(layout) for f, text in enumerate(files)}
    down_texts = {f"t{t}/f{f}_down.sql": text for t, files in enumerate(downs) for f, text in enumerate(files)}
    targets = [[f"t{t}/f{f}.sql" for f in range(len(files))] for t, files in enumerate(layout)]
    resolutions = [("table public.a", decision)] if decision else []
    parsed = {path: parse_file(path, text) for path, text in texts.items()}
    scan = scan_of(list(texts), down_texts)
    plan, _ = build_plan(mapping(targets, resolutions), scan, parsed)
    return plan, parsed, render_tree(environment(), plan, scan, parsed)


def legacy_up(plan: Plan, number: int) -> Iterator[str]:
    """The statements version `number` must hold: what the plan keeps, and what the renderer adds on purpose."""
    merges = {
        (c.second.path, c.second.index): c
        for c in plan.conflicts
        if c.resolution is not None and c.resolution.decision is Decision.MERGE_COLUMNS and c.lost_columns
    }
    sources = plan.targets[number - 1].sources
    for position, source in enumerate(sources):
        for statement in source.statements:
            yield code(statement.text)
            merge = merges.get((statement.path, statement.index))
            if merge is not None:
                yield from canonical(merged_columns(merge))
        if position < len(sources) - 1:
            yield from (code(reset) for reset in resets(s.text for s in source.statements))


def clean(parsed: dict[str, ParsedFile]) -> bool:
    return not any(file.errors for file in parsed.values())


layouts = st.lists(st.lists(scripts(UP_BODIES), min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=80, deadline=None)
@given(layouts, st.sampled_from([None, "keep-first", "merge-columns"]))
@example([["CREATE TABLE IF NOT EXISTS a (id int)", "CREATE INDEX ix_a ON a (id);"]], None)
@example([["CREATE TABLE IF NOT EXISTS a (id int) -- no newline", "SELECT 1;"]], None)
@example([["DO $$ BEGIN PERFORM 1; END $$ /* a /* nested */ block */", "SELECT 1;"]], None)
@example([["SET search_path TO public", "SELECT 1;"]], None)
@example([["SELECT 1;\r\nSELECT 2 -- crlf", "SELECT 3;"]], None)
@example([["CREATE INDEX ix_a ON a (id);", "CREATE INDEX ix_a ON a (id); SELECT 2;"]], None)  # a removed duplicate
@example([["CREATE TABLE IF NOT EXISTS a (id int);", "CREATE TABLE a (id int, note text); SELECT 1"]], "keep-first")
@example(
    [["CREATE TABLE IF NOT EXISTS a (id int);", "CREATE TABLE a (id int, note text)"], ["SELECT 1"]], "merge-columns"
)
@example([["-- only a comment", "", "SELECT 1"]], None)
@example([['CREATE TABLE IF NOT EXISTS "line\nbreak" (id int);'] * 2], None)
def test_a_version_splits_into_its_sources_statements_in_order(layout: list[list[str]], decision: str | None) -> None:
    plan, parsed, tree = render(layout, decision)
    for target in plan.targets:
        up = tree[f"versions/{target.target.label(3)}.sql"]
        assert canonical(up) == list(legacy_up(plan, target.target.version))
        if clean(parsed):
            assert parse_file("up.sql", up).errors == ()


# A down script without SQL is no rollback (the plan writes a stub), so every one here has a statement.
downs_layouts = st.lists(st.lists(scripts(DOWN_BODIES, min_size=1), min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(downs_layouts)
@example([["DROP TABLE IF EXISTS a", "DROP FUNCTION IF EXISTS f();"]])
@example([["DROP TABLE IF EXISTS a -- no newline", "DO $$ BEGIN PERFORM 1; END $$"]])
@example([["DROP TABLE IF EXISTS a /* a block comment ends it */", "RESET search_path\r\n"]])
def test_a_down_file_splits_into_its_legacy_down_scripts_statements_last_source_first(
    downs: list[list[str]],
) -> None:
    layout = [["SELECT 1;"] * len(files) for files in downs]
    _, _, tree = render(layout, downs=downs)
    for number, files in enumerate(downs, start=1):
        expected = [code(s.text) for text in reversed(files) for s in parse_file("down.sql", text).statements]
        down = tree[f"down/{number:03d}_t{number}_down.sql"]
        assert canonical(down) == expected
        if not any(parse_file("down.sql", text).errors for text in files):
            assert parse_file("down.sql", down).errors == ()


def test_a_stub_rollback_is_one_statement_whatever_the_names_it_lists() -> None:
    _, _, tree = render([['CREATE TABLE "line\nbreak" (id int);\nINSERT INTO "line\nbreak" VALUES (1);']])
    (statement,) = canonical(tree["down/001_t1_down.sql"])
    assert statement.startswith("DO $$ BEGIN RAISE EXCEPTION")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1", "SELECT 1;"),
        ("SELECT 1;", "SELECT 1;"),
        ("SELECT 1 -- one", "SELECT 1; -- one"),
        ("SELECT 1\r\n-- one\r\n", "SELECT 1;\r\n-- one\r\n"),
        ("SELECT 1; SELECT 2 /* two; */\n", "SELECT 1; SELECT 2; /* two; */\n"),
        ("DO $$ BEGIN PERFORM 1; END $$\n", "DO $$ BEGIN PERFORM 1; END $$;\n"),
        ("", ""),
        ("-- only a comment", "-- only a comment"),
    ],
)
def test_a_script_s_last_statement_gets_its_semicolon_right_after_its_code(text: str, expected: str) -> None:
    assert terminated(text) == expected


# --- on PostgreSQL -------------------------------------------------------------------------------------------

WITHOUT_SEMICOLON = ["CREATE TABLE robots (id int) -- the last statement has no ;", "CREATE TABLE parts (id int);\n"]
DOWNS_WITHOUT_SEMICOLON = ["DROP TABLE robots -- no ; either", "DROP TABLE parts"]


@pytest.fixture
def database(service_server: Server) -> Iterator[str]:
    with scratch_database(service_server, "render_boundaries") as url:
        yield url


def replayed_version(database: str, *names: str) -> list[tuple[str, int, str]]:
    """Replay files of the canonical tree as the runner applies them; where each failure is, with its SQLSTATE."""
    _, _, tree = render([WITHOUT_SEMICOLON], downs=[DOWNS_WITHOUT_SEMICOLON])
    replayed = replay_files(database, [(name, tree[name]) for name in names], per_file_transaction=True)
    return [(failure.path, failure.line, failure.sqlstate) for failure in replayed.failures]


@pytest.mark.db
def test_a_version_runs_when_its_first_source_lacks_its_last_semicolon(database: str) -> None:
    assert replayed_version(database, "versions/001_t1.sql") == []


@pytest.mark.db
def test_a_rollback_runs_when_a_legacy_down_script_lacks_its_last_semicolon(database: str) -> None:
    assert replayed_version(database, "versions/001_t1.sql", "down/001_t1_down.sql") == []
    with psycopg.connect(database) as connection:
        assert connection.execute("SELECT to_regclass('robots'), to_regclass('parts')").fetchone() == (None, None)


WRAPPED_SOURCES = [
    "BEGIN;\nCREATE TABLE wrapped_a (id int);\nCOMMIT;\n",
    "BEGIN;\nCREATE TABLE wrapped_b (id int);\nCOMMIT;\n",
]


def test_a_begin_commit_wrapping_a_whole_source_is_left_out_with_a_note() -> None:
    plan, _, tree = render([WRAPPED_SOURCES])
    statements = canonical(tree["versions/001_t1.sql"])
    assert statements == ["CREATE TABLE wrapped_a (id int)", "CREATE TABLE wrapped_b (id int)"]
    assert tree["versions/001_t1.sql"].count("transaction control left out") == 4
    assert sorted(plan.transaction_wraps) == [("t0/f0.sql", 0), ("t0/f0.sql", 2), ("t0/f1.sql", 0), ("t0/f1.sql", 2)]


@pytest.mark.db
def test_a_version_of_wrapped_sources_is_one_transaction_so_a_later_failure_undoes_the_first_source(
    database: str,
) -> None:
    failing = WRAPPED_SOURCES[1].replace("(id int)", "(id int REFERENCES missing (id))")
    _, _, tree = render([[WRAPPED_SOURCES[0], failing]])
    replayed = replay_files(database, [("versions/001_t1.sql", tree["versions/001_t1.sql"])], per_file_transaction=True)
    assert [failure.sqlstate for failure in replayed.failures] == ["42P01"]
    with psycopg.connect(database) as connection:
        assert connection.execute("SELECT to_regclass('wrapped_a')").fetchone() == (None,)


def test_a_legacy_down_script_wrapped_in_its_own_transaction_loses_only_the_wrapping() -> None:
    # The runner refuses a down script that opens its own transaction (it would commit without the row's DELETE).
    text = "-- Revert users\n\nBEGIN;\n\nDROP TABLE users; -- gone\n\nCOMMIT;\n"
    assert without_wrapping(text) == (
        f"-- Revert users\n\n{TRANSACTION_NOTE}\n\nDROP TABLE users; -- gone\n\n{TRANSACTION_NOTE}\n"
    )


def test_a_down_script_committing_half_way_is_left_as_written_for_the_runner_to_refuse() -> None:
    text = "BEGIN;\nDROP TABLE a;\nCOMMIT;\nDROP TABLE b;\n"
    assert without_wrapping(text) == text
