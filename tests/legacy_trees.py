"""Small legacy migration trees for property tests: a few folders of numbered files over a handful of names.

A tree is generated the way real trees grow: each statement is drawn against a running picture of the schema
(which tables, columns, constraints and indexes exist), so that most statements make sense where they stand —
renames of tables that exist, comments on columns they have, drops of indexes that are there — and some
redefine what exists (CREATE TABLE [IF NOT EXISTS] with other columns, CREATE FUNCTION again, a view again).
The picture assumes every statement succeeded; PostgreSQL is the judge of what really happens.

Folders number their files from 001, so numbers clash across folders as in real trees; the mapping takes the
files in folder-then-number order and cuts them into consecutive migrations of one to three files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

TABLES = ("t1", "t2", "t3")
COLUMNS = ("a", "b", "c")
INDEXES = ("i1", "i2", "i3")
CONSTRAINTS = ("k1", "k2")
SCHEMA = "s1"
FOLDERS = ("app", "core", "extra")


@dataclass(frozen=True)
class File:
    """One legacy file: its statements without their `;`, and whether the last one has its `;`."""

    statements: tuple[str, ...]
    final_semicolon: bool = True

    def text(self) -> str:
        body = ";\n".join(self.statements)
        return body + (";\n" if self.final_semicolon else "")


@dataclass(frozen=True)
class Tree:
    """Folders of files, how the files are cut into migrations, and the decision for each conflict in turn."""

    folders: tuple[tuple[File, ...], ...]
    cuts: tuple[int, ...] = ()  # files per migration, in order; the rest, one migration each
    decisions: tuple[str, ...] = ()  # keep-first / merge-columns, for the plan's conflicts in order

    def paths(self) -> list[str]:
        """Every file's path below root, in folder-then-number order."""
        return [
            f"{FOLDERS[f]}/{n + 1:03d}_m{n + 1}.sql" for f, files in enumerate(self.folders) for n in range(len(files))
        ]

    def files(self) -> dict[str, str]:
        texts = [file.text() for files in self.folders for file in files]
        return dict(zip(self.paths(), texts, strict=True))

    def migrations(self) -> list[list[str]]:
        paths, cut = self.paths(), []
        sizes = [size for size in self.cuts if size > 0]
        while paths:
            size = sizes.pop(0) if sizes else 1
            cut.append(paths[:size])
            paths = paths[size:]
        return cut

    def decision(self, index: int) -> str:
        return self.decisions[index % len(self.decisions)] if self.decisions else "keep-first"

    def write(self, root: Path) -> None:
        for path, text in self.files().items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")

    def describe(self) -> str:
        """The tree as a reader wants it in a failure: every file, then the migrations and the decisions."""
        lines = []
        for path, text in self.files().items():
            lines += [f"--- {path}", text.rstrip("\n") + ("" if text.endswith(";\n") else "    <no final ;>")]
        lines += [f"migration {n}: {', '.join(paths)}" for n, paths in enumerate(self.migrations(), start=1)]
        lines.append(f"decisions: {', '.join(self.decisions) or 'keep-first'}")
        return "\n".join(lines)


@dataclass
class _Schema:
    """What the tree has created so far, as if every statement succeeded."""

    tables: dict[str, list[str]] = field(default_factory=dict)  # qualified name → columns
    constraints: dict[str, list[str]] = field(default_factory=dict)  # qualified table → constraint names
    indexes: dict[str, str] = field(default_factory=dict)  # qualified index → qualified table
    has_schema: bool = False
    has_s2: bool = False  # s1 was renamed s2
    view_on: str | None = None  # the table v1 reads
    has_function: bool = False


Draw = st.DrawFn
Kind = Callable[[Draw, "_Schema"], str | None]  # draws one statement against the schema so far, or None


def _schema_of(name: str) -> str:
    return name.split(".")[0] + "." if "." in name else ""


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _pick(draw: Draw, options: list[str] | tuple[str, ...]) -> str:
    return draw(st.sampled_from(sorted(options)))


def _create_table(draw: Draw, schema: _Schema) -> str:
    # Once s1 exists a table may be made in it directly, meeting one that SET SCHEMA moved there.
    moved = tuple(f"{SCHEMA}.{t}" for t in TABLES) if schema.has_schema else ()
    name = draw(st.sampled_from(TABLES + moved))
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=3, unique=True))
    types = [draw(st.sampled_from(("int", "text"))) for _ in columns]
    parts = [f"{column} {kind}" for column, kind in zip(columns, types, strict=True)]
    constraint = draw(st.sampled_from((None, *CONSTRAINTS)))
    if constraint is not None:
        parts.append(f"CONSTRAINT {constraint} CHECK ({columns[0]} IS NOT NULL)")
    exists = _forgiving(draw, name in schema.tables)
    if name not in schema.tables:
        schema.tables[name] = list(columns)
        schema.constraints[name] = [constraint] if constraint else []
    return f"CREATE TABLE {'IF NOT EXISTS ' if exists else ''}{name} ({', '.join(parts)})"


