"""Frozen values that flow through the pipeline: files, statements, objects, mapping, plan.

This module imports nothing but the standard library, consolidate.diagnostics and consolidate.layout (itself
standard library only): every other layer depends on it, it depends on none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from consolidate import layout
from consolidate.diagnostics import Diagnostic, Location, Severity

__all__ = ["Diagnostic", "Location", "Severity"]  # re-exported: every layer imports them from here


# --- files -------------------------------------------------------------------------------------------------


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class Scheme(StrEnum):
    """How a legacy file's name encodes its version."""

    NUMBERED = "numbered"  # 010_robots_table.sql, 010_robots_table_down.sql
    FLYWAY = "flyway"  # V1.2__name.sql, U1.2__name.sql
    TIMESTAMP = "timestamp"  # 20240101120000_name.sql
    GOLANG = "golang"  # 001_name.up.sql, 001_name.down.sql
    FOLDER = "folder"  # <id>_name/up.sql, <id>_name/down.sql
    SQITCH = "sqitch"  # deploy/name.sql, revert/name.sql (the order is in sqitch.plan)
    UNNUMBERED = "unnumbered"  # setup_db.sql


@dataclass(frozen=True)
class FileName:
    """What a legacy file's path says about it, before reading it."""

    scheme: Scheme
    direction: Direction
    version: str | None  # as written: "010", "1.2", "20240101120000"; None when unnumbered
    name: str  # feature name, lower case: "robots_table"


@dataclass(frozen=True)
class RawFile:
    """A file as read from disk: its path relative to the mapping's root (posix) and its bytes."""

    path: str
    data: bytes


@dataclass(frozen=True)
class SourceTree:
    """What io read below the mapping's root: the .sql files of the source folders, and what it could not."""

    files: tuple[RawFile, ...]  # every .sql file below the sources, sorted by path
    missing: tuple[str, ...] = ()  # source folders (as written) that do not exist or are not folders
    escaping: tuple[str, ...] = ()  # paths relative to root that are symlinks resolving outside root; not read
    findings: tuple[Diagnostic, ...] = ()  # entries not read (editor files, pipes, …), each with the reason
    unreadable: tuple[Diagnostic, ...] = ()  # errors: entries that could not be read (permissions, broken links)
    others: tuple[RawFile, ...] = ()  # .py and .rb files (their head): other tools' migrations, named not read

    @cached_property
    def _paths(self) -> frozenset[str]:
        return frozenset(raw.path for raw in self.files)

    def has(self, path: str) -> bool:
        return path in self._paths


@dataclass(frozen=True)
class LegacyFile:
    """A scanned legacy file: its name's meaning, its checksum and its decoded text."""

    path: str  # posix, relative to the mapping's root
    name: FileName
    sha256: str
    text: str  # decoded (BOM removed, undecodable bytes replaced); statements are split from this
    has_bom: bool = False
    has_crlf: bool = False
    is_utf8: bool = True

    @property
    def direction(self) -> Direction:
        return self.name.direction


@dataclass(frozen=True)
class ScanResult:
    """Every .sql file below the source folders, with down files paired to their up files."""

    files: tuple[LegacyFile, ...]  # sorted by path
    downs: tuple[tuple[str, str], ...]  # (up path, down path), sorted
    findings: tuple[Diagnostic, ...]  # BOM, CRLF, non-UTF-8, unpaired down, ...

    # Indexes built on first use (the instance stays immutable): trees hold thousands of files.
    @cached_property
    def _by_path(self) -> dict[str, LegacyFile]:
        return {item.path: item for item in self.files}

    @cached_property
    def _down_by_up(self) -> dict[str, str]:
        return dict(self.downs)

    def file(self, path: str) -> LegacyFile | None:
        return self._by_path.get(path)

    def down_of(self, up_path: str) -> str | None:
        return self._down_by_up.get(up_path)


# --- statements and objects -----------------------------------------------------------------------------


