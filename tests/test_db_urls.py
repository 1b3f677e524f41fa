"""Database URLs: which one applies, how it is shown without its password, how it is pointed at another database."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from consolidate.db.urls import connect_failure, error_text, origin_of, resolve_url, with_database
from consolidate.errors import ConsolidateError
from consolidate.postgres.redaction import redact

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
SCHEMES = st.sampled_from(["postgres", "postgresql", "mysql", "redis+tls"])
PORTS = st.integers(min_value=1, max_value=65535)
# Anything a user may pick, with the characters that break naive parsers well represented.
PASSWORDS = st.text(
    alphabet=st.one_of(st.sampled_from("@:/%?#&=' \"\\"), st.characters(exclude_categories=("Cs",))), max_size=30
)
UNSPACED_PASSWORDS = PASSWORDS.filter(lambda password: not any(char.isspace() for char in password))


def quoted(value: str) -> str:
    """A libpq key/value: single-quoted, with backslash escapes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- resolve_url ---------------------------------------------------------------------------------------------


def test_the_command_line_url_wins_over_the_environment() -> None:
    environ = {"DATABASE_URL": "postgresql://env/a", "SUPABASE_DB_URL": "postgresql://supabase/b"}
    assert resolve_url("postgresql://cli/c", environ) == "postgresql://cli/c"


def test_database_url_wins_over_supabase_db_url() -> None:
    environ = {"DATABASE_URL": "postgresql://env/a", "SUPABASE_DB_URL": "postgresql://supabase/b"}
    assert resolve_url(None, environ) == "postgresql://env/a"


def test_supabase_db_url_is_the_last_resort() -> None:
    assert resolve_url(None, {"SUPABASE_DB_URL": "postgresql://supabase/b"}) == "postgresql://supabase/b"


def test_empty_strings_count_as_unset() -> None:
    environ = {"DATABASE_URL": "", "SUPABASE_DB_URL": "postgresql://supabase/b"}
    assert resolve_url("", environ) == "postgresql://supabase/b"


def test_no_url_anywhere_means_none() -> None:
    assert resolve_url(None, {"PATH": "/usr/bin", "DATABASE_URL": ""}) is None


@pytest.mark.parametrize(
    ("cli_url", "environ", "origin"),
    [
        ("postgresql://cli/c", {"DATABASE_URL": "postgresql://env/a"}, "--database-url"),
        (None, {"DATABASE_URL": "postgresql://env/a", "SUPABASE_DB_URL": "postgresql://s/b"}, "DATABASE_URL"),
        ("", {"SUPABASE_DB_URL": "postgresql://s/b"}, "SUPABASE_DB_URL"),
    ],
)
def test_the_resolved_url_remembers_where_it_came_from(
    cli_url: str | None, environ: dict[str, str], origin: str
) -> None:
    resolved = resolve_url(cli_url, environ)
    assert resolved is not None and origin_of(resolved) == origin


def test_a_malformed_url_that_is_not_chosen_is_not_read() -> None:
    environ = {"DATABASE_URL": "postgresql://u:%zz@h/db"}
    assert resolve_url("postgresql://cli/c", environ) == "postgresql://cli/c"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u:ab%zzhunter22@h/db", "a '%' not followed by two hex digits"),
        ("postgresql://u:hunter@22pw@h/db", "a raw '@' in the user or password"),
        ("postgresql://u:hunter/22pw@h/db", "a port that is not a number"),
        ("postgresql://u:1/hunter22@h/db", "an '@' after the host"),
        ("postgresql://u:hunter 22pw@h/db", "a space in a URL"),
        ("postgresql://u: hunter22@h/db", "a space in a URL"),
        ("host=h password=hunter 22pw", "a word without '='"),
        ("host=h password='hunter22", "a quote that is never closed"),
        ("postgresql://u:hunter22@h/db?frobnicate=1", "a parameter libpq does not know"),
        ("postgresql://h/db?password=hunter22&pw", "a query parameter without exactly one '='"),
    ],
)
def test_a_malformed_url_is_refused_where_it_is_resolved_with_a_reason_and_no_fragment(url: str, reason: str) -> None:
    with pytest.raises(ConsolidateError) as raised:
        resolve_url(None, {"SUPABASE_DB_URL": url})
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.code, diagnostic.location.path) == ("db.url", "SUPABASE_DB_URL")
    assert diagnostic.message.startswith("the database URL in SUPABASE_DB_URL is malformed: " + reason)
    assert "percent-encode" in diagnostic.hint
    assert not any(fragment in str(raised.value) for fragment in ("hunt", "er22", "22pw"))


def test_a_raw_colon_question_mark_or_hash_in_a_url_password_is_read_as_meant() -> None:
    resolved = resolve_url("postgresql://u:a:b?c#d@h:5433/db", {})
    assert resolved is not None
    assert conninfo_to_dict(resolved) == {
        "user": "u",
        "password": "a:b?c#d",
        "host": "h",
        "port": "5433",
        "dbname": "db",
    }


# --- redact --------------------------------------------------------------------------------------------------


@given(SCHEMES, NAMES, PASSWORDS, NAMES, PORTS, NAMES)
def test_a_percent_encoded_url_password_is_hidden_and_the_rest_kept(
    scheme: str, user: str, password: str, host: str, port: int, database: str
) -> None:
    url = f"{scheme}://{user}:{quote(password, safe='')}@{host}:{port}/{database}"
    text = f"cannot connect to {url}: connection refused"
    assert redact(text) == f"cannot connect to {scheme}://{user}:***@{host}:{port}/{database}: connection refused"


