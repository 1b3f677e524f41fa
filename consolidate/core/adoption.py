"""Where a database the legacy migrations built stands on the canonical tree, as its legacy tool's history says.

Each canonical version names the legacy files it was made of, in its header (templates/migration.sql.j2: the
sources `apply` recorded, their checksums in consolidation.lock). A legacy tool's history table names the legacy
versions it ran: golang-migrate's and Alembic's hold the newest only (everything up to it ran), the others one row
per migration. A legacy version is matched to its file by the version its name starts with (`0042_x.up.sql`,
`V1_2__x.sql`, diesel's `2023-01-01-000000_x/up.sql` all carry theirs), or by its whole name (Sqitch's changes,
Prisma's folders, a seed's file names).

A canonical version stands applied when every one of its legacy files ran, untouched when none did, partly applied
otherwise: the last is reported with what did not run, and never adopted. The schema then proves the verdict
(runner/adopt.py): nothing here is trusted alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from consolidate.core.statements import split


@dataclass(frozen=True)
class HistoryKind:
    """A legacy tool's history table: where it is, and the query reading (key, applied, failed) from it in the
    order the tool ran them. `cumulative`: the table keeps the newest version only."""

    tool: str
    table: str  # NAME or SCHEMA.NAME
    query: str  # {table} and {key} stand for the table and its key column, quoted; gives HistoryRow's fields
    key: str = "version"
    cumulative: bool = False
    needs: frozenset[str] = frozenset()  # columns that tell this tool's table apart from another of the same name
    refuses: frozenset[str] = frozenset()  # columns this tool's table never has

    def fits(self, columns: Sequence[str]) -> bool:
        """Whether a table with these columns is this tool's."""
        present = set(columns)
        return bool(present) and self.needs <= present and not (self.refuses & present)


_PLAIN = "SELECT {key}::text, true, false, false FROM {table}"
# Columns a seed-style `_migrations` may key its rows by, in order of preference.
SEED_KEYS = ("name", "filename", "file", "migration", "version")

# In the order they are looked for; the layouts are the tools' own (see core/history.py and runner/foreign.py).
KINDS: tuple[HistoryKind, ...] = (
    HistoryKind(
        "golang-migrate",
        "schema_migrations",
        "SELECT {key}::text, NOT dirty, dirty, false FROM {table}",
        cumulative=True,
        needs=frozenset({"version", "dirty"}),
    ),
    HistoryKind(
        "dbmate",
        "schema_migrations",
        _PLAIN + " ORDER BY {key}",
        needs=frozenset({"version"}),
        refuses=frozenset({"dirty"}),
    ),
    HistoryKind("Supabase", "supabase_migrations.schema_migrations", _PLAIN + " ORDER BY {key}"),
    HistoryKind("diesel", "__diesel_schema_migrations", _PLAIN + " ORDER BY run_on, {key}"),
    HistoryKind(
        "Flyway",
        "flyway_schema_history",
        # A BASELINE row (`flyway baseline`) stands for every version up to its own.
        "SELECT coalesce({key}, script), success, NOT success, type = 'BASELINE' FROM {table}"
        " WHERE type <> 'SCHEMA' ORDER BY installed_rank",
    ),
    HistoryKind(
        "goose",
        "goose_db_version",
        # goose appends a row per apply and per rollback: a version's newest row says whether it stands applied.
        "SELECT DISTINCT ON ({key}) {key}::text, is_applied, false, false FROM {table}"
        " WHERE {key} > 0 ORDER BY {key}, id DESC",
        key="version_id",
    ),
    HistoryKind(
        "Sqitch", "sqitch.changes", "SELECT {key}, true, false, false FROM {table} ORDER BY committed_at", key="change"
    ),
    HistoryKind(
        "Prisma",
        "_prisma_migrations",
        "SELECT {key}, finished_at IS NOT NULL AND rolled_back_at IS NULL,"
        " finished_at IS NULL AND rolled_back_at IS NULL, false FROM {table} ORDER BY started_at",
        key="migration_name",
    ),
    HistoryKind("Alembic", "alembic_version", _PLAIN, key="version_num", cumulative=True),
    HistoryKind("a seed script", "_migrations", _PLAIN + " ORDER BY 1", key="name"),
)


@dataclass(frozen=True)
class HistoryRow:
    """One legacy version as the tool recorded it."""

    key: str
    applied: bool
    failed: bool  # golang-migrate's dirty flag, Flyway's success = false, a Prisma migration that never finished
    up_to: bool = False  # stands for every legacy version up to its own (Flyway's BASELINE row)


