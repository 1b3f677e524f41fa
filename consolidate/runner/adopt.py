"""`consolidate migrate adopt`: find the canonical version a database the legacy migrations built is at, prove it,
and record it — versions 1..N in one transaction, under the runner's lock, nothing written unless proven.

The legacy tool's history table, when there is one, says which version to expect (core/adoption.py); the schema
proves it: the tree is replayed version by version on a scratch database of the same server (the prelude first,
as verify does), and the live schema must equal the state after that version (db/diff.py, as `baseline
--check-schema` compares: owners and table contents aside). Without a history, or when the history's version does
not match, the version whose state the live schema equals is the one; when none does, the closest is named with
its differences and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from consolidate.core.adoption import (
    KINDS,
    CanonicalVersion,
    HistoryKind,
    HistoryRow,
    HistoryVerdict,
    history_verdict,
    seed_key,
    sources_of,
)
from consolidate.db.urls import endpoint
from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.postgres.redaction import redact
from consolidate.runner.foreign import is_own
from consolidate.runner.runner import (
    LOCK_WAIT,
    Version,
    _session,
    _text,
    git_commit,
    read_tree,
    tree_version,
    version_number,
)
from consolidate.runner.tracking import (
    TABLE,
    Connection,
    Row,
    columns,
    ensure_table,
    history_name,
    insert_row,
    read_rows,
)

if TYPE_CHECKING:
    from consolidate.core.prelude import Prelude
    from consolidate.db.server import Server

SCHEMA_MATCH = "schema match"


@dataclass(frozen=True)
class Adoption:
    """What adopt found and recorded (or, in a dry run, would record), and why."""

    version: str | None  # the canonical version the database is at; None: below the first (nothing to record)
    name: str | None
    proof: str  # "history and schema", "schema"
    history: HistoryVerdict | None
    reasons: tuple[str, ...]
    recorded: tuple[str, ...]  # versions recorded now (in a dry run: those that would be)
    dry_run: bool

    def document(self) -> dict[str, object]:
        """As `--json` prints it."""
        return {
            "version": self.version,
            "name": self.name,
            "proof": self.proof,
            "history": self.history.evidence() if self.history else None,
            "reasons": list(self.reasons),
            "recorded": list(self.recorded),
            "dry_run": self.dry_run,
        }


def adopt(
    directory: Path,
    url: str,
    *,
    version: str | None = None,
    dry_run: bool = False,
    lock_wait: float = LOCK_WAIT,
    history: str = TABLE,
    scratch_prefix: str | None = None,
    prelude: Path | None = None,
) -> Adoption:
    """Find, prove and record the canonical version the database at `url` is at (see the module).

    `version` asserts the expected one: the command refuses when the proof names another. Exits 1 (a
    ConsolidateError) when the history reports a failed or partly applied migration, or no version's schema
    matches; exit 2 for bad input.
    """
    versions = read_tree(directory)
    expected = None if version is None else version_number(version, "--version")
    if version is not None and expected != 0:
        tree_version(version, versions, "--version")  # a version beyond the tree is bad input
    canonical = [_canonical(item) for item in versions]
    where = Location(redact(endpoint(url)))
    # The lock first: nothing may migrate the database between the proof and the record.
    with _session(url, lock_wait, writes=False, history=history) as session:
        if read_rows(session.connection, session.table):
            raise ConsolidateError(
                [
                    Diagnostic(
                        "migrate.adopted-already",
                        f"{session.table.as_string(session.connection)} already records versions of this tree: "
                        "there is nothing to adopt",
                        where,
                        "see `consolidate migrate status`",
                    )
                ],
                EXIT_FAIL,
            )
        verdict = _read_history(session.connection, canonical, history)
        _refuse_uncertain(verdict, where)
        claimed = _claimed(verdict, canonical)
        at, reasons = _prove(url, versions, verdict, claimed, scratch_prefix, prelude, where)
        if expected is not None and (at.number if at else 0) != expected:
            found = at.version if at else "0 (none applied)"
            raise ConsolidateError(
                [
                    Diagnostic(
                        "migrate.adopt-version",
                        f"--version {version} asserted, but the database is at version {found}: nothing was recorded",
                        where,
                        "; ".join(reasons),
                    )
                ],
                EXIT_FAIL,
            )
        chosen = [item for item in versions if at is not None and item.number <= at.number]
        proof = "history and schema" if verdict and verdict.version == (at.version if at else None) else "schema"
        evidence = verdict.evidence() if verdict and proof != "schema" else SCHEMA_MATCH
        if not dry_run and chosen:
            _record(session.connection, session.table, chosen, evidence, session.user, git_commit(directory))
        return Adoption(
            at.version if at else None,
            at.name if at else None,
            proof,
            verdict,
            tuple(reasons),
            tuple(item.version for item in chosen),
            dry_run,
        )


def _canonical(item: Version) -> CanonicalVersion:
    text = _text(item.data)
    return CanonicalVersion(item.version, item.name, str(item.up), text, sources_of(text))


# --- the legacy history -------------------------------------------------------------------------------------------


def _read_history(connection: Connection, canonical: list[CanonicalVersion], history: str) -> HistoryVerdict | None:
    """The first legacy history table found, read and mapped onto the tree; None when there is none."""
    for kind in KINDS:
        found = _found(connection, kind, history)
        if found is None:
            continue
        query = sql.SQL(found.query).format(table=_qualified(found.table), key=sql.Identifier(found.key))
        rows = [
            HistoryRow(str(key), bool(applied), bool(failed), bool(up_to))
            for key, applied, failed, up_to in connection.execute(query)
        ]
        return history_verdict(found, rows, canonical)
    return None


def _found(connection: Connection, kind: HistoryKind, history: str) -> HistoryKind | None:
    """`kind` with its key column, when its table is in the database with that tool's columns."""
    present = list(columns(connection, _qualified(kind.table)))
    if not present:
        return None
    if kind.table == TABLE:
        # A seed script's `_migrations` is not the runner's own: the runner keeps its history elsewhere then.
        key = seed_key(present)
        return replace(kind, key=key) if key and not is_own(set(present)) and history != TABLE else None
    return kind if kind.fits(present) else None


