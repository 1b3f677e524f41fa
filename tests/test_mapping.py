"""mapping.yaml: every rule of docs/mapping.md, each problem at its exact line; then tree and coverage checks."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.mapping import check_coverage, check_tree, parse_mapping, parse_object, source_lines
from consolidate.core.naming import parse_name
from consolidate.errors import ConsolidateError
from consolidate.model import (
    Decision,
    Diagnostic,
    Direction,
    FileName,
    LegacyFile,
    Location,
    Mapping,
    RawFile,
    ScanResult,
    Scheme,
    SourceTree,
)

BASE = """\
version: 1
root: legacy
output: deploy/migrations
sources:
  - db/migrations
  - deploy/sql
migrations:
  - version: 1
    name: initial_schema
    sources:
      - db/migrations/001_init.sql
  - version: 2
    name: robots
    description: Robots table
    sources: [db/migrations/002_robots.sql]
"""


def parse(text: str) -> Mapping:
    return parse_mapping(text, "mapping.yaml", "project")


def problems(text: str) -> tuple[Diagnostic, ...]:
    with pytest.raises(ConsolidateError) as raised:
        parse(text)
    return raised.value.diagnostics


def only(text: str) -> Diagnostic:
    """The one problem of a text; failing if validation reported more (a cascade) or none."""
    found = problems(text)
    assert len(found) == 1, [str(problem) for problem in found]
    return found[0]


def line_of(text: str, needle: str, nth: int = 0) -> int:
    return [number for number, line in enumerate(text.splitlines(), 1) if needle in line][nth]


def assert_problem(text: str, code: str, message: str, needle: str, nth: int = 0) -> Diagnostic:
    problem = only(text)
    assert (problem.code, problem.location) == (code, Location("mapping.yaml", line_of(text, needle, nth)))
    assert message in problem.message
    assert problem.hint
    return problem


# --- a valid mapping ----------------------------------------------------------------------------------------


def test_a_valid_mapping_gives_its_settings_with_defaults_for_dialect_and_width() -> None:
    mapping = parse(BASE)
    assert (mapping.path, mapping.base, mapping.version) == ("mapping.yaml", "project", 1)
    assert (mapping.dialect, mapping.width, mapping.root, mapping.output) == (
        "postgres",
        3,
        "legacy",
        "deploy/migrations",
    )
    assert mapping.sources == ("db/migrations", "deploy/sql")
    assert (mapping.groups, mapping.excludes, mapping.resolutions, mapping.provided) == ((), (), (), ())


def test_each_target_keeps_its_sources_in_order_and_its_entry_line() -> None:
    first, second = parse(BASE).targets
    assert (first.version, first.name, first.description) == (1, "initial_schema", "")
    assert first.sources == ("db/migrations/001_init.sql",)
    assert first.location == Location("mapping.yaml", line_of(BASE, "version: 1", 1))
    assert (second.label(3), second.description) == ("002_robots", "Robots table")


def test_targets_are_sorted_by_version_whatever_their_order_in_the_file() -> None:
    text = BASE.replace("version: 1\n    name: initial", "version: 9\n    name: initial", 1)
    text = text.replace("version: 2\n", "version: 1\n").replace("version: 9\n", "version: 2\n")
    assert [(target.version, target.name) for target in parse(text).targets] == [(1, "robots"), (2, "initial_schema")]


def test_paths_are_normalised_to_posix_without_trailing_slash() -> None:
    text = BASE.replace("  - db/migrations\n", "  - ./db//migrations/\n").replace(
        "- db/migrations/001_init.sql", "- db/./migrations/001_init.sql"
    )
    mapping = parse(text)
    assert mapping.sources[0] == "db/migrations"
    assert mapping.targets[0].sources == ("db/migrations/001_init.sql",)


def test_exclusions_resolutions_groups_and_provided_objects_are_read() -> None:
    text = BASE + (
        "exclude:\n  - path: deploy/sql/setup_db.sql\n    reason: bootstrap, run once by an administrator\n"
        "resolutions:\n  - {object: TABLE   robots, decision: merge-columns, reason: both columns sets are live}\n"
        "groups:\n  - {title: Late, versions: [2, 2]}\n  - {title: Early, versions: [1, 1]}\n"
        "provided:\n  - table auth.users\n"
    )
    mapping = parse(text)
    assert [(item.path, item.location.line) for item in mapping.excludes] == [
        ("deploy/sql/setup_db.sql", line_of(text, "- path:"))
    ]
    assert [(item.object, item.decision) for item in mapping.resolutions] == [("table robots", Decision.MERGE_COLUMNS)]
    assert [(group.title, group.first, group.last) for group in mapping.groups] == [("Early", 1, 1), ("Late", 2, 2)]
    assert mapping.provided == ("table auth.users",)
    assert mapping.provided_location == Location("mapping.yaml", line_of(text, "provided:"))


def test_another_dialect_sqlglot_knows_is_accepted() -> None:
    assert parse(BASE + "dialect: mysql\n").dialect == "mysql"


def test_yaml_merge_keys_are_resolved_before_checking() -> None:
    text = (
        BASE
        + "exclude:\n  - &entry {path: deploy/sql/a.sql, reason: vendored}\n  - {<<: *entry, path: deploy/sql/b.sql}\n"
    )
    assert [(item.path, item.reason) for item in parse(text).excludes] == [
        ("deploy/sql/a.sql", "vendored"),
        ("deploy/sql/b.sql", "vendored"),
    ]


# --- the file as a whole ------------------------------------------------------------------------------------


def test_invalid_yaml_is_reported_at_yamls_line_and_column() -> None:
    text = BASE.replace("    name: robots\n", "    name: robots\n   bad: [\n")
    problem = only(text)
    assert (problem.code, problem.location.path) == ("mapping.invalid-yaml", "mapping.yaml")
    assert problem.message.startswith("invalid YAML: ")
    assert problem.location.line == line_of(text, "bad: [")


def test_a_control_character_in_a_mapping_with_lone_cr_lines_is_reported_at_its_line() -> None:
    problem = only("version: 1\rroot: legacy\routput: \x07out\r")
    assert (problem.code, problem.location.line) == ("mapping.invalid-yaml", 3)


def test_two_yaml_documents_are_invalid_yaml() -> None:
    problem = only(BASE + "---\nversion: 1\n")
    assert (problem.code, problem.location.line) == ("mapping.invalid-yaml", line_of(BASE + "---\n", "---"))
    assert "single document" in problem.message


def test_an_empty_file_is_not_a_mapping() -> None:
    problem = only("# nothing yet\n")
    assert (problem.code, problem.message, problem.location.line) == (
        "mapping.not-a-mapping",
        "the mapping file is empty",
        1,
    )


def test_a_top_level_list_is_not_a_mapping() -> None:
    assert_problem("# header\n- version: 1\n", "mapping.not-a-mapping", "not a list", "- version")


def test_an_unknown_top_level_key_is_reported_with_the_key_it_resembles() -> None:
    problem = assert_problem(BASE + "exlcude: []\n", "mapping.unknown-key", "unknown key 'exlcude'", "exlcude")
    assert problem.hint == "did you mean 'exclude'?"


def test_an_unknown_key_inside_a_migration_lists_the_allowed_keys() -> None:
    text = BASE.replace("    description: Robots table\n", "    description: Robots table\n    colour: red\n")
    problem = assert_problem(text, "mapping.unknown-key", "unknown key 'colour' in a migration", "colour")
    assert problem.hint == "allowed keys: version, name, description, sources"


def test_a_key_given_twice_is_reported_at_the_second() -> None:
    text = BASE + "output: elsewhere\n"
    assert_problem(text, "mapping.duplicate-key", "'output' is given twice", "output:", nth=1)


def test_a_missing_required_key_is_reported_at_the_mapping_that_lacks_it() -> None:
    text = "# mapping\n" + BASE.replace("root: legacy\n", "")
    assert_problem(text, "mapping.missing-key", "the mapping file has no 'root'", "version: 1")


def test_a_migration_without_a_name_is_reported_at_its_entry() -> None:
    text = BASE.replace("    name: robots\n", "")
    assert_problem(text, "mapping.missing-key", "a migration has no 'name'", "version: 2")


def test_a_value_of_the_wrong_type_is_reported_at_the_value() -> None:
    text = BASE + "width:\n  three\n"
    assert_problem(text, "mapping.wrong-type", "'width' must be an integer, not the text 'three'", "three")


def test_a_quoted_number_or_a_boolean_is_not_an_integer() -> None:
    assert_problem(BASE.replace("version: 1\nroot", "version: '1'\nroot"), "mapping.wrong-type", "'1'", "version")
    assert_problem(BASE + "width: true\n", "mapping.wrong-type", "not true", "width")


def test_sources_written_as_a_single_text_are_the_wrong_type() -> None:
    text = BASE.replace("sources: [db/migrations/002_robots.sql]", "sources: db/migrations/002_robots.sql")
    assert_problem(text, "mapping.wrong-type", "must be a list", "002_robots")


def test_an_empty_list_of_migrations_is_reported() -> None:
    text = BASE.split("migrations:\n")[0] + "migrations: []\n"
    assert_problem(text, "mapping.empty-value", "'migrations' lists nothing", "migrations:")


def test_an_empty_name_is_reported() -> None:
    assert_problem(BASE.replace("name: robots", "name: ''"), "mapping.empty-value", "'name' is empty", "name: ''")


# --- settings -----------------------------------------------------------------------------------------------


def test_a_format_version_other_than_1_is_not_supported() -> None:
    text = BASE.replace("version: 1\nroot", "version: 2\nroot")
    assert_problem(text, "mapping.unsupported-version", "format version 2 is not supported", "version: 2")


def test_an_unknown_dialect_is_reported_with_the_dialect_it_resembles() -> None:
    problem = assert_problem(BASE + "dialect: postgresql\n", "mapping.unknown-dialect", "'postgresql'", "dialect")
    assert problem.hint == "did you mean 'postgres'?"


@pytest.mark.parametrize("width", [0, 10])
def test_a_width_outside_1_to_9_is_reported(width: int) -> None:
    assert_problem(BASE + f"width: {width}\n", "mapping.bad-width", "between 1 and 9", "width")


def test_a_width_too_narrow_for_the_highest_version_is_reported() -> None:
    entries = "".join(f"  - {{version: {n}, name: m{n}, sources: [db/migrations/{n}.sql]}}\n" for n in range(1, 11))
    text = BASE.split("migrations:\n")[0] + "width: 1\nmigrations:\n" + entries
    assert_problem(text, "mapping.bad-width", "'width' 1 is too narrow for version 10 (2 digits)", "width")


# --- migrations ---------------------------------------------------------------------------------------------


def test_missing_versions_are_named() -> None:
    text = BASE.replace("version: 2\n", "version: 5\n")
    assert_problem(text, "mapping.missing-versions", "from 1 to 5 without gaps: missing 2, 3, 4", "migrations:")


def test_a_repeated_version_is_reported_at_the_second() -> None:
    text = BASE.replace("version: 2\n", "version: 1\n")
    assert_problem(text, "mapping.duplicate-version", "version 1 is used twice", "version: 1", nth=2)


def test_a_version_below_1_is_reported() -> None:
    text = BASE.replace("version: 2\n", "version: 0\n")
    assert_problem(text, "mapping.bad-version", "version 0 must be 1 or more", "version: 0")


def test_a_name_outside_lower_case_letters_digits_and_underscore_is_reported_with_a_fix() -> None:
    problem = assert_problem(
        BASE.replace("name: robots", "name: Robot Fleet"), "mapping.bad-name", "'Robot Fleet'", "Fleet"
    )
    assert problem.hint == "for example 'robot_fleet'"


def test_two_migrations_with_one_name_are_reported_at_the_second() -> None:
    text = BASE.replace("name: robots", "name: initial_schema")
    assert_problem(text, "mapping.duplicate-name", "name 'initial_schema' is used twice", "initial_schema", nth=1)


def test_a_source_listed_in_two_migrations_is_reported_at_the_second() -> None:
    text = BASE.replace("[db/migrations/002_robots.sql]", "[db/migrations/002_robots.sql, db/migrations/001_init.sql]")
    assert_problem(text, "mapping.duplicate-source", "'db/migrations/001_init.sql' is listed twice", "001_init", nth=1)


def test_a_source_folder_listed_twice_is_reported() -> None:
    text = BASE.replace("  - deploy/sql\n", "  - deploy/sql\n  - db/migrations/\n")
    assert_problem(text, "mapping.duplicate-source", "source folder 'db/migrations' is listed twice", "- db/", nth=1)


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/srv/db/001_init.sql", "mapping.escapes-root", "is absolute"),
        ("C:/db/001_init.sql", "mapping.escapes-root", "is absolute"),
        ("db/../../secrets/001_init.sql", "mapping.escapes-root", "leaves root through '..'"),
        ("db\\migrations\\001_init.sql", "mapping.bad-path", "contains a backslash"),
        ("''", "mapping.empty-value", "a source file is empty"),
    ],
)
def test_a_path_that_is_empty_or_could_leave_root_is_reported(path: str, code: str, message: str) -> None:
    text = BASE.replace("- db/migrations/001_init.sql", f"- {path}")
    assert_problem(text, code, message, f"- {path}")


def test_a_mapped_source_that_is_not_sql_is_reported() -> None:
    text = BASE.replace("002_robots.sql", "002_robots.py")
    assert_problem(text, "mapping.not-sql", "'db/migrations/002_robots.py' is not a .sql file", "002_robots")


@pytest.mark.parametrize(
    "name", ["002_robots_down.sql", "002_robots.down.sql", "U2__robots.sql", "002_robots/down.sql"]
)
def test_a_mapped_down_file_is_reported_because_down_files_are_paired_automatically(name: str) -> None:
    text = BASE.replace("002_robots.sql", name)
    problem = assert_problem(text, "mapping.down-file-mapped", "is a down (rollback) file", "[db/")
    assert "paired" in problem.hint


# --- exclude ------------------------------------------------------------------------------------------------


def test_an_exclude_without_reason_is_reported_at_its_entry() -> None:
    text = BASE + "exclude:\n  - path: deploy/sql/setup_db.sql\n"
    assert_problem(text, "mapping.missing-reason", "exclude 'deploy/sql/setup_db.sql' has no reason", "setup_db")


def test_an_exclude_with_an_empty_reason_is_reported_at_the_reason() -> None:
    text = BASE + "exclude:\n  - path: deploy/sql/setup_db.sql\n    reason: '  '\n"
    assert_problem(text, "mapping.missing-reason", "has an empty reason", "reason:")


def test_an_exclude_that_is_also_mapped_is_reported() -> None:
    text = BASE + "exclude:\n  - {path: db/migrations/002_robots.sql, reason: superseded}\n"
    assert_problem(text, "mapping.excluded-and-mapped", "is both mapped", "superseded")


def test_an_exclude_listed_twice_is_reported_at_the_second() -> None:
    text = BASE + "exclude:\n  - {path: deploy/sql, reason: vendored}\n  - {path: deploy/sql/, reason: again}\n"
    assert_problem(text, "mapping.duplicate-exclude", "'deploy/sql' is excluded twice", "again")


# --- resolutions --------------------------------------------------------------------------------------------


def resolution(object_: str = "table robots", decision: str = "keep-first", reason: str = "first one is live") -> str:
    return f"  - object: {object_}\n    decision: {decision}\n    reason: {reason}\n"


def test_an_unknown_decision_is_reported_with_the_decision_it_resembles() -> None:
    text = BASE + "resolutions:\n" + resolution(decision="keep-frist")
    problem = assert_problem(text, "mapping.bad-decision", "unknown decision 'keep-frist'", "keep-frist")
    assert problem.hint == "did you mean 'keep-first'?"


def test_a_resolution_without_reason_is_reported() -> None:
    text = BASE + "resolutions:\n" + resolution().replace("    reason: first one is live\n", "")
    assert_problem(text, "mapping.missing-reason", "the resolution for 'table robots' has no reason", "object:")


@pytest.mark.parametrize("object_", ["robots", "tabel robots", "table"])
def test_a_resolution_object_that_is_not_kind_and_name_is_reported(object_: str) -> None:
    text = BASE + "resolutions:\n" + resolution(object_=object_)
    assert_problem(text, "mapping.bad-object", "does not look like '<kind> <name>'", "object:")


def test_two_resolutions_for_one_object_are_reported_however_they_are_spaced() -> None:
    text = BASE + "resolutions:\n" + resolution() + resolution(object_="TABLE  robots", decision="merge-columns")
    assert_problem(text, "mapping.duplicate-resolution", "'table robots' has two resolutions", "object:", nth=1)


# --- groups and provided ------------------------------------------------------------------------------------


def test_a_group_outside_the_migrations_versions_is_reported() -> None:
    text = BASE + "groups:\n  - {title: Core, versions: [1, 3]}\n"
    assert_problem(text, "mapping.bad-group", "outside the migrations' versions 1..2", "Core")


def test_a_group_running_backwards_is_reported() -> None:
    assert_problem(BASE + "groups:\n  - {title: Core, versions: [2, 1]}\n", "mapping.bad-group", "backwards", "Core")


def test_group_versions_that_are_not_a_pair_are_the_wrong_type() -> None:
    assert_problem(BASE + "groups:\n  - {title: Core, versions: 1}\n", "mapping.wrong-type", "[first, last]", "Core")


def test_overlapping_groups_are_reported_at_the_later_one() -> None:
    text = BASE + "groups:\n  - {title: A, versions: [1, 2]}\n  - {title: B, versions: [2, 2]}\n"
    assert_problem(text, "mapping.overlapping-groups", "group 'B' (versions 2..2) overlaps group 'A'", "title: B")


def test_a_provided_object_that_is_not_kind_and_name_is_reported() -> None:
    assert_problem(BASE + "provided:\n  - auth.users\n", "mapping.bad-object", "'auth.users'", "auth.users")


def test_a_provided_object_listed_twice_is_reported() -> None:
    text = BASE + "provided:\n  - table auth.users\n  - Table auth.users\n"
    assert_problem(text, "mapping.duplicate-provided", "'table auth.users' is listed twice", "auth.users", nth=1)


# --- every problem at once ----------------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_error_sorted_by_line() -> None:
    text = BASE.replace("root: legacy\n", "").replace("name: robots", "name: Robots") + "dialect: nope\n"
    found = problems(text)
    assert [problem.code for problem in found] == ["mapping.missing-key", "mapping.bad-name", "mapping.unknown-dialect"]
    assert [problem.location.line for problem in found] == sorted(problem.location.line or 0 for problem in found)


def test_a_problem_in_an_aliased_entry_is_reported_once() -> None:
    text = BASE + "exclude:\n  - &bad {path: deploy/sql/a.sql}\n  - *bad\n"
    codes = [problem.code for problem in problems(text)]
    assert codes.count("mapping.missing-reason") == 1


def test_the_error_message_lists_every_problem_with_its_location() -> None:
    with pytest.raises(ConsolidateError) as raised:
        parse(BASE.replace("name: robots", "name: Robots"))
    assert str(raised.value).startswith(f"mapping.yaml:{line_of(BASE, 'name: robots')}: error: name 'Robots'")


# --- parse_object -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("table robots", ("table", "robots")),
        ("table auth.users", ("table", "auth.users")),
        ("materialized view reports", ("materialized view", "reports")),
        ("function f(integer, text)", ("function", "f(integer, text)")),
        ("trigger trg on robots", ("trigger", "trg on robots")),
        ("  TABLE   robots ", ("table", "robots")),
        ("view", None),
        ("materialized view", None),
        ("tabel robots", None),
        ("", None),
    ],
)
def test_parse_object_splits_kind_and_name(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_object(text) == expected


# --- source_lines -------------------------------------------------------------------------------------------


def test_source_lines_gives_the_line_naming_each_folder_file_and_exclude() -> None:
    text = BASE + "exclude:\n  - {path: deploy/sql/setup_db.sql/, reason: bootstrap}\n"
    assert source_lines(text) == {
        "db/migrations": line_of(text, "- db/migrations"),
        "deploy/sql": line_of(text, "- deploy/sql"),
        "db/migrations/001_init.sql": line_of(text, "001_init"),
        "db/migrations/002_robots.sql": line_of(text, "002_robots"),
        "deploy/sql/setup_db.sql": line_of(text, "setup_db"),
    }


def test_source_lines_of_invalid_yaml_is_empty() -> None:
    assert source_lines("sources: [") == {}


# --- check_tree ---------------------------------------------------------------------------------------------

TREE_MAPPING = BASE + "exclude:\n  - {path: deploy/sql, reason: vendored scripts}\n"


def tree(*paths: str, missing: tuple[str, ...] = (), escaping: tuple[str, ...] = ()) -> SourceTree:
    return SourceTree(tuple(RawFile(path, b"SELECT 1;\n") for path in sorted(paths)), missing, escaping)


def tree_problems(text: str, source_tree: SourceTree) -> list[tuple[str, int | None]]:
    return [
        (problem.code, problem.location.line) for problem in check_tree(parse(text), source_tree, source_lines(text))
    ]


COMPLETE = ("db/migrations/001_init.sql", "db/migrations/002_robots.sql", "deploy/sql/setup.sql")


def test_a_tree_holding_every_named_path_has_no_problems() -> None:
    assert check_tree(parse(TREE_MAPPING), tree(*COMPLETE)) == ()


def test_a_missing_source_folder_is_reported_at_its_line() -> None:
    found = check_tree(parse(TREE_MAPPING), tree(*COMPLETE[:2], missing=("deploy/sql",)), source_lines(TREE_MAPPING))
    assert [(problem.code, problem.location.line) for problem in found] == [
        ("mapping.missing-source-folder", line_of(TREE_MAPPING, "- deploy/sql"))
    ]
    assert "legacy/deploy/sql" in found[0].message


def test_a_mapped_source_absent_from_the_tree_is_reported_at_its_line() -> None:
    found = tree_problems(TREE_MAPPING, tree(COMPLETE[0], COMPLETE[2]))
    assert found == [("mapping.missing-file", line_of(TREE_MAPPING, "002_robots"))]


def test_without_source_lines_a_missing_source_is_reported_at_its_migration() -> None:
    mapping = parse(TREE_MAPPING)
    (problem,) = check_tree(mapping, tree(COMPLETE[0], COMPLETE[2]))
    assert problem.location == mapping.targets[1].location


def test_a_mapped_source_outside_every_source_folder_is_reported() -> None:
    text = TREE_MAPPING.replace("db/migrations/002_robots.sql", "other/002_robots.sql")
    found = tree_problems(text, tree(*COMPLETE))
    assert found == [("mapping.outside-sources", line_of(text, "other/002_robots"))]


def test_the_source_folder_dot_covers_every_file_below_root() -> None:
    text = BASE.replace("  - db/migrations\n  - deploy/sql\n", "  - .\n")
    assert parse(text).sources == (".",)
    assert check_tree(parse(text), tree(*COMPLETE)) == ()


def test_files_below_a_missing_folder_are_not_reported_one_by_one() -> None:
    found = tree_problems(TREE_MAPPING, tree(COMPLETE[2], missing=("db/migrations",)))
    assert found == [("mapping.missing-source-folder", line_of(TREE_MAPPING, "- db/migrations"))]


def test_an_exclude_matching_no_file_is_reported_at_its_entry() -> None:
    text = TREE_MAPPING + "  - {path: deploy/sql/gone.sql, reason: obsolete}\n"
    assert tree_problems(text, tree(*COMPLETE)) == [("mapping.missing-exclude", line_of(text, "gone.sql"))]


def test_a_mapped_symlink_leaving_root_is_reported_at_its_line() -> None:
    found = tree_problems(TREE_MAPPING, tree(COMPLETE[0], COMPLETE[2], escaping=(COMPLETE[1],)))
    assert found == [("mapping.escapes-root", line_of(TREE_MAPPING, "002_robots"))]


def test_an_excluded_symlink_leaving_root_is_reported_at_the_exclude() -> None:
    found = tree_problems(TREE_MAPPING, tree(*COMPLETE, escaping=("deploy/sql/link.sql",)))
    assert found == [("mapping.escapes-root", line_of(TREE_MAPPING, "vendored"))]


def test_a_symlink_leaving_root_below_a_source_folder_is_reported_at_the_folder() -> None:
    found = tree_problems(TREE_MAPPING, tree(*COMPLETE, escaping=("db/migrations/shared",)))
    assert found == [("mapping.escapes-root", line_of(TREE_MAPPING, "- db/migrations"))]


# --- check_coverage -----------------------------------------------------------------------------------------


def legacy(path: str) -> LegacyFile:
    return LegacyFile(path, parse_name(path), sha256="0" * 64, text="SELECT 1;\n")


def scanned(*paths: str, downs: tuple[tuple[str, str], ...] = ()) -> ScanResult:
    return ScanResult(tuple(legacy(path) for path in sorted(paths)), downs, ())


def coverage(text: str, scan: ScanResult) -> list[tuple[str, str]]:
    return [(problem.code, problem.location.path) for problem in check_coverage(parse(text), scan)]


def test_an_up_file_neither_mapped_nor_excluded_is_reported_at_the_file_below_root() -> None:
    found = check_coverage(parse(BASE), scanned(*COMPLETE[:2], "db/migrations/003_extra.sql"))
    assert [(problem.code, problem.location) for problem in found] == [
        ("mapping.unmapped-file", Location("legacy/db/migrations/003_extra.sql"))
    ]
    assert found[0].hint == "map it into a target's sources or add it to exclude with a reason"


def test_a_file_below_an_excluded_folder_is_accounted_for() -> None:
    assert coverage(TREE_MAPPING, scanned(*COMPLETE)) == []


def test_an_excluded_file_is_accounted_for() -> None:
    text = BASE + "exclude:\n  - {path: deploy/sql/setup.sql, reason: bootstrap}\n"
    assert coverage(text, scanned(*COMPLETE)) == []


def test_a_down_file_follows_its_mapped_up_file() -> None:
    down = "db/migrations/002_robots_down.sql"
    assert coverage(BASE, scanned(*COMPLETE[:2], down, downs=((COMPLETE[1], down),))) == []


def test_a_down_file_follows_its_excluded_up_file() -> None:
    up, down = "db/migrations/003_old.sql", "db/migrations/003_old_down.sql"
    text = BASE + f"exclude:\n  - {{path: {up}, reason: superseded}}\n"
    assert coverage(text, scanned(*COMPLETE[:2], up, down, downs=((up, down),))) == []


def test_a_down_file_of_an_unmapped_up_file_is_reported_with_it() -> None:
    up, down = "db/migrations/003_old.sql", "db/migrations/003_old_down.sql"
    found = coverage(BASE, scanned(*COMPLETE[:2], up, down, downs=((up, down),)))
    assert found == [("mapping.unmapped-file", f"legacy/{up}"), ("mapping.unmapped-file", f"legacy/{down}")]


def test_an_excluded_down_file_is_accounted_for_even_without_its_up_file() -> None:
    down = "db/migrations/007_gone_down.sql"
    text = BASE + f"exclude:\n  - {{path: {down}, reason: its up file was deleted long ago}}\n"
    assert coverage(text, scanned(*COMPLETE[:2], down)) == []


def test_a_down_file_without_up_file_is_reported() -> None:
    down = "db/migrations/007_gone_down.sql"
    (problem,) = check_coverage(parse(BASE), scanned(*COMPLETE[:2], down))
    assert (problem.code, problem.location.path) == ("mapping.unmapped-file", f"legacy/{down}")
    assert "paired with no up file" in problem.message


def test_a_mapped_source_the_scanner_reads_as_a_down_file_is_reported() -> None:
    down = LegacyFile("db/migrations/002_robots.sql", FileName(Scheme.FOLDER, Direction.DOWN, "2", "robots"), "0", "")
    (problem,) = check_coverage(parse(BASE), ScanResult((legacy(COMPLETE[0]), down), (), ()), source_lines(BASE))
    assert (problem.code, problem.location.line) == ("mapping.down-file-mapped", line_of(BASE, "002_robots"))


def test_with_root_dot_unmapped_files_are_shown_as_they_are() -> None:
    text = BASE.replace("root: legacy", "root: ./")
    assert coverage(text, scanned(*COMPLETE)) == [("mapping.unmapped-file", "deploy/sql/setup.sql")]


# --- property: a valid mapping round-trips -------------------------------------------------------------------

WORDS = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)


@st.composite
def mapping_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid mapping as plain data: 1..3 folders, 1..12 migrations in any order, each with some up files."""
    folders = draw(st.lists(WORDS.map(lambda word: f"db/{word}"), min_size=1, max_size=3, unique=True))
    count = draw(st.integers(1, 12))
    names = draw(st.lists(WORDS, min_size=count, max_size=count, unique=True))
    files = st.tuples(st.sampled_from(folders), WORDS).map(lambda pair: f"{pair[0]}/{pair[1]}.sql")
    paths = draw(st.lists(files.filter(is_up), min_size=count, max_size=3 * count, unique=True))
    extra = len(paths) - count
    owners = [*range(count), *draw(st.lists(st.integers(0, count - 1), min_size=extra, max_size=extra))]
    versions = draw(st.permutations(range(1, count + 1)))
    migrations = [
        {
            "version": version,
            "name": names[index],
            "description": draw(st.text(max_size=20)),
            "sources": [path for path, owner in zip(paths, owners, strict=True) if owner == index],
        }
        for index, version in enumerate(versions)
    ]
    return {"version": 1, "root": "legacy", "output": "out", "sources": folders, "migrations": migrations}


