"""The canonical tree in the layouts other migration tools run: golang-migrate, Flyway, dbmate, diesel, Sqitch.

Pure: versions in (number as written, name, up and down text), files out (relative path → text). Statements keep
their original text; only the wrapping, the names and the tool's markers are new.

Statements PostgreSQL refuses inside a transaction block (CREATE INDEX CONCURRENTLY, ...; core/transactions.py):

* golang-migrate, dbmate and diesel send a file as one multi-statement query, which PostgreSQL runs as one
  implicit transaction, so such a statement fails there unless it is alone in its file. A version holding one
  is cut into parts, each such statement alone and the statements between them together, numbered with two more
  digits (`003` → `00300`, `00301`, ...). golang-migrate orders versions as numbers, so there every version gets
  the two digits: names sort in order, and a version cut later never renumbers the others. The version's
  rollback, cut the same way, is dealt out to the parts' down files from the last part back, since going down
  runs the last part first. dbmate's parts say `transaction:false`; diesel's carry `metadata.toml` with
  `run_in_transaction = false`.
* Flyway runs a script statement by statement: a `V…sql.conf` beside it says `executeInTransaction=false`.
* Sqitch runs its scripts with psql, statement by statement: a script opens its own transaction (BEGIN/COMMIT),
  except for a version holding such a statement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from consolidate.core.comments import code_end
from consolidate.core.hazards import first_words
from consolidate.core.statements import split
from consolidate.core.transactions import cannot_run_in_transaction
from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError


class Format(StrEnum):
    GOLANG_MIGRATE = "golang-migrate"
    FLYWAY = "flyway"
    DBMATE = "dbmate"
    DIESEL = "diesel"
    SQITCH = "sqitch"


# A previous export is a folder holding this file: its first line names the format, the others the files it
# wrote. Hidden, so that no tool reads it as a migration.
MARKER_NAME = ".consolidate-export"
ADOPT_NAME = "ADOPT.md"  # how databases the legacy migrations built move onto the export (no tool reads .md)
_MARKER_TITLE = "consolidate export --format "

MAX_PARTS = 100  # two more digits per version
SQITCH_PROJECT = "consolidated"
# Sqitch's plan wants a planner and a date on every change: fixed, so that the same tree exports the same bytes.
SQITCH_PLANNER = "consolidate <consolidate@localhost>"
SQITCH_DATE = "1970-01-01T00:00:00Z"

# dbmate reads `-- migrate:up` / `-- migrate:down` at a line's start anywhere in the file: one carried from a
# legacy dbmate source would cut the exported file again.
_DBMATE_MARKER = re.compile(r"^--(?=\s*migrate:(?:up|down))", re.MULTILINE)


@dataclass(frozen=True)
class Version:
    """A canonical version as exported: its number as written (`003`), name, up text and down text."""

    version: str
    name: str
    up: str
    down: str | None  # None: the tree has no down script for it
    path: str = ""  # the up file, for messages

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


@dataclass(frozen=True)
class Part:
    """What one file (or folder) of golang-migrate, dbmate or diesel holds: a version whole, or a part of it."""

    version: str  # as the tool numbers it
    name: str
    up: str
    up_outside: bool  # the up text is one statement PostgreSQL refuses inside a transaction block
    down: str
    down_outside: bool

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"


def export_files(layout: Format, versions: Sequence[Version]) -> dict[str, str]:
    """The files of `layout` for `versions` (in order), each relative path → its text, the marker included.

    >>> sorted(export_files(Format.FLYWAY, [Version("001", "users", "CREATE TABLE users (id int);\\n", None)]))
    ['.consolidate-export', 'ADOPT.md', 'U001__users.sql', 'V001__users.sql']
    """
    files = _WRITERS[layout](versions)
    files[ADOPT_NAME] = adopt_guide(layout, versions)
    files[MARKER_NAME] = "".join(f"{line}\n" for line in (_MARKER_TITLE + layout, *sorted(files)))
    return files


def marker_format(text: str) -> tuple[Format, list[str]] | None:
    """The format and files of a previous export's marker, or None when `text` is not one."""
    title, *files = text.splitlines() or [""]
    found = title.removeprefix(_MARKER_TITLE)
    if found == title or found not in set(Format):
        return None
    return Format(found), files