def _qualified(table: str) -> sql.Composed:
    schema, name = history_name(table)
    return sql.SQL("{}.{}").format(sql.Identifier(schema or "public"), sql.Identifier(name))


def _refuse_uncertain(verdict: HistoryVerdict | None, where: Location) -> None:
    """A failed migration, a partly applied version or a gap stops adoption, each named."""
    if verdict is None or verdict.certain:
        return
    problems = [
        Diagnostic(
            "migrate.adopt-failed",
            f"{verdict.tool}'s {verdict.table} records legacy version {key} as failed (dirty)",
            where,
            "finish or undo that migration with the legacy tool, then adopt",
        )
        for key in verdict.failed
    ]
    for partial in verdict.partial:
        stem = f"{partial.version.version}_{partial.version.name}"
        for missing in partial.missing:
            statements = "; ".join(missing.statements) or "no statement"
            problems.append(
                Diagnostic(
                    "migrate.adopt-partial",
                    f"version {stem} is only partly applied: {missing.source} did not run (missing: {statements})",
                    Location(partial.version.path, missing.line),
                    f"ran: {', '.join(partial.ran)}; apply the rest with the legacy tool, then adopt",
                )
            )
    problems += [
        Diagnostic(
            "migrate.adopt-gap",
            f"version {gap}'s legacy files did not run, though a later version's did",
            where,
            "apply the missing legacy migrations, then adopt",
        )
        for gap in verdict.gaps
    ]
    problems.append(
        Diagnostic(
            "migrate.adopt-refused",
            f"{verdict.tool}'s {verdict.table} does not place this database on one canonical version: "
            "nothing was recorded",
            where,
        )
    )
    raise ConsolidateError(problems, EXIT_FAIL)


