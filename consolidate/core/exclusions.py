"""Which legacy .sql files are no migrations, and why: what `consolidate init` drafts as exclusions.

- sqlc query files (`-- name: GetUser :one`) among the migrations;
- schema snapshots and dumps (pg_dump's header, schema.sql / structure.sql, or an unnumbered file whose every
  table a numbered migration also creates): they repeat the migrations' definitions;
- loose files beside per-migration folders (diesel runs only `<version>_<name>/up.sql`);
- bootstrap scripts, which act on the server rather than in the database migrations run in. The rule: a file
  that creates or drops a database or switches to one (psql's \\c), or an unnumbered file whose every statement
  acts on the server (roles, tablespaces, server settings, privileges on a database), a DO block counting as the
  statements it runs. A migration runs inside the database it changes, so it never creates or connects to it;
  and a loose file of roles only leaves nothing in the database. A numbered file of roles (the tool ran it in its
  sequence), or a migration that creates a role among its tables, stays a migration: plan warns about the role,
  whose place is the prelude.

Only numbered files' names say "migration"; sqlc files and snapshots are recognised among unnumbered files only
(a pg_dump made into `V1__baseline.sql` is the tool's first migration), bootstrap scripts in any file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from consolidate.core.comments import code_start
from consolidate.core.created_tables import created_tables
from consolidate.core.lines import BREAK
from consolidate.core.meta_commands import meta_commands
from consolidate.core.plan import server_wide, server_wide_in_do
from consolidate.core.statements import parse_file
from consolidate.model import Direction, LegacyFile, Scheme, Statement

SQLC_REASON = "sqlc queries (-- name: … annotations), not a migration; check, then keep or map"
SNAPSHOT_REASON = "a schema snapshot, which repeats what the migrations define; check, then keep or map"
DUMP_REASON = "a pg_dump of the schema, which repeats what the migrations define; check, then keep or map"
REPEATS_REASON = "a schema snapshot: a numbered migration also creates every table it creates; check, then keep or map"
BOOTSTRAP_REASON = (
    "bootstrap script ({acts}): it acts on the server, not in the database a migration runs in; "
    "an administrator runs it once, before any migration"
)
# Database statements inside a bootstrap script (an extension after \c) are left out with it: say which.
ALSO_REASON = "; it also runs {statements}: if the migrations need that, move it to a migration or the prelude"
_SHOWN_STATEMENTS = 3
LOOSE_REASON = (
    "a loose file beside per-migration folders: the tool runs only <version>_<name>/up.sql (or migration.sql), "
    "never this file; check, then keep or map"
)
UNPAIRED_REASON = (
    "a down file paired with no up file (the up file must sit in the same folder); "
    "move it beside its up file to keep it as a rollback"
)

_SQLC_QUERY = re.compile(r"^--\s*name:\s*\w+\s+:\w+", re.MULTILINE)
_SNAPSHOT_STEMS = frozenset({"schema", "structure", "dump", "db_schema", "schema_dump"})
_PG_DUMP = re.compile(r"^--\s*PostgreSQL database dump\s*$", re.MULTILINE | re.IGNORECASE)
_SWITCHES = frozenset({"c", "connect"})
_CREATES_DATABASE = frozenset({"CREATE DATABASE", "DROP DATABASE"})
# Statements the plan's server_wide() does not name but that act on the server all the same.
_ON_DATABASE = re.compile(r"(?:GRANT|REVOKE)\b[^;]*?\bON\s+(?:DATABASE|TABLESPACE)\b", re.IGNORECASE)
_MEMBERSHIP = re.compile(r"(?:GRANT|REVOKE)\s+(?:(?!\bON\b)[^;])*?\s(?:TO|FROM)\s", re.IGNORECASE)
# A cheap first look: a bootstrap script holds one of these (most files do not; parsing them is not free).
_SERVER_WORDS = re.compile(
    r"\b(?:CREATE|ALTER|DROP)\s+(?:DATABASE|ROLE|USER|GROUP|TABLESPACE)\b|\bALTER\s+SYSTEM\b"
    r"|\bON\s+(?:DATABASE|TABLESPACE)\b|(?<![^\r\n])[ \t]*\\",
    re.IGNORECASE,
)


def exclusions(
    files: Iterable[LegacyFile], unpaired: Iterable[str] = (), sequenced: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Path → reason for every file that is no migration.

    `unpaired` are the down files the scan paired with no up file (excluded so that the draft accounts for them);
    `sequenced` are unnumbered files that a release folder numbers (`versioned/v1.7/x.sql`): they count as
    numbered.
    """
    files = tuple(files)
    tables = _numbered_tables(files, sequenced)
    found = {item.path: reason for item in files if (reason := other_use(item, tables, sequenced)) is not None}
    loose = {item.path: LOOSE_REASON for item in _loose(files) if item.path not in found and item.path not in sequenced}
    return found | loose | {path: UNPAIRED_REASON for path in unpaired}


