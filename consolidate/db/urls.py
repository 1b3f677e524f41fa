"""Database URLs: which one the user meant, how to show it without its password, how to point it elsewhere.

Pure: no connection is made here. libpq's parse errors quote the offending fragment of a connection string,
which may be (part of) the password, so they never reach the user verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError
from consolidate.postgres.redaction import MASK, redact

URL_VARIABLES = ("DATABASE_URL", "SUPABASE_DB_URL")


def resolve_url(cli_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The database URL to use: --database-url, then DATABASE_URL, then SUPABASE_DB_URL; empty means unset."""
    candidates = [cli_url, *(environ.get(name) for name in URL_VARIABLES)]
    return next((candidate for candidate in candidates if candidate), None)


def error_text(error: BaseException, url: str | None = None) -> str:
    """A driver error as one line that is safe to show: URLs and ``password=`` redacted, and — should libpq ever
    echo it bare — the password of `url` itself masked."""
    text = redact(" ".join(str(error).split()))
    try:
        password = conninfo_parts(url).get("password", "") if url else ""
    except ConsolidateError:
        password = ""
    # Masking a very short password would mangle every word holding those letters; libpq does not echo it.
    return text.replace(password, MASK) if len(password) >= 4 else text


def conninfo_parts(url: str) -> dict[str, str]:
    """The parameters of a URL or key/value conninfo; a malformed one is a ConsolidateError that quotes nothing."""
    try:
        return {key: value for key, value in conninfo_to_dict(url).items() if isinstance(value, str)}
    except psycopg.ProgrammingError:
        raise _malformed() from None


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as `url` (URL or key/value conninfo), connected to database `dbname`."""
    try:
        return make_conninfo(url, dbname=dbname)
    except psycopg.ProgrammingError:
        raise _malformed() from None


def _malformed() -> ConsolidateError:
    # `from None` at the call sites: the parse error's text may quote the password.
    return ConsolidateError.at(
        "db.url",
        "the database URL is malformed",
        Location("database URL"),
        hint="use postgresql://user:password@host:port/dbname, percent-encoding special characters",
    )


CONNECT_HINT = "check --database-url, DATABASE_URL or SUPABASE_DB_URL, or omit them to use a private PostgreSQL"


def endpoint(url: str) -> str:
    """host:port of a conninfo, for messages; "local socket" when it names no host."""
    try:
        parts = conninfo_parts(url)
    except ConsolidateError:
        return "an unparsable URL"
    host = parts.get("host") or parts.get("hostaddr") or "local socket"
    return f"{host}:{parts.get('port') or '5432'}"
