"""Extensions the migrations need and call, and stand-ins that compute what the real extensions compute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consolidate.core.statements import parse_file
from consolidate.db.server import Server, scratch_database
from consolidate.model import Action, Location
from consolidate.postgres.extensions import (
    ExtensionCommand,
    called_functions,
    extension_command,
    needed_extensions,
    stand_in_blockers,
    stand_in_sql,
    unavailable_extension,
)

DIGESTS = ("md5", "sha224", "sha256", "sha384", "sha512")
SENDABLE = st.characters(codec="utf-8", exclude_characters="\x00")  # what a PostgreSQL text can hold


def calls(text: str) -> dict[str, dict[str, list[Location]]]:
    return called_functions([parse_file("m.sql", text)])


# --- what the migrations need --------------------------------------------------------------------------------


def test_a_create_extension_is_needed_where_it_is_written() -> None:
    parsed = parse_file("m.sql", 'SELECT 1;\n  CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;')
    assert needed_extensions([parsed]) == {"uuid-ossp": [Location("m.sql", 2, 3)]}


def test_an_unquoted_extension_name_folds_to_lower_case() -> None:
    assert list(needed_extensions([parse_file("m.sql", "CREATE EXTENSION PgCrypto;")])) == ["pgcrypto"]


def test_a_create_extension_inside_a_do_block_is_needed_too() -> None:
    text = "DO $$\nBEGIN\n  EXECUTE 'CREATE EXTENSION pgcrypto';\nEND $$;"
    assert needed_extensions([parse_file("m.sql", text)]) == {"pgcrypto": [Location("m.sql", 3, 12)]}


def test_a_create_extension_in_a_comment_is_not_needed() -> None:
    assert needed_extensions([parse_file("m.sql", "-- CREATE EXTENSION pgcrypto;\nSELECT 1;")]) == {}


# --- what the migrations call ----------------------------------------------------------------------------------


def test_a_call_in_a_column_default_is_found_at_its_line_and_column() -> None:
    found = calls("CREATE TABLE t (\n    id uuid DEFAULT uuid_generate_v4() PRIMARY KEY\n);")
    assert found == {"uuid-ossp": {"uuid_generate_v4": [Location("m.sql", 2, 21)]}}


def test_calls_inside_function_bodies_are_found() -> None:
    text = "CREATE FUNCTION h(p text) RETURNS bytea AS $$\n  SELECT digest(p, 'sha256')\n$$ LANGUAGE sql;"
    assert calls(text) == {"pgcrypto": {"digest": [Location("m.sql", 2, 10)]}}


def test_schema_qualified_calls_are_found() -> None:
    assert list(calls("SELECT extensions.gen_random_bytes(16);")["pgcrypto"]) == ["gen_random_bytes"]


def test_a_function_name_in_a_comment_is_not_a_call() -> None:
    assert calls("-- we never call crypt() here\nSELECT 1; /* nor gen_salt('bf') */") == {}


def test_naming_a_function_in_ddl_is_not_calling_it() -> None:
    assert calls("DROP FUNCTION IF EXISTS public.crypt(text, text);\nCOMMENT ON FUNCTION digest(text) IS 'x';") == {}


def test_a_function_the_migrations_define_themselves_is_theirs() -> None:
    text = "CREATE FUNCTION uuid_generate_v4() RETURNS uuid AS 'SELECT gen_random_uuid()' LANGUAGE sql;\n"
    text += "CREATE TABLE t (id uuid DEFAULT uuid_generate_v4());"
    assert calls(text) == {"pgcrypto": {"gen_random_uuid": [Location("m.sql", 1, 60)]}}


# --- the statements a stand-in replaces ----------------------------------------------------------------------


def test_a_create_extension_statement_is_read_with_its_schema() -> None:
    command = extension_command('-- uuids\ncreate extension if not exists "uuid-ossp" with schema "Ext" cascade;')
    assert command == ExtensionCommand(Action.CREATE, ("uuid-ossp",), True, "Ext", True)


def test_a_drop_extension_statement_may_name_several() -> None:
    command = extension_command('DROP EXTENSION IF EXISTS "uuid-ossp", PgCrypto CASCADE;')
    assert command == ExtensionCommand(Action.DROP, ("uuid-ossp", "pgcrypto"), True, None, True)


def test_other_statements_are_no_extension_command() -> None:
    assert extension_command("CREATE TABLE extension (id int);") is None


@pytest.mark.parametrize(
    "message",
    [
        'extension "no_such_ext" is not available',
        'could not open extension control file "/usr/share/postgresql/15/extension/no_such_ext.control": No such file',
    ],
)
def test_both_ways_postgresql_says_it_lacks_an_extension_name_it(message: str) -> None:
    assert unavailable_extension(message) == "no_such_ext"


def test_other_errors_name_no_missing_extension() -> None:
    assert unavailable_extension('relation "extension" does not exist') is None


# --- which stand-ins exist -----------------------------------------------------------------------------------


def test_functions_without_an_honest_stand_in_block_it() -> None:
    assert stand_in_blockers("pgcrypto", {"digest", "crypt", "pgp_sym_encrypt"}) == ("crypt", "pgp_sym_encrypt")
    assert stand_in_sql("pgcrypto", {"digest", "crypt"}) is None


def test_uuid_v5_has_no_stand_in_because_core_postgresql_has_no_sha1() -> None:
    assert stand_in_sql("uuid-ossp", {"uuid_generate_v5"}) is None


def test_an_extension_consolidate_does_not_know_has_no_stand_in() -> None:
    assert stand_in_sql("postgis", set()) is None


def test_an_extension_never_called_needs_an_empty_stand_in() -> None:
    assert stand_in_sql("uuid-ossp", set()) == ""


def test_gen_random_uuid_is_core_and_needs_no_stand_in() -> None:
    assert stand_in_sql("pgcrypto", {"gen_random_uuid"}) == ""


def test_a_stand_in_creates_its_functions_in_the_schema_given() -> None:
    sql = stand_in_sql("uuid-ossp", {"uuid_generate_v4"}, schema="extensions")
    assert sql is not None
    assert 'CREATE FUNCTION "extensions".uuid_generate_v4()' in sql


# --- stand-ins against the real extensions (the service has contrib) -----------------------------------------


@pytest.fixture(scope="module")
def both(service_server: Server) -> Iterator[psycopg.Connection[Any]]:
    """A database with the real extensions in public and every stand-in in schema standin."""
    if {"pgcrypto", "uuid-ossp"} - service_server.available_extensions:
        pytest.skip("the service lacks pgcrypto or uuid-ossp")
    with scratch_database(service_server, "extensions_test") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute('CREATE EXTENSION pgcrypto; CREATE EXTENSION "uuid-ossp"; CREATE SCHEMA standin')
        for extension, functions in (("pgcrypto", {"digest", "hmac", "gen_random_bytes"}), ("uuid-ossp", UUIDS)):
            conn.execute(stand_in_sql(extension, functions, schema="standin") or "")
        yield conn


UUIDS = {"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v3", "uuid_generate_v4", "uuid_nil"}
UUIDS |= {"uuid_ns_dns", "uuid_ns_url", "uuid_ns_oid", "uuid_ns_x500"}


def one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize("algorithm", DIGESTS)
def test_the_digest_stand_in_hashes_bytes_as_pgcrypto_does(both: psycopg.Connection[Any], algorithm: str) -> None:
    query = """SELECT count(*) FROM generate_series(0, 300) AS n, LATERAL (SELECT gen_random_bytes(greatest(n, 1))
               AS data) AS r WHERE public.digest(substr(data, 1, n), %s) <> standin.digest(substr(data, 1, n), %s)"""
    assert one(both, query, algorithm, algorithm.upper()) == 0


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(SENDABLE, max_size=200))
def test_the_digest_stand_in_hashes_text_as_pgcrypto_does(both: psycopg.Connection[Any], text: str) -> None:
    query = "SELECT public.digest(%s::text, 'sha256') = standin.digest(%s::text, 'sha256')"
    assert one(both, query, text, text) is True


@pytest.mark.parametrize("algorithm", DIGESTS)
def test_the_hmac_stand_in_signs_as_pgcrypto_does(both: psycopg.Connection[Any], algorithm: str) -> None:
    # Keys up to 200 bytes: shorter and longer than every block size (longer keys are hashed first).
    query = """SELECT count(*) FROM generate_series(0, 200, 7) AS n, LATERAL (SELECT gen_random_bytes(n + 1) AS key,
               gen_random_bytes(n + 3) AS data) AS r
               WHERE public.hmac(data, substr(key, 1, n), %s) <> standin.hmac(data, substr(key, 1, n), %s)
                  OR public.hmac(encode(data, 'base64'), encode(key, 'hex'), %s)
                     <> standin.hmac(encode(data, 'base64'), encode(key, 'hex'), %s)"""
    assert one(both, query, algorithm, algorithm, algorithm, algorithm) == 0


def test_a_digest_core_postgresql_cannot_compute_fails_loudly(both: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="sha1"):
        one(both, "SELECT standin.digest('abc'::text, 'sha1')")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(SENDABLE, max_size=100))
def test_the_name_based_uuid_stand_in_matches_uuid_ossp(both: psycopg.Connection[Any], name: str) -> None:
    query = """SELECT bool_and(public.uuid_generate_v3(ns, %s) = standin.uuid_generate_v3(ns, %s))
               FROM unnest(ARRAY[uuid_ns_dns(), uuid_ns_url(), uuid_ns_oid(), uuid_ns_x500()]) AS ns"""
    assert one(both, query, name, name) is True


@pytest.mark.parametrize("constant", ["uuid_nil", "uuid_ns_dns", "uuid_ns_url", "uuid_ns_oid", "uuid_ns_x500"])
def test_the_constant_uuid_stand_ins_match_uuid_ossp(both: psycopg.Connection[Any], constant: str) -> None:
    assert one(both, f"SELECT public.{constant}() = standin.{constant}()") is True


def test_the_random_uuid_stand_in_makes_version_4_uuids_like_uuid_ossp(both: psycopg.Connection[Any]) -> None:
    query = """SELECT array_agg(v ORDER BY v) FROM (SELECT DISTINCT substr(u::text, 15, 1) || substr(u::text, 20, 1)
               AS v FROM (SELECT {0}.uuid_generate_v4() AS u FROM generate_series(1, 400)) AS s) AS d"""
    expected = one(both, query.format("public"))
    assert one(both, query.format("standin")) == expected == ["48", "49", "4a", "4b"]


def test_the_random_uuid_stand_in_never_repeats(both: psycopg.Connection[Any]) -> None:
    assert one(both, "SELECT count(DISTINCT standin.uuid_generate_v4()) FROM generate_series(1, 5000)") == 5000


@pytest.mark.parametrize("function", ["uuid_generate_v1", "uuid_generate_v1mc"])
def test_the_time_based_uuid_stand_ins_carry_the_current_time(both: psycopg.Connection[Any], function: str) -> None:
    # Version 1 layout: 60-bit timestamp of 100 ns ticks since 1582-10-15 spread over three fields.
    query = f"""SELECT abs(extract(epoch FROM now()) - (
                  ('x' || lpad(substr(u, 16, 3) || substr(u, 10, 4) || substr(u, 1, 8), 16, '0'))::bit(64)::bigint
                  - 122192928000000000) / 1e7), substr(u, 15, 1), substr(u, 20, 1) IN ('8', '9', 'a', 'b'),
                  ('x' || substr(u, 25, 2))::bit(8)::int & 1
                FROM (SELECT standin.{function}()::text AS u) AS s"""
    row = both.execute(query).fetchone()
    assert row is not None
    drift, version, variant, multicast = row
    assert (drift < 60, version, variant, multicast) == (True, "1", True, 1)


def test_the_random_bytes_stand_in_gives_as_many_bytes_as_asked(both: psycopg.Connection[Any]) -> None:
    query = "SELECT bool_and(length(standin.gen_random_bytes(n)) = n) FROM generate_series(1, 1024) AS n"
    assert one(both, query) is True


@pytest.mark.parametrize("count", [0, 1025])
def test_the_random_bytes_stand_in_refuses_what_pgcrypto_refuses(both: psycopg.Connection[Any], count: int) -> None:
    for schema in ("public", "standin"):
        with pytest.raises(psycopg.errors.ExternalRoutineInvocationException, match="Length not in range"):
            one(both, f"SELECT {schema}.gen_random_bytes(%s)", count)