def _claimed(verdict: HistoryVerdict | None, canonical: list[CanonicalVersion]) -> int | None:
    """The index (0 = before the first version) of the version the history names; None without a history."""
    if verdict is None:
        return None
    if verdict.version is None:
        return 0
    return next(i + 1 for i, item in enumerate(canonical) if item.version == verdict.version)


# --- the schema's proof -------------------------------------------------------------------------------------------


def _prove(
    url: str,
    versions: list[Version],
    verdict: HistoryVerdict | None,
    claimed: int | None,
    scratch_prefix: str | None,
    prelude_path: Path | None,
    where: Location,
) -> tuple[Version | None, list[str]]:
    """The version whose state the live schema equals (None: the state before the first), and why; refuses when
    none does, naming the closest and its differences."""
    reasons: list[str] = []
    if verdict is not None:
        reasons.append(verdict.explained())
        if verdict.unknown:
            reasons.append(f"legacy versions no canonical version was made of: {', '.join(verdict.unknown)}")
    ignored = _ignored_schemas(verdict)
    differences: list[tuple[int, list[str]]] = []
    first = claimed or 0
    # The history's version first (the versions before it are replayed, not compared), then the later ones; the
    # earlier ones only when none of those matched (a second replay).
    passes = [range(first, len(versions) + 1), range(0, first)] if first else [range(0, len(versions) + 1)]
    with _server(url, versions, scratch_prefix, prelude_path) as (server, prelude):
        for compared in passes:
            if not compared:
                continue
            for index, scratch in _states(server, versions[: compared[-1]], prelude):
                if index not in compared:
                    continue
                found = _differences(url, scratch, ignored, verdict)
                if found:
                    differences.append((index, found))
                    continue
                at = versions[index - 1] if index else None
                label = f"version {at.version}_{at.name}" if at else "the state before the first version"
                if claimed is not None and index != claimed:
                    reasons.append(f"the history's version does not match the schema; the schema matches {label}")
                reasons.append(f"the live schema equals the tree's after {label}")
                return at, reasons
    raise _no_match(versions, differences, where)


def _no_match(versions: list[Version], differences: list[tuple[int, list[str]]], where: Location) -> ConsolidateError:
    index, lines = min(differences, key=lambda item: (len(item[1]), -item[0]))
    closest = f"{versions[index - 1].version}_{versions[index - 1].name}" if index else "the empty tree"
    problems = [Diagnostic("migrate.adopt-drift", f"live schema differs: {line}", where) for line in lines]
    problems.append(
        Diagnostic(
            "migrate.adopt-no-match",
            f"the live schema matches no version of the tree; the closest is {closest} "
            f"({len(lines)} difference(s) above): nothing was recorded",
            where,
            "bring the database to that version's schema (or the tree to the database's), then adopt",
        )
    )
    return ConsolidateError(problems, EXIT_FAIL)


def _states(server: Server, versions: list[Version], prelude: Prelude | None) -> Iterator[tuple[int, str]]:
    """The tree's states on one scratch database: before any version (index 0), then after each in turn."""
    from consolidate.db.prelude import apply_prelude
    from consolidate.db.replay import replay_files
    from consolidate.db.server import scratch_database

    with scratch_database(server, "adopt") as scratch:
        if prelude is not None:
            failures = apply_prelude(scratch, prelude)
            if failures:
                raise ConsolidateError([failure.diagnostic() for failure in failures])
        yield 0, scratch
        for index, item in enumerate(versions, start=1):
            replayed = replay_files(scratch, [(str(item.up), _text(item.data))], per_file_transaction=True)
            if replayed.failures:
                summary = Diagnostic(
                    "migrate.adopt-unprovable",
                    f"version {item.up.name} fails on a scratch database of this server (above), so no version from "
                    "it on can be proven: nothing was recorded",
                    Location(str(item.up)),
                    "fix what the lines above name (`consolidate verify` explains each), or give the prelude the "
                    "tree needs with --prelude",
                )
                raise ConsolidateError([*(f.diagnostic() for f in replayed.failures), summary], EXIT_FAIL)
            yield index, scratch