def _loose(files: Iterable[LegacyFile]) -> list[LegacyFile]:
    """Unnumbered up files in a folder whose migrations are folders (diesel, sqlx, Prisma): the tool skips them."""
    files = tuple(files)
    parents = {PurePosixPath(item.path).parent.parent for item in files if item.name.scheme is Scheme.FOLDER}
    return [
        item
        for item in files
        if item.name.scheme is Scheme.UNNUMBERED
        and item.direction is Direction.UP
        and PurePosixPath(item.path).parent in parents
    ]


def other_use(
    item: LegacyFile, numbered_tables: frozenset[str] = frozenset(), sequenced: frozenset[str] = frozenset()
) -> str | None:
    """Why an up file is something other than a migration, or None when it reads as one."""
    if item.direction is not Direction.UP:
        return None
    numbered = item.name.scheme is not Scheme.UNNUMBERED or item.path in sequenced
    if not numbered and (reason := _unnumbered_use(item, numbered_tables)) is not None:
        return reason
    return bootstrap_reason(item.path, item.text, numbered=numbered)


def _unnumbered_use(item: LegacyFile, numbered_tables: frozenset[str]) -> str | None:
    if _SQLC_QUERY.search(item.text):
        return SQLC_REASON
    if _PG_DUMP.search(item.text, 0, 2000):
        return DUMP_REASON
    if PurePosixPath(item.path).stem.lower() in _SNAPSHOT_STEMS:
        return SNAPSHOT_REASON
    tables = created_tables(item.text)
    if tables and tables <= numbered_tables:
        return REPEATS_REASON
    return None


def _numbered_tables(files: Iterable[LegacyFile], sequenced: frozenset[str]) -> frozenset[str]:
    ups = (f for f in files if f.direction is Direction.UP)
    numbered = (f for f in ups if f.name.scheme is not Scheme.UNNUMBERED or f.path in sequenced)
    return frozenset().union(*(created_tables(item.text) for item in numbered))


def bootstrap_reason(path: str, text: str, *, numbered: bool = False) -> str | None:
    """The reason a file is a bootstrap script (see the module's rule), naming what it does; else None.

    A `numbered` file of roles only is one the tool ran in its sequence: it stays a migration.
    """
    if not _SERVER_WORDS.search(text):
        return None
    metas = [meta.name for meta in meta_commands(text)]
    statements = parse_file(path, text).statements  # it reads them without their meta-commands
    acts = [_server_act(statement) for statement in statements]
    decisive = any(act in _CREATES_DATABASE for act in acts) or any(meta in _SWITCHES for meta in metas)
    named = [act for act in acts if act is not None] + [f"\\{meta}" for meta in metas if meta in _SWITCHES]
    only_server = not numbered and all(act is not None for act in acts)
    if not named or not (decisive or only_server):
        return None
    others = [_head(statement) for statement, act in zip(statements, acts, strict=True) if act is None]
    return BOOTSTRAP_REASON.format(acts=", ".join(dict.fromkeys(named))) + _also(others)


def _head(statement: Statement) -> str:
    """A statement's first line, short: enough for a reviewer to recognise it."""
    code = BREAK.split(statement.text[code_start(statement.text) :], 1)[0].rstrip(" ;")
    return code if len(code) <= 60 else code[:57] + "..."


def _also(heads: list[str]) -> str:
    if not heads:
        return ""
    shown = ", ".join(heads[:_SHOWN_STATEMENTS])
    more = f" and {len(heads) - _SHOWN_STATEMENTS} more" if len(heads) > _SHOWN_STATEMENTS else ""
    return ALSO_REASON.format(statements=shown + more)


def _server_act(statement: Statement) -> str | None:
    """What a statement does to the server ("CREATE USER", "GRANT ON DATABASE", …), or None."""
    if (what := server_wide(statement)) is not None:
        return what
    # A DO block acts on the server as the statements it runs do; creating a database decides, so it is named.
    inside = server_wide_in_do(statement)
    if inside:
        return next((what for what in inside if what in _CREATES_DATABASE), inside[0])
    code = statement.text[code_start(statement.text) :]
    if _ON_DATABASE.match(code):
        return "GRANT ON DATABASE"
    if _MEMBERSHIP.match(code):
        return "GRANT role"
    return None
