"""Replay SQL files on PostgreSQL and report every failing statement at its file:line:column.

Files run in the order given, on one connection, each in a fresh session state (``DISCARD ALL`` between files:
a ``SET search_path`` or ``SET ROLE`` in one file does not leak into the next, as with one ``psql -f`` per file),
through the one executor (db/script.py): legacy files as ``psql -f`` ran them (``per_file_transaction=False``),
canonical versions as the runner applies them (``per_file_transaction=True``). A failing statement is reported
with PostgreSQL's SQLSTATE, message, detail, hint and context, and the replay goes on: one run lists every broken
statement of every file; failures that follow from an earlier one say so (postgres/consequences.py).

Known limit of the legacy mode: a deferred constraint that a later statement of the same file satisfies passes
here but failed under psql.

Every text that comes from the server goes through ``redact`` (``Failure`` applies it when constructed).
Extensions the server lacks can be stood in for (see ``consolidate/postgres/extensions.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager

import psycopg

from consolidate.db.script import Connection, Executor, runs_whole
from consolidate.db.script import pieces as script_pieces
from consolidate.db.urls import connect_failure, conninfo_parts, error_text
from consolidate.errors import ConsolidateError
from consolidate.model import Diagnostic, Location
from consolidate.postgres.consequences import link
from consolidate.postgres.extensions import stand_in_sql
from consolidate.postgres.failures import Failure, Replayed

SESSION_OPTIONS = "-c synchronous_commit=off"


def replay_files(
    conninfo: str,
    files: Sequence[tuple[str, str]],
    *,
    per_file_transaction: bool,
    stand_ins: Mapping[str, Set[str]] | None = None,
    advance: Callable[[], None] | None = None,
) -> Replayed:
    """Run `files` ((display path, text), in order) on the database `conninfo` names; report every failure.

    `stand_ins` maps an extension the server lacks to the functions of it the files call (see
    ``extensions.called_functions``): its CREATE/DROP EXTENSION statements then run its stand-in instead.
    `advance` is called after each file (the progress a watcher draws, see consolidate.steps).
    """
    started = time.perf_counter()
    stand_ins = dict(stand_ins or {})
    _check_stand_ins(stand_ins)
    failures: list[Failure] = []
    notes: list[Diagnostic] = []
    count = 0
    rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
    with _connect(conninfo) as connection:
        session = Executor(connection, stand_ins, notes)
        connection.add_notice_handler(session.notice)
        server_version = connection.info.server_version
        for path, text in files:
            pieces = script_pieces(path, text, server_version, stand_ins)
            count += len(pieces)
            with _unexpected(path):
                found = session.run(pieces, legacy=not per_file_transaction) + session.reset(path, pieces)
            if found and per_file_transaction and runs_whole(pieces):
                rolled_back[path] = tuple((piece.head, piece.text) for piece in pieces)
            failures += found
            if advance is not None:
                advance()
    if failures:
        order = {path: index for index, (path, _) in enumerate(files)}
        failures = list(link(failures, list(dict.fromkeys(session.skips)), order, rolled_back))
    # A version replayed twice (whole, then statement by statement) notes its stand-ins twice.
    notes_once = tuple(dict.fromkeys(notes))
    return Replayed(tuple(failures), count, time.perf_counter() - started, notes_once, rolled_back)


# --- connecting ----------------------------------------------------------------------------------------------


@contextmanager
def _connect(conninfo: str) -> Iterator[Connection]:
    options = " ".join(filter(None, [conninfo_parts(conninfo).get("options", ""), SESSION_OPTIONS]))
    try:
        connection = psycopg.connect(
            conninfo,
            autocommit=True,
            # DISCARD ALL between files drops prepared statements: psycopg must not prepare any behind our back.
            prepare_threshold=None,
            options=options,
            client_encoding="UTF8",
            application_name="consolidate replay",
        )
    except psycopg.Error as error:
        raise connect_failure("db.connect", conninfo, error) from None
    with connection:
        yield connection


@contextmanager
def _unexpected(path: str) -> Iterator[None]:
    """A database error the replay did not expect (outside any statement of the files) stops it, redacted."""
    try:
        yield
    except psycopg.Error as error:
        message = f"the replay cannot go on: {error_text(error)}"
        raise ConsolidateError.at("db.replay", message, Location(path)) from None


def _check_stand_ins(stand_ins: Mapping[str, Set[str]]) -> None:
    for extension, called in stand_ins.items():
        if stand_in_sql(extension, called) is None:
            raise ValueError(f"no honest stand-in for extension {extension} calling {sorted(called)}")
