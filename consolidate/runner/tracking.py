"""The `_migrations` tracking table, the runner's advisory lock, and its connection.

The table is the one an older runner created (same columns), so a database it migrated is picked up as is;
only the columns it lacked are added. Checksums are the first 16 hex digits of the file's sha256; `text_checksum`
is the same of the file's SQL without comments and with its white space folded (`core.comments.folded`), so that a
change of white space or comments alone can be named.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from consolidate.db.urls import connect_failure, conninfo_parts
from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.postgres.redaction import redact
from consolidate.runner.foreign import is_own, looks_like

Connection = psycopg.Connection[TupleRow]

APPLICATION_NAME = "consolidate migrate"
TABLE = "_migrations"
MAX_IDENTIFIER = 63  # bytes: PostgreSQL's NAMEDATALEN - 1
CHECKSUM_DIGITS = 16
CONNECT_TIMEOUT = 10  # seconds
POLL_SECONDS = 0.2  # between two pg_try_advisory_lock attempts


def _lock_id(name: str) -> int:
    """A stable signed bigint for pg_try_advisory_lock, from the sha256 of `name` (as golang-migrate derives its id)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# Every consolidate runner on every database uses this id: the lock is per database, so one id is enough.
LOCK_ID = _lock_id("consolidate.migrate")

CREATE_TABLE = """CREATE TABLE IF NOT EXISTS {table} (
    id serial PRIMARY KEY,
    version varchar(10) UNIQUE NOT NULL,
    name text NOT NULL,
    checksum varchar(32) NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    execution_time_ms integer,
    git_commit text,
    applied_by text,
    text_checksum varchar(32),
    repaired_at timestamptz,
    repaired_by text,
    repair_reason text,
    repaired_from varchar(32),
    adopted text
)"""
ROW_COLUMNS = (
    "version",
    "name",
    "checksum",
    "applied_at",
    "execution_time_ms",
    "git_commit",
    "applied_by",
    "text_checksum",
    "repaired_at",
    "repaired_by",
    "repair_reason",
    "repaired_from",
    "adopted",
)
# Columns an older runner's table may lack.
ADDED_COLUMNS = (
    "execution_time_ms integer",
    "git_commit text",
    "applied_by text",
    "text_checksum varchar(32)",
    # `migrate repair`: the last intended change of the version's file, recorded (see runner/repair.py).
    "repaired_at timestamptz",
    "repaired_by text",
    "repair_reason text",
    "repaired_from varchar(32)",
    "adopted text",
)


@dataclass(frozen=True)
class Row:
    """One row of `_migrations`: a version the database has."""

    version: str
    name: str
    checksum: str
    applied_at: datetime
    execution_time_ms: int | None
    git_commit: str | None
    applied_by: str | None
    text_checksum: str | None = None  # NULL in a row an older runner wrote
    repaired_at: datetime | None = None  # the last `migrate repair` of this version: when, by whom, why,
    repaired_by: str | None = None
    repair_reason: str | None = None
    repaired_from: str | None = None  # and the checksum it replaced
    # Set when `migrate adopt` recorded the version without running it: what proved it (the legacy history's
    # rows, or the schema's match), so the row never passes for a run.
    adopted: str | None = None


@dataclass(frozen=True)
class Holder:
    """The session holding the runner's lock."""

    pid: int
    application_name: str
    since: datetime | None  # when that session connected (pg_locks does not say when a lock was granted)

    def __str__(self) -> str:
        name = self.application_name or "no application_name"
        since = f", connected since {self.since.isoformat(timespec='seconds')}" if self.since else ""
        return f"pid {self.pid} ({name}{since})"


def checksum(data: bytes) -> str:
    """The checksum recorded for a file: the first 16 hex digits of its sha256."""
    return hashlib.sha256(data).hexdigest()[:CHECKSUM_DIGITS]