def is_up(path: str) -> bool:
    return parse_name(path).direction is Direction.UP


@given(mapping_documents())
def test_a_valid_mapping_round_trips_through_yaml(document: dict[str, Any]) -> None:
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    mapping = parse(text)
    migrations = sorted(document["migrations"], key=lambda item: item["version"])
    assert [target.version for target in mapping.targets] == list(range(1, len(migrations) + 1))
    assert [list(target.sources) for target in mapping.targets] == [item["sources"] for item in migrations]
    assert [target.name for target in mapping.targets] == [item["name"] for item in migrations]
    # PyYAML's own reading is the oracle: its dumper folds some line breaks (NEL) that its loader then reads back.
    loaded = sorted(yaml.safe_load(text)["migrations"], key=lambda item: item["version"])
    assert [target.description for target in mapping.targets] == [item["description"].strip() for item in loaded]
    assert mapping.sources == tuple(document["sources"])


# --- accept -------------------------------------------------------------------------------------------------


def test_an_acceptance_is_read_with_its_code_file_line_and_reason_and_the_root_prefix_is_optional() -> None:
    text = BASE + (
        "accept:\n"
        "  - finding: plan.ordering\n"
        "    at: legacy/db/migrations/002_robots.sql:7\n"
        "    reason: the table comes from the platform's own setup\n"
        "  - {finding: scan.same-version, at: db/migrations/001_init.sql, reason: ran in path order}\n"
    )
    accepted = parse(text).accepted
    assert [(a.code, a.path, a.line, a.location.line) for a in accepted] == [
        ("plan.ordering", "legacy/db/migrations/002_robots.sql", 7, line_of(text, "- finding")),
        ("scan.same-version", "legacy/db/migrations/001_init.sql", None, line_of(text, "- {finding")),
    ]


