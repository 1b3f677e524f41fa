"""Replay SQL files on PostgreSQL and report every failing statement at its file:line:column.

Files run in the order given, on one connection, each in a fresh session state (``DISCARD ALL`` between files:
a ``SET search_path`` or ``SET ROLE`` in one file does not leak into the next, as with one ``psql -f`` per file).
A failing statement is reported with PostgreSQL's SQLSTATE, message, detail, hint and context, and the replay
goes on: one run lists every broken statement of every file.

Two modes, one per tree:

* legacy (``per_file_transaction=False``): what a person running ``psql -f file`` saw. Every statement commits
  on its own (autocommit), a failing one is skipped and the next one runs; BEGIN/COMMIT written in the file
  behave as in psql (after an error inside such a block PostgreSQL ignores the rest of the block: those
  25P02 errors are folded into the hint of the failure that caused them, not listed one by one). For speed, a
  file is sent in one round trip; if that fails (it ran as one implicit transaction, so PostgreSQL rolled all
  of it back), the sequence positions it consumed are restored and the file is replayed statement by statement,
  which finds every failure. A file with its own transaction control always runs statement by statement.
  Statements whose effect depends on their transaction ending (``SET LOCAL``, ``LOCK``, ``ALTER TYPE ... ADD
  VALUE``, ...) are sent alone. Known limit: a deferred constraint that a later statement of the same file
  satisfies passes here but failed under psql.
* canonical (``per_file_transaction=True``): one transaction per file (a version), as the runner applies it.
  A failing version is rolled back whole; it is then replayed inside a transaction with a savepoint around each
  statement, to report every failing statement, and rolled back again. A file with its own BEGIN/COMMIT runs
  as written, statement by statement. Nothing is sent alone here: an enum value that ``ALTER TYPE ... ADD
  VALUE`` adds cannot be used before its version commits, and the replay reports it as the runner would meet it.

In both modes, statements that PostgreSQL refuses inside a transaction block (``CREATE INDEX CONCURRENTLY``,
``VACUUM``, ``CREATE DATABASE``, ``ALTER SYSTEM``, ...) run on their own, outside any transaction: a version
holding one is applied as the transactions before it, the statement, and the transactions after it.
``COPY ... FROM STDIN`` is reported, not run: its data is psql's input, not SQL.

Every text that comes from the server goes through ``redact`` (``Failure`` applies it when constructed).
Extensions the server lacks can be stood in for (see ``consolidate/postgres/extensions.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from consolidate.core.statements import split
from consolidate.db.urls import CONNECT_HINT, conninfo_parts, endpoint, error_text
from consolidate.errors import ConsolidateError
from consolidate.model import Action, Diagnostic, Location, Severity
from consolidate.postgres.consequences import Skip, link
from consolidate.postgres.extensions import (
    CORE_FUNCTIONS,
    STAND_IN_MARK,
    ExtensionCommand,
    extension_command,
    stand_in_sql,
    unavailable_extension,
)
from consolidate.postgres.failures import (
    DUPLICATE_TABLE,
    Failure,
    Replayed,
    extension_function_hint,
    fold_ignored,
    hints,
    role_hint,
)
from consolidate.postgres.positions import blank_comments, chunk_starts, line_of, locate
from consolidate.postgres.transactions import cannot_run_in_transaction

Connection = psycopg.Connection[TupleRow]

SESSION_OPTIONS = "-c synchronous_commit=off"
COPY_FROM_STDIN = (
    "COPY ... FROM STDIN reads its rows from psql's input, which a replay does not have: "
    "load them with INSERT statements"
)

_WORD = re.compile(r"[A-Za-z_]+")
_ADD_VALUE = re.compile(r"\s*ALTER\s+TYPE\b.*\bADD\s+VALUE\b", re.I | re.S)
_COPY_STDIO = re.compile(r"\s*COPY\b.*\b(?:FROM\s+STDIN|TO\s+STDOUT)\b", re.I | re.S)
_COPY_OUT = re.compile(r"\s*COPY\b.*\bTO\s+STDOUT\b", re.I | re.S)
_DO_BODY = re.compile(r"\s*DO\s+(?:LANGUAGE\s+[\w\"]+\s+)?(?P<body>\$[^$\s]*\$|[eE]?')", re.I)
_QUOTED_NAME = re.compile(r'"([^"]+)"')
_CREATE_TABLE_IF_NOT_EXISTS = r"CREATE\s+(?:(?:GLOBAL|LOCAL|TEMP|TEMPORARY|UNLOGGED)\s+)*TABLE\s+IF\s+NOT\s+EXISTS\s+"
_INLINE_LINE = re.compile(r"inline_code_block line (?P<line>\d+)")
_CONTROL_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"})
_ALONE_PAIRS = frozenset({("SET", "LOCAL"), ("SET", "TRANSACTION"), ("SET", "CONSTRAINTS")})


def replay_files(
    conninfo: str,
    files: Sequence[tuple[str, str]],
    *,
    per_file_transaction: bool,
    stand_ins: Mapping[str, Set[str]] | None = None,
) -> Replayed:
    """Run `files` ((display path, text), in order) on the database `conninfo` names; report every failure.

    `stand_ins` maps an extension the server lacks to the functions of it the files call (see
    ``extensions.called_functions``): its CREATE/DROP EXTENSION statements then run its stand-in instead.
    """
    started = time.perf_counter()
    stand_ins = dict(stand_ins or {})
    _check_stand_ins(stand_ins)
    failures: list[Failure] = []
    notes: list[Diagnostic] = []
    count = 0
    rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
    with _connect(conninfo) as connection:
        session = _Session(connection, stand_ins, notes)
        connection.add_notice_handler(session.notice)
        for path, text in files:
            pieces = _pieces(path, text, stand_ins)
            count += len(pieces)
            with _unexpected(path):
                found = session.replay(pieces, per_file_transaction) + session.reset(path, pieces)
            if found and per_file_transaction and all(piece.mode in _IN_TRANSACTION for piece in pieces):
                rolled_back[path] = tuple((piece.head, piece.text) for piece in pieces)
            failures += found
    if failures:
        order = {path: index for index, (path, _) in enumerate(files)}
        failures = list(link(failures, list(dict.fromkeys(session.skips)), order, rolled_back))
    # A version replayed twice (whole, then statement by statement) notes its stand-ins twice.
    notes_once = tuple(dict.fromkeys(notes))
    return Replayed(tuple(failures), count, time.perf_counter() - started, notes_once, rolled_back)


# --- statements as sent ----------------------------------------------------------------------------------------


class _Mode(Enum):
    SQL = "sql"  # may share a round trip and a transaction with its neighbours
    CONTROL = "control"  # BEGIN, COMMIT, SAVEPOINT, ...: the file manages its own transactions
    OUTSIDE = "outside"  # PostgreSQL refuses it inside a transaction block
    ALONE = "alone"  # its effect depends on when its transaction ends: never batched in legacy mode
    COPY = "copy"  # COPY FROM STDIN / TO STDOUT: needs the copy protocol
    EXTENSION = "extension"  # CREATE/DROP EXTENSION of a stood-in extension


# The statements of a version that run inside its one transaction (and so are rolled back with it).
_IN_TRANSACTION = frozenset({_Mode.SQL, _Mode.ALONE, _Mode.COPY, _Mode.EXTENSION})


@dataclass(frozen=True)
class _Piece:
    """One statement as sent: its exact text and where that text starts in its file."""

    path: str
    text: str
    line: int  # where the text (leading comments included) starts
    column: int
    head: int  # line of the statement's first token
    mode: _Mode
    command: ExtensionCommand | None = None


def _pieces(path: str, text: str, stand_ins: Mapping[str, Set[str]]) -> list[_Piece]:
    pieces = []
    for chunk, line, column in chunk_starts(split(text)):
        if chunk.is_statement:
            code = blank_comments(chunk.text)
            head = line_of(code, len(code) - len(code.lstrip()), line)
            mode, command = _mode(code, stand_ins)
            pieces.append(_Piece(path, chunk.text, line, column, head, mode, command))
    return pieces


def _mode(code: str, stand_ins: Mapping[str, Set[str]]) -> tuple[_Mode, ExtensionCommand | None]:
    """How a statement (comments blanked) must be sent."""
    start = len(code) - len(code.lstrip())  # leading comments are blanked, and may be long
    words = [word.upper() for word in _WORD.findall(code, start, start + 400)[:6]]
    first, second = [*words, "", ""][:2]
    command = extension_command(code) if first in ("CREATE", "DROP") and second == "EXTENSION" else None
    if command is not None and all(name in stand_ins for name in command.names):
        return _Mode.EXTENSION, command
    if first in _CONTROL_WORDS or (first, second) in (("START", "TRANSACTION"), ("PREPARE", "TRANSACTION")):
        return _Mode.CONTROL, None
    if cannot_run_in_transaction(words):
        return _Mode.OUTSIDE, None
    if first == "COPY" and _COPY_STDIO.match(code):
        return _Mode.COPY, None
    if first in ("LOCK", "DECLARE") or (first, second) in _ALONE_PAIRS or _ADD_VALUE.match(code):
        return _Mode.ALONE, None
    return _Mode.SQL, None


# --- a session -------------------------------------------------------------------------------------------------


@dataclass
class _Session:
    """The replay's connection and what it learns on the way."""

    connection: Connection
    stand_ins: dict[str, Set[str]]
    notes: list[Diagnostic] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)  # CREATE TABLE IF NOT EXISTS that found the table there
    sending: list[_Piece] = field(default_factory=list)  # the statements of the message under way

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        """A skipped CREATE TABLE IF NOT EXISTS: which statement of the message under way it was."""
        if diag.sqlstate != DUPLICATE_TABLE or not diag.message_primary:
            return
        named = _QUOTED_NAME.search(diag.message_primary)
        if named is None:
            return
        creates = re.compile(_CREATE_TABLE_IF_NOT_EXISTS + rf'(?:[\w"]+\.)?"?{re.escape(named[1])}"?(?![\w"])', re.I)
        for piece in self.sending:
            if creates.search(blank_comments(piece.text)):
                self.skips.append(Skip(named[1], piece.path, piece.head))
                return

    def replay(self, pieces: list[_Piece], per_file_transaction: bool) -> list[Failure]:
        if any(piece.mode is _Mode.CONTROL for piece in pieces):
            return self.one_by_one(pieces)
        if per_file_transaction:
            return [failure for run in _runs(pieces, legacy=False) for failure in self.version_run(run)]
        return [failure for run in _runs(pieces, legacy=True) for failure in self.legacy_run(run)]

    def reset(self, path: str, pieces: list[_Piece]) -> list[Failure]:
        """End what a file left open (psql rolls it back when the file ends) and forget its session state."""
        status = self.connection.info.transaction_status
        if status is not TransactionStatus.IDLE:
            self.connection.execute("ROLLBACK")
        self.connection.execute("DISCARD ALL")
        if status is not TransactionStatus.INTRANS:
            return []  # an aborted block was reported already, through the failure that aborted it
        line = pieces[-1].head if pieces else 1
        message = "the file ends inside a transaction block it opened: everything since its BEGIN was rolled back"
        return [Failure(path, line, None, "", message, hint="end the block with COMMIT")]

    # legacy: psql -f

    def legacy_run(self, run: list[_Piece]) -> list[Failure]:
        if len(run) == 1:
            failure = self.attempt(run[0])
            return [failure] if failure else []
        positions = self.sequence_positions()
        try:
            self.sending = run
            self.execute_text("".join(piece.text for piece in run))
        except psycopg.Error:
            self.check(run[0])
            self.restore_sequences(positions)
            return self.one_by_one(run)
        return []

    def one_by_one(self, pieces: list[_Piece]) -> list[Failure]:
        return fold_ignored([failure for piece in pieces if (failure := self.attempt(piece)) is not None])

    # canonical: one transaction per version

    def version_run(self, run: list[_Piece]) -> list[Failure]:
        if run[0].mode is _Mode.OUTSIDE:
            failure = self.attempt(run[0])
            return [failure] if failure else []
        try:
            with self.connection.transaction():
                for step in _steps(run):
                    self.execute_step(step)
        except psycopg.Error as error:
            self.check(run[0])
            return self.with_savepoints(run) or [_commit_failure(run[-1], error)]
        return []

    def with_savepoints(self, run: list[_Piece]) -> list[Failure]:
        """Every failing statement of a run, each rolled back to its savepoint; then the whole run is undone."""
        failures = []
        with self.connection.transaction(force_rollback=True):
            for piece in run:
                try:
                    with self.connection.transaction():
                        self.execute(piece)
                except psycopg.Error as error:
                    self.check(piece)
                    failures.append(_failure(piece, error))
        return failures

    # running statements

    def attempt(self, piece: _Piece) -> Failure | None:
        """Run one statement; its failure, if any."""
        try:
            self.execute(piece)
        except psycopg.Error as error:
            self.check(piece)
            return _failure(piece, error)
        return None

    def execute(self, piece: _Piece) -> None:
        if piece.mode is _Mode.EXTENSION and piece.command is not None:
            self.stand_in(piece, piece.command)
        elif piece.mode is _Mode.COPY:
            self.copy_out(piece)
        else:
            self.sending = [piece]
            self.execute_text(piece.text)

    def copy_out(self, piece: _Piece) -> None:
        if not _COPY_OUT.match(blank_comments(piece.text)):
            raise psycopg.ProgrammingError(COPY_FROM_STDIN)
        with self.connection.cursor().copy(piece.text) as copy:
            for _ in copy:  # COPY ... TO STDOUT: what it prints is of no interest
                pass

    def execute_step(self, step: list[_Piece]) -> None:
        if len(step) == 1:
            self.execute(step[0])
        else:
            self.sending = step
            self.execute_text("".join(piece.text for piece in step))

    def execute_text(self, text: str) -> None:
        # No parameters: psycopg sends the text as is, over the simple query protocol (several statements allowed).
        self.connection.execute(text)

    def check(self, piece: _Piece) -> None:
        """Stop the replay when the connection cannot go on (server gone, protocol state lost)."""
        connection = self.connection
        if connection.closed or connection.broken or connection.info.transaction_status is TransactionStatus.ACTIVE:
            where = Location(piece.path, piece.head)
            message = f"lost the connection to PostgreSQL at {endpoint(connection.info.dsn)} while replaying"
            raise ConsolidateError.at("db.connection-lost", message, where, CONNECT_HINT)

    # sequences: nextval is never rolled back

    def sequence_positions(self) -> list[tuple[int, int | None]]:
        query = "SELECT oid, pg_sequence_last_value(oid) FROM pg_class WHERE relkind = 'S' AND relpersistence <> 't'"
        return [(int(oid), value) for oid, value in self.connection.execute(query).fetchall()]

    def restore_sequences(self, positions: list[tuple[int, int | None]]) -> None:
        """Put the sequences back where they were before a rolled-back attempt, as if it had never run."""
        if not positions:
            return
        oids, values = [oid for oid, _ in positions], [value for _, value in positions]
        self.connection.execute(
            """SELECT setval(x.oid, coalesce(x.value, s.seqstart), x.value IS NOT NULL)
               FROM unnest(%s::oid[], %s::bigint[]) AS x(oid, value)
               JOIN pg_sequence s ON s.seqrelid = x.oid
               WHERE pg_sequence_last_value(x.oid) IS DISTINCT FROM x.value""",
            [oids, values],
        )

    # stand-ins

    def stand_in(self, piece: _Piece, command: ExtensionCommand) -> None:
        if command.action is Action.CREATE:
            self.create_stand_in(piece, command, command.names[0])
        else:
            for name in command.names:
                self.drop_stand_in(piece, command, name)

    def create_stand_in(self, piece: _Piece, command: ExtensionCommand, name: str) -> None:
        if self.stand_in_functions(name):
            self.note(piece, f'extension "{name}" is stood in for already: CREATE EXTENSION did nothing')
            return
        schema = command.schema or self.current_schema()
        sql = stand_in_sql(name, self.stand_ins[name], schema)
        if sql:  # checked before the replay: never None here
            self.execute_text(sql)
        made = ", ".join(sorted(self.stand_ins[name] - CORE_FUNCTIONS)) or "no function needed"
        self.note(piece, f'stood in for extension "{name}" with core PostgreSQL in schema {schema}: {made}')

    def drop_stand_in(self, piece: _Piece, command: ExtensionCommand, name: str) -> None:
        functions = self.stand_in_functions(name)
        if functions:
            cascade = " CASCADE" if command.cascade else ""
            self.execute_text(f"DROP FUNCTION {', '.join(functions)}{cascade}")
        self.note(piece, f'extension "{name}" is stood in for: DROP EXTENSION dropped {len(functions)} functions')

    def stand_in_functions(self, name: str) -> list[str]:
        query = """SELECT p.oid::regprocedure::text FROM pg_proc p
                   JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
                   WHERE d.description = %s ORDER BY p.oid"""
        rows = self.connection.execute(query, [STAND_IN_MARK.format(extension=name)]).fetchall()
        return [str(row[0]) for row in rows]

    def current_schema(self) -> str:
        row = self.connection.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise psycopg.errors.InvalidSchemaName("no schema has been selected to create in")
        return str(row[0])

    def note(self, piece: _Piece, message: str) -> None:
        location = Location(piece.path, piece.head)
        self.notes.append(Diagnostic("replay.stand-in", message, location, severity=Severity.INFO))


