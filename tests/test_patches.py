"""Decisions on broken legacy statements (`patches`): the legacy files as patched, for planning and the replay.

A decision stands where the statement stood, at the statement's legacy line; a decision that cannot apply is bad
input at the decision's own line in the mapping, naming the legacy file:line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate.commands import plan
from consolidate.core.mapping import parse_mapping
from consolidate.core.patches import legacy_line, patch_sources, patched_text
from consolidate.core.statements import parse_file
from consolidate.errors import ConsolidateError
from consolidate.model import Diagnostic, Location, Mapping, ParsedFile

EVENTS = """\
-- the users
CREATE TABLE users (id bigint PRIMARY KEY, name text);

-- events: a reserved word as a column name
CREATE TABLE events (
    id bigint PRIMARY KEY,
    order int
);
CREATE INDEX events_order ON events ("order");
"""
FIXED = 'CREATE TABLE events (id bigint PRIMARY KEY, "order" int, placed timestamptz);'

MAPPING = """\
version: 1
root: legacy
output: build
sources: [db]
migrations:
  - {version: 1, name: init, sources: [db/001_init.sql]}
patches:
"""


def mapping(*decisions: str) -> Mapping:
    return parse_mapping(MAPPING + "".join(decisions), "mapping.yaml", ".")


def patch(line: int, sql: str, reason: str = "order is reserved") -> str:
    block = "".join(f"      {row}\n" for row in sql.splitlines())
    return f"  - file: db/001_init.sql\n    line: {line}\n    sql: |\n{block}    reason: {reason}\n"


def drop(line: int, reason: str = "never ran in production") -> str:
    return f"  - file: db/001_init.sql\n    line: {line}\n    drop: true\n    reason: {reason}\n"


def patched(text: str, *decisions: str) -> ParsedFile:
    parsed = {"db/001_init.sql": parse_file("legacy/db/001_init.sql", text)}
    result, problems = patch_sources(mapping(*decisions), parsed)
    assert problems == ()
    return result["db/001_init.sql"]


def refused(text: str, *decisions: str) -> Diagnostic:
    parsed = {"db/001_init.sql": parse_file("legacy/db/001_init.sql", text)}
    _, problems = patch_sources(mapping(*decisions), parsed)
    (problem,) = problems
    return problem


def decision_line() -> int:
    """The mapping line of the first decision (`- file:`)."""
    return MAPPING.count("\n") + 1


# --- patched files ------------------------------------------------------------------------------------------


def test_the_legacy_file_has_a_syntax_error_that_the_patch_removes() -> None:
    assert [error.code for error in parse_file("legacy/db/001_init.sql", EVENTS).errors] == ["sql.syntax"]
    assert patched(EVENTS, patch(5, FIXED)).errors == ()


def test_a_replacement_stands_at_the_line_of_the_statement_it_replaces() -> None:
    result = patched(EVENTS, patch(5, FIXED))
    assert [(s.index, s.line) for s in result.statements] == [(0, 2), (1, 5), (2, 9)]
    assert str(result.statements[1].target) == "table events"
    assert [column.name for column in result.statements[1].facts.columns] == ["id", "order", "placed"]


def test_a_replacement_of_several_statements_renumbers_the_ones_after_it() -> None:
    result = patched(EVENTS, patch(5, f"{FIXED} COMMENT ON TABLE events IS 'e';"))
    assert [(s.index, s.line, s.kind) for s in result.statements] == [
        (0, 2, "Create"),
        (1, 5, "Create"),
        (2, 5, "Comment"),
        (3, 9, "Create"),
    ]


def test_the_patched_text_carries_the_decision_where_the_statement_stood() -> None:
    text = patched_text(patched(EVENTS, patch(5, FIXED)))
    assert text == EVENTS.replace(
        "CREATE TABLE events (\n    id bigint PRIMARY KEY,\n    order int\n);",
        f"-- consolidate: patched legacy/db/001_init.sql:5 — order is reserved\n{FIXED}",
    )


def test_a_dropped_statement_is_gone_with_its_comments_and_a_comment_line_stands_in_its_place() -> None:
    result = patched(EVENTS, drop(5))
    assert [(s.index, s.line) for s in result.statements] == [(0, 2), (1, 9)]
    assert patched_text(result) == (
        "-- the users\nCREATE TABLE users (id bigint PRIMARY KEY, name text);\n\n"
        "-- consolidate: dropped legacy/db/001_init.sql:5 — never ran in production\n"
        'CREATE INDEX events_order ON events ("order");\n'
    )


def test_a_dropped_statement_followed_on_its_line_leaves_the_next_one_on_a_line_of_its_own() -> None:
    text = "CREATE TABLE a (x int);\nSELECT 1; SELECT 2;\n"
    result = patched(text, drop(2))
    assert patched_text(result).splitlines()[1:] == [
        "-- consolidate: dropped legacy/db/001_init.sql:2 — never ran in production"
    ]
    assert len(result.statements) == 1  # both statements start on line 2: the decision covers both


def test_a_replacement_without_its_final_semicolon_gets_one() -> None:
    text = "SELECT 1;\nSELEC 2;\nSELECT 3;\n"
    result = patched(text, patch(2, "SELECT 2"))
    assert [s.text.strip().splitlines()[-1] for s in result.statements] == ["SELECT 1;", "SELECT 2;", "SELECT 3;"]


def test_a_line_of_the_patched_text_maps_back_to_the_legacy_file() -> None:
    text = "SELECT 1;\nSELEC 2;\nSELECT 3;\n"
    result = patched(text, patch(2, "SELECT 2;\nSELECT 22;\nSELECT 222;"))
    lines = patched_text(result).splitlines()
    assert [legacy_line(result, lines.index(line) + 1) for line in ("SELECT 1;", "SELECT 22;", "SELECT 3;")] == [
        1,
        2,
        3,
    ]


def test_a_decision_on_a_line_where_no_statement_starts_names_the_nearest_starts() -> None:
    problem = refused(EVENTS, patch(6, FIXED))
    assert (problem.code, problem.location) == ("mapping.patch-no-statement", Location("mapping.yaml", decision_line()))
    assert "legacy/db/001_init.sql:6" in problem.message
    assert "lines 5 and 9" in problem.hint


def test_a_replacement_that_does_not_parse_is_refused_at_the_decision() -> None:
    problem = refused(EVENTS, patch(5, "CREATE TABLE events (id bigint, order int);"))
    assert (problem.code, problem.location) == ("mapping.patch-bad-sql", Location("mapping.yaml", decision_line()))
    assert "the replacement for legacy/db/001_init.sql:5 does not parse" in problem.message
    assert '"order"' in problem.message


def test_a_replacement_of_comments_only_is_refused() -> None:
    problem = refused(EVENTS, patch(5, "-- nothing here"))
    assert problem.code == "mapping.patch-bad-sql"
    assert "holds no statement" in problem.message
    assert "drop: true" in problem.hint


# --- through the pipeline -----------------------------------------------------------------------------------


def tree(folder: Path, text: str, *decisions: str) -> Path:
    (folder / "legacy/db").mkdir(parents=True)
    (folder / "legacy/db/001_init.sql").write_text(text)
    (folder / "mapping.yaml").write_text(MAPPING + "".join(decisions))
    return folder / "mapping.yaml"


def test_a_legacy_syntax_error_fixed_by_a_patch_leaves_the_plan_clean(tmp_path: Path) -> None:
    assert not plan(tree(tmp_path / "before", EVENTS)).clean
    assert plan(tree(tmp_path / "after", EVENTS, patch(5, FIXED))).clean


def test_a_patched_statement_is_planned_as_the_replacement_identical_to_an_earlier_one_is_a_duplicate(
    tmp_path: Path,
) -> None:
    text = "CREATE TABLE a (x int);\nCREATE TABLE a (x int, y int);\n"
    result = plan(tree(tmp_path, text, patch(2, "CREATE TABLE a (x int);", "the second definition never ran")))
    (duplicate,) = result.duplicates
    assert (duplicate.removed.line, duplicate.kept.line) == (2, 1)
    assert result.conflicts == ()


def test_a_decision_that_cannot_apply_stops_the_plan_as_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConsolidateError) as raised:
        plan(tree(tmp_path, EVENTS, drop(4)))
    assert raised.value.exit_code == 2
    assert [d.code for d in raised.value.diagnostics] == ["mapping.patch-no-statement"]