def test_an_acceptance_without_reason_is_reported_at_its_entry() -> None:
    text = BASE + "accept:\n  - finding: plan.ordering\n    at: db/migrations/002_robots.sql:7\n"
    assert_problem(text, "mapping.missing-reason", "has no reason", "- finding")


def test_an_unresolved_conflict_cannot_be_accepted_it_takes_a_resolution() -> None:
    text = BASE + "accept:\n  - {finding: plan.unresolved-conflict, at: db/migrations/002_robots.sql:1, reason: x}\n"
    problem = assert_problem(text, "mapping.bad-finding", "settled by a resolution", "- {finding")
    assert "resolutions" in problem.hint


def test_a_syntax_error_cannot_be_accepted_postgresql_rejects_the_statement_in_every_replay() -> None:
    text = BASE + "accept:\n  - {finding: sql.syntax, at: db/migrations/002_robots.sql:3, reason: never ran}\n"
    problem = assert_problem(text, "mapping.bad-finding", "PostgreSQL's own parser rejects", "- {finding")
    assert "exclude the file" in problem.hint
    assert "patches" in problem.hint


# --- patches ------------------------------------------------------------------------------------------------

ROBOTS = "db/migrations/002_robots.sql"


def test_patches_are_read_with_their_file_line_replacement_and_reason_and_a_drop_has_no_replacement() -> None:
    text = BASE + (
        "patches:\n"
        f"  - file: {ROBOTS}\n"
        "    line: 3\n"
        "    sql: |\n"
        '      CREATE TABLE robots (id bigint, "order" int);\n'
        "    reason: order is a reserved word\n"
        f"  - {{file: {ROBOTS}, line: 7, drop: true, reason: needs pgmq which production never had}}\n"
    )
    first, second = parse(text).patches
    assert (first.file, first.line, first.sql, first.verb) == (
        ROBOTS,
        3,
        'CREATE TABLE robots (id bigint, "order" int);',
        "patched",
    )
    assert (first.reason, first.location.line) == ("order is a reserved word", line_of(text, "- file"))
    assert (second.line, second.sql, second.verb) == (7, None, "dropped")


