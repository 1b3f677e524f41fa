"""Transaction hazards of a consolidation: what changes when legacy files share one version's transaction."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidate.core.enum_uses import Strength, added_value, enum_use, typed_columns
from consolidate.core.hazards import wrapping_transaction
from consolidate.core.plan import build_plan
from consolidate.core.scan import scan
from consolidate.core.statements import parse_file
from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.model import Diagnostic, RawFile, Severity
from tests.planning import mapping

TYPE_AND_TABLE = "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE t (id int, m mood, n text);\n"
ADD = "ALTER TYPE mood ADD VALUE 'meh';\n"


def hazards(files: dict[str, str], versions: Sequence[Sequence[str]] | None = None) -> list[Diagnostic]:
    """The hazards of `files` (path: SQL) mapped to `versions` (lists of paths; default: all in one version)."""
    scanned = scan(RawFile(path, text.encode()) for path, text in files.items())
    parsed = {path: parse_file(path, text) for path, text in files.items()}
    plan, problems = build_plan(mapping(versions or [list(files)]), scanned, parsed)
    assert not problems, problems
    return [finding for finding in plan.findings if finding.code in HAZARD_CODES]


HAZARD_CODES = frozenset(
    {
        "plan.enum-value-used",
        "plan.no-transaction",
        "plan.explicit-transaction",
        "plan.transaction-mode",
        "plan.session-setting",
    }
)


def coded(found: list[Diagnostic], code: str) -> list[tuple[str, Severity]]:
    return [(str(finding.location), finding.severity) for finding in found if finding.code == code]


# --- enum values ----------------------------------------------------------------------------------------------------

# Uses PostgreSQL 15 refuses (55P04) while the ALTER TYPE that adds 'meh' is uncommitted: see the database test below.
CERTAIN_USES = (
    "INSERT INTO t VALUES (1, 'meh');",
    "INSERT INTO t (m) VALUES ('meh'::mood);",
    "INSERT INTO t (m) SELECT 'meh';",
    "UPDATE t SET m = 'meh';",
    "UPDATE t SET n = 'x' WHERE m IN ('ok', 'meh');",
    "CREATE TABLE t2 (m mood DEFAULT 'meh');",
    "ALTER TABLE t ALTER COLUMN m SET DEFAULT 'meh';",
    "ALTER TABLE t ADD CONSTRAINT not_meh CHECK (m <> 'meh');",
    "CREATE INDEX t_meh ON t (id) WHERE m = 'meh';",
    "CREATE VIEW v AS SELECT * FROM t WHERE m = 'meh';",
    "DO $$ BEGIN UPDATE t SET m = 'meh'; END $$;",
    "CREATE FUNCTION f() RETURNS boolean LANGUAGE sql AS $$ SELECT m = 'meh' FROM t $$;",
    "CREATE FUNCTION g(x mood DEFAULT 'meh') RETURNS int LANGUAGE sql AS 'SELECT 1';",
)
# Uses PostgreSQL accepts in the same transaction.
HARMLESS_USES = (
    "CREATE FUNCTION h() RETURNS mood LANGUAGE plpgsql AS $$ BEGIN RETURN 'meh'::mood; END $$;",
    "UPDATE t SET n = 'meh';",
    "COMMENT ON TYPE mood IS 'meh';",
    "INSERT INTO audit (message) VALUES ('meh');",
)


@pytest.mark.parametrize("use", CERTAIN_USES)
def test_a_use_postgresql_refuses_is_certain_evidence(use: str) -> None:
    added = added_value(ADD)
    assert added is not None
    evidence = enum_use(use, added, typed_columns(added, [TYPE_AND_TABLE]))
    assert evidence is not None and evidence.strength is Strength.CERTAIN


@pytest.mark.parametrize("use", HARMLESS_USES)
def test_a_use_postgresql_accepts_is_no_evidence(use: str) -> None:
    added = added_value(ADD)
    assert added is not None
    assert enum_use(use, added, typed_columns(added, [TYPE_AND_TABLE])) is None


def test_comparing_the_column_as_text_is_only_a_likely_use() -> None:
    added = added_value(ADD)
    assert added is not None
    evidence = enum_use("SELECT coalesce(m, 'meh') FROM t;", added, typed_columns(added, [TYPE_AND_TABLE]))
    assert evidence is not None and evidence.strength is Strength.LIKELY


def test_a_value_added_in_one_source_and_used_in_the_next_of_its_version_is_an_error_at_the_use() -> None:
    found = hazards(
        {"a.sql": TYPE_AND_TABLE, "b.sql": ADD, "c.sql": "\nUPDATE t SET m = 'meh';\n"}, [["a.sql"], ["b.sql", "c.sql"]]
    )
    [finding] = [finding for finding in found if finding.code == "plan.enum-value-used"]
    assert (str(finding.location), finding.severity) == ("c.sql:2", Severity.ERROR)
    assert "b.sql:1" in finding.message and "55P04" in finding.message
    assert "after b.sql" in finding.hint


def test_a_value_added_and_used_in_one_source_is_an_error_the_canonical_version_certainly_fails() -> None:
    found = hazards({"a.sql": TYPE_AND_TABLE, "b.sql": ADD + "UPDATE t SET m = 'meh';\n"}, [["a.sql"], ["b.sql"]])
    assert coded(found, "plan.enum-value-used") == [("b.sql:2", Severity.ERROR)]


def test_a_value_used_in_a_later_version_is_fine() -> None:
    found = hazards({"a.sql": TYPE_AND_TABLE + ADD, "b.sql": "UPDATE t SET m = 'meh';\n"}, [["a.sql"], ["b.sql"]])
    assert coded(found, "plan.enum-value-used") == []


def test_a_statement_that_commits_what_came_before_it_ends_the_hazard() -> None:
    files = {"a.sql": TYPE_AND_TABLE, "b.sql": ADD, "c.sql": "VACUUM t;\nUPDATE t SET m = 'meh';\n"}
    assert coded(hazards(files, [["a.sql"], ["b.sql", "c.sql"]]), "plan.enum-value-used") == []


def test_the_same_literal_in_an_unrelated_table_is_no_finding() -> None:
    files = {"a.sql": TYPE_AND_TABLE + "CREATE TABLE audit (message text);\n", "b.sql": ADD}
    files["c.sql"] = "INSERT INTO audit (message) VALUES ('meh');\n"
    assert coded(hazards(files, [["a.sql"], ["b.sql", "c.sql"]]), "plan.enum-value-used") == []


def test_a_likely_use_from_another_source_is_only_a_warning() -> None:
    files = {"a.sql": TYPE_AND_TABLE, "b.sql": ADD, "c.sql": "SELECT coalesce(m, 'meh') FROM t;\n"}
    assert coded(hazards(files, [["a.sql"], ["b.sql", "c.sql"]]), "plan.enum-value-used") == [
        ("c.sql:1", Severity.WARNING)
    ]


def test_a_column_added_by_alter_table_counts_as_of_the_type() -> None:
    files = {"a.sql": "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE u (id int);\nALTER TABLE u ADD COLUMN k mood;\n"}
    files |= {"b.sql": ADD, "c.sql": "INSERT INTO u (id, k) VALUES (1, 'meh');\n"}
    assert coded(hazards(files, [["a.sql"], ["b.sql", "c.sql"]]), "plan.enum-value-used") == [
        ("c.sql:1", Severity.ERROR)
    ]


def test_a_column_changed_to_the_type_counts_as_of_the_type() -> None:
    added = added_value(ADD)
    assert added is not None
    columns = typed_columns(added, [TYPE_AND_TABLE, "ALTER TABLE t ALTER COLUMN n TYPE mood USING n::mood;"])
    assert columns.of("t") == {"m", "n"}


# --- on PostgreSQL: the evidence that the error is right -----------------------------------------------------------

_schemas = itertools.count()


@pytest.fixture(scope="module")
def database(service_server: Server) -> Iterator[str]:
    with scratch_database(service_server, "hazards_test") as url:
        yield url


def run_after_add(url: str, use: str, split: bool) -> str | None:
    """The SQLSTATE of running ADD and `use` in one transaction (or in two, `split`), in a fresh schema."""
    schema = f"hazards_{next(_schemas)}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema}")
        connection.execute(TYPE_AND_TABLE + "CREATE TABLE audit (message text);")
        try:
            with connection.transaction():
                connection.execute(ADD)
                if split:
                    return _run(connection, use)
                connection.execute(use)
        except psycopg.Error as error:
            return error.sqlstate
    return None


def _run(connection: psycopg.Connection[tuple[object, ...]], use: str) -> str | None:
    connection.execute("COMMIT; BEGIN")  # the version boundary the hint suggests
    connection.execute(use)
    return None


@pytest.mark.parametrize("use", CERTAIN_USES)
def test_postgresql_refuses_a_certain_use_in_the_adding_transaction_and_accepts_it_after_a_split(
    database: str, use: str
) -> None:
    assert (run_after_add(database, use, split=False), run_after_add(database, use, split=True)) == ("55P04", None)


@pytest.mark.parametrize("use", HARMLESS_USES)
def test_postgresql_accepts_a_harmless_use_in_the_adding_transaction(database: str, use: str) -> None:
    assert run_after_add(database, use, split=False) is None


def replayed(server: Server, files: list[tuple[str, str]], per_file_transaction: bool) -> list[tuple[int, str]]:
    with scratch_database(server, "hazards_replay") as url:
        failures = replay_files(url, files, per_file_transaction=per_file_transaction).failures
    return [(failure.line, failure.sqlstate) for failure in failures]


def test_the_tree_the_error_is_about_fails_on_postgresql_as_one_version_and_not_as_its_legacy_files(
    service_server: Server,
) -> None:
    files = {"a.sql": TYPE_AND_TABLE, "b.sql": ADD, "c.sql": "UPDATE t SET m = 'meh';\n"}
    assert coded(hazards(files, [["a.sql", "b.sql", "c.sql"]]), "plan.enum-value-used") == [("c.sql:1", Severity.ERROR)]
    legacy = list(files.items())
    assert replayed(service_server, legacy, per_file_transaction=False) == []
    assert replayed(service_server, [("001.sql", "".join(files.values()))], per_file_transaction=True) == [(4, "55P04")]
    split = [("001.sql", TYPE_AND_TABLE + ADD), ("002.sql", files["c.sql"])]
    assert replayed(service_server, split, per_file_transaction=True) == []


def test_a_vacuum_between_the_add_and_the_use_lets_the_version_replay(service_server: Server) -> None:
    version = TYPE_AND_TABLE + ADD + "VACUUM t;\nUPDATE t SET m = 'meh';\n"
    assert replayed(service_server, [("001.sql", version)], per_file_transaction=True) == []


# --- statements that cannot run in a transaction block -------------------------------------------------------------


def test_create_index_concurrently_beside_other_statements_warns_that_the_version_loses_atomicity() -> None:
    found = hazards({"a.sql": "CREATE TABLE t (id int);\n", "b.sql": "CREATE INDEX CONCURRENTLY i ON t (id);\n"})
    [finding] = [finding for finding in found if finding.code == "plan.no-transaction"]
    assert (str(finding.location), finding.severity) == ("b.sql:1", Severity.WARNING)
    assert finding.message.startswith("CREATE INDEX CONCURRENTLY cannot run in a transaction block")
    assert "in parts" in finding.message and "version of its own" in finding.hint


def test_several_such_statements_in_one_version_are_one_finding_naming_the_others() -> None:
    index = "CREATE INDEX CONCURRENTLY i{n} ON t (id);\n"
    found = hazards({"a.sql": "CREATE TABLE t (id int);\n", "b.sql": index.format(n=1) + index.format(n=2)})
    [finding] = [finding for finding in found if finding.code == "plan.no-transaction"]
    assert (str(finding.location), "(and 1 more: b.sql:2)" in finding.message) == ("b.sql:1", True)


def test_a_statement_alone_in_its_version_may_refuse_a_transaction() -> None:
    found = hazards({"a.sql": "CREATE TABLE t (id int);\n", "b.sql": "VACUUM t;\n"}, [["a.sql"], ["b.sql"]])
    assert coded(found, "plan.no-transaction") == []


# --- explicit transaction control ----------------------------------------------------------------------------------

WRAPPED = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n"


def test_a_begin_and_commit_around_the_whole_source_are_its_wrap() -> None:
    statements = parse_file("a.sql", WRAPPED).statements + parse_file("b.sql", "SELECT 1;\n").statements
    assert wrapping_transaction(statements) == {("a.sql", 0), ("a.sql", 2)}


def test_a_source_of_two_transactions_has_no_wrap() -> None:
    text = "BEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\nBEGIN;\nCREATE TABLE u (id int);\nCOMMIT;\n"
    assert wrapping_transaction(parse_file("a.sql", text).statements) == frozenset()


def test_a_begin_with_an_isolation_level_is_no_wrap() -> None:
    text = "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE t (id int);\nCOMMIT;\n"
    assert wrapping_transaction(parse_file("a.sql", text).statements) == frozenset()


def test_a_wrap_is_noted_as_left_out() -> None:
    found = hazards({"a.sql": WRAPPED})
    [finding] = [finding for finding in found if finding.code == "plan.explicit-transaction"]
    assert (str(finding.location), finding.severity) == ("a.sql:1", Severity.INFO)
    assert "left out: the version runs in one transaction" in finding.message


def test_a_commit_in_the_middle_of_a_source_is_an_error() -> None:
    found = hazards({"a.sql": "CREATE TABLE t (id int);\nCOMMIT;\nCREATE TABLE u (id int);\n"})
    assert coded(found, "plan.explicit-transaction") == [("a.sql:2", Severity.ERROR)]


def test_a_begin_left_open_is_an_error() -> None:
    found = hazards({"a.sql": "BEGIN;\nCREATE TABLE t (id int);\n", "b.sql": "CREATE TABLE u (id int);\n"})
    assert coded(found, "plan.explicit-transaction") == [("a.sql:1", Severity.ERROR)]


def test_a_savepoint_inside_a_wrap_is_fine_but_rolling_back_to_it_is_an_error() -> None:
    text = "BEGIN;\nSAVEPOINT s;\nCREATE TABLE t (id int);\nROLLBACK TO SAVEPOINT s;\nCOMMIT;\n"
    assert coded(hazards({"a.sql": text}), "plan.explicit-transaction") == [
        ("a.sql:1", Severity.INFO),
        ("a.sql:4", Severity.ERROR),
    ]


def test_an_isolation_level_set_after_the_first_statement_of_a_version_is_an_error() -> None:
    files = {"a.sql": "CREATE TABLE t (id int);\n", "b.sql": "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n"}
    assert coded(hazards(files), "plan.transaction-mode") == [("b.sql:1", Severity.ERROR)]
    assert coded(hazards(files, [["b.sql", "a.sql"]]), "plan.transaction-mode") == []


def test_an_isolation_level_first_in_a_wrapped_first_source_is_fine() -> None:
    files = {"a.sql": "BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nCOMMIT;\n"}
    assert coded(hazards(files | {"b.sql": "SELECT 1;\n"}), "plan.transaction-mode") == []


# --- session settings ----------------------------------------------------------------------------------------------


def test_a_search_path_set_before_another_source_of_the_version_warns_and_names_it() -> None:
    found = hazards({"a.sql": "SET search_path TO app;\nCREATE TABLE t (id int);\n", "b.sql": "SELECT 1;\n"})
    [finding] = [finding for finding in found if finding.code == "plan.session-setting"]
    assert (str(finding.location), finding.severity) == ("a.sql:1", Severity.WARNING)
    assert "resets it before b.sql" in finding.message and "golang-migrate" not in finding.message


def test_a_setting_of_a_golang_migrate_file_says_that_it_reached_later_migrations_there() -> None:
    files = {"001_a.up.sql": "SET ROLE admin;\n", "002_b.up.sql": "SELECT 1;\n"}
    [finding] = [finding for finding in hazards(files) if finding.code == "plan.session-setting"]
    assert "golang-migrate ran later migrations on the same connection" in finding.message


def test_a_setting_of_a_diesel_migration_warns_even_at_the_end_of_its_version() -> None:
    files = {"1_a/up.sql": "SET timezone = 'UTC';\n", "2_b/up.sql": "SELECT 1;\n"}
    found = hazards(files, [["1_a/up.sql"], ["2_b/up.sql"]])
    [finding] = [finding for finding in found if finding.code == "plan.session-setting"]
    assert "the runner resets it after version 1" in finding.message and "diesel" in finding.message


def test_a_setting_at_the_end_of_a_version_of_per_file_scripts_is_no_finding() -> None:
    files = {"a.sql": "SET search_path TO app;\n", "b.sql": "SELECT 1;\n"}
    assert coded(hazards(files, [["a.sql"], ["b.sql"]]), "plan.session-setting") == []


def test_set_local_is_no_finding() -> None:
    files = {"a.sql": "SET LOCAL search_path TO app;\n", "b.sql": "SELECT 1;\n"}
    assert coded(hazards(files), "plan.session-setting") == []


def test_a_setting_the_source_resets_itself_is_no_finding() -> None:
    files = {"a.sql": "SET ROLE admin;\nCREATE TABLE t (id int);\nRESET ROLE;\n", "b.sql": "SELECT 1;\n"}
    assert coded(hazards(files), "plan.session-setting") == []


def test_a_prisma_migration_is_not_taken_for_a_diesel_one() -> None:
    files = {"1_a/migration.sql": "SET timezone = 'UTC';\n", "2_b/migration.sql": "SELECT 1;\n"}
    assert coded(hazards(files, [["1_a/migration.sql"], ["2_b/migration.sql"]]), "plan.session-setting") == []


SQL_PIECES = st.sampled_from(
    [
        "ALTER TABLE t ALTER COLUMN m TYPE text",
        "CREATE TABLE t OF some_type",
        "ALTER TABLE ONLY t ADD COLUMN m mood DEFAULT ''",
        "INSERT INTO t DEFAULT VALUES",
        "DO ''",
        "DO $$ BEGIN $$",
        "CREATE FUNCTION f() RETURNS int AS ''",
        "'meh'",
        "m = 'meh'",
        "BEGIN",
        "COMMIT",
        "SET ROLE",
        ";",
        "(",
        "$$",
        "--",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(SQL_PIECES, max_size=8).map(" ".join))
def test_reading_any_statement_for_enum_uses_never_raises(text: str) -> None:
    added = added_value(ADD)
    assert added is not None
    columns = typed_columns(added, [TYPE_AND_TABLE, text])
    assert enum_use(text, added, columns) is None or "meh" in text


def test_the_settings_of_one_source_are_one_finding_at_the_first() -> None:
    files = {"a.sql": "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSELECT 1;\n", "b.sql": "SELECT 1;\n"}
    [finding] = [finding for finding in hazards(files) if finding.code == "plan.session-setting"]
    assert str(finding.location) == "a.sql:1"
    assert "statement_timeout (line 1), lock_timeout (line 2)" in finding.message
