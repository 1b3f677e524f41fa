"""`consolidate migrate repair`: record that an applied version's file was changed on purpose (Flyway's repair).

An applied migration whose file changed is drift: `up` refuses to build on it and `status` reports it. When the
change is intended (a comment fixed, a statement made idempotent, the schema it leaves unchanged), repair records
the file's new checksums in the version's row, with who did it, when, why and the checksum it replaced: from then
on the row matches the file, and nothing needs `--allow-drift`. Nothing of the migration runs again.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError
from consolidate.runner.runner import LOCK_WAIT, Entry, State, _entries, _session, read_tree, tree_version
from consolidate.runner.tracking import TABLE, read_rows

# What repair settles: an applied version whose file differs from the one that ran, or carries another name.
REPAIRABLE = frozenset(
    {State.MISMATCH, State.WHITESPACE, State.RENAMED, State.LINE_ENDINGS, State.BOM, State.BOM_AND_LINE_ENDINGS}
)


@dataclass(frozen=True)
class Repaired:
    """A version whose row now records its file as it is."""

    version: str
    name: str
    change: str  # what had changed, in words (`Entry.change`)
    checksum_from: str
    checksum_to: str


def repair(
    directory: Path,
    url: str,
    reason: str,
    *,
    version: str | None = None,
    lock_wait: float = LOCK_WAIT,
    history: str = TABLE,
) -> list[Repaired]:
    """Record the current file of every applied version that changed (or of `version` only) as the applied one,
    with `reason`; returns what was repaired (nothing when no file changed). A missing file cannot be repaired:
    restore it, or remove its row by hand."""
    reason = " ".join(reason.split())
    if not reason:
        raise ConsolidateError.at(
            "migrate.repair-reason",
            "a repair needs its reason",
            Location("--reason"),
            hint='say why the file changed, e.g. --reason "comment fixed, statements unchanged"',
        )
    versions = read_tree(directory)
    wanted = None if version is None else tree_version(version, versions, "--version")
    by_version = {item.version: item for item in versions}
    with _session(url, lock_wait, history=history) as session:
        rows = read_rows(session.connection, session.table)
        entries = [entry for entry in _entries(versions, rows) if wanted is None or _number(entry) == wanted]
        if wanted is not None and not any(entry.row is not None for entry in entries):
            raise ConsolidateError.at(
                "migrate.repair-not-applied",
                f"version {version} is not applied on this database: there is nothing to repair",
                Location("--version"),
                hint="repair records a change to an applied version's file; a pending one is simply applied",
            )
        who = _who(session.user)
        repaired = []
        with session.connection.transaction():  # every version or none
            for entry in entries:
                item = by_version.get(entry.version)
                if entry.state not in REPAIRABLE or entry.row is None or item is None:
                    continue
                done = Repaired(entry.version, item.name, entry.change, entry.row.checksum, item.checksum)
                session.connection.execute(_update(session.table, done, item.text_checksum, who, reason))
                repaired.append(done)
        return repaired


def _update(table: sql.Composed, done: Repaired, text_checksum: str, who: str, reason: str) -> sql.Composed:
    """The row records the file as it is now, and the repair: when, by whom, why, and the checksum it replaced."""
    return sql.SQL(
        "UPDATE {} SET name = {}, checksum = {}, text_checksum = {}, repaired_at = now(), repaired_by = {}, "
        "repair_reason = {}, repaired_from = {} WHERE version = {}"
    ).format(
        table,
        *(sql.Literal(value) for value in (done.name, done.checksum_to, text_checksum, who, reason)),
        sql.Literal(done.checksum_from),
        sql.Literal(done.version),
    )


def _number(entry: Entry) -> int | None:
    return int(entry.version) if entry.version.isdigit() else None


def _who(database_user: str) -> str:
    """The database user, as `applied_by` records it, and the person at the keyboard when the OS says who: a
    shared database role alone would not tell."""
    try:
        person = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment, and no passwd entry for the uid
        return database_user
    return database_user if person == database_user else f"{database_user} (os user {person})"