def _runs(pieces: list[_Piece], *, legacy: bool) -> Iterator[list[_Piece]]:
    """Consecutive statements that may go together: one round trip (legacy) or one transaction (canonical)."""
    run: list[_Piece] = []
    for piece in pieces:
        if _together(piece, legacy):
            run.append(piece)
            continue
        if run:
            yield run
            run = []
        yield [piece]
    if run:
        yield run


def _together(piece: _Piece, legacy: bool) -> bool:
    if legacy:
        return piece.mode is _Mode.SQL
    return piece.mode is not _Mode.OUTSIDE


def _steps(run: list[_Piece]) -> Iterator[list[_Piece]]:
    """Inside a version's transaction: plain statements in one round trip, the others one by one."""
    batch: list[_Piece] = []
    for piece in run:
        if piece.mode in (_Mode.SQL, _Mode.ALONE):
            batch.append(piece)
            continue
        if batch:
            yield batch
        batch = []
        yield [piece]
    if batch:
        yield batch


# --- failures ----------------------------------------------------------------------------------------------------


def _failure(piece: _Piece, error: psycopg.Error) -> Failure:
    """The failure of one statement, at the file position PostgreSQL points to."""
    diag = error.diag
    sqlstate = diag.sqlstate or error.sqlstate or ""
    message = diag.message_primary or " ".join(str(error).split())
    detail, context = diag.message_detail or "", diag.context or ""
    # A stand-in's error points into the stand-in's SQL, not into the file.
    position = None if piece.mode is _Mode.EXTENSION else diag.statement_position
    line, column = _where(piece, position, context)
    extension = unavailable_extension(f"{message}\n{detail}")
    hint = hints(diag.message_hint or "", extension_function_hint(sqlstate, message), role_hint(sqlstate, message))
    return Failure(piece.path, line, column, sqlstate, message, hint, context, detail, extension, piece.text)


def _where(piece: _Piece, position: str | None, context: str) -> tuple[int, int | None]:
    """The file line and column of an error: PostgreSQL's position, else the failing line of a DO block."""
    if position and position.isdigit():
        return locate(piece.text, int(position), piece.line, piece.column)
    inline = list(_INLINE_LINE.finditer(context))
    body = _DO_BODY.match(blank_comments(piece.text))
    if inline and body:
        # PL/pgSQL numbers the lines of the body from the line its opening quote is on.
        return line_of(piece.text, body.start("body"), piece.line) + int(inline[-1]["line"]) - 1, None
    return piece.head, None


def _commit_failure(last: _Piece, error: psycopg.Error) -> Failure:
    """A version that failed as a whole though each statement passed: the error came at COMMIT."""
    failure = _failure(last, error)
    return replace(failure, hint=hints(failure.hint, "raised when the version's transaction committed"))


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
        where = endpoint(conninfo)
        message = f"cannot connect to PostgreSQL at {where}: {error_text(error, conninfo)}"
        raise ConsolidateError.at("db.connect", message, Location(where), hint=CONNECT_HINT) from None
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