@dataclass(frozen=True)
class Limits:
    """Server-side limits for every statement the runner sends (PostgreSQL's own settings, e.g. "5s").

    lock_timeout bounds how long one statement waits for a table lock; statement_timeout bounds how long one
    statement runs. Neither is the runner's own --lock-wait, which bounds the wait for another runner.
    """

    lock_timeout: str | None = None
    statement_timeout: str | None = None

    def options(self) -> str:
        """As connection options: session defaults, so RESET ALL between versions keeps them."""
        settings = {"lock_timeout": self.lock_timeout, "statement_timeout": self.statement_timeout}
        return " ".join(f"-c {name}={value}" for name, value in settings.items() if value)


@contextmanager
def connect(url: str, limits: Limits | None = None) -> Iterator[Connection]:
    """An autocommit connection named "consolidate migrate"; errors never show the password."""
    options = limits.options() if limits is not None else ""
    conninfo_parts(url)  # a malformed URL fails here, quoting none of it (libpq's own error quotes the fragment)
    try:
        connection = psycopg.connect(
            make_conninfo(url, options=options) if options else url,
            autocommit=True,
            prepare_threshold=None,  # migrations may DEALLOCATE ALL: psycopg must not prepare behind our back
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT,
        )
    except psycopg.Error as error:
        raise connect_failure("migrate.connect", url, error) from None
    with connection:
        yield connection


# A killed runner's server process notices its client is gone only when it next writes to it: after the whole
# version and its row have run, so the version would be committed by nobody. PostgreSQL 14+ (on Linux) can look
# at the socket while a statement runs and abort it; the version is then rolled back within a second.
CONNECTION_CHECK = "SET client_connection_check_interval = '1s'"
CONNECTION_CHECK_SINCE = 140000


def session_defaults(connection: Connection) -> str:
    """The settings every version starts from (set again after each RESET ALL)."""
    return CONNECTION_CHECK if connection.info.server_version >= CONNECTION_CHECK_SINCE else ""


def history_name(name: str) -> tuple[str | None, str]:
    """A history table's name as given (``name`` or ``schema.name``) split in two; a bad one is bad input."""
    schema, _, table = name.rpartition(".")
    parts = [part for part in (schema, table) if part]
    if not table or "." in schema or any(len(part.encode()) > MAX_IDENTIFIER for part in parts) or name != name.strip():
        raise ConsolidateError.at(
            "migrate.history-table",
            f"not a table name: {name!r}",
            Location("--history-table"),
            f"give NAME or SCHEMA.NAME, each at most {MAX_IDENTIFIER} bytes (PostgreSQL's limit), without quotes",
        )
    return schema or None, table


def table_name(connection: Connection, name: str = TABLE) -> sql.Composed:
    """The history table, qualified with the schema the session creates in unless `name` names one, so a
    migration's search_path cannot move it."""
    schema, table = history_name(name)
    if schema is None:
        row = connection.execute("SELECT coalesce(current_schema(), 'public')").fetchone()
        schema = str(row[0]) if row else "public"
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def columns(connection: Connection, table: sql.Composed) -> dict[str, str]:
    """The table's columns and their types; empty when it does not exist."""
    query = """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
               WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"""
    found = connection.execute(query, [table.as_string(connection)]).fetchall()
    return {str(name): str(kind) for name, kind in found}


def check_owner(connection: Connection, table: sql.Composed) -> None:
    """Refuse a table of that name that the runner did not create (another tool's history, say): it is never
    altered, read or written."""
    present = columns(connection, table)
    if not present or is_own(present.keys()):
        return
    shown = table.as_string(connection)
    tool = looks_like(present.keys())
    whose = f"it looks like {tool}" if tool else "no migration tool's layout we know"
    layout = ", ".join(f"{name} {kind}" for name, kind in present.items())
    raise ConsolidateError.at(
        "migrate.foreign-table",
        f"{shown} is not consolidate's history table ({layout}: {whose}); nothing was read or changed",
        Location(shown),
        "keep consolidate's history elsewhere with --history-table NAME (or CONSOLIDATE_HISTORY_TABLE); "
        "to take over a database another tool migrated, see `consolidate migrate adopt`",
    )


def ensure_table(connection: Connection, table: sql.Composed) -> None:
    """Create the tracking table if missing; add the columns an older runner's table lacks (ours only:
    `check_owner` first)."""
    connection.execute(sql.SQL(CREATE_TABLE).format(table=table))
    for column in ADDED_COLUMNS:
        connection.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS " + column).format(table))


