"""The mapping's `prelude:`: a SQL file creating what the platform provides, read purely, then set up on servers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from consolidate.core.mapping import parse_mapping, prelude_of, read_mapping, source_lines
from consolidate.core.prelude import Prelude, read_prelude, replay_text
from consolidate.db.prelude import apply_prelude, prelude_roles
from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.errors import ConsolidateError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "mapping.md"

MAPPING = """\
version: 1
root: legacy
output: deploy/migrations
prelude: platform/prelude.sql
sources: [db/migrations]
migrations:
  - version: 1
    name: initial_schema
    sources: [db/migrations/001_init.sql]
"""

SUPABASE_LIKE = """\
-- what the platform has before the first migration
CREATE ROLE anon NOLOGIN NOINHERIT;
create user "Service_Role" with password 'secret';
CREATE GROUP Authenticated;
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$;
GRANT USAGE ON SCHEMA auth TO anon;
CREATE PUBLICATION supabase_realtime;
"""


def unique(prefix: str) -> str:
    """A role name no other run uses: roles are shared by every database of a server."""
    return f"{prefix}_{secrets.token_hex(4)}"


def role_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.url) as connection:
        return connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is not None


@contextmanager
def existing_role(server: Server) -> Iterator[str]:
    """A role made outside the code under test, dropped at the end whatever happens."""
    name = unique("consolidate_test_existing")
    execute(server.url, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        execute(server.url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def execute(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def texts(statements: tuple[object, ...]) -> list[str]:
    return [str(getattr(statement, "text", "")).strip() for statement in statements]


def problems(text: str) -> list[tuple[str, int | None]]:
    with pytest.raises(ConsolidateError) as raised:
        parse_mapping(text, "mapping.yaml", "project")
    return [(diagnostic.code, diagnostic.location.line) for diagnostic in raised.value.diagnostics]


# --- the mapping key ------------------------------------------------------------------------------------------


def test_a_mapping_with_a_prelude_parses() -> None:
    mapping = parse_mapping(MAPPING, "mapping.yaml", "project")
    assert mapping.targets[0].name == "initial_schema"


def test_prelude_of_gives_the_path_relative_to_the_mapping_folder_and_its_line() -> None:
    assert prelude_of(MAPPING) == ("platform/prelude.sql", 4)


def test_read_mapping_gives_in_one_reading_what_parse_mapping_source_lines_and_prelude_of_give() -> None:
    read = read_mapping(MAPPING, "mapping.yaml", "project")
    assert (read.mapping, read.lines, read.prelude) == (
        parse_mapping(MAPPING, "mapping.yaml", "project"),
        source_lines(MAPPING),
        prelude_of(MAPPING),
    )


def test_read_mapping_without_a_prelude_has_none() -> None:
    text = MAPPING.replace("prelude: platform/prelude.sql\n", "")
    assert read_mapping(text, "mapping.yaml", "project").prelude is None


def test_prelude_of_normalises_the_path_like_root() -> None:
    assert prelude_of(MAPPING.replace("platform/prelude.sql", "./platform//prelude.sql")) == ("platform/prelude.sql", 4)


def test_a_mapping_without_prelude_has_none() -> None:
    assert prelude_of(MAPPING.replace("prelude: platform/prelude.sql\n", "")) is None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("platform\\prelude.sql", "mapping.bad-path"),
        ("''", "mapping.empty-value"),
        ("", "mapping.empty-value"),
        ("[platform/prelude.sql]", "mapping.wrong-type"),
        ("{path: platform/prelude.sql}", "mapping.wrong-type"),
    ],
)
def test_a_bad_prelude_value_is_reported_at_its_line(value: str, code: str) -> None:
    text = MAPPING.replace("prelude: platform/prelude.sql", f"prelude: {value}")
    assert problems(text) == [(code, 4)]
    assert prelude_of(text) is None


def test_a_misspelt_prelude_key_is_an_unknown_key_with_a_suggestion() -> None:
    with pytest.raises(ConsolidateError) as raised:
        parse_mapping(MAPPING.replace("prelude:", "prelud:"), "mapping.yaml", "project")
    assert [(d.code, d.location.line, d.hint) for d in raised.value.diagnostics] == [
        ("mapping.unknown-key", 4, "did you mean 'prelude'?")
    ]


# --- reading a prelude ------------------------------------------------------------------------------------------


def test_read_prelude_lists_the_roles_it_creates_lower_cased_unless_quoted() -> None:
    assert read_prelude("prelude.sql", SUPABASE_LIKE).roles == ("anon", "Service_Role", "authenticated")


def test_read_prelude_lists_what_it_creates_spelled_like_provided_entries() -> None:
    assert read_prelude("prelude.sql", SUPABASE_LIKE).provided == (
        "role anon",
        "role Service_Role",
        "role authenticated",
        "schema auth",
        "table auth.users",
        "function auth.uid()",
        "publication supabase_realtime",
    )


def test_role_statements_are_left_out_of_the_statements_a_database_runs() -> None:
    prelude = read_prelude("prelude.sql", SUPABASE_LIKE)
    assert texts(prelude.statements) == [
        "CREATE SCHEMA auth;",
        "CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);",
        "CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT NULL::uuid $$;",
        "GRANT USAGE ON SCHEMA auth TO anon;",
        "CREATE PUBLICATION supabase_realtime;",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER ROLE anon SET statement_timeout = '3s';",
        "ALTER USER anon WITH NOINHERIT;",
        "ALTER ROLE anon RENAME TO visitor;",
        "DROP ROLE IF EXISTS anon;",
        "GRANT anon TO authenticator;",
        "REVOKE anon FROM authenticator;",
        "COMMENT ON ROLE anon IS 'visitors';",
        "GRANT CONNECT ON DATABASE postgres TO anon;",
        "ALTER DATABASE postgres SET search_path = public, auth;",
        "ALTER DATABASE postgres OWNER TO anon;",
        "CREATE DATABASE realtime;",
        "CREATE TABLESPACE fast LOCATION '/srv/fast';",
        "ALTER SYSTEM SET work_mem = '64MB';",
        "GRANT SET ON PARAMETER work_mem TO anon;",
    ],
)
def test_statements_changing_the_server_beyond_one_database_are_left_out(statement: str) -> None:
    prelude = read_prelude("prelude.sql", f"CREATE SCHEMA auth;\n{statement}\n")
    assert (texts(prelude.statements), texts(prelude.server_wide)) == (["CREATE SCHEMA auth;"], [statement])


@pytest.mark.parametrize(
    "statement",
    [
        "GRANT SELECT ON auth.users TO anon;",
        "REVOKE ALL ON SCHEMA auth FROM anon;",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA auth GRANT SELECT ON TABLES TO anon;",
        "COMMENT ON TABLE auth.users IS 'accounts';",
        "ALTER TABLE auth.users OWNER TO anon;",
        "CREATE POLICY own ON auth.users TO anon USING (true);",
    ],
)
def test_statements_naming_a_role_inside_one_database_are_kept(statement: str) -> None:
    prelude = read_prelude("prelude.sql", f"CREATE ROLE anon;\n{statement}\n")
    assert (texts(prelude.statements), texts(prelude.server_wide)) == ([statement], ["CREATE ROLE anon;"])


def test_a_role_created_in_a_do_block_is_listed_and_the_block_is_kept() -> None:
    block = (
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_rw') THEN "
        "CREATE ROLE app_rw; END IF; END $$;"
    )
    prelude = read_prelude("prelude.sql", block)
    assert (prelude.roles, texts(prelude.statements)) == (("app_rw",), [block])


def test_what_only_a_left_out_statement_creates_is_not_provided() -> None:
    prelude = read_prelude("prelude.sql", "CREATE DATABASE realtime;\nCREATE SCHEMA auth;\n")
    assert prelude.provided == ("schema auth",)


def test_syntax_errors_are_reported_at_the_prelude_file_and_line() -> None:
    prelude = read_prelude("platform/prelude.sql", "CREATE SCHEMA auth;\n\nCREATE TABLE auth.users (id uuid,);\n")
    assert [(str(error.location.path), error.location.line, error.code) for error in prelude.errors] == [
        ("platform/prelude.sql", 3, "sql.syntax")
    ]


# --- the text a scratch database runs ---------------------------------------------------------------------------

_KEPT = ["CREATE SCHEMA s;", "CREATE TABLE s.t (a int,\n b text);", "GRANT SELECT ON s.t TO r;", "SELECT 1"]
_LEFT_OUT = ["CREATE ROLE r;", "ALTER ROLE r\n SET work_mem = '1MB';", "GRANT r TO q;"]
_GAPS = ["", " ", "\n", "\n\n", "  -- a note; with a semicolon\n", "/* a\n block */ "]


@given(st.lists(st.tuples(st.sampled_from(_GAPS), st.sampled_from(_KEPT + _LEFT_OUT)), min_size=1, max_size=8))
def test_the_replayed_text_keeps_every_kept_statement_at_its_line_and_column(parts: list[tuple[str, str]]) -> None:
    text = "".join(gap + statement for gap, statement in parts)
    prelude = read_prelude("prelude.sql", text)
    replayed = read_prelude("prelude.sql", replay_text(prelude))
    assert [(s.line, s.text.lstrip()) for s in replayed.statements] == [
        (s.line, s.text.lstrip()) for s in prelude.statements
    ]
    assert replayed.server_wide == ()


@given(st.lists(st.tuples(st.sampled_from(_GAPS), st.sampled_from(_KEPT + _LEFT_OUT)), min_size=1, max_size=8))
def test_the_replayed_text_has_the_line_breaks_of_the_prelude_at_the_same_places(parts: list[tuple[str, str]]) -> None:
    text = "".join(gap + statement for gap, statement in parts)
    replayed = replay_text(read_prelude("prelude.sql", text))
    # Only what follows the last statement (blanks and comments) may be missing.
    assert [len(line) for line in replayed.split("\n")] == [len(line) for line in text[: len(replayed)].split("\n")]
    assert text[len(replayed) :].strip() in ("", "-- a note; with a semicolon", "/* a\n block */")


# --- on a server ---------------------------------------------------------------------------------------------------


def platform(role: str) -> Prelude:
    """A prelude giving the role legacy GRANTs name and the table they name."""
    text = f"CREATE ROLE {role} LOGIN;\nCREATE SCHEMA auth;\nCREATE TABLE auth.users (id uuid PRIMARY KEY);\n"
    return read_prelude("platform/prelude.sql", text)


@pytest.mark.db
def test_after_the_prelude_a_legacy_grant_on_its_table_to_its_role_replays_cleanly(server: Server) -> None:
    role = unique("app_rw")
    prelude = platform(role)
    with prelude_roles(server, prelude), scratch_database(server, "prelude") as url:
        assert apply_prelude(url, prelude) == ()
        legacy = ("legacy/010_grants.sql", f"GRANT SELECT ON auth.users TO {role};\n")
        assert replay_files(url, [legacy], per_file_transaction=False).failures == ()


@pytest.mark.db
def test_without_the_prelude_the_same_grant_fails(server: Server) -> None:
    role = unique("app_rw")
    with scratch_database(server, "prelude") as url:
        legacy = ("legacy/010_grants.sql", f"GRANT SELECT ON auth.users TO {role};\n")
        failures = replay_files(url, [legacy], per_file_transaction=False).failures
    assert [failure.sqlstate for failure in failures] == ["3F000"]  # schema "auth" does not exist


@pytest.mark.db
def test_a_role_the_prelude_creates_is_dropped_after(server: Server) -> None:
    role = unique("app_rw")
    with prelude_roles(server, platform(role)) as created:
        assert created == [role]
        assert role_exists(server, role)
    assert not role_exists(server, role)


@pytest.mark.db
def test_a_role_that_existed_before_is_not_dropped_after(server: Server) -> None:
    with existing_role(server) as role:
        with prelude_roles(server, platform(role)) as created:
            assert created == []
        assert role_exists(server, role)


@pytest.mark.db
def test_a_failing_prelude_statement_is_reported_at_its_line_and_column_in_the_prelude(server: Server) -> None:
    role = unique("app_rw")
    text = f"CREATE SCHEMA auth;\nCREATE ROLE {role}; CREATE VIEW auth.v AS SELECT id FROM nosuch;\n"
    prelude = read_prelude("platform/prelude.sql", text)
    with prelude_roles(server, prelude), scratch_database(server, "prelude") as url:
        failures = apply_prelude(url, prelude)
    column = text.splitlines()[1].index("nosuch") + 1
    assert [(f.path, f.line, f.column, f.sqlstate) for f in failures] == [("platform/prelude.sql", 2, column, "42P01")]


@pytest.mark.db
def test_a_failing_prelude_leaves_none_of_itself_in_the_database(server: Server) -> None:
    prelude = read_prelude("prelude.sql", "CREATE SCHEMA auth;\nCREATE TABLE auth.users (id nosuchtype);\n")
    with scratch_database(server, "prelude") as url:
        apply_prelude(url, prelude)
        with psycopg.connect(url) as connection:
            found = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'auth'").fetchone()
    assert found is None


@pytest.mark.db
def test_server_wide_statements_of_the_prelude_do_not_run(server: Server) -> None:
    role = unique("app_rw")
    text = f"CREATE ROLE {role};\nALTER ROLE {role} SET work_mem = '1MB';\nCREATE SCHEMA auth;\n"
    prelude = read_prelude("prelude.sql", text)
    with prelude_roles(server, prelude), scratch_database(server, "prelude") as url:
        assert apply_prelude(url, prelude) == ()
        with psycopg.connect(url) as connection:
            query = "SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = %s"
            assert connection.execute(query, [role]).fetchone() is None


@pytest.mark.db
def test_the_supabase_prelude_of_the_docs_applies_cleanly(embedded_server: Server) -> None:
    # On the private server only: its role names are fixed, and the service's roles are shared with other runs.
    example = re.search(r"```sql\n(-- platform/supabase_prelude\.sql.*?)```", DOCS.read_text(), re.S)
    assert example is not None
    prelude = read_prelude("platform/supabase_prelude.sql", example.group(1))
    with prelude_roles(embedded_server, prelude), scratch_database(embedded_server, "prelude") as url:
        assert (prelude.errors, apply_prelude(url, prelude)) == ((), ())