@dataclass(frozen=True)
class CanonicalVersion:
    """A canonical version and the legacy files it was made of, in order."""

    version: str
    name: str
    path: str
    text: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Missing:
    """A legacy file of a partly applied version that did not run: where its statements are in the version."""

    source: str
    line: int  # of its section in the canonical file
    statements: tuple[str, ...]  # the first line of each


@dataclass(frozen=True)
class Partial:
    """A canonical version only some of whose legacy files ran."""

    version: CanonicalVersion
    ran: tuple[str, ...]
    missing: tuple[Missing, ...]


@dataclass(frozen=True)
class HistoryVerdict:
    """What a legacy history says: the canonical version the database is at (None: below the first), or why it
    cannot say."""

    tool: str
    table: str
    version: str | None
    partial: tuple[Partial, ...] = ()
    failed: tuple[str, ...] = ()  # keys of dirty or failed rows
    gaps: tuple[str, ...] = ()  # canonical versions not applied though a later one is
    unknown: tuple[str, ...] = ()  # legacy versions recorded that no canonical version was made of
    newest: str | None = None  # the legacy version the history recorded last

    @property
    def certain(self) -> bool:
        return not (self.partial or self.failed or self.gaps)

    def evidence(self) -> str:
        """What the rows written say they were adopted from: the history and its newest legacy version."""
        return f"{self.tool} {self.table} at {self.newest}" if self.newest else f"{self.tool} {self.table}, empty"

    def explained(self) -> str:
        """The verdict in words."""
        if self.version is None:
            return f"{self.evidence()}: no canonical version's legacy files all ran"
        return f"{self.evidence()}: every legacy file of the canonical versions up to {self.version} ran"


_SOURCES_HEAD = "-- Sources, applied in this order:"
_SOURCE_LINE = re.compile(r"^--   (?P<path>.+) \(sha256 [0-9a-f]+\)$")
_SECTION = "-- ==== consolidate: source {} ===="
_FLYWAY = re.compile(r"^[VvUu](\d+(?:[._]\d+)*)__")
_LEADING = re.compile(r"^(\d[\d-]*)(?=_|\.|$)")
_FOLDER_FILES = frozenset({"up", "migration"})  # diesel's NAME/up.sql, Prisma's NAME/migration.sql


def sources_of(text: str) -> tuple[str, ...]:
    """The legacy files a canonical version names in its header, in order."""
    lines = text.splitlines()
    try:
        start = lines.index(_SOURCES_HEAD) + 1
    except ValueError:
        return ()
    found = []
    for line in lines[start:]:
        match = _SOURCE_LINE.match(line)
        if match is None:
            break
        found.append(match.group("path"))
    return tuple(found)


def keys(name: str) -> frozenset[str]:
    """The ways a history may name the legacy version `name` (a file or folder name): as is, and its version."""
    stem = name.removesuffix(".sql").removesuffix(".up")
    # As is, without its suffixes, and its first word: an Alembic revision's file is `ae1027a6acf_add_users.sql`.
    found = {name.lower(), stem.lower(), stem.split("_", 1)[0].lower()}
    flyway = _FLYWAY.match(stem)
    leading = _LEADING.match(stem)
    if flyway:
        found.add(_normal(flyway.group(1).replace("_", ".")))
    elif leading:
        found.add(_normal(leading.group(1).replace("-", "")))
    elif re.fullmatch(r"\d+(?:\.\d+)*", stem):
        found.add(_normal(stem))
    return frozenset(found)


def _normal(version: str) -> str:
    """A version number without leading zeros in any part: 0042 and 42, 1.02 and 1.2 are the same."""
    return ".".join(str(int(part)) if part.isdigit() else part for part in version.split("."))


def file_keys(path: str) -> frozenset[str]:
    """The keys of a legacy file: its own name's, and its folder's when the file is NAME/up.sql and the like."""
    pure = PurePosixPath(path)
    found = set(keys(pure.name))
    if pure.name.removesuffix(".sql").removesuffix(".up") in _FOLDER_FILES:
        found |= keys(pure.parent.name)
    return frozenset(found)


def _number(key: str) -> tuple[int, ...] | None:
    """A key that is a version number, as numbers (so that 9 comes before 10); None for a name."""
    return tuple(int(part) for part in key.split(".")) if re.fullmatch(r"\d+(?:\.\d+)*", key) else None


def _file_number(path: str) -> tuple[int, ...] | None:
    numbers = [number for key in file_keys(path) if (number := _number(key)) is not None]
    return min(numbers) if numbers else None