def _forgiving(draw: Draw, taken: bool) -> bool:
    """Whether a CREATE tolerates an existing object (IF NOT EXISTS, OR REPLACE): mostly when the name is taken,
    as real trees redefine; now and then a plain CREATE of a taken name, which fails in the legacy replay."""
    return draw(st.sampled_from((True, True, True, False) if taken else (False, True)))


def _rename_table(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    old = _pick(draw, list(schema.tables))
    free = [t for t in TABLES if _schema_of(old) + t not in schema.tables]
    if not free:
        return None
    new = _schema_of(old) + _pick(draw, free)
    schema.tables[new] = schema.tables.pop(old)
    schema.constraints[new] = schema.constraints.pop(old, [])
    schema.indexes = {i: new if t == old else t for i, t in schema.indexes.items()}
    schema.view_on = new if schema.view_on == old else schema.view_on
    return f"ALTER TABLE {old} RENAME TO {_bare(new)}"


def _rename_column(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    columns = schema.tables[table]
    free = [c for c in COLUMNS if c not in columns]
    if not free:
        return None
    old, new = _pick(draw, columns), _pick(draw, free)
    columns[columns.index(old)] = new
    return f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}"


def _rename_constraint(draw: Draw, schema: _Schema) -> str | None:
    owners = [t for t, names in schema.constraints.items() if names and t in schema.tables]
    if not owners:
        return None
    table = _pick(draw, owners)
    names = schema.constraints[table]
    old = _pick(draw, names)
    free = [k for k in (*CONSTRAINTS, "k3") if k not in names]
    new = _pick(draw, free)
    names[names.index(old)] = new
    return f"ALTER TABLE {table} RENAME CONSTRAINT {old} TO {new}"


def _set_schema(draw: Draw, schema: _Schema) -> str | None:
    if not schema.has_schema:
        schema.has_schema = True
        return f"CREATE SCHEMA {'IF NOT EXISTS ' if draw(st.booleans()) else ''}{SCHEMA}"
    local = [t for t in schema.tables if "." not in t and f"{SCHEMA}.{t}" not in schema.tables]
    if not local:
        return None
    table = _pick(draw, local)
    moved = f"{SCHEMA}.{table}"
    schema.tables[moved] = schema.tables.pop(table)
    schema.constraints[moved] = schema.constraints.pop(table, [])
    # Indexes move with their table, into its new schema.
    schema.indexes = {
        (f"{SCHEMA}.{i}" if t == table else i): (moved if t == table else t) for i, t in schema.indexes.items()
    }
    schema.view_on = moved if schema.view_on == table else schema.view_on
    return f"ALTER TABLE {table} SET SCHEMA {SCHEMA}"


def _rename_schema(draw: Draw, schema: _Schema) -> str | None:
    """s1 becomes s2 with everything in it; a later SET SCHEMA makes s1 anew. Once only: s2 is then taken."""
    if not schema.has_schema or schema.has_s2:
        return None
    schema.has_schema, schema.has_s2 = False, True

    def moved(name: str) -> str:
        return "s2." + _bare(name) if name.startswith(f"{SCHEMA}.") else name

    schema.tables = {moved(t): columns for t, columns in schema.tables.items()}
    schema.constraints = {moved(t): names for t, names in schema.constraints.items()}
    schema.indexes = {moved(i): moved(t) for i, t in schema.indexes.items()}
    schema.view_on = moved(schema.view_on) if schema.view_on else None
    return f"ALTER SCHEMA {SCHEMA} RENAME TO s2"


def _create_index(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    name, column = _pick(draw, INDEXES), _pick(draw, schema.tables[table])
    exists = _forgiving(draw, _schema_of(table) + name in schema.indexes)
    schema.indexes.setdefault(_schema_of(table) + name, table)
    return f"CREATE INDEX {'IF NOT EXISTS ' if exists else ''}{name} ON {table} ({column})"


def _rename_index(draw: Draw, schema: _Schema) -> str | None:
    if not schema.indexes:
        return None
    old = _pick(draw, list(schema.indexes))
    free = [i for i in INDEXES if _schema_of(old) + i not in schema.indexes]
    if not free:
        return None
    new = _schema_of(old) + _pick(draw, free)
    schema.indexes[new] = schema.indexes.pop(old)
    return f"ALTER INDEX {old} RENAME TO {_bare(new)}"


def _drop_indexes(draw: Draw, schema: _Schema) -> str | None:
    if not schema.indexes:
        return None
    names = draw(st.lists(st.sampled_from(sorted(schema.indexes)), min_size=1, max_size=2, unique=True))
    for name in names:
        schema.indexes.pop(name)
    exists = draw(st.booleans())
    return f"DROP INDEX {'IF EXISTS ' if exists else ''}{', '.join(names)}"


def _drop_tables(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    names = draw(st.lists(st.sampled_from(sorted(schema.tables)), min_size=1, max_size=2, unique=True))
    for name in names:
        schema.tables.pop(name)
        schema.constraints.pop(name, None)
    schema.indexes = {i: t for i, t in schema.indexes.items() if t in schema.tables}
    # Without CASCADE the drop of the table v1 reads fails: always say it then, as a working tree would.
    cascade = draw(st.booleans()) or schema.view_on in names
    schema.view_on = None if schema.view_on in names else schema.view_on
    return f"DROP TABLE {', '.join(names)}{' CASCADE' if cascade else ''}"


def _create_view(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    column = _pick(draw, schema.tables[table])
    # One output column of one type, so that CREATE OR REPLACE can always replace it.
    replace = draw(st.booleans()) or schema.view_on is not None
    schema.view_on = table
    return f"CREATE {'OR REPLACE ' if replace else ''}VIEW v1 AS SELECT {column}::text AS x FROM {table}"


def _comment(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    return f"COMMENT ON COLUMN {table}.{_pick(draw, schema.tables[table])} IS 'note'"


def _add_column(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    free = [c for c in COLUMNS if c not in schema.tables[table]]
    if not free:
        return None
    column = _pick(draw, free)
    schema.tables[table].append(column)
    return f"ALTER TABLE {table} ADD COLUMN {column} int"


def _insert(draw: Draw, schema: _Schema) -> str | None:
    if not schema.tables:
        return None
    table = _pick(draw, list(schema.tables))
    columns = schema.tables[table]  # every column: a CHECK (col IS NOT NULL) holds whichever column it names
    values = ", ".join("'1'" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _function(draw: Draw, schema: _Schema) -> str:
    # A SQL function's body is checked when it is created: one that reads a table depends on it being there.
    bodies = ["SELECT 1", "SELECT 2", *(f"SELECT count(*)::int FROM {t}" for t in sorted(schema.tables))]
    body = _pick(draw, bodies)
    replace = _forgiving(draw, schema.has_function)
    schema.has_function = True
    return f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION f1() RETURNS int LANGUAGE sql AS $$ {body} $$"


# The first kind is what shrinking falls back to: a CREATE TABLE reads most simply.
KINDS: tuple[Kind, ...] = (
    _create_table,
    _rename_table,
    _rename_column,
    _rename_constraint,
    _set_schema,
    _rename_schema,
    _create_index,
    _rename_index,
    _drop_indexes,
    _drop_tables,
    _create_view,
    _comment,
    _add_column,
    _insert,
    _function,
)


def _statement(draw: Draw, schema: _Schema, kinds: tuple[Kind, ...]) -> str:
    kind = draw(st.sampled_from(kinds))
    return kind(draw, schema) or _create_table(draw, schema)


@st.composite
def trees(draw: Draw, kinds: tuple[Kind, ...] = KINDS, semicolons: bool = False) -> Tree:
    """A tree of 2–3 folders, 1–4 files each, 1–4 statements each, cut into migrations, with decisions.

    `kinds` narrows the statements drawn; `semicolons` keeps every file's final `;` (to look past that hazard).
    """
    schema = _Schema()
    folders = []
    for _ in range(draw(st.integers(2, 3))):
        files = []
        for _ in range(draw(st.integers(1, 4))):
            statements = tuple(_statement(draw, schema, kinds) for _ in range(draw(st.integers(1, 4))))
            files.append(File(statements, final_semicolon=semicolons or draw(st.booleans())))
        folders.append(tuple(files))
    cuts = draw(st.lists(st.integers(1, 3), max_size=12))
    decisions = draw(st.lists(st.sampled_from(("keep-first", "merge-columns")), max_size=3))
    return Tree(tuple(folders), tuple(cuts), tuple(decisions))
