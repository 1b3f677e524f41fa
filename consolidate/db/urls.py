"""Database URLs: which one the user meant and where it came from, whether libpq reads it as meant, how to show it
without its password, how to point it elsewhere.

Pure: no connection is made here. libpq's parse errors quote the offending fragment of a connection string,
which may be (part of) the password, so they never reach the user verbatim: a URL is checked once, where it is
resolved, and refused with a reason of our own words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError
from consolidate.postgres.redaction import MASK, redact

CLI_OPTION = "--database-url"
URL_VARIABLES = ("DATABASE_URL", "SUPABASE_DB_URL")

ENCODE_HINT = (
    "percent-encode the password in a URL (@ as %40, / as %2F, % as %25, a space as %20), "
    "or give key/value settings with it quoted: host=h user=u password='a b' dbname=d"
)


class DatabaseUrl(str):
    """A URL or key/value conninfo that remembers where the user gave it (`--database-url` or a variable's name).

    A str, so it goes wherever a conninfo goes; messages made deep in the runner read `origin` to say which
    setting to fix.
    """

    origin: str

    def __new__(cls, text: str, origin: str = "") -> DatabaseUrl:
        made = super().__new__(cls, text)
        made.origin = origin
        return made

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        # str's own would drop the origin when the URL is pickled for a worker process.
        return (str(self), self.origin)


def resolve_url(
    cli_url: str | None, environ: Mapping[str, str], variables: Sequence[str] = URL_VARIABLES
) -> DatabaseUrl | None:
    """The database URL to use: --database-url, then DATABASE_URL, then SUPABASE_DB_URL (or the `variables` the
    configuration names instead); empty means unset.

    The one chosen is checked before any work: a malformed one is a ConsolidateError naming where it came from
    and quoting none of it. The others are not read.
    """
    candidates = [(CLI_OPTION, cli_url), *((name, environ.get(name)) for name in variables)]
    for origin, text in candidates:
        if text:
            url = DatabaseUrl(text, origin)
            conninfo_parts(url)
            return url
    return None


def origin_of(url: str) -> str:
    """Where the user gave `url` ("DATABASE_URL", "--database-url"), or "" when it was made by the toolkit."""
    return url.origin if isinstance(url, DatabaseUrl) else ""


def _described(url: str) -> str:
    origin = origin_of(url)
    if origin == CLI_OPTION:
        return f"the database URL given with {CLI_OPTION}"
    return f"the database URL in {origin}" if origin else "the database URL"


def error_text(error: BaseException, url: str | None = None) -> str:
    """A driver error as one line that is safe to show: URLs and ``password=`` redacted, and libpq's quoted
    fragments masked where they hold part of the password of `url` (all of them when `url` does not parse)."""
    text = redact(" ".join(str(error).split()))
    try:
        password = conninfo_parts(url).get("password", "") if url else ""
    except ConsolidateError:
        # libpq quotes the very fragment it could not read: it may be any part of the password.
        return _QUOTED.sub(f'"{MASK}"', text)
    if len(password) < 4:  # masking a very short password would mangle every word holding those letters
        return text
    pieces = {password[start : start + 4] for start in range(len(password) - 3)}
    text = _QUOTED.sub(lambda match: f'"{MASK}"' if any(p in match[0] for p in pieces) else match[0], text)
    return text.replace(password, MASK)


# From libpq's first quote to its last: the fragment it quotes may itself hold quotes.
_QUOTED = re.compile(r'"[\s\S]*"')


def conninfo_parts(url: str) -> dict[str, str]:
    """The parameters of a URL or key/value conninfo, as the user meant them.

    A malformed one — libpq refuses it, or reads a piece of the password as host, port or database because a
    character was not percent-encoded — is a ConsolidateError that quotes nothing of it.
    """
    try:
        parts = {key: value for key, value in conninfo_to_dict(url).items() if isinstance(value, str)}
    except psycopg.ProgrammingError as error:
        raise _malformed(url, _parse_reason(str(error))) from None
    misread = _misread(url, parts)
    if misread:
        raise _malformed(url, misread)
    return parts


# Not named: the name libpq stumbled on may be a piece of a password holding a raw space or '&'.
_UNKNOWN = "a parameter libpq does not know (check the spelling of every key)"

# libpq's parse errors, by their fixed wording (never by the fragment they quote), and what the user should do.
_PARSE_REASONS = (
    ("invalid percent-encoded token", "a '%' not followed by two hex digits (write a literal '%' as %25)"),
    ("forbidden value %00", "it holds %00, which PostgreSQL cannot take"),
    ("unexpected spaces", "a space in a URL (write it as %20)"),
    ('missing "=" after', "a word without '=' (a value holding spaces must be quoted: password='a b')"),
    ("unterminated quoted string", "a quote that is never closed"),
    ("invalid uri query parameter", _UNKNOWN),
    ("invalid connection option", _UNKNOWN),
    ("key/value separator", "a query parameter without exactly one '='"),
    ("ipv6", "an IPv6 host without its closing ']'"),
    ("unexpected character", "an unexpected character after the host"),
)


def _parse_reason(libpq_message: str) -> str:
    lowered = libpq_message.lower()
    return next((reason for marker, reason in _PARSE_REASONS if marker in lowered), "libpq cannot read it")


def _misread(url: str, parts: Mapping[str, str]) -> str:
    """Why libpq's reading of a URL cannot be what the user meant, or "" when it can.

    libpq ends the user and password at the first '/' and the host at the first '@' after them, so a raw '@'
    or '/' in a password turns its tail into the host, port or database name. None of those can hold an '@' or
    a port that is not a number; key/value settings have no such ambiguity. Whitespace is refused in a URL
    (libpq silently drops some of it from a password).
    """
    if not re.match(r"postgres(?:ql)?://", url):
        return ""
    if any(char.isspace() for char in url.strip()):  # libpq drops a space next to a delimiter, keeps a tab
        return "a space in a URL (write it as %20)"
    if "@" in parts.get("host", ""):
        return "a raw '@' in the user or password (write it as %40)"
    if any(not port.strip().isdigit() for port in parts.get("port", "").split(",") if port.strip()):
        return "a port that is not a number (a raw '/' in the password ends the host early: write it as %2F)"
    if "@" in parts.get("dbname", ""):
        return "an '@' after the host (a raw '@' or '/' in the password? write them as %40, %2F)"
    return ""


def _malformed(url: str, reason: str) -> ConsolidateError:
    # `from None` at the call sites: libpq's own text may quote the password.
    return ConsolidateError.at(
        "db.url",
        f"{_described(url)} is malformed: {reason}",
        Location(origin_of(url) or "database URL"),
        hint=ENCODE_HINT,
    )


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as `url` (URL or key/value conninfo), connected to database `dbname`."""
    conninfo_parts(url)  # refused here, quoting nothing, rather than by libpq quoting the fragment it choked on
    try:
        moved = make_conninfo(url, dbname=dbname)
    except psycopg.ProgrammingError:
        raise _malformed(url, "libpq cannot read it") from None
    # A scratch database lives on the user's server: a failure to reach it is fixed in the same setting.
    return DatabaseUrl(moved, origin_of(url)) if origin_of(url) else moved


CONNECT_HINT = "check --database-url, DATABASE_URL or SUPABASE_DB_URL, or omit them to use a private PostgreSQL"


def connect_failure(code: str, url: str, error: BaseException) -> ConsolidateError:
    """ "cannot connect to PostgreSQL at host:port" with libpq's reason, redacted, naming the setting to fix."""
    where = endpoint(url)
    origin = origin_of(url)
    given = f" ({_described(url)})" if origin else ""
    message = f"cannot connect to PostgreSQL at {where}{given}: {error_text(error, url)}"
    hint = f"check host, port, user and password in {origin}" if origin else CONNECT_HINT
    return ConsolidateError.at(code, message, Location(origin or where), hint)


def endpoint(url: str) -> str:
    """host:port of a conninfo, for messages; a host that is a folder (a Unix socket's, as for a private server)
    gives the socket's path, <folder>/.s.PGSQL.<port>; "local socket" when it names no host."""
    try:
        parts = conninfo_parts(url)
    except ConsolidateError:
        return "an unparsable URL"
    host = parts.get("host") or parts.get("hostaddr") or "local socket"
    port = parts.get("port") or "5432"
    if host.startswith("/"):
        return redact(f"{host.rstrip('/')}/.s.PGSQL.{port}")
    return redact(f"{host}:{port}")