def test_a_patch_of_a_file_no_migration_lists_is_reported_with_the_closest_source() -> None:
    text = BASE + "patches:\n  - {file: db/migrations/002_robot.sql, line: 3, drop: true, reason: x}\n"
    problem = assert_problem(text, "mapping.patch-unknown-file", "is not a source of any migration", "- {file")
    assert problem.hint == f"did you mean '{ROBOTS}'?"


def test_a_patch_with_both_sql_and_drop_is_reported_at_drop() -> None:
    text = BASE + f"patches:\n  - file: {ROBOTS}\n    line: 3\n    sql: SELECT 1\n    drop: true\n    reason: x\n"
    assert_problem(text, "mapping.bad-patch", "both 'sql' and 'drop'", "drop: true")


def test_a_patch_with_neither_sql_nor_drop_is_reported_at_its_entry() -> None:
    text = BASE + f"patches:\n  - {{file: {ROBOTS}, line: 3, reason: x}}\n"
    assert_problem(text, "mapping.bad-patch", "neither 'sql' nor 'drop'", "- {file")


def test_drop_false_is_no_decision() -> None:
    text = BASE + f"patches:\n  - {{file: {ROBOTS}, line: 3, drop: false, reason: x}}\n"
    assert_problem(text, "mapping.bad-patch", "'drop' must be true, not false", "- {file")


