"""Apply and roll back the versions of a canonical tree, tracked in `_migrations` (see docs/runner.md).

Every command holds the runner's advisory lock from before the tracking table is created to its end. A version
runs in its own transaction together with its `_migrations` row, sent as one simple-query message; a version
holding a statement PostgreSQL refuses inside a transaction block runs in parts and is recorded once all of it
ran; one with its own BEGIN/COMMIT is refused before anything runs (the one executor's rules, db/script.py, which
verify replays too).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from consolidate.core.comments import folded
from consolidate.db.script import (
    Executor,
    Piece,
    QuickLook,
    failure,
    located,
    pieces,
    quick_look,
    sent_whole,
    transaction_control,
    whole_script,
)
from consolidate.db.urls import endpoint, error_text
from consolidate.diagnostics import Diagnostic, Location, Severity
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.layout import DOWNS, STUB_MARKER, VERSIONS, down_file, read_versions, stem
from consolidate.postgres.failures import Failure, hints
from consolidate.postgres.redaction import redact
from consolidate.runner.tracking import (
    MARK_START,
    TABLE,
    Connection,
    Holder,
    Limits,
    Row,
    acquire_lock,
    check_owner,
    checksum,
    connect,
    delete_row,
    ensure_table,
    history_name,
    insert_row,
    lock_holder,
    read_rows,
    release_lock,
    session_defaults,
    table_name,
)

LOCK_WAIT = 60.0  # seconds
BEGIN = f"BEGIN;\n{MARK_START};\n"  # opens every version's transaction, marking its start
# Between versions: a version's SET (search_path, role, timeouts) must not reach the next one. Not DISCARD ALL:
# it would also release the runner's advisory lock.
RESET_SESSION = "RESET SESSION AUTHORIZATION; RESET ALL; SET ROLE NONE; DISCARD TEMP; DISCARD PLANS"


# --- the tree ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """One canonical version: versions/NNN_name.sql and its down script (which may be missing)."""

    version: str  # as in the file name: "003"
    name: str
    up: Path
    down: Path
    data: bytes

    @property
    def number(self) -> int:
        return int(self.version)

    @property
    def path(self) -> Path:
        return self.up

    @property
    def checksum(self) -> str:
        return checksum(self.data)

    @cached_property
    def text_checksum(self) -> str:
        """The checksum of the file's SQL without comments, its white space folded: recorded beside `checksum`
        so that a later change of white space or comments alone is named as such."""
        return text_checksum(self.data)


def read_tree(directory: Path) -> list[Version]:
    """The versions below `directory`/versions, in order; a file it cannot read as a version, or a second file
    of one version, is an error (the rules are layout.read_versions', which `apply --check` applies too)."""
    folder = directory / VERSIONS
    if not folder.is_dir():
        raise ConsolidateError.at("migrate.tree", f"no {VERSIONS}/ folder here", Location(str(directory)))
    found, refused = read_versions(path.name for path in folder.glob("*.sql") if path.is_file())
    if refused:
        raise ConsolidateError(
            [
                Diagnostic(f"migrate.{item.code}", item.message, Location(str(folder / item.file_name)))
                for item in refused
            ]
        )
    versions, unreadable = [], []
    for item in found:
        up = folder / item.file_name
        try:
            data = up.read_bytes()
        except OSError as error:  # every one named, in one run, not a traceback at the first (issue 13)
            unreadable.append(_unreadable(up, error))
            continue
        down = directory / DOWNS / down_file(stem(item.version, item.name))
        versions.append(Version(item.version, item.name, up, down, data))
    if unreadable:
        raise ConsolidateError(unreadable)
    return versions


def _unreadable(path: Path, error: OSError) -> Diagnostic:
    return Diagnostic(
        "migrate.unreadable",
        f"cannot read the file: {error.strerror or error.__class__.__name__}",
        Location(str(path)),
        hint="make it readable by the user running consolidate (chmod a+r)",
    )


# --- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """A version `up` applied (or would apply, with dry_run: then nothing was measured)."""

    version: str
    name: str
    checksum: str
    execution_time_ms: int | None


class State(StrEnum):
    """How a version stands; for an applied one whose file changed, what kind of change (see `compare`)."""

    APPLIED = "applied"
    PENDING = "pending"
    MISMATCH = "content changed"
    LINE_ENDINGS = "line endings changed"  # the file differs from the recorded one in its line endings only
    BOM = "BOM changed"  # ... in a leading UTF-8 byte order mark only (added or removed)
    BOM_AND_LINE_ENDINGS = "BOM and line endings changed"  # ... in both, as a Windows editor saves a file
    WHITESPACE = "whitespace or comments changed"  # ... in white space and comments only
    RENAMED = "renamed"  # the same bytes, under another name than the row's
    MISSING_FILE = "missing file"  # recorded, no file any more, though later versions have theirs
    UNKNOWN_ROW = "unknown row"  # recorded, newer than every file: applied from another tree


# What PostgreSQL cannot tell from the applied file: the runner strips a BOM, and reads CR as white space.
FINE = frozenset({State.APPLIED, State.LINE_ENDINGS, State.BOM, State.BOM_AND_LINE_ENDINGS})
# What `up` refuses to build on: an applied version whose file changed, was renamed or is gone (as Flyway's
# validate does: a changed description or a reformatted file too). A row newer than every file (applied from a
# newer tree) is not: an older checkout has simply nothing to apply.
DRIFT = frozenset({State.MISMATCH, State.WHITESPACE, State.RENAMED, State.MISSING_FILE})


@dataclass(frozen=True)
class Entry:
    """One version as the database and the tree see it."""

    version: str
    name: str
    state: State
    row: Row | None
    path: str | None  # the up file, when there is one

    @property
    def change(self) -> str:
        """The state in words: a rename says from which name."""
        if self.state is State.RENAMED and self.row is not None:
            return f"renamed from {stem(self.version, self.row.name)}"
        return str(self.state)

    def diagnostic(self) -> Diagnostic:
        """The entry as a finding: an error unless it is fine or merely pending."""
        severity = Severity.ERROR if self.state not in FINE | {State.PENDING} else Severity.INFO
        where = Location(self.path or f"_migrations version {self.version}")
        return Diagnostic(
            f"migrate.{self.state.name.lower()}", f"{self.version}_{self.name}: {self.change}", where, severity=severity
        )


@dataclass(frozen=True)
class Report:
    """What status or verify found, one entry per version, in version order."""

    entries: tuple[Entry, ...]
    running: Holder | None = None  # a runner holding the lock while this was read: the rows may still change

    @property
    def clean(self) -> bool:
        """Every version applied, none drifted (a change of line endings alone is not drift)."""
        return all(entry.state in FINE for entry in self.entries)


# --- a session ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Session:
    connection: Connection
    table: sql.Composed
    user: str
    reset: str  # ends every version: nothing a version SET reaches the next one; the runner's own settings again
    batching: bool  # several versions may share a message


@contextmanager
def _session(
    url: str,
    lock_wait: float,
    limits: Limits | None = None,
    *,
    writes: bool = True,
    locks: bool = True,
    history: str = TABLE,
    before_create: Callable[[Connection, sql.Composed], None] | None = None,
) -> Iterator[_Session]:
    """Connected, locked (before the table is created: two first runs must not race on CREATE TABLE), tracked in
    the table `history`, which must be the runner's own if it exists.

    Without `writes` (status, verify, a dry run) the tracking table is neither created nor altered: a read-only
    user can run them, and a health check leaves no trace. Without `locks` (status, verify) the session neither
    takes nor waits for the lock: a health check during a deploy reads the rows committed so far.
    `before_create` looks at the database before the table is created (and may refuse: then nothing is left).
    """
    history_name(history)  # a bad name is bad input, before connecting
    where = redact(endpoint(url))
    with connect(url, limits) as connection, _translated(where, url):
        if locks:
            acquire_lock(connection, lock_wait, where)
        try:
            table = table_name(connection, history)
            check_owner(connection, table)
            if before_create is not None:
                before_create(connection, table)
            if writes:
                ensure_table(connection, table)
            row = connection.execute("SELECT current_user").fetchone()
            defaults = session_defaults(connection)
            if defaults:
                connection.execute(defaults)
            reset = "; ".join(filter(None, [RESET_SESSION, defaults]))
            timeout_per_message = connection.info.server_version < PER_STATEMENT_TIMEOUT_SINCE
            batching = not (limits and limits.statement_timeout and timeout_per_message)
            yield _Session(connection, table, str(row[0]) if row else "", reset, batching)
        finally:
            if not connection.broken:
                _end_transaction(connection)
                if locks:
                    release_lock(connection)


@contextmanager
def _translated(where: str, url: str) -> Iterator[None]:
    """A database error outside any migration stops the command, redacted."""
    try:
        yield
    except psycopg.Error as error:
        message = f"the migration runner cannot go on: {error_text(error, url)}"
        raise ConsolidateError([Diagnostic("migrate.database", message, Location(where))], EXIT_FAIL) from None


def _end_transaction(connection: Connection) -> None:
    if connection.info.transaction_status is not TransactionStatus.IDLE:
        connection.execute("ROLLBACK")


# --- up -----------------------------------------------------------------------------------------------------------


def up(
    directory: Path,
    url: str,
    *,
    steps: int | None = None,
    target: str | None = None,
    dry_run: bool = False,
    allow_drift: bool = False,
    lock_wait: float = LOCK_WAIT,
    limits: Limits | None = None,
    progress: Progress | None = None,
    history: str = TABLE,
    prelude: Path | None = None,
) -> list[Applied]:
    """Apply the pending versions in order (the first `steps`, or those up to `target`); dry_run runs nothing.

    Refuses, before running anything, when an applied version's file changed or is gone (as Flyway's
    validate-on-migrate does), unless `allow_drift`; a change of line endings alone is not drift. On a database
    where nothing is recorded yet, refuses one the legacy migrations built (adopt it first), and with `prelude`
    (the mapping's) one lacking what the platform provides.
    """
    versions = read_tree(directory)
    limit = None if target is None else tree_version(target, versions)  # checked before connecting
    provided = None
    if prelude is not None:
        from consolidate.runner.adopt import read_prelude_file  # parses SQL: only an up given --prelude needs it

        provided = (read_prelude_file(prelude).provided, prelude)
    guard = _refuse_unadopted(versions, directory, history, provided)
    with _session(url, lock_wait, limits, writes=not dry_run, history=history, before_create=guard) as session:
        rows = read_rows(session.connection, session.table)
        if not allow_drift:
            _refuse_drift(versions, rows)
        chosen = _pending(versions, rows, steps, limit)
        texts = [_text(item.data) for item in chosen]
        looks = [quick_look(text) for text in texts]  # once: the refusal and the runs both read it
        _refuse_control(zip([str(item.up) for item in chosen], texts, looks, strict=True))
        if dry_run:
            return [Applied(item.version, item.name, item.checksum, None) for item in chosen]
        report = progress or Progress()
        report.begin(len(chosen))
        return _apply_all(session, list(zip(chosen, texts, looks, strict=True)), git_commit(directory), report)


def _refuse_unadopted(
    versions: list[Version], directory: Path, history: str, provided: tuple[tuple[str, ...], Path] | None = None
) -> Callable[[Connection, sql.Composed], None]:
    """A check refusing a database without history that already holds tables a version creates: the
    legacy migrations built it, and running the tree again would fail half-way (42P07) or double what exists.
    With `provided` (the prelude's objects, its path), it then refuses one lacking any of them."""

    def check(connection: Connection, table: sql.Composed) -> None:
        if not versions or read_rows(connection, table):
            return
        _refuse_legacy_built(connection, versions, directory, history)
        if provided is not None:
            from consolidate.runner.platform import refuse_missing

            refuse_missing(connection, *provided)

    return check


SHOWN_TABLES = 5  # a legacy-built database holds dozens: the first few say enough


def _refuse_legacy_built(connection: Connection, versions: list[Version], directory: Path, history: str) -> None:
    """Refuse a database already holding tables a version creates (see `_refuse_unadopted`), naming the first."""
    from consolidate.core.created_tables import created_tables  # only a first run needs it

    creates = [sorted(created_tables(_text(item.data))) for item in versions]
    # One round trip for the whole tree, not one per version: a first `up` of 1,000 versions asked 1,000 times.
    query = "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL"
    everything = sorted(set().union(*creates))
    found = {str(row[0]) for row in connection.execute(query, [everything]).fetchall()} if everything else set()
    first = next(((item, names) for item, names in zip(versions, creates, strict=True) if found & set(names)), None)
    if first is None:
        return
    item, present = first[0], [name for name in first[1] if name in found]
    command = f"consolidate migrate adopt --dir {directory}"
    if history != TABLE:
        command += f" --history-table {history}"
    shown = ", ".join(present[:SHOWN_TABLES]) + (
        f" and {len(present) - SHOWN_TABLES} more" if len(present) > SHOWN_TABLES else ""
    )
    message = (
        f"this database has no history of this tree, yet holds what {item.path.name} creates "
        f"({shown}): the legacy migrations built it, so adopt it first; nothing was run or written"
    )
    where = Location(redact(endpoint(connection.info.dsn)))
    hint = f"run `{command}` on the same database, then `consolidate migrate up`"
    raise ConsolidateError([Diagnostic("migrate.adopt-first", message, where, hint)], EXIT_FAIL)


class Progress:
    """Told about each version as it runs (the CLI draws a bar on a terminal, plain lines elsewhere)."""

    def begin(self, total: int) -> None:
        """`total` versions are about to run."""

    def start(self, version: str, name: str) -> None:
        """A version is sent (several small ones may travel in one message, each still its own transaction)."""

    def done(self, version: str, name: str, milliseconds: int) -> None:
        """A version was applied (or rolled back), taking `milliseconds` as the runner saw it."""


# What `up` adds about each kind of drift, and how to settle it.
_DRIFT_WORDS = {
    State.MISMATCH: ("", "restore the applied file"),
    State.WHITESPACE: (
        " (only white space and comments: the statements read the same)",
        "restore the applied file's white space and comments",
    ),
    State.RENAMED: (" (the same content)", "give the file its applied name back"),
    State.MISSING_FILE: ("", "restore the applied file"),
}


def _refuse_drift(versions: list[Version], rows: dict[str, Row]) -> None:
    drifted = [entry for entry in _entries(versions, rows) if entry.state in DRIFT]
    if drifted:
        problems = []
        for entry in drifted:
            note, remedy = _DRIFT_WORDS[entry.state]
            problems.append(
                Diagnostic(
                    f"migrate.{entry.state.name.lower()}",
                    f"{entry.version}_{entry.name} was applied from another file than this one: {entry.change}{note}",
                    Location(entry.path or f"_migrations version {entry.version}"),
                    f"{remedy} (its commit is in _migrations.git_commit); if the change was intended, record it with "
                    "`consolidate migrate repair --reason TEXT` (or pass --allow-drift)",
                )
            )
        problems.append(
            Diagnostic(
                "migrate.drift",
                "applied versions changed since they ran: nothing was applied",
                Location(str(drifted[0].path or "_migrations")),
            )
        )
        raise ConsolidateError(problems, EXIT_FAIL)


def _refuse_control(scripts: Iterable[tuple[str, str, QuickLook]]) -> None:
    """Refuse, before anything runs, every script (path, text, its quick look) holding its own BEGIN/COMMIT: its
    COMMIT would keep part of a version without the version's row."""
    refused = [found.diagnostic() for path, text, look in scripts if (found := transaction_control(path, text, look))]
    if refused:
        codes = [replace(diagnostic, code="migrate.transaction-control") for diagnostic in refused]
        raise ConsolidateError(codes)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def _pending(versions: list[Version], rows: dict[str, Row], steps: int | None, limit: int | None) -> list[Version]:
    pending = [item for item in versions if item.version not in rows]
    if limit is not None:
        pending = [item for item in pending if item.number <= limit]
    return pending if steps is None else pending[:steps]


def version_number(target: str, option: str = "--target") -> int:
    """A --target as a version number ("3" and "003" are the same version)."""
    if not target.isdigit():
        raise ConsolidateError.at("migrate.target", f"not a version number: {target!r}", Location(option))
    return int(target)


def tree_version(target: str, versions: list[Version], option: str = "--target", *, zero: bool = False) -> int:
    """A version the tree has, as a number; with `zero`, 0 too (below every version: `down --target 0`)."""
    number = version_number(target, option)
    if number in {item.number for item in versions} or (zero and number == 0):
        return number
    last = f"its last version is {versions[-1].version}" if versions else "it has no version"
    below = [item.version for item in versions if item.number < number]
    nearest = f"; the nearest below is {below[-1]}" if below and number < versions[-1].number else ""
    raise ConsolidateError.at(
        "migrate.target",
        f"{option} {target}: the tree has no such version ({last}{nearest})",
        Location(option),
        "give one of the versions in versions/"
        + (", or 0 for below all of them" if zero else "")
        + (
            "; a legacy tool's version numbers are not the tree's: `consolidate migrate adopt` maps them"
            if option == "--version"
            else ""
        ),
    )


def git_commit(directory: Path) -> str | None:
    """GIT_COMMIT, else the commit checked out where the tree is, else None."""
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


# Small versions travel several to a message, each still in its own transaction with its row: a round trip per
# version is client time during which the server waits. The batch grows while a message takes less than
# BATCH_SECONDS, so progress stays live and a slow version travels alone.
BATCH_SECONDS = 0.25
BATCH_MAX = 256  # versions
BATCH_CHARS = 8_000_000
# Before PostgreSQL 13 statement_timeout applied to a whole multi-statement message, not to each statement.
PER_STATEMENT_TIMEOUT_SINCE = 130000


@dataclass(frozen=True)
class _Ready:
    """A pending version read and looked at: its text, and its statements when it cannot run whole."""

    item: Version
    text: str
    pieces: list[Piece]  # empty unless a statement must run alone, outside the version's transaction


def _ready(read: tuple[Version, str, QuickLook], server_version: int) -> _Ready:
    item, text, look = read
    item.text_checksum  # noqa: B018 -- computed here, on the reading thread, while the server runs the versions before
    return _Ready(item, text, _in_parts(str(item.up), text, look, server_version))


def _in_parts(path: str, text: str, look: QuickLook, server_version: int) -> list[Piece]:
    """The script's statements when some must run alone or outside its transaction (the executor's rule, as
    verify replays it); else none: it runs whole, in one message."""
    if not look.may_need_pieces(server_version):
        return []
    found = pieces(path, text, server_version)
    return [] if sent_whole(found) else found


class _Ahead:
    """The versions made ready by a worker thread, which reads ahead while the server runs what was sent (the
    driver releases the GIL while it waits): the client's own work then costs no wall time."""

    def __init__(self, items: Iterator[_Ready], total: int) -> None:
        self._items, self._seen, self._total = items, list[_Ready](), total

    def __len__(self) -> int:
        return self._total

    def __getitem__(self, index: int) -> _Ready:
        while len(self._seen) <= index:
            self._seen.append(next(self._items))
        return self._seen[index]


def _apply_all(
    session: _Session, chosen: list[tuple[Version, str, QuickLook]], commit: str | None, report: Progress
) -> list[Applied]:
    """Apply `chosen` (each version with its text and quick look) in order: versions that run whole in batches,
    the others statement by statement."""
    version = session.connection.info.server_version
    reader = ThreadPoolExecutor(1, thread_name_prefix="consolidate-read")
    try:
        ready = _Ahead(reader.map(lambda read: _ready(read, version), chosen), len(chosen))
        applied: list[Applied] = []
        size, index = 1, 0
        while index < len(ready):
            if ready[index].pieces:
                applied.append(_apply_alone(session, ready[index], commit, report))
                index += 1
                continue
            batch = _batch(ready, index, size if session.batching else 1)
            started = time.perf_counter()
            applied += _apply_batch(session, batch, commit, report)
            elapsed = time.perf_counter() - started
            size = min(BATCH_MAX, size * 2) if elapsed < BATCH_SECONDS else max(1, size // 2)
            index += len(batch)
        return applied
    finally:
        reader.shutdown(wait=False, cancel_futures=True)  # a failure needs nothing more read


def _batch(ready: _Ahead, index: int, size: int) -> list[_Ready]:
    batch, chars = [ready[index]], len(ready[index].text)
    for follower in range(index + 1, min(index + size, len(ready))):
        if ready[follower].pieces or chars + len(ready[follower].text) > BATCH_CHARS:
            break
        batch.append(ready[follower])
        chars += len(ready[follower].text)
    return batch


def _row(
    session: _Session, item: Version, commit: str | None, elapsed: int | None = None, started: datetime | None = None
) -> sql.Composed:
    """The INSERT recording `item`; without `elapsed` the server measures the version's transaction, else it
    began at `started` (the server's clock) and took `elapsed` ms."""
    when = started or datetime.now()
    row = Row(item.version, item.name, item.checksum, when, elapsed, commit, session.user, item.text_checksum)
    return insert_row(session.table, row, server_timing=elapsed is None, started=started)


def _apply_batch(session: _Session, batch: list[_Ready], commit: str | None, report: Progress) -> list[Applied]:
    """The versions of `batch` in one message, each in its own transaction with its row; a failure stops the
    message there: the versions before it stay applied (and are reported), the failing one is rolled back."""
    parts, starts, at = [], [], 0
    for number, ready in enumerate(batch, 1):
        report.start(ready.item.version, ready.item.name)
        starts.append(at + len(BEGIN))
        parts.append(BEGIN + ready.text + _tail(session, _row(session, ready.item, commit), number == len(batch)))
        at += len(parts[-1])
    try:
        session.connection.execute("".join(parts))
    except psycopg.Error as error:
        _end_transaction(session.connection)
        if len(batch) > 1 and not session.connection.broken:
            _flushed(session.connection)
        times = _recorded(session, [ready.item for ready in batch])
        failed = _failing(batch, starts, error, times)
        if failed is None:  # every version committed: what failed was the session reset after the last one
            raise
        _report_applied([ready.item for ready in batch if ready.item.version in times], times, report)
        # A syntax error stops the whole message before any of it runs: the versions before the broken one
        # were fine, and run now, so that a failure always leaves everything before it applied.
        for ready in batch[:failed]:
            if ready.item.version not in times:
                _apply_batch(session, [ready], commit, report)
        raise _failed(session, batch[failed].item, batch[failed].text, error, starts[failed]) from None
    return _report_applied([ready.item for ready in batch], _recorded(session, [r.item for r in batch]), report)


def _failing(batch: list[_Ready], starts: list[int], error: psycopg.Error, times: dict[str, int | None]) -> int | None:
    """Which version of the message failed: the one holding PostgreSQL's error position, else the first one
    without its row."""
    position = error.diag.statement_position
    if position and position.isdigit():
        for index, (ready, start) in enumerate(zip(batch, starts, strict=True)):
            if start < int(position) <= start + len(ready.text):
                return index
    return next((index for index, ready in enumerate(batch) if ready.item.version not in times), None)


def _recorded(session: _Session, items: list[Version]) -> dict[str, int | None]:
    """Which of `items` have their row, with the duration the server recorded."""
    query = sql.SQL("SELECT version, execution_time_ms FROM {} WHERE version = ANY(%s)").format(session.table)
    found = session.connection.execute(query, [[item.version for item in items]]).fetchall()
    return {str(version): None if ms is None else int(ms) for version, ms in found}


def _report_applied(items: list[Version], times: dict[str, int | None], report: Progress) -> list[Applied]:
    applied = [Applied(item.version, item.name, item.checksum, times.get(item.version)) for item in items]
    for item in applied:
        report.done(item.version, item.name, item.execution_time_ms or 0)
    return applied


def _apply_alone(session: _Session, ready: _Ready, commit: str | None, report: Progress) -> Applied:
    item = ready.item
    report.start(item.version, item.name)
    milliseconds = _run_alone(
        session, ready.pieces, item, lambda elapsed, started: _row(session, item, commit, elapsed, started)
    )
    report.done(item.version, item.name, milliseconds)
    return Applied(item.version, item.name, item.checksum, milliseconds)


def _run_alone(
    session: _Session,
    parts: list[Piece],
    item: Version | _Down,
    bookkeeping: Callable[[int, datetime], sql.Composed],
) -> int:
    """In parts (db/script.py), then the bookkeeping (given the milliseconds that took and the server's clock
    when it began) and the session reset."""
    row = session.connection.execute("SELECT clock_timestamp()").fetchone()
    began = row[0] if row else datetime.now().astimezone()
    started = time.perf_counter()
    _run_in_parts(session, parts, item)
    milliseconds = int((time.perf_counter() - started) * 1000)
    _record(session, bookkeeping(milliseconds, began))
    session.connection.execute(session.reset)
    return milliseconds


def _run_script(session: _Session, item: _Down, text: str, bookkeeping: sql.Composed) -> int:
    """Run a down script with its bookkeeping, whole in one transaction or, when it must, in parts; its
    milliseconds as the client saw them."""
    parts = _in_parts(str(item.path), text, item.look, session.connection.info.server_version)
    if parts:
        return _run_alone(session, parts, item, lambda _elapsed, _began: bookkeeping)
    started = time.perf_counter()
    _run_whole(session, item, text, bookkeeping)
    return int((time.perf_counter() - started) * 1000)


def _record(session: _Session, statement: sql.Composed) -> None:
    session.connection.execute(sql.SQL("{}; RESET ROLE; {}; COMMIT").format(sql.SQL("BEGIN"), statement))


def _tail(session: _Session, bookkeeping: sql.Composed, flushes: bool = True) -> str:
    """What follows a script in its message: its bookkeeping, COMMIT, then the session reset; "\\n;\\n" first
    ends a last line comment of the script.

    Without `flushes` (every version of a message but its last) the COMMIT does not wait for the disk: the last
    one's does, and the WAL is flushed in order, so once the message returns every version in it is as durable
    as before; a message that fails midway waits for the flush itself (`_flushed`). One disk flush per message
    instead of per version: with small versions those were a large share of the time (docs/benchmarks.md).
    """
    durability = "" if flushes else "SET LOCAL synchronous_commit = off;\n"
    tail = sql.SQL("\n;\nRESET ROLE;\n{};\n{}COMMIT;\n{};\n").format(
        bookkeeping, sql.SQL(durability), sql.SQL(session.reset)
    )
    return tail.as_string(session.connection)


FLUSH_WAIT = 10.0  # seconds; the server's WAL writer flushes unflushed commits within 3 × wal_writer_delay


def _flushed(connection: Connection) -> None:
    """Wait until the versions a failed message committed without waiting for the disk are on it, before they are
    reported as applied."""
    try:
        row = connection.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
        deadline = time.monotonic() + FLUSH_WAIT
        while row is not None and time.monotonic() < deadline:
            flushed = connection.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [row[0]]).fetchone()
            if flushed is not None and flushed[0]:
                return
            time.sleep(0.01)  # the WAL writer's next round
    except psycopg.Error:
        return  # reporting what the rows say, as before


def _run_whole(session: _Session, item: _Down, text: str, bookkeeping: sql.Composed) -> None:
    """The script, its bookkeeping and the session reset after it in one message: one transaction, one trip."""
    try:
        session.connection.execute(BEGIN + text + _tail(session, bookkeeping))
    except psycopg.Error as error:
        _end_transaction(session.connection)
        raise _failed(session, item, text, error, len(BEGIN)) from None


# --- failures -----------------------------------------------------------------------------------------------------


def _run_in_parts(session: _Session, parts: list[Piece], item: Version | _Down) -> None:
    """Each statement that must run alone on its own, the others in transactions between them; a failure says
    which statements already ran and stay."""
    executor = Executor(session.connection)
    failures = executor.run(parts, legacy=False, stop=True)
    if failures:
        _end_transaction(session.connection)
        ran = ", ".join(str(piece.head) for piece in executor.completed)
        stays = f"the statements at lines {ran} ran and stay" if ran else "nothing of it ran before this statement"
        note = (
            "this version runs in parts (statements PostgreSQL refuses in a transaction run alone); "
            f"{stays}: the version is not recorded"
        )
        raise _refusal(failures[0], note)


def _failed(session: _Session, item: Version | _Down, text: str, error: psycopg.Error, offset: int) -> ConsolidateError:
    """The failure of a script sent whole, starting at `offset` of its message, at its file:line (found again
    statement by statement, rolled back, on the same session and so under the same timeouts, if PostgreSQL gave
    no position)."""
    note = "the version was rolled back: nothing of it remains, and it is not recorded"
    whole = whole_script(str(item.path), text)
    if located(error, whole, offset):
        return _refusal(failure(whole, error, offset), note)
    parts = pieces(str(item.path), text, session.connection.info.server_version)
    found = Executor(session.connection).with_savepoints(parts) if parts else []
    return _refusal(found[0] if found else failure(whole, error, offset), note)


def _refusal(found: Failure, note: str) -> ConsolidateError:
    """A failed version as the runner reports it: migrate.<SQLSTATE> at its file:line, the version's fate noted."""
    diagnostic = found.diagnostic()
    code = f"migrate.{found.sqlstate or 'failed'}"
    return ConsolidateError([replace(diagnostic, code=code, hint=hints(diagnostic.hint, note))], EXIT_FAIL)


# --- down ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Down:
    version: str
    name: str
    path: Path
    text: str
    look: QuickLook


def down(
    directory: Path,
    url: str,
    *,
    steps: int | None = 1,
    target: str | None = None,
    lock_wait: float = LOCK_WAIT,
    limits: Limits | None = None,
    progress: Progress | None = None,
    history: str = TABLE,
) -> list[str]:
    """Roll back the last `steps` applied versions (all when None, or every one above `target`), newest first.

    A stub or missing down script stops the command before anything runs.
    """
    tree = read_tree(directory)
    versions = {item.version: item for item in tree}
    limit = None if target is None else tree_version(target, tree, zero=True)  # checked before connecting
    with _session(url, lock_wait, limits, history=history) as session:
        rows = read_rows(session.connection, session.table)
        chosen = sorted(rows, key=_order, reverse=True)
        chosen = [v for v in chosen if _order(v)[0] > limit] if limit is not None else chosen[:steps]
        scripts = _down_scripts(directory, chosen, rows, versions)
        _refuse_control((str(script.path), script.text, script.look) for script in scripts)
        report = progress or Progress()
        report.begin(len(scripts))
        for script in scripts:
            report.start(script.version, script.name)
            report.done(script.version, script.name, _undo(session, script))
        return [script.version for script in scripts]


def _down_scripts(
    directory: Path, chosen: list[str], rows: dict[str, Row], versions: dict[str, Version]
) -> list[_Down]:
    from consolidate.core.comments import has_content  # only rolling back needs it: up's start-up stays light

    scripts: list[_Down] = []
    problems: list[Diagnostic] = []
    for version in chosen:
        item = versions.get(version)
        path = item.down if item else directory / DOWNS / down_file(stem(version, rows[version].name))
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
        if text is None or text.startswith(STUB_MARKER) or not has_content(text):
            what = (
                "has no down script"
                if text is None
                else "has only a stub down script, which refuses to run"
                if text.startswith(STUB_MARKER)
                else "has a down script without SQL: running it would forget the version and keep its objects"
            )
            message = f"version {stem(version, rows[version].name)} {what}: nothing was rolled back"
            problems.append(
                Diagnostic(
                    "migrate.no-down",
                    message,
                    Location(str(path)),
                    "write the down script, or roll back fewer versions",
                )
            )
            continue
        scripts.append(_Down(version, rows[version].name, path, text, quick_look(text)))
    if problems:
        raise ConsolidateError(problems, EXIT_FAIL)
    return scripts


def _undo(session: _Session, script: _Down) -> int:
    return _run_script(session, script, script.text, delete_row(session.table, script.version))


def reset(
    directory: Path,
    url: str,
    *,
    lock_wait: float = LOCK_WAIT,
    limits: Limits | None = None,
    progress: Progress | None = None,
    history: str = TABLE,
) -> list[str]:
    """Roll back every applied version, newest first (nothing runs if any of them has no real down script)."""
    return down(directory, url, steps=None, lock_wait=lock_wait, limits=limits, progress=progress, history=history)


# --- baseline -----------------------------------------------------------------------------------------------------


def baseline(
    directory: Path,
    url: str,
    version: str,
    *,
    check_schema: bool = False,
    lock_wait: float = LOCK_WAIT,
    history: str = TABLE,
    scratch_prefix: str | None = None,
    prelude: Path | None = None,
) -> list[str]:
    """Record versions up to `version` as applied without running them, for a database the legacy migrations built.

    With `check_schema`, first prove that the live schema equals the tree's schema at `version` (a scratch replay
    of 1..version on the same server, compared both ways with dbdiff and domains; table contents are not
    compared: production has rows the replay has not; nor are owners: its objects belong to whoever ran the legacy
    migrations). Refuses, naming the differences, when it does not. The scratch database's name starts with
    `scratch_prefix` (default: consolidate); `prelude` (the mapping's) is set up there first, as verify does.
    Returns the versions recorded now (those already recorded are left as they are).
    """
    versions = read_tree(directory)
    limit = tree_version(version, versions, "--version")
    chosen = [item for item in versions if item.number <= limit]
    if check_schema:
        _prove_schema(url, chosen, history, scratch_prefix, prelude)
    with _session(url, lock_wait, history=history) as session:
        rows = read_rows(session.connection, session.table)
        commit = git_commit(directory)
        recorded = []
        for item in chosen:
            if item.version in rows:
                continue
            row = Row(
                item.version, item.name, item.checksum, datetime.now(), None, commit, session.user, item.text_checksum
            )
            _record(session, insert_row(session.table, row, server_timing=False))
            recorded.append(item.version)
        return recorded


def _prove_schema(
    url: str, chosen: list[Version], history: str, scratch_prefix: str | None, prelude: Path | None = None
) -> None:
    # Imported here: the comparison brings results and the server layer, which up/down/status never need.
    from consolidate.core.plan import lent_server_changes
    from consolidate.core.statements import parse_file
    from consolidate.db.diff import compare
    from consolidate.db.prelude import apply_prelude
    from consolidate.db.replay import replay_files
    from consolidate.db.server import SCRATCH_PREFIX, postgres, scratch_database
    from consolidate.runner.adopt import prelude_roles as _prelude_roles

    files = [(str(item.up), item.data.decode("utf-8", errors="replace")) for item in chosen]
    refused = lent_server_changes(parse_file(path, text) for path, text in files)
    if refused:  # the scratch replay runs on the live server: it must not reconfigure it
        raise ConsolidateError(refused)
    with (
        postgres(url, scratch_prefix=scratch_prefix or SCRATCH_PREFIX) as server,
        _prelude_roles(server, prelude) as read,
        scratch_database(server, "baseline") as scratch,
    ):
        if read is not None:
            failures = apply_prelude(scratch, read)
            if failures:
                raise ConsolidateError([failure.diagnostic() for failure in failures])
        replayed = replay_files(scratch, files, per_file_transaction=True)
        if replayed.failures:
            raise ConsolidateError([failure.diagnostic() for failure in replayed.failures], EXIT_FAIL)
        diff = compare(url, scratch, ignore_tables=(history_name(history)[1],))
    # Production's rows are its own, and its objects belong to whoever ran the legacy migrations there.
    differences = [line for line in diff.objects() if line not in diff.rows and line not in diff.owners]
    if differences:
        where = Location(redact(endpoint(url)))
        problems = [Diagnostic("migrate.baseline-drift", f"live schema differs: {line}", where) for line in differences]
        problems.append(
            Diagnostic(
                "migrate.baseline-refused",
                f"the live schema is not the tree's schema at version {chosen[-1].version if chosen else '?'}: "
                "nothing was recorded",
                where,
                "bring the database to that schema (the SQL is dbdiff's: `consolidate verify` shows it), or baseline "
                "an earlier version",
            )
        )
        raise ConsolidateError(problems, EXIT_FAIL)


# --- status and verify --------------------------------------------------------------------------------------------


def status(directory: Path, url: str, *, history: str = TABLE) -> Report:
    """Every version of the tree and every recorded row: applied, pending, drifted, missing file, unknown row.

    Never waits for the runner's lock (a health check must not block on a deploy): it reads the rows committed
    so far and names the runner at work, if any."""
    versions = read_tree(directory)
    with _session(url, 0.0, writes=False, locks=False, history=history) as session:
        rows = read_rows(session.connection, session.table)
        running = lock_holder(session.connection)
    return Report(tuple(_entries(versions, rows)), running)


def verify(directory: Path, url: str, *, history: str = TABLE) -> Report:
    """The recorded versions only, checked against their files; `clean` when none drifted."""
    report = status(directory, url, history=history)
    return Report(tuple(entry for entry in report.entries if entry.row is not None), report.running)


def _entries(versions: list[Version], rows: dict[str, Row]) -> Iterator[Entry]:
    by_version = {item.version: item for item in versions}
    last = max((item.number for item in versions), default=0)
    for version in sorted(set(by_version) | set(rows), key=_order):
        item, row = by_version.get(version), rows.get(version)
        if item is None and row is not None:
            state = State.MISSING_FILE if _order(version)[0] < last else State.UNKNOWN_ROW
            yield Entry(version, row.name, state, row, None)
        elif item is not None:
            state = compare(item.data, row)
            renamed = row is not None and row.name != item.name and state in FINE
            yield Entry(version, item.name, State.RENAMED if renamed else state, row, str(item.up))


def _order(version: str) -> tuple[float, str]:
    """Versions by number; a row an older runner wrote with a non-numeric version sorts last."""
    return (int(version), version) if version.isdigit() else (float("inf"), version)


BOM = b"\xef\xbb\xbf"


def compare(data: bytes, row: Row | None) -> State:
    """How a file stands against its recorded row, and when it changed, how.

    The row keeps checksums only, so each kind is found by a checksum of the file undone that way: with its BOM
    toggled, its line endings the other way (CRLF ↔ LF), or both. White space and comments are told apart by the
    row's `text_checksum` (which rows of an older runner lack: such a change is then content).
    """
    if row is None:
        return State.PENDING
    if checksum(data) == row.checksum:
        return State.APPLIED
    bom = BOM if data.startswith(BOM) else b""
    body, other_bom = data[len(bom) :], b"" if bom else BOM
    lf = body.replace(b"\r\n", b"\n")
    endings = [variant for variant in (lf, lf.replace(b"\n", b"\r\n")) if variant != body]
    kinds = (
        (State.BOM, [other_bom + body]),
        (State.LINE_ENDINGS, [bom + variant for variant in endings]),
        (State.BOM_AND_LINE_ENDINGS, [other_bom + variant for variant in endings]),
    )
    for state, variants in kinds:
        if row.checksum in {checksum(variant) for variant in variants}:
            return state
    if row.text_checksum is not None and row.text_checksum == text_checksum(data):
        return State.WHITESPACE
    return State.MISMATCH


def text_checksum(data: bytes) -> str:
    """The checksum of a file's SQL without comments, its white space folded (BOM and line endings included)."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return checksum(folded(text).encode("utf-8"))