# --- cutting a version where a statement must run alone --------------------------------------------------------


def _groups(text: str) -> list[tuple[str, bool]]:
    """The text cut before and after every statement that cannot run in a transaction block: (text, outside)."""
    groups: list[tuple[str, bool]] = []
    for chunk in split(text):
        outside = chunk.is_statement and cannot_run_in_transaction(first_words(chunk.text))
        if not groups or outside or (chunk.is_statement and groups[-1][1]):
            groups.append(("", outside))
        groups[-1] = (groups[-1][0] + chunk.text, groups[-1][1])
    return groups or [("", False)]


def _refusal(version: Version) -> str:
    """The down text of a version without a down script: it refuses to run, as the tree's stubs do."""
    message = f"consolidate: no rollback for {version.label}".replace("'", "''")
    return f"DO $$ BEGIN RAISE EXCEPTION '{message}'; END $$;\n"


def _parts(version: Version) -> list[tuple[str, bool, str, bool]]:
    """(up, up outside, down, down outside) per part: the ups in order, the downs from the last part back."""
    ups = _groups(version.up)
    downs = _groups(version.down if version.down is not None else _refusal(version))
    count = max(len(ups), len(downs))
    if count == 1:
        return [(ups[0][0], ups[0][1], downs[0][0], downs[0][1])]
    if count > MAX_PARTS:
        raise ConsolidateError.at(
            "export.too-many-parts",
            f"version {version.label} would be cut into {count} parts (at most {MAX_PARTS})",
            Location(version.path),
            hint="move the statements that cannot run in a transaction block to fewer versions",
        )
    note = f"-- consolidate: version {version.label}, part {{}} of {count}"
    parts = []
    for index in range(count):
        up, up_outside = ups[index] if index < len(ups) else ("-- (nothing to run)\n", False)
        back = count - 1 - index
        down, down_outside = downs[back] if back < len(downs) else ("-- (rolled back by a later part)\n", False)
        head = note.format(index + 1) + "\n"
        parts.append((head + up, up_outside, head + down, down_outside))
    return parts


def _cut(versions: Sequence[Version], *, widen_all: bool) -> list[Part]:
    """The parts of every version, a cut version's numbered with two more digits (`003` → `00300`, `00301`).

    `widen_all` for a tool that orders versions as numbers (golang-migrate): there `00301` would come after `004`,
    so every version gets the two digits. Tools that order them as text (dbmate, diesel) keep an uncut version's
    number. Either way a version's number depends on it alone: one cut later never renumbers the others.
    """
    found = []
    for version in versions:
        parts = _parts(version)
        widen = widen_all or len(parts) > 1
        found += [
            Part(f"{version.version}{index:02d}" if widen else version.version, version.name, *part)
            for index, part in enumerate(parts)
        ]
    return found


def _ended(text: str) -> str:
    """`text` ending with a line break, so that what follows starts on a line of its own."""
    return text if text.endswith(("\n", "\r")) else text + "\n"


def _terminated(text: str) -> str:
    """`text` whose last statement ends with a semicolon, so that a statement appended after it stays apart."""
    end = code_end(text)
    return _ended(text) if end == 0 or text[end - 1] == ";" else _ended(text) + ";\n"


def _outside(text: str) -> bool:
    return any(outside for _, outside in _groups(text))


# --- the layouts ------------------------------------------------------------------------------------------------


def _golang_migrate(versions: Sequence[Version]) -> dict[str, str]:
    """`NNN_name.up.sql` and `NNN_name.down.sql`: golang-migrate runs each file as one query."""
    files = {}
    for part in _cut(versions, widen_all=True):
        files[f"{part.label}.up.sql"] = part.up
        files[f"{part.label}.down.sql"] = part.down
    return files