@given(SCHEMES, NAMES, UNSPACED_PASSWORDS, NAMES, PORTS, NAMES)
def test_a_raw_url_password_with_at_signs_colons_and_slashes_is_hidden_whole(
    scheme: str, user: str, password: str, host: str, port: int, database: str
) -> None:
    url = f"{scheme}://{user}:{password}@{host}:{port}/{database}"
    assert redact(f"url {url} failed") == f"url {scheme}://{user}:***@{host}:{port}/{database} failed"


@given(NAMES, PASSWORDS, NAMES)
def test_a_quoted_key_value_password_is_hidden_even_with_spaces_and_quotes(
    host: str, password: str, database: str
) -> None:
    conninfo = f"host={host} password={quoted(password)} dbname={database}"
    assert redact(conninfo) == f"host={host} password=*** dbname={database}"


@given(NAMES, UNSPACED_PASSWORDS, NAMES)
def test_an_unquoted_key_value_password_is_hidden(host: str, password: str, database: str) -> None:
    # libpq reads an empty unquoted value as the next word, and a leading quote as a quoted value
    assume(password and not password.startswith("'"))
    conninfo = f"host={host} password = {password} dbname={database}"
    assert redact(conninfo) == f"host={host} password = *** dbname={database}"


@given(st.text())
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assume("password" not in text.lower() and "://" not in text)
    assert redact(text) == text


def test_every_url_in_a_text_is_redacted() -> None:
    text = "from postgres://a:first@h1/db to postgresql://b:second@h2:6543/db"
    assert redact(text) == "from postgres://a:***@h1/db to postgresql://b:***@h2:6543/db"


def test_a_password_in_a_url_query_is_hidden() -> None:
    assert redact("postgresql://h/db?password=hunter22") == "postgresql://h/db?password=***"


def test_an_unterminated_quoted_password_hides_the_rest_of_the_text() -> None:
    assert redact("host=h password='open quote and more") == "host=h password=***"


def test_a_url_without_password_is_unchanged() -> None:
    assert redact("postgresql://postgres@127.0.0.1:5432/postgres") == "postgresql://postgres@127.0.0.1:5432/postgres"


# --- with_database -------------------------------------------------------------------------------------------


def test_with_database_keeps_server_and_credentials_of_a_url() -> None:
    moved = with_database("postgresql://admin:p%40ss@db.example.com:6543/app?sslmode=disable", "scratch")
    assert conninfo_to_dict(moved) == {
        "user": "admin",
        "password": "p@ss",
        "host": "db.example.com",
        "port": "6543",
        "sslmode": "disable",
        "dbname": "scratch",
    }


def test_with_database_keeps_server_and_credentials_of_a_key_value_conninfo() -> None:
    moved = with_database("host=h port=5433 user=u password='a b' dbname=app", "other")
    assert conninfo_to_dict(moved) == {"host": "h", "port": "5433", "user": "u", "password": "a b", "dbname": "other"}


def test_with_database_adds_a_database_to_a_url_without_one() -> None:
    assert conninfo_to_dict(with_database("postgresql://u@h", "x"))["dbname"] == "x"


@pytest.mark.parametrize(
    "url", ["postgresql://u:%zzsecret-pw@h/db", "host=h password=secret-pw junk", "host=h password='secret-pw"]
)
def test_a_malformed_url_is_reported_without_quoting_it(url: str) -> None:
    with pytest.raises(ConsolidateError) as raised:
        with_database(url, "x")
    assert raised.value.diagnostics[0].code == "db.url"
    assert "secret" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_error_text_is_one_line_and_hides_urls_and_a_bare_echo_of_the_password() -> None:
    error = RuntimeError('connection to "postgresql://u:hunter22@h/db" failed:\n  password hunter22 rejected')
    text = error_text(error, "postgresql://u:hunter22@h/db")
    assert "hunter22" not in text and "\n" not in text
    assert text.startswith('connection to "postgresql://u:***@h/db" failed:')


def test_error_text_masks_what_libpq_quotes_of_a_url_it_cannot_read() -> None:
    url = "postgresql://u:ab%zzhunter22@h/db"
    error = RuntimeError('invalid percent-encoded token: "ab%zzhunter22"')
    assert error_text(error, url) == 'invalid percent-encoded token: "***"'


def test_error_text_masks_a_quoted_fragment_holding_part_of_the_password() -> None:
    url = "host=h port=5432 password='hunter22'"
    error = RuntimeError('failed to resolve host "xhunter": unknown, at "h"')
    assert "hunt" not in error_text(error, url)


def test_error_text_keeps_quoted_fragments_unrelated_to_the_password() -> None:
    error = RuntimeError('connection to server at "127.0.0.1", port 1 failed')
    assert error_text(error, "postgresql://u:hunter22@127.0.0.1:1/db") == str(error)


def test_a_failed_connection_names_the_setting_the_url_came_from() -> None:
    url = resolve_url(None, {"DATABASE_URL": "postgresql://u:hunter22@db.example.com:6543/app"})
    assert url is not None
    error = connect_failure("db.connect", url, RuntimeError("Connection refused"))
    (diagnostic,) = error.diagnostics
    assert diagnostic.location.path == "DATABASE_URL" and "DATABASE_URL" in diagnostic.hint
    assert diagnostic.message == (
        "cannot connect to PostgreSQL at db.example.com:6543 (the database URL in DATABASE_URL): Connection refused"
    )


def test_a_scratch_database_url_keeps_the_origin_of_the_server_url() -> None:
    url = resolve_url("postgresql://u:hunter22@h/app", {})
    assert url is not None and origin_of(with_database(url, "scratch")) == "--database-url"


def test_a_resolved_url_keeps_its_origin_through_pickling() -> None:
    import pickle

    url = resolve_url(None, {"DATABASE_URL": "postgresql://h/app"})
    assert url is not None and origin_of(pickle.loads(pickle.dumps(url))) == "DATABASE_URL"