def test_a_patch_without_reason_is_reported_at_its_entry() -> None:
    text = BASE + f"patches:\n  - {{file: {ROBOTS}, line: 3, drop: true}}\n"
    assert_problem(text, "mapping.missing-reason", f"the patch of '{ROBOTS}' line 3 has no reason", "- {file")


def test_a_patch_with_empty_sql_is_reported() -> None:
    text = BASE + f"patches:\n  - file: {ROBOTS}\n    line: 3\n    sql: ''\n    reason: x\n"
    assert_problem(text, "mapping.empty-value", "a patch's 'sql' is empty", "sql: ''")


def test_a_patch_line_below_1_is_reported() -> None:
    text = BASE + f"patches:\n  - {{file: {ROBOTS}, line: 0, drop: true, reason: x}}\n"
    assert_problem(text, "mapping.bad-patch", "must be 1 or more, not 0", "- {file")


def test_two_decisions_on_one_statement_are_reported_at_the_second() -> None:
    text = BASE + (
        f"patches:\n  - {{file: {ROBOTS}, line: 3, drop: true, reason: x}}\n"
        f"  - {{file: {ROBOTS}, line: 3, sql: SELECT 1, reason: y}}\n"
    )
    problem = assert_problem(text, "mapping.duplicate-patch", "has two decisions", "- {file", 1)
    assert f"first at line {line_of(text, '- {file')}" in problem.message