def _dbmate(versions: Sequence[Version]) -> dict[str, str]:
    """`NNN_name.sql` holding `-- migrate:up` and `-- migrate:down` sections."""

    def section(direction: str, text: str, outside: bool) -> str:
        flag = " transaction:false" if outside else ""
        return f"-- migrate:{direction}{flag}\n" + _ended(_DBMATE_MARKER.sub("-- (legacy)", text))

    parts = _cut(versions, widen_all=False)
    return {
        f"{p.label}.sql": section("up", p.up, p.up_outside) + "\n" + section("down", p.down, p.down_outside)
        for p in parts
    }


def _diesel(versions: Sequence[Version]) -> dict[str, str]:
    """`NNN_name/up.sql` and `down.sql`, with `metadata.toml` where a part runs outside a transaction."""
    files = {}
    for part in _cut(versions, widen_all=False):
        files[f"{part.label}/up.sql"] = part.up
        files[f"{part.label}/down.sql"] = part.down
        if part.up_outside or part.down_outside:
            files[f"{part.label}/metadata.toml"] = "run_in_transaction = false\n"
    return files


def _flyway(versions: Sequence[Version]) -> dict[str, str]:
    """`V<n>__name.sql` and the undo `U<n>__name.sql`, with a `.sql.conf` where a script holds a statement that
    cannot run in a transaction block."""
    files = {}
    for version in versions:
        down = version.down if version.down is not None else _refusal(version)
        for prefix, text in (("V", version.up), ("U", down)):
            name = f"{prefix}{version.version}__{version.name}.sql"
            files[name] = text
            if _outside(text):
                files[f"{name}.conf"] = "executeInTransaction=false\n"
    return files


def _sqitch(versions: Sequence[Version]) -> dict[str, str]:
    """sqitch.conf, sqitch.plan (one change per version, in order) and deploy/ revert/ verify/ scripts."""
    conf = "[core]\n\tengine = pg\n\tplan_file = sqitch.plan\n\ttop_dir = .\n"
    plan = [f"%syntax-version=1.0.0\n%project={SQITCH_PROJECT}\n\n"]
    files = {"sqitch.conf": conf}
    for version in versions:
        plan.append(f"{version.label} {SQITCH_DATE} {SQITCH_PLANNER} # canonical version {version.version}\n")
        down = version.down if version.down is not None else _refusal(version)
        files[f"deploy/{version.label}.sql"] = _sqitch_script(version.up)
        files[f"revert/{version.label}.sql"] = _sqitch_script(down)
        files[f"verify/{version.label}.sql"] = "-- `consolidate verify` proved this version; nothing to check here.\n"
    files["sqitch.plan"] = "".join(plan)
    return files


def _sqitch_script(text: str) -> str:
    """A script in its own transaction, as Sqitch's scripts are written, unless a statement of it cannot run in
    one: psql then runs each statement on its own."""
    if _outside(text):
        return "-- consolidate: no BEGIN/COMMIT: a statement here cannot run in a transaction block\n" + text
    return "BEGIN;\n\n" + _terminated(text) + "\nCOMMIT;\n"


_WRITERS: dict[Format, Callable[[Sequence[Version]], dict[str, str]]] = {
    Format.GOLANG_MIGRATE: _golang_migrate,
    Format.FLYWAY: _flyway,
    Format.DBMATE: _dbmate,
    Format.DIESEL: _diesel,
    Format.SQITCH: _sqitch,
}


# --- moving existing databases onto the export ------------------------------------------------------------------