def read_rows(connection: Connection, table: sql.Composed) -> dict[str, Row]:
    """Every recorded version, by version: none when the table does not exist, NULL for a column an older
    runner's table lacks (read-only commands neither create nor alter the table)."""
    present = columns(connection, table)
    if not present:
        return {}
    chosen = sql.SQL(", ").join(sql.Identifier(name) if name in present else sql.NULL for name in ROW_COLUMNS)
    rows = connection.execute(sql.SQL("SELECT {} FROM {} ORDER BY id").format(chosen, table)).fetchall()
    return {str(values[0]): Row(*values) for values in rows}


# When a version starts, as the server's clock has it. In a message holding several versions now() is the time the
# message arrived, the same for all of them: each version's transaction marks its own start (a transaction-local
# setting; if the version resets it, now() stands in).
STARTED_SETTING = "consolidate.version_started"
MARK_START = f"SELECT set_config('{STARTED_SETTING}', clock_timestamp()::text, true)"
_STARTED = f"coalesce(nullif(current_setting('{STARTED_SETTING}', true), '')::timestamptz, now())"


def insert_row(table: sql.Composed, row: Row, *, server_timing: bool, started: datetime | None = None) -> sql.Composed:
    """The INSERT recording `row`, all literals (simple protocol). With `server_timing` the start and duration
    are the server's, from the mark MARK_START set when the version's transaction began; else the duration is
    `row`'s and the start `started` (the server's clock when the version began), or now()."""
    applied_at: sql.Composable
    duration: sql.Composable
    if server_timing:
        applied_at = sql.SQL(_STARTED)
        duration = sql.SQL(f"(extract(epoch FROM clock_timestamp() - {_STARTED}) * 1000)::integer")
    else:
        applied_at = sql.Literal(started) if started is not None else sql.SQL("now()")
        duration = sql.Literal(row.execution_time_ms)
    values = [sql.Literal(value) for value in (row.version, row.name, row.checksum)]
    return sql.SQL(
        "INSERT INTO {} (version, name, checksum, applied_at, execution_time_ms, git_commit, applied_by, text_checksum,"
        " adopted) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})"
    ).format(
        table,
        *values,
        applied_at,
        duration,
        sql.Literal(row.git_commit),
        sql.Literal(row.applied_by),
        sql.Literal(row.text_checksum),
        sql.Literal(row.adopted),
    )


def delete_row(table: sql.Composed, version: str) -> sql.Composed:
    """The DELETE forgetting `version`."""
    return sql.SQL("DELETE FROM {} WHERE version = {}").format(table, sql.Literal(version))


# --- the lock --------------------------------------------------------------------------------------------------


def acquire_lock(connection: Connection, wait: float, where: str) -> None:
    """Take the runner's session-level advisory lock, polling (never blocking) for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while not _try_lock(connection):
        if time.monotonic() >= deadline:
            raise _lock_timeout(connection, wait, where)
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))


def release_lock(connection: Connection) -> None:
    """Give the lock back (closing the session would too)."""
    connection.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])


def _try_lock(connection: Connection) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_ID]).fetchone()
    return bool(row and row[0])


def lock_holder(connection: Connection) -> Holder | None:
    """The session holding the lock in this database, if any (a bigint key is split into classid and objid)."""
    query = """SELECT a.pid, coalesce(a.application_name, ''), a.backend_start
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND l.classid = ((%s::bigint >> 32) & 4294967295)::bigint::oid
                 AND l.objid = (%s::bigint & 4294967295)::oid
               LIMIT 1"""
    row = connection.execute(query, [LOCK_ID, LOCK_ID]).fetchone()
    return Holder(int(row[0]), str(row[1]), row[2]) if row else None


def _lock_timeout(connection: Connection, wait: float, where: str) -> ConsolidateError:
    holder = lock_holder(connection)
    who = f"held by {holder}" if holder else "held by a session that has since ended"
    message = f"another migration runs on this database: the lock was not free after {wait:g} s ({who})"
    hint = "wait for it to finish, or raise --lock-wait"
    return ConsolidateError([Diagnostic("migrate.locked", redact(message), Location(where), hint)], EXIT_FAIL)
