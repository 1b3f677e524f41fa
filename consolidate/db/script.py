"""The one SQL executor: how a script is cut into statements, which of them run together, in a transaction,
alone or outside any transaction on a given server, and where a failure is in its file.

Every place that runs SQL goes through it: verify's replays of the legacy and the canonical tree, the rollback
proof, ``baseline --check-schema`` and ``migrate up/down``. So verify proves the execution ``migrate`` performs.

Two ways to run a script, one per kind of tree:

* as a version (``legacy=False``), as the runner applies it: one transaction, except that statements PostgreSQL
  refuses inside a transaction block (``CREATE INDEX CONCURRENTLY``, ``VACUUM``, ...; the rule is
  postgres/transactions.py, by server version) run alone, with the statements between them in their own
  transactions. A failing transaction is replayed with a savepoint around each statement, to find every failing
  statement (or, with ``stop``, the first), and rolled back. A script with its own transaction control (BEGIN,
  COMMIT, ...) is refused before any of it runs: a COMMIT of its own would keep part of the version without its
  ``_migrations`` row (``control_refusal``).
* as ``psql -f`` ran a legacy file (``legacy=True``): every statement commits on its own and a failing one is
  skipped. For speed, statements go in one round trip; if that fails (PostgreSQL rolled it all back), the
  sequence positions it consumed are restored and the run is replayed statement by statement. Statements whose
  effect depends on their transaction ending (``SET LOCAL``, ``LOCK``, ``ALTER TYPE ... ADD VALUE``) go alone.

``COPY ... FROM STDIN`` is reported, not run: its data is psql's input, not SQL. Sessions carry what the
connection carries: the runner's connection has its lock and statement timeouts, so locating a failure never
waits longer than the failure did.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field, replace
from enum import Enum

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from consolidate.core.comments import code_start
from consolidate.core.transactions import (
    CONTROL_WORDS,
    FIRST_WORDS,
    TELLING_WORDS,
    cannot_run_in_transaction,
    is_control,
)
from consolidate.db.urls import CONNECT_HINT, endpoint
from consolidate.errors import ConsolidateError
from consolidate.model import Action, Diagnostic, Location, Severity
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
    Skip,
    extension_function_hint,
    fold_ignored,
    hints,
    role_hint,
)
from consolidate.postgres.positions import blank_comments, chunk_starts, line_of, locate

Connection = psycopg.Connection[TupleRow]

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
# First words after which the next ones matter to the quick look.
_LOOKED_AT = FIRST_WORDS | CONTROL_WORDS | {"COPY", "START", "PREPARE"}
# Found anywhere, even inside a longer word or a comment: then the scanner looks (see TELLING_WORDS).
_TELLING = sorted(TELLING_WORDS)
_ALONE_PAIRS = frozenset({("SET", "LOCAL"), ("SET", "TRANSACTION"), ("SET", "CONSTRAINTS")})


# --- statements as sent ----------------------------------------------------------------------------------------


class Mode(Enum):
    SQL = "sql"  # may share a round trip and a transaction with its neighbours
    CONTROL = "control"  # BEGIN, COMMIT, ROLLBACK, ...: the file opens and ends its own transactions
    OUTSIDE = "outside"  # PostgreSQL refuses it inside a transaction block
    ALONE = "alone"  # its effect depends on when its transaction ends: never batched in legacy mode
    COPY = "copy"  # COPY FROM STDIN / TO STDOUT: needs the copy protocol
    EXTENSION = "extension"  # CREATE/DROP EXTENSION of a stood-in extension


# The statements of a version that run inside its one transaction (and so are rolled back with it).
IN_TRANSACTION = frozenset({Mode.SQL, Mode.ALONE, Mode.COPY, Mode.EXTENSION})
# Of those, the ones sent as plain text, several to a message.
_PLAIN = frozenset({Mode.SQL, Mode.ALONE})


@dataclass(frozen=True)
class Piece:
    """One statement as sent: its exact text and where that text starts in its file."""

    path: str
    text: str
    line: int  # where the text (leading comments included) starts
    column: int
    head: int  # line of the statement's first token
    mode: Mode
    command: ExtensionCommand | None = None


def pieces(
    path: str, text: str, server_version: int | None = None, stand_ins: Mapping[str, Set[str]] | None = None
) -> list[Piece]:
    """The statements of a script as they are sent, each with its file position and how it must run on a server
    of `server_version` (None: a current one); `stand_ins` as for ``replay_files``."""
    from consolidate.core.statements import split  # sqlglot: the runner imports it only for such scripts

    stand_ins = stand_ins or {}
    pieces = []
    for chunk, line, column in chunk_starts(split(text)):
        if chunk.is_statement or chunk.is_meta:
            code = blank_comments(chunk.text)
            head = line_of(code, len(code) - len(code.lstrip()), line)
            # A psql meta-command is sent as written: PostgreSQL refuses it at its own line, where skipping it would
            # run the file without what psql did for it (\i, \c).
            mode, command = (Mode.SQL, None) if chunk.is_meta else _mode(code, server_version, stand_ins)
            pieces.append(Piece(path, chunk.text, line, column, head, mode, command))
    return pieces


def _mode(
    code: str, server_version: int | None, stand_ins: Mapping[str, Set[str]]
) -> tuple[Mode, ExtensionCommand | None]:
    """How a statement (comments blanked) must be sent."""
    start = len(code) - len(code.lstrip())  # leading comments are blanked, and may be long
    words = [word.upper() for word in _WORD.findall(code, start, start + 400)[:6]]
    first, second = [*words, "", ""][:2]
    command = extension_command(code) if first in ("CREATE", "DROP") and second == "EXTENSION" else None
    if command is not None and all(name in stand_ins for name in command.names):
        return Mode.EXTENSION, command
    if is_control(words):
        return Mode.CONTROL, None
    if cannot_run_in_transaction(words, server_version):
        return Mode.OUTSIDE, None
    if first == "COPY" and _COPY_STDIO.match(code):
        return Mode.COPY, None
    if first in ("LOCK", "DECLARE") or (first, second) in _ALONE_PAIRS or _ADD_VALUE.match(code):
        return Mode.ALONE, None
    return Mode.SQL, None


# DISCARD ALL but DEALLOCATE ALL and DISCARD PLANS (see Executor.forget_session); the last statement names the
# statements a script prepared, which are deallocated one by one.
FORGET_SESSION = (
    "CLOSE ALL; RESET SESSION AUTHORIZATION; RESET ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); "
    "DISCARD TEMP; DISCARD SEQUENCES; "
    "SELECT array_agg(name::text) FROM pg_prepared_statements WHERE name NOT LIKE 'consolidate\\_%'"
)

# Where every sequence of the session's database is (NULL: nextval never called since it was created or reset).
SEQUENCE_POSITIONS = (
    "SELECT oid, pg_sequence_last_value(oid) FROM pg_class WHERE relkind = 'S' AND relpersistence <> 't'"
)

# --- a session -------------------------------------------------------------------------------------------------


@dataclass
class Executor:
    """A connection running scripts (a replay's, or the runner's with its timeouts) and what it learns."""

    connection: Connection
    stand_ins: Mapping[str, Set[str]] = field(default_factory=dict)
    notes: list[Diagnostic] = field(default_factory=list)  # stand-ins used
    skips: list[Skip] = field(default_factory=list)  # CREATE TABLE IF NOT EXISTS that found the table there
    sending: list[Piece] = field(default_factory=list)  # the statements of the message under way
    completed: list[Piece] = field(default_factory=list)  # of the last run: statements that ran and stay

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

    def run(self, pieces: list[Piece], *, legacy: bool, stop: bool = False) -> list[Failure]:
        """Every failure of a script run as psql runs a file (`legacy`) or as the runner applies a version;
        `stop`: end at the first failing statement. `completed` then holds the statements that ran and stay."""
        self.completed = []
        if any(piece.mode is Mode.CONTROL for piece in pieces):
            refused = None if legacy else control_refusal(pieces)
            return [refused] if refused else self.one_by_one(pieces, stop)
        found: list[Failure] = []
        for run in runs(pieces, legacy=legacy):
            failures = self.legacy_run(run) if legacy else self.version_run(run)
            found += failures
            if failures and stop:
                break
            self.completed += run
        return found

    def reset(self, path: str, pieces: list[Piece]) -> list[Failure]:
        """End what a file left open (psql rolls it back when the file ends) and forget its session state."""
        status = self.connection.info.transaction_status
        if status is not TransactionStatus.IDLE:
            self.connection.execute("ROLLBACK")
        self.forget_session()
        if status is not TransactionStatus.INTRANS:
            return []  # an aborted block was reported already, through the failure that aborted it
        line = pieces[-1].head if pieces else 1
        message = "the file ends inside a transaction block it opened: everything since its BEGIN was rolled back"
        return [Failure(path, line, None, "", message, hint="end the block with COMMIT")]

    def forget_session(self) -> None:
        """What DISCARD ALL does, but for the statements the replay itself prepared (their names start with
        ``consolidate_``; db/fingerprint.py's reads) and the plan cache, which PostgreSQL keeps right by itself:
        planning those reads again after every file took longer than running them."""
        cursor = self.connection.execute(FORGET_SESSION)
        while cursor.nextset():  # to the last statement's result
            pass
        leftover = cursor.fetchone()
        for name in (leftover[0] if leftover else None) or ():
            self.connection.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(name)))

    # legacy: psql -f

    def legacy_run(self, run: list[Piece]) -> list[Failure]:
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

    def one_by_one(self, pieces: list[Piece], stop: bool = False) -> list[Failure]:
        found = []
        for piece in pieces:
            failure = self.attempt(piece)
            if failure is None:
                self.completed.append(piece)
                continue
            found.append(failure)
            if stop:
                break
        return fold_ignored(found)

    # canonical: one transaction per version

    def version_run(self, run: list[Piece]) -> list[Failure]:
        if run[0].mode is Mode.OUTSIDE:
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

    def with_savepoints(self, run: list[Piece]) -> list[Failure]:
        """Every failing statement of a run, each rolled back to its savepoint; then the whole run is undone."""
        failures = []
        with self.connection.transaction(force_rollback=True):
            for piece in run:
                try:
                    with self.connection.transaction():
                        self.execute(piece)
                except psycopg.Error as error:
                    self.check(piece)
                    failures.append(failure(piece, error))
        return failures

    # running statements

    def attempt(self, piece: Piece) -> Failure | None:
        """Run one statement; its failure, if any."""
        # A statement run outside a transaction (CREATE INDEX CONCURRENTLY, REINDEX CONCURRENTLY) that fails
        # half-way leaves an invalid index behind, which nothing rolls back.
        invalid = self.invalid_indexes() if piece.mode is Mode.OUTSIDE else None
        try:
            self.execute(piece)
        except psycopg.Error as error:
            self.check(piece)
            found = failure(piece, error)
            return found if invalid is None else self.drop_left_behind(found, invalid)
        return None

    def invalid_indexes(self) -> set[str]:
        query = """SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE NOT i.indisvalid"""
        return {str(row[0]) for row in self.connection.execute(query).fetchall()}

    def drop_left_behind(self, found: Failure, before: set[str]) -> Failure:
        """Drop the invalid indexes the failed statement left, and say so; the exact command where it cannot."""
        notes = []
        for name in sorted(self.invalid_indexes() - before):
            try:
                self.execute_text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                notes.append(f"PostgreSQL left the invalid index {name} behind: it was dropped")
            except psycopg.Error as error:
                reason = " ".join(str(error).split())
                notes.append(
                    f"PostgreSQL left the invalid index {name} behind ({reason}): run DROP INDEX CONCURRENTLY {name};"
                )
        return replace(found, hint=hints(found.hint, *notes)) if notes else found

    def execute(self, piece: Piece) -> None:
        if piece.mode is Mode.EXTENSION and piece.command is not None:
            self.stand_in(piece, piece.command)
        elif piece.mode is Mode.COPY:
            self.copy_out(piece)
        else:
            self.sending = [piece]
            self.execute_text(piece.text)

    def copy_out(self, piece: Piece) -> None:
        if not _COPY_OUT.match(blank_comments(piece.text)):
            raise psycopg.ProgrammingError(COPY_FROM_STDIN)
        with self.connection.cursor().copy(piece.text) as copy:
            for _ in copy:  # COPY ... TO STDOUT: what it prints is of no interest
                pass

    def execute_step(self, step: list[Piece]) -> None:
        if len(step) == 1:
            self.execute(step[0])
        else:
            self.sending = step
            self.execute_text("".join(piece.text for piece in step))

    def execute_text(self, text: str) -> None:
        # No parameters: psycopg sends the text as is, over the simple query protocol (several statements allowed).
        self.connection.execute(text)

    def check(self, piece: Piece) -> None:
        """Stop the replay when the connection cannot go on (server gone, protocol state lost)."""
        connection = self.connection
        if connection.closed or connection.broken or connection.info.transaction_status is TransactionStatus.ACTIVE:
            where = Location(piece.path, piece.head)
            message = f"lost the connection to PostgreSQL at {endpoint(connection.info.dsn)} while replaying"
            raise ConsolidateError.at("db.connection-lost", message, where, CONNECT_HINT)

    # sequences: nextval is never rolled back

    def sequence_positions(self) -> list[tuple[int, int | None]]:
        return [(int(oid), value) for oid, value in self.connection.execute(SEQUENCE_POSITIONS).fetchall()]

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

    def stand_in(self, piece: Piece, command: ExtensionCommand) -> None:
        if command.action is Action.CREATE:
            self.create_stand_in(piece, command, command.names[0])
        else:
            for name in command.names:
                self.drop_stand_in(piece, command, name)

    def create_stand_in(self, piece: Piece, command: ExtensionCommand, name: str) -> None:
        if self.stand_in_functions(name):
            self.note(piece, f'extension "{name}" is stood in for already: CREATE EXTENSION did nothing')
            return
        schema = command.schema or self.current_schema()
        sql = stand_in_sql(name, self.stand_ins[name], schema)
        if sql:  # checked before the replay: never None here
            self.execute_text(sql)
        made = ", ".join(sorted(self.stand_ins[name] - CORE_FUNCTIONS)) or "no function needed"
        self.note(piece, f'stood in for extension "{name}" with core PostgreSQL in schema {schema}: {made}')

    def drop_stand_in(self, piece: Piece, command: ExtensionCommand, name: str) -> None:
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

    def note(self, piece: Piece, message: str) -> None:
        location = Location(piece.path, piece.head)
        self.notes.append(Diagnostic("replay.stand-in", message, location, severity=Severity.INFO))


def runs(pieces: list[Piece], *, legacy: bool) -> Iterator[list[Piece]]:
    """Consecutive statements that may go together: one round trip (legacy) or one transaction (canonical)."""
    if legacy:
        return _grouped(pieces, {Mode.SQL})
    return _grouped(pieces, set(Mode) - {Mode.OUTSIDE})


def _steps(run: list[Piece]) -> Iterator[list[Piece]]:
    """Inside a version's transaction: plain statements in one round trip, the others one by one."""
    return _grouped(run, _PLAIN)


def _grouped(pieces: list[Piece], together: Set[Mode]) -> Iterator[list[Piece]]:
    """Consecutive pieces of the `together` modes as one group; every other piece as a group of its own."""
    group: list[Piece] = []
    for piece in pieces:
        if piece.mode in together:
            group.append(piece)
            continue
        if group:
            yield group
            group = []
        yield [piece]
    if group:
        yield group


# --- failures ----------------------------------------------------------------------------------------------------


def control_refusal(pieces: list[Piece]) -> Failure | None:
    """A version's first statement that opens or ends a transaction itself, as the failure refusing the whole
    version before any of it runs: the runner wraps a version and its row in one transaction, and a COMMIT of the
    version's own would keep part of it without its row."""
    control = next((piece for piece in pieces if piece.mode is Mode.CONTROL), None)
    if control is None:
        return None
    code = blank_comments(control.text)
    statement = " ".join(word.upper() for word in _WORD.findall(code)[:2] if word.upper() != "WORK")
    message = (
        f"{statement or 'transaction control'} in a version: the runner runs each version in one transaction "
        "with its _migrations row, and a transaction of the version's own would commit part of it without its row"
    )
    hint = (
        "remove BEGIN/COMMIT/ROLLBACK from the version (a statement that cannot run in a transaction, such as "
        "CREATE INDEX CONCURRENTLY, is run alone by the runner); to commit in steps, make each step a version"
    )
    return Failure(control.path, control.head, None, "", message, hint, statement=control.text)


def whole_script(path: str, text: str) -> Piece:
    """A script as one piece: the runner sends a version that runs whole in one message."""
    code = blank_comments(text)
    return Piece(path, text, 1, 1, line_of(code, len(code) - len(code.lstrip())), Mode.SQL)


def located(error: psycopg.Error, piece: Piece, offset: int = 0) -> bool:
    """Whether PostgreSQL's error position falls inside `piece`, sent at `offset` of its message."""
    position = _position(error.diag.statement_position, offset)
    return position is not None and 0 < position <= len(piece.text)


def failure(piece: Piece, error: psycopg.Error, offset: int = 0) -> Failure:
    """The failure of one statement (sent at `offset` of its message), at the file position PostgreSQL points
    to."""
    diag = error.diag
    sqlstate = diag.sqlstate or error.sqlstate or ""
    message = diag.message_primary or " ".join(str(error).split())
    detail, context = diag.message_detail or "", diag.context or ""
    # A stand-in's error points into the stand-in's SQL, not into the file.
    position = None if piece.mode is Mode.EXTENSION else _position(diag.statement_position, offset)
    line, column = _where(piece, position, context)
    extension = unavailable_extension(f"{message}\n{detail}")
    hint = hints(diag.message_hint or "", extension_function_hint(sqlstate, message), role_hint(sqlstate, message))
    return Failure(piece.path, line, column, sqlstate, message, hint, context, detail, extension, piece.text)


def _position(position: str | None, offset: int) -> int | None:
    return int(position) - offset if position and position.isdigit() else None


def _where(piece: Piece, position: int | None, context: str) -> tuple[int, int | None]:
    """The file line and column of an error: PostgreSQL's position, else the failing line of a DO block."""
    if position is not None and 0 < position <= len(piece.text):
        return locate(piece.text, position, piece.line, piece.column)
    inline = list(_INLINE_LINE.finditer(context))
    body = _DO_BODY.match(blank_comments(piece.text))
    if inline and body:
        # PL/pgSQL numbers the lines of the body from the line its opening quote is on.
        return line_of(piece.text, body.start("body"), piece.line) + int(inline[-1]["line"]) - 1, None
    return piece.head, None


def _commit_failure(last: Piece, error: psycopg.Error) -> Failure:
    """A version that failed as a whole though each statement passed: the error came at COMMIT."""
    found = failure(last, error)
    return replace(found, hint=hints(found.hint, "raised when the version's transaction committed"))


# --- a quick look first ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuickLook:
    """The first words of each statement of a script as PostgreSQL's own scanner (pglast, in C) cuts them: a few
    milliseconds per hundred files, where the exact cut (``pieces``, sqlglot's tokenizer, with line numbers)
    costs far more. Taken once per script, asked what the runner needs to know before it runs anything."""

    heads: tuple[tuple[str, ...], ...] | None  # None: the scanner cannot cut the script (the exact cut will)

    def may_need_pieces(self, server_version: int | None = None) -> bool:
        """Whether some statement may keep the script from being sent whole, in one message: it must run alone,
        outside its version's transaction, or is the script's own transaction control, or a COPY."""
        return self.heads is None or any(_outside_version(list(words), server_version) for words in self.heads)

    def may_control(self) -> bool:
        """Whether some statement may open or end a transaction itself."""
        return self.heads is None or any(is_control(words) for words in self.heads)


def quick_look(text: str) -> QuickLook:
    """The quick look at a script (see QuickLook). A script holding none of the words that make a statement run
    alone or control its transaction needs no scanner: most plain versions, whose `up` then never imports it."""
    if "\x00" in text:
        return QuickLook(None)
    upper = text.upper()  # a substring test per word: ten times faster than one case-blind regular expression
    if not any(word in upper for word in _TELLING):
        return QuickLook(())
    from pglast import parser  # imported here: status, verify and down never need it

    try:
        cuts = parser.split(text, with_parser=False, only_slices=True)
    except parser.ParseError:
        return QuickLook(None)
    return QuickLook(tuple(tuple(_first_words(text, cut.start or 0)) for cut in cuts))


def transaction_control(path: str, text: str, look: QuickLook | None = None) -> Failure | None:
    """The refusal of a version holding its own transaction control (``control_refusal``), found with the quick
    look (`look`, when it was taken already): the exact cut only for a file where a statement starts with such a
    word."""
    if not (look or quick_look(text)).may_control():
        return None
    return control_refusal(pieces(path, text))


def _outside_version(words: list[str], server_version: int | None) -> bool:
    # COPY may read psql's input (FROM STDIN), which needs the copy protocol: the exact cut tells.
    return words[:1] == ["COPY"] or is_control(words) or cannot_run_in_transaction(words, server_version)


def _first_words(code: str, start: int) -> list[str]:
    """The first words of the statement the scanner cut at `start` (the cut may begin with a block comment)."""
    begin = code_start(code, start)  # leading comments may run past any window: a version's header does
    head = code[begin : begin + 400]
    first = _WORD.search(head)
    if first is None or first.group().upper() not in _LOOKED_AT:
        return [first.group().upper()] if first else []
    if "--" in head or "/*" in head:
        head = blank_comments(head)
    return [word.upper() for word in _WORD.findall(head)[:6]]


def runs_whole(pieces: list[Piece]) -> bool:
    """Whether a version runs as one transaction: no statement of it runs alone or outside it."""
    return all(piece.mode in IN_TRANSACTION for piece in pieces)


def sent_whole(pieces: list[Piece]) -> bool:
    """Whether a version can be sent as one message: one transaction, plain statements only (no COPY, no
    stand-in)."""
    return all(piece.mode in _PLAIN for piece in pieces)