# How each tool is told that the migrations up to a version already ran, without running them. `{rows}`: one
# `('canonical', 'exported')` pair per exported migration; `{last}` and `{dir}` as named.
_RECORD_ROWS = """```sql
-- psql "$DATABASE_URL" -v version=N -f adopt.sql   (N: the version `consolidate migrate adopt --dry-run` named)
CREATE TABLE IF NOT EXISTS {table};
INSERT INTO {name} (version)
SELECT exported FROM (VALUES
{rows}
) AS adopted (canonical, exported)
WHERE canonical::integer <= :'version'::integer
ON CONFLICT DO NOTHING;
```
"""
_RECORD = {
    Format.DBMATE: _RECORD_ROWS.replace("{table}", "schema_migrations (version varchar(128) PRIMARY KEY)").replace(
        "{name}", "schema_migrations"
    ),
    Format.DIESEL: _RECORD_ROWS.replace(
        "{table}",
        "__diesel_schema_migrations (\n    version varchar(50) PRIMARY KEY NOT NULL,\n"
        "    run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP\n)",
    ).replace("{name}", "__diesel_schema_migrations"),
    Format.GOLANG_MIGRATE: (
        "golang-migrate keeps one version: set it to the last migration of version N in the table below, "
        'without running anything:\n\n```bash\nmigrate -path {dir} -database "$DATABASE_URL" force VERSION\n```\n'
    ),
    Format.FLYWAY: (
        "Flyway's baseline records version N without running it (on a database whose `flyway_schema_history` is "
        "empty or absent: rename a legacy Flyway history aside first):\n\n```bash\nflyway -locations=filesystem:{dir} "
        '-baselineVersion=N -baselineDescription="adopted by consolidate" baseline\n```\n'
    ),
    Format.SQITCH: (
        "Sqitch records the changes up to version N's without running them:\n\n```bash\n"
        'sqitch deploy --log-only --to CHANGE "db:pg:..."   # CHANGE: version N\'s change in the table below\n```\n'
    ),
}


def exported_versions(layout: Format, versions: Sequence[Version]) -> list[tuple[str, str]]:
    """(canonical version, the tool's migration) for every exported migration, in order."""
    if layout in (Format.GOLANG_MIGRATE, Format.DBMATE, Format.DIESEL):
        widen = layout is Format.GOLANG_MIGRATE
        pairs = []
        for version in versions:
            for part in _cut([version], widen_all=widen):
                pairs.append((version.version, part.version if layout is not Format.DIESEL else part.label))
        return pairs
    if layout is Format.SQITCH:
        return [(version.version, version.label) for version in versions]
    return [(version.version, version.version) for version in versions]


def adopt_guide(layout: Format, versions: Sequence[Version]) -> str:
    """ADOPT.md: how a database the legacy migrations built moves onto the export, with what its tool records."""
    pairs = exported_versions(layout, versions)
    rows = ",\n".join(f"    ('{canonical}', '{exported}')" for canonical, exported in pairs)
    record = _RECORD[layout].replace("{rows}", rows).replace("{dir}", ".")
    # Only where the tool numbers a migration otherwise than the canonical tree does is the table worth reading.
    renamed = any(canonical != exported for canonical, exported in pairs)
    table = (
        f"\n{layout} numbers some migrations otherwise than the canonical tree:\n\n"
        f"| canonical version | {layout} migration |\n|---|---|\n"
        + "".join(f"| {canonical} | {exported} |\n" for canonical, exported in pairs)
        if renamed
        else ""
    )
    return (
        f"# Moving existing databases onto this {layout} export\n\n"
        "A database the legacy migrations built already holds some of these migrations. Before "
        f"{layout} runs this folder on it, find the canonical version N it is at, then record the migrations up "
        f"to N in {layout}'s history, so that it runs only the rest.\n\n"
        "1. Find N (reads the legacy tool's history, proves it by the schema, records nothing; a database it "
        "cannot prove is refused with the reason). Run it where `consolidate migrate status` finds the tree, or "
        "add `--dir TREE`, and `--prelude FILE` for a tree whose mapping has a prelude:\n\n"
        '   ```bash\n   consolidate migrate adopt --dry-run --database-url "$DATABASE_URL"\n   ```\n\n'
        f"2. Record the migrations up to N in {layout}'s history:\n\n"
        + "".join(f"   {line}\n" if line else "\n" for line in record.splitlines())
        + table
    )