@contextmanager
def _server(
    url: str, versions: list[Version], scratch_prefix: str | None, prelude_path: Path | None
) -> Iterator[tuple[Server, Prelude | None]]:
    """The live database's server for scratch databases, with the prelude's roles for the block."""
    from consolidate.core.plan import lent_server_changes
    from consolidate.core.statements import parse_file
    from consolidate.db.server import SCRATCH_PREFIX, postgres

    files = [(str(item.up), _text(item.data)) for item in versions]
    refused = lent_server_changes(parse_file(path, text) for path, text in files)
    if refused:  # the scratch replay runs on the live server: it must not reconfigure it
        raise ConsolidateError(refused)
    with (
        postgres(url, scratch_prefix=scratch_prefix or SCRATCH_PREFIX) as server,
        prelude_roles(server, prelude_path) as prelude,
    ):
        yield server, prelude


@contextmanager
def prelude_roles(server: Server, path: Path | None) -> Iterator[Prelude | None]:
    """The prelude at `path` read, its roles on `server` for the block (None: no prelude)."""
    from consolidate.db.prelude import prelude_roles as roles

    if path is None:
        yield None
        return
    prelude = read_prelude_file(path)
    with roles(server, prelude):
        yield prelude


def read_prelude_file(path: Path) -> Prelude:
    """The prelude file (mapping `prelude:`), read and split; unreadable or invalid is bad input."""
    from consolidate.core.prelude import read_prelude

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
        raise ConsolidateError.at(
            "migrate.prelude", f"cannot read the prelude: {reason}", Location(str(path))
        ) from None
    prelude = read_prelude(str(path), text)
    if prelude.errors:
        raise ConsolidateError(prelude.errors)
    return prelude


def _ignored_schemas(verdict: HistoryVerdict | None) -> frozenset[str]:
    """A legacy history kept in a schema of its own (Sqitch's, Supabase's): the schema is the tool's, not the tree's."""
    if verdict is None:
        return frozenset()
    schema, _ = history_name(verdict.table)
    return frozenset({schema} if schema else set())


def _differences(url: str, scratch: str, ignored: frozenset[str], verdict: HistoryVerdict | None) -> list[str]:
    """How the live schema differs from the scratch one: owners and table contents aside, as baseline compares."""
    from consolidate.db.diff import Sides, compare

    schemas = sorted((_schemas(url) | _schemas(scratch)) - ignored)
    legacy = [history_name(verdict.table)[1]] if verdict else []
    diff = compare(url, scratch, schemas=schemas, ignore_tables=legacy, sides=Sides("live", "tree"))
    lines = [line for line in diff.objects() if line not in diff.rows and line not in diff.owners]
    if not lines:
        return []
    # dbdiff's SQL names what differs inside an object (the extra column, the other default): what the tree's
    # state lacks or has more, one statement a line.
    fixes = [statement.strip() for statement in diff.forward.split(";\n") if statement.strip()]
    return lines + [f"to match the tree: {fix.rstrip(';')}" for fix in fixes]


def _schemas(url: str) -> set[str]:
    query = "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'"
    with psycopg.connect(url, autocommit=True) as connection:
        return {str(row[0]) for row in connection.execute(query)}


# --- the record ---------------------------------------------------------------------------------------------------


def _record(
    connection: Connection,
    table: sql.Composed,
    chosen: list[Version],
    evidence: str,
    user: str,
    commit: str | None,
) -> None:
    """Create the table and record `chosen` as adopted, all in one transaction: all of it or nothing."""
    connection.execute("BEGIN")
    try:
        ensure_table(connection, table)
        for item in chosen:
            row = Row(
                item.version,
                item.name,
                item.checksum,
                datetime.now(),
                None,
                commit,
                user,
                item.text_checksum,
                adopted=f"adopted: {evidence}",
            )
            connection.execute(insert_row(table, row, server_timing=False))
        connection.execute("COMMIT")
    except BaseException:
        if not connection.broken:
            connection.execute("ROLLBACK")
        raise
