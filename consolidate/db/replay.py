"""Replay SQL files on PostgreSQL and report every failing statement at its file:line:column.

Files run in the order given, on one connection, each in a fresh session state (what ``DISCARD ALL`` forgets is
forgotten between files: a ``SET search_path`` or ``SET ROLE`` in one file does not leak into the next, as with one
``psql -f`` per file),
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
from dataclasses import dataclass
from typing import Generic, TypeVar

import psycopg

from consolidate.db.fingerprint import Undo, Watch, digests, read
from consolidate.db.script import Connection, Executor, Piece, failure, runs_whole
from consolidate.db.script import pieces as script_pieces
from consolidate.db.urls import connect_failure, conninfo_parts, error_text
from consolidate.errors import ConsolidateError
from consolidate.model import Location
from consolidate.postgres.consequences import link
from consolidate.postgres.extensions import stand_in_sql
from consolidate.postgres.failures import Failure, Replayed

SESSION_OPTIONS = "-c synchronous_commit=off"

T = TypeVar("T")


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
    with replaying(conninfo, stand_ins) as replay:
        return replay.files(files, per_file_transaction=per_file_transaction, advance=advance)


@contextmanager
def replaying(conninfo: str, stand_ins: Mapping[str, Set[str]] | None = None) -> Iterator[Replaying]:
    """One connection to replay files on, open between them for what the caller reads (see ``Replaying``)."""
    stand_ins = dict(stand_ins or {})
    _check_stand_ins(stand_ins)
    with _connect(conninfo) as connection:
        session = Executor(connection, stand_ins, [])
        connection.add_notice_handler(session.notice)
        yield Replaying(session)


@dataclass(frozen=True)
class Trial(Generic[T]):
    """A script run in a transaction that was then rolled back: its failures, else what `look` read before."""

    failures: tuple[Failure, ...]
    seen: T | None


@dataclass(frozen=True)
class Replaying:
    """A replay in progress on one connection: files run in order, and trials that leave nothing behind."""

    session: Executor

    def files(
        self,
        files: Sequence[tuple[str, str]],
        *,
        per_file_transaction: bool,
        advance: Callable[[], None] | None = None,
    ) -> Replayed:
        """Run `files` in order; report every failure (see ``replay_files``)."""
        started = time.perf_counter()
        session = self.session
        failures: list[Failure] = []
        count = 0
        rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
        skips_before = len(session.skips)
        for path, text in files:
            pieces = self._pieces(path, text)
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
            skips = list(dict.fromkeys(session.skips[skips_before:]))
            failures = list(link(failures, skips, order, rolled_back))
        # A version replayed twice (whole, then statement by statement) notes its stand-ins twice.
        notes_once = tuple(dict.fromkeys(session.notes))
        session.notes.clear()
        return Replayed(tuple(failures), count, time.perf_counter() - started, notes_once, rolled_back)

    def trial(
        self,
        path: str,
        text: str,
        look: Callable[[Connection], T],
        advanced: Callable[[Connection], list[tuple[int, int | None]]] | None = None,
    ) -> Trial[T] | None:
        """Run a script as the runner applies a version, read the database with `look`, then roll it all back
        (sequences included: nextval is never rolled back). None when the script cannot run inside one
        transaction (a statement that runs outside one, or its own BEGIN/COMMIT): the caller must copy instead.

        Deferred constraints are checked before `look` reads, as the version's COMMIT would check them: the
        script runs under a savepoint here, whose release checks nothing. `advanced`: where the sequences the
        trial may have moved were before it, asked after it (a caller that knows, instead of reading every one)."""
        session = self.session
        pieces = self._pieces(path, text)
        if not runs_whole(pieces):
            return None
        with _unexpected(path):
            positions = session.sequence_positions() if advanced is None else None
            with session.connection.transaction(force_rollback=True):
                found = session.run(pieces, legacy=False)
                if not found:
                    found = self._deferred_checks(pieces)
                seen = None if found else look(session.connection)
            if advanced is not None:
                positions = advanced(session.connection)
            session.restore_sequences(positions or [])
            session.reset(path, pieces)
        session.notes.clear()
        return Trial(tuple(found), seen)

    def version(self, up: tuple[str, str], down: tuple[str, str] | None, watch: Watch) -> tuple[Replayed, bool]:
        """Run one version as ``files`` runs it, keeping `watch`'s fingerprint up to date; with `down`, then try
        its rollback as ``trial`` does. True when the down script put the database back at the fingerprint the
        version found; False when it did not, or when the trial cannot tell (a failure, a script that cannot run
        in one transaction): the caller proves those another way."""
        path, text = up
        started = time.perf_counter()
        pieces = self._pieces(path, text)
        if watch.enabled or down is not None:
            with _unexpected(path):
                watch.refresh(self.session.connection)
        undo = self._watched(path, pieces, watch) if watch.enabled and runs_whole(pieces) else None
        if undo is not None:
            notes = tuple(dict.fromkeys(self.session.notes))
            self.session.notes.clear()
            replayed = Replayed((), len(pieces), time.perf_counter() - started, notes)
            if down is None:
                return replayed, False
            trial = self.trial(*down, lambda connection: watch.same_as_before(connection, undo), watch.advanced)
            return replayed, trial is not None and trial.seen is True
        # Not watched: whole fingerprints before and after, as a watch without its event triggers reads them.
        earlier = digests(watch.entries)
        replayed = self.files([up], per_file_transaction=True)
        watch.stale = True
        if down is None or replayed.failures:
            return replayed, False
        tried = self.trial(*down, read)
        seen = tried.seen if tried is not None else None
        return replayed, seen is not None and digests(seen) == earlier

    def _watched(self, path: str, pieces: list[Piece], watch: Watch) -> Undo | None:
        """Run a version in a transaction of the replay's own, note what it changed before it commits (what it
        wrote is known only inside it), then update `watch`. None when the version failed, at COMMIT too: nothing
        of it stays, and the caller replays it again as ``files`` does, to report its failures the usual way."""
        session = self.session
        try:
            with session.connection.transaction():
                if session.run(pieces, legacy=False):
                    raise _Failed
                changes = watch.changes(session.connection)
        except (_Failed, psycopg.Error):
            with _unexpected(path):
                session.forget_session()
            return None
        with _unexpected(path):
            session.reset(path, pieces)
            return watch.update(session.connection, changes)

    def look(self, look: Callable[[Connection], T]) -> T:
        """Read the database between files."""
        with _unexpected("(between files)"):
            return look(self.session.connection)

    def _pieces(self, path: str, text: str) -> list[Piece]:
        return script_pieces(path, text, self.session.connection.info.server_version, self.session.stand_ins)

    def _deferred_checks(self, pieces: list[Piece]) -> list[Failure]:
        try:
            with self.session.connection.transaction():
                self.session.execute_text("SET CONSTRAINTS ALL IMMEDIATE")
        except psycopg.Error as error:
            return [failure(pieces[-1], error)]
        return []


class _Failed(Exception):
    """A watched version failed: its transaction is rolled back."""


# --- connecting ----------------------------------------------------------------------------------------------


@contextmanager
def _connect(conninfo: str) -> Iterator[Connection]:
    options = " ".join(filter(None, [conninfo_parts(conninfo).get("options", ""), SESSION_OPTIONS]))
    try:
        connection = psycopg.connect(
            conninfo,
            autocommit=True,
            # Between files, the statements a file prepared are dropped: psycopg must not prepare any behind our back.
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