def history_verdict(
    kind: HistoryKind, rows: Sequence[HistoryRow], versions: Sequence[CanonicalVersion]
) -> HistoryVerdict:
    """Where the database stands on the canonical tree, as the tool's rows say."""
    table = kind.table
    failed = tuple(row.key for row in rows if row.failed)
    applied = [row for row in rows if row.applied]
    every = [source for version in versions for source in version.sources]
    by_key: dict[str, list[str]] = {}
    for source in every:
        for key in file_keys(source):
            by_key.setdefault(key, []).append(source)
    ran: set[str] = set()
    unknown: list[str] = []
    homes: set[str] = set()
    for row in applied:
        key = row.key.lower()
        matched = by_key.get(key) or by_key.get(_normal(key), [])
        if not matched and not row.up_to:
            unknown.append(key)
        homes.update(_home(source) for source in matched)
        if kind.cumulative or row.up_to:
            ran |= _up_to(key, matched, every)
        else:
            ran.update(matched)
    # A tree consolidated from several tools' folders: this history knows its own folders' files only.
    known = {source for source in every if _home(source) in homes} if homes else set(every)
    verdict = _verdict(kind.tool, table, versions, ran, known, failed, tuple(unknown))
    return replace(verdict, newest=applied[-1].key if applied else None)


def _home(path: str) -> str:
    """The folder a tool keeps its migrations in: the file's, or its folder's for NAME/up.sql and the like."""
    pure = PurePosixPath(path)
    folder = pure.parent
    if pure.name.removesuffix(".sql").removesuffix(".up") in _FOLDER_FILES:
        folder = folder.parent
    return folder.as_posix()


def _up_to(key: str, matched: Sequence[str], every: Sequence[str]) -> set[str]:
    """Every legacy file a cumulative history's newest version stands for: those numbered up to it, or without
    numbers, those up to the one it names in the tree's order."""
    limit = _number(key)
    if limit is not None:
        return {source for source in every if (number := _file_number(source)) is not None and number <= limit}
    if not matched:
        return set()
    last = max(every.index(source) for source in matched)
    return set(every[: last + 1])


def _verdict(
    tool: str,
    table: str,
    versions: Sequence[CanonicalVersion],
    ran: set[str],
    known: set[str],
    failed: tuple[str, ...],
    unknown: tuple[str, ...],
) -> HistoryVerdict:
    """The verdict on each version from the files it was made of that the history knows (`known`); a version
    made of none of them is the schema's to judge."""
    partial: list[Partial] = []
    done: list[CanonicalVersion] = []
    judged: list[CanonicalVersion] = []
    for version in versions:
        sources = [source for source in version.sources if source in known]
        if sources:
            judged.append(version)
        hit = [source for source in sources if source in ran]
        if hit and len(hit) < len(sources):
            missing = tuple(_missing(version, source) for source in sources if source not in ran)
            partial.append(Partial(version, tuple(hit), missing))
        elif hit:
            done.append(version)
    last = done[-1] if done else None
    reached = versions.index(last) + 1 if last else 0
    below = [v for v in versions[:reached] if v in judged]
    gaps = tuple(v.version for v in below if v not in done and not any(p.version == v for p in partial))
    at = last.version if last else None
    return HistoryVerdict(tool, table, at, tuple(partial), failed, gaps, unknown)


def _missing(version: CanonicalVersion, source: str) -> Missing:
    """Where `source`'s statements stand in the canonical version, and their first lines."""
    lines = version.text.splitlines(keepends=True)
    marker = _SECTION.format(source)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\r\n") == marker), None)
    if start is None:
        return Missing(source, 1, ())
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(_SECTION.split("{}")[0])), len(lines))
    body = "".join(lines[start + 1 : end])
    statements = tuple(_first_line(chunk.text) for chunk in split(body) if chunk.is_statement)
    return Missing(source, start + 1, statements)


def _first_line(text: str) -> str:
    code = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("--")]
    return code[0] if code else text.strip()


def kind_for(table: str, columns: Mapping[str, str] | Sequence[str]) -> HistoryKind | None:
    """The tool whose history table `table` (as KINDS spell it) with these columns is, if any."""
    names = list(columns)
    return next((kind for kind in KINDS if kind.table == table and kind.fits(names)), None)


def seed_key(columns: Sequence[str]) -> str | None:
    """The column a seed-style `_migrations` names its migrations by."""
    return next((name for name in SEED_KEYS if name in columns), None)