def test_a_psql_meta_command_cannot_be_accepted_kept_in_its_version_postgresql_rejects_it() -> None:
    text = BASE + "accept:\n  - {finding: sql.meta-command, at: db/migrations/002_robots.sql:1, reason: psql}\n"
    problem = assert_problem(text, "mapping.bad-finding", "PostgreSQL's own parser rejects", "- {finding")
    assert "correct it with a patch in the mapping" in problem.hint


def test_a_source_folder_may_declare_the_encoding_of_its_files() -> None:
    mapping = parse(BASE.replace("  - deploy/sql\n", "  - {path: deploy/sql, encoding: latin-1}\n"))
    assert mapping.sources == ("db/migrations", "deploy/sql")
    assert mapping.encodings == (("deploy/sql", "latin-1"),)


@pytest.mark.parametrize("encoding", ["latin-9000", "base64"])
def test_an_encoding_python_cannot_decode_text_with_is_reported_at_its_line(encoding: str) -> None:
    found = only(BASE.replace("  - deploy/sql\n", f"  - {{path: deploy/sql, encoding: {encoding}}}\n"))
    assert (found.code, found.location.line) == ("mapping.unknown-encoding", 6)


def test_the_production_major_is_read_with_where_it_is_declared() -> None:
    mapping = parse(BASE + "postgres: 15\n")
    last = len(BASE.splitlines()) + 1
    assert (mapping.postgres, mapping.postgres_location) == (15, Location("mapping.yaml", last))


def test_a_production_major_before_10_is_refused_with_an_example() -> None:
    problem = assert_problem(BASE + "postgres: 9\n", "mapping.bad-postgres", "major version from 10", "postgres:")
    assert "'postgres: 15'" in problem.hint


def test_a_production_version_that_is_not_a_number_is_refused() -> None:
    assert_problem(BASE + "postgres: fifteen\n", "mapping.wrong-type", "'postgres'", "postgres:")