class Action(StrEnum):
    CREATE = "create"
    REPLACE = "replace"  # CREATE OR REPLACE
    ALTER = "alter"
    DROP = "drop"
    OTHER = "other"  # INSERT, UPDATE, GRANT, COMMENT, SET, DO, ...


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A database object: kind and schema-qualified name; functions carry their argument types.

    `schema` is None for kinds that live outside schemas (schema, extension, role, language, ...).
    Unqualified names of schema-bound kinds are taken to be in ``public``.
    `table` is set for objects that belong to a table: triggers, policies, rules; for indexes it is
    informative only (index names are unique per schema, so the table is not part of the identity).
    """

    kind: str  # table, view, materialized view, index, function, procedure, trigger, policy, type, ...
    schema: str | None
    name: str  # lower case unless quoted; functions: "f(integer, text)"
    table: str | None = field(default=None, compare=False)
    table_key: str | None = None  # part of the identity: qualified table for trigger/policy/rule

    @property
    def qualified(self) -> str:
        if self.schema is None or self.schema == "public":
            return self.name
        return f"{self.schema}.{self.name}"

    def __str__(self) -> str:
        text = f"{self.kind} {self.qualified}"
        if self.table:
            text += f" on {self.table}"
        return text


@dataclass(frozen=True)
class Column:
    """A column of a CREATE TABLE: its name and its definition as normalised text (for comparison)."""

    name: str
    definition: str


@dataclass(frozen=True)
class Facts:
    """What one statement does to the schema, derived from its parse tree (see core/objects.py)."""

    action: Action = Action.OTHER
    target: ObjectRef | None = None
    if_not_exists: bool = False  # CREATE ... IF NOT EXISTS (or DROP ... IF EXISTS)
    cascade: bool = False  # DROP ... CASCADE: may remove dependent objects
    references: tuple[ObjectRef, ...] = ()
    columns: tuple[Column, ...] = ()
    constraints: tuple[str, ...] = ()
    also_creates: tuple[ObjectRef, ...] = ()
    mentions: tuple[str, ...] = ()  # opaque statements (DO blocks): lower-case identifiers in their text
    renamed_to: ObjectRef | None = None  # ALTER … RENAME TO / SET SCHEMA: what the target is called afterwards
    also_drops: tuple[ObjectRef, ...] = ()  # DROP a, b, c: the objects after the first (the target)
    dropped_columns: tuple[str, ...] = ()  # ALTER TABLE … DROP COLUMN: PostgreSQL drops their indexes too


@dataclass(frozen=True)
class Statement:
    """One statement of a legacy file, its exact original text and what it does.

    `text` is the exact slice of the file: leading whitespace and comments, the statement, and its
    terminating semicolon (if any). Concatenating the `text` of a file's chunks gives back the file.
    """

    path: str
    index: int  # 0-based position among the file's statements
    line: int  # 1-based line of the statement's first token
    text: str
    kind: str  # sqlglot expression class name, "Command" for verbatim fall-backs
    parsed: bool  # False when sqlglot fell back to exp.Command
    fingerprint: str  # equal fingerprints = identical statements (AST equality or normalised text)
    facts: Facts = Facts()

    @property
    def action(self) -> Action:
        return self.facts.action

    @property
    def target(self) -> ObjectRef | None:
        return self.facts.target

    @property
    def location(self) -> Location:
        return Location(self.path, self.line)


@dataclass(frozen=True)
class Chunk:
    """A slice of a file: a statement (with leading comments), a psql meta-command line (with what leads it), or
    trailing text after the last statement."""

    text: str
    offset: int  # character offset of the slice in the file
    line: int  # 1-based line where the slice starts
    is_statement: bool
    # Put in place of a legacy statement by a decision in the mapping (`patches`): `offset` and `line` are then
    # those of the statement it stands for, so that anything found in it is shown at that legacy line.
    patched: bool = False
    is_meta: bool = False  # ends with a psql meta-command (core/meta_commands.py): neither SQL nor blank


@dataclass(frozen=True)
class ParsedFile:
    """A legacy file split into statements, with the syntax errors found in it."""

    path: str
    chunks: tuple[Chunk, ...]
    statements: tuple[Statement, ...]
    errors: tuple[Diagnostic, ...]  # tokenizer and PostgreSQL syntax errors, with file:line
    fallbacks: int  # statements sqlglot only parsed as exp.Command


# --- mapping ------------------------------------------------------------------------------------------------


class Decision(StrEnum):
    KEEP_FIRST = "keep-first"
    MERGE_COLUMNS = "merge-columns"


@dataclass(frozen=True)
class Target:
    """One canonical migration: versions/NNN_name.sql built from its sources in order."""

    version: int
    name: str
    description: str
    sources: tuple[str, ...]  # posix paths relative to root, applied in this order
    location: Location  # the mapping entry

    def label(self, width: int) -> str:
        return layout.label(self.version, self.name, width)


@dataclass(frozen=True)
class Exclusion:
    path: str  # a file or a folder, relative to root
    reason: str
    location: Location


@dataclass(frozen=True)
class Resolution:
    object: str  # as the plan prints it, e.g. "table robots"
    decision: Decision
    reason: str
    location: Location


@dataclass(frozen=True)
class Patch:
    """A decision on one broken legacy statement: replace it with corrected SQL, or leave it out (`sql` None).

    The legacy file stays untouched; planning, rendering and the legacy replay see the file as patched.
    """

    file: str  # the legacy file, relative to root, as in a migration's sources
    line: int  # where the statement starts: the line of its first token
    sql: str | None  # the replacement (one or more statements); None: the statement is dropped
    reason: str
    location: Location  # the mapping entry

    @property
    def verb(self) -> str:
        return "dropped" if self.sql is None else "patched"


@dataclass(frozen=True)
class Acceptance:
    """A finding a team judged false or harmless, acknowledged with a reason: it no longer makes the plan fail."""

    code: str  # e.g. "plan.ordering"
    path: str  # the finding's file as the plan shows it: below the mapping's folder (root/…)
    line: int | None  # None: every finding of this code in the file
    reason: str
    location: Location  # the mapping entry

    def covers(self, diagnostic: Diagnostic) -> bool:
        where = diagnostic.location
        return (diagnostic.code, where.path) == (self.code, self.path) and self.line in (None, where.line)


@dataclass(frozen=True)
class Group:
    title: str
    first: int
    last: int


@dataclass(frozen=True)
class Mapping:
    """A validated mapping.yaml. Paths are as written; `base` is the folder holding the mapping file."""

    path: str  # the mapping file as the user named it
    base: str  # folder of the mapping file
    version: int
    dialect: str
    root: str  # relative to base
    output: str  # relative to base
    width: int
    sources: tuple[str, ...]  # legacy folders, relative to root
    groups: tuple[Group, ...]
    targets: tuple[Target, ...]  # sorted by version
    excludes: tuple[Exclusion, ...]
    resolutions: tuple[Resolution, ...]
    provided: tuple[str, ...] = ()  # objects the platform provides, e.g. "table auth.users"
    provided_location: Location | None = None
    accepted: tuple[Acceptance, ...] = ()
    encodings: tuple[tuple[str, str], ...] = ()  # (source folder, codec) where the mapping declares one
    patches: tuple[Patch, ...] = ()  # decisions on broken legacy statements, in the order written
    postgres: int | None = None  # the PostgreSQL major production runs, when the mapping declares it
    postgres_location: Location | None = None

    @cached_property
    def _target_by_source(self) -> dict[str, Target]:
        return {source: target for target in self.targets for source in target.sources}

    def target_of(self, source: str) -> Target | None:
        return self._target_by_source.get(source)


# --- plan ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """A statement dropped because an identical, still-current definition was kept earlier."""

    removed: Statement
    kept: Statement
    target: int  # version of the target the removed statement came from


@dataclass(frozen=True)
class Conflict:
    """One object created twice with different definitions."""

    object: ObjectRef
    first: Statement
    second: Statement
    detail: str  # e.g. "the second CREATE TABLE IF NOT EXISTS is skipped: columns lost: a, b"
    lost_columns: tuple[str, ...] = ()
    lost_constraints: tuple[str, ...] = ()
    resolution: Resolution | None = None


@dataclass(frozen=True)
class Redefinition:
    """An object replaced later (CREATE OR REPLACE with another body): informative, the later one wins."""

    object: ObjectRef
    earlier: Statement
    later: Statement


@dataclass(frozen=True)
class PlannedSource:
    path: str
    statements: tuple[Statement, ...]  # kept, in order
    removed: tuple[Duplicate, ...]
    down: str | None  # paired legacy down file
    sha256: str


@dataclass(frozen=True)
class PlannedTarget:
    target: Target
    sources: tuple[PlannedSource, ...]

    @property
    def kept(self) -> int:
        return sum(len(source.statements) for source in self.sources)

    @property
    def removed(self) -> int:
        return sum(len(source.removed) for source in self.sources)

    @property
    def has_down(self) -> bool:
        return all(source.down is not None for source in self.sources)


@dataclass(frozen=True)
class Plan:
    mapping: Mapping
    targets: tuple[PlannedTarget, ...]
    duplicates: tuple[Duplicate, ...]
    conflicts: tuple[Conflict, ...]
    redefinitions: tuple[Redefinition, ...]
    ordering_errors: tuple[Diagnostic, ...]
    syntax_errors: tuple[Diagnostic, ...]
    findings: tuple[Diagnostic, ...]  # warnings and notes: encodings, unused resolutions, ...
    excluded: tuple[Exclusion, ...]
    fallbacks: int  # statements carried verbatim because sqlglot only parsed them as exp.Command
    statements: int  # statements read from mapped sources
    transaction_wraps: frozenset[tuple[str, int]] = frozenset()  # (path, index) of BEGIN/COMMIT left out

    @property
    def unresolved(self) -> tuple[Conflict, ...]:
        return tuple(conflict for conflict in self.conflicts if conflict.resolution is None)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        unresolved = tuple(
            Diagnostic(
                "plan.unresolved-conflict",
                f"{conflict.object} is created twice with different definitions: {conflict.detail}",
                conflict.second.location,
                hint=f"add a resolution for '{conflict.object}' (keep-first or merge-columns) to the mapping",
            )
            for conflict in self.unresolved
        )
        found = self.syntax_errors + self.ordering_errors + self._error_findings + unresolved
        return tuple(error for error in found if not self._accepted(error))

    @property
    def accepted(self) -> tuple[Diagnostic, ...]:
        """Errors the mapping acknowledges (`accept:`): shown, but the plan is clean without them."""
        found = self.syntax_errors + self.ordering_errors + self._error_findings
        return tuple(error for error in found if self._accepted(error))

    @property
    def _error_findings(self) -> tuple[Diagnostic, ...]:
        return tuple(finding for finding in self.findings if finding.severity is Severity.ERROR)

    def _accepted(self, diagnostic: Diagnostic) -> bool:
        return any(acceptance.covers(diagnostic) for acceptance in self.mapping.accepted)

    @property
    def clean(self) -> bool:
        return not self.errors


# --- lock ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockEntry:
    """A file the consolidation read or wrote, with its checksum; sources carry their target's version.

    `by_user`: an output the user wrote in place of the tool's (a hand-written rollback), kept by every apply.
    """

    path: str
    sha256: str
    target: int | None = None
    by_user: bool = False


@dataclass(frozen=True)
class Preserved:
    """A legacy source that an in-place apply overwrote with a canonical file: its original bytes, kept so that
    a later apply can still read it (path relative to the mapping's root)."""

    path: str
    sha256: str
    data: bytes


@dataclass(frozen=True)
class Lock:
    """consolidation.lock: what an apply read and wrote, so later runs recognise their own outputs."""

    tool_version: str
    mapping_sha256: str
    date: str  # ISO date the lock's content last changed; the report shows it (no wall clock in outputs)
    sources: tuple[LockEntry, ...]  # legacy files read, up and down, sorted by path
    outputs: tuple[LockEntry, ...]  # files written, relative to the output folder, sorted by path
    resolutions: tuple[Resolution, ...] = ()
    preserved: tuple[Preserved, ...] = ()

    @cached_property
    def _outputs(self) -> dict[str, LockEntry]:
        return {entry.path: entry for entry in self.outputs}

    def output(self, path: str) -> LockEntry | None:
        return self._outputs.get(path)


# --- verify -----------------------------------------------------------------------------------------------


class Rollbacks(StrEnum):
    """Which rollbacks verify proves: `changed` carries the last proof's result for a rollback nothing it depends
    on has changed since (its down file, every up file up to its version, the server and the setup)."""

    ALL = "all"
    CHANGED = "changed"
    NONE = "none"
