"""The legacy fixtures are a faithful reference case: mapping.yaml accounts for every file, and the
mapped sources apply on a real PostgreSQL in the mapping's order, with the outcome the hazards predict.

The mapping is read with ``yaml.safe_load`` on purpose: these tests check the fixtures and the shipped
mapping, not the tool's own mapping parser.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parent.parent
MAPPING: dict[str, Any] = yaml.safe_load((REPO / "mapping.yaml").read_text(encoding="utf-8"))
ROOT = REPO / str(MAPPING["root"])
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_PREFIX = "consolidate_fixtures_"

DOWN_SUFFIX = "_down.sql"
# Statements that start at column 0; the same words inside function bodies are indented.
SEED_INSERT = re.compile(r"^INSERT INTO\s+([a-z_][a-z0-9_]*)", re.MULTILINE)
REPLACED_FUNCTION = re.compile(r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s+([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)
# `path.sql:12`, or `:12` for another line of the last path named.
README_LOCATION = re.compile(r"`([\w./-]+\.sql)?:(\d+)`")

# Each query lists one kind of object of the public schema as rows of text; together they are the
# catalog picture two databases are compared by.
CATALOG_QUERIES = {
    "relations": """
        SELECT relname, relkind::text, relrowsecurity::text FROM pg_class
        WHERE relnamespace = 'public'::regnamespace""",
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
        FROM information_schema.columns WHERE table_schema = 'public'""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "functions": """
        SELECT oid::regprocedure::text, md5(prosrc) FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace""",
    "policies": """
        SELECT tablename, policyname, coalesce(qual, ''), coalesce(with_check, '') FROM pg_policies
        WHERE schemaname = 'public'""",
    "types": "SELECT typname, typtype::text FROM pg_type WHERE typnamespace = 'public'::regnamespace",
    "extensions": "SELECT extname FROM pg_extension",
    "comments": """
        SELECT c.relname, d.objsubid::text, d.description FROM pg_description d
        JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid
        WHERE c.relnamespace = 'public'::regnamespace""",
}

Catalog = dict[str, frozenset[tuple[str, ...]]]


# --- the mapping, read plainly -----------------------------------------------------------------------------


def targets() -> list[dict[str, Any]]:
    """The mapping's migrations, versions ascending."""
    return sorted(MAPPING["migrations"], key=lambda target: int(target["version"]))


def mapped_sources() -> list[str]:
    """Every mapped source in apply order: versions ascending, sources in listed order."""
    return [source for target in targets() for source in target["sources"]]


def sources_before_version(version: int) -> list[str]:
    """The mapped sources of every target older than `version`, in apply order."""
    return [source for target in targets() if int(target["version"]) < version for source in target["sources"]]


def version_of(source: str) -> int:
    return next(int(target["version"]) for target in targets() if source in target["sources"])


def legacy_files() -> set[str]:
    """Every .sql file below the mapping's source folders, relative to the root."""
    found: set[str] = set()
    for folder in MAPPING["sources"]:
        found.update(path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*.sql"))
    return found


def down_files() -> list[str]:
    return sorted(path for path in legacy_files() if path.endswith(DOWN_SUFFIX))


def up_of(down: str) -> str:
    return down.removesuffix(DOWN_SUFFIX) + ".sql"


def read_sql(path: str) -> str:
    """A fixture's text exactly as on disk: no newline translation, so CRLF files stay CRLF."""
    return (ROOT / path).read_bytes().decode("utf-8")


# --- a scratch database ------------------------------------------------------------------------------------


def admin_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_URL)


@contextmanager
def scratch_database() -> Iterator[psycopg.Connection[Any]]:
    """An empty database with a unique name, in autocommit, dropped afterwards whatever happened."""
    name = f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(make_conninfo(admin_url(), dbname=name), autocommit=True) as conn:
            yield conn
    finally:
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def apply(conn: psycopg.Connection[Any], path: str) -> None:
    """Run one legacy file as a single simple query, the way the legacy runners did."""
    try:
        conn.execute(read_sql(path))  # no parameters: simple protocol, several statements
    except psycopg.Error as error:
        pytest.fail(f"{path} does not apply: {error}")


def apply_all(conn: psycopg.Connection[Any], paths: list[str]) -> None:
    for path in paths:
        apply(conn, path)


def catalog(conn: psycopg.Connection[Any]) -> Catalog:
    """What the public schema holds, as sets of text rows per kind of object."""
    return {
        kind: frozenset(tuple(str(value) for value in row) for row in conn.execute(query).fetchall())
        for kind, query in CATALOG_QUERIES.items()
    }


def catalog_difference(before: Catalog, after: Catalog) -> dict[str, dict[str, list[tuple[str, ...]]]]:
    """Per kind, what only `before` has and what only `after` has; empty when the catalogs are equal."""
    difference = {}
    for kind in before:
        lost, gained = before[kind] - after[kind], after[kind] - before[kind]
        if lost or gained:
            difference[kind] = {"lost": sorted(lost), "gained": sorted(gained)}
    return difference


def table_columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    ).fetchall()
    return {row[0] for row in rows}


def columns_created_by(path: str, table: str) -> set[str]:
    """The columns `table` has when `path` alone is applied to an empty database."""
    with scratch_database() as conn:
        apply(conn, path)
        return table_columns(conn, table)


@pytest.fixture(scope="module")
def replayed() -> Iterator[psycopg.Connection[Any]]:
    """A database holding every mapped source, applied in the mapping's order."""
    with scratch_database() as conn:
        apply_all(conn, mapped_sources())
        yield conn


# --- the mapping accounts for every legacy file ---------------------------------------------------------------


def test_every_legacy_file_is_mapped_excluded_or_the_down_script_of_a_mapped_file() -> None:
    mapped = set(mapped_sources())
    excluded = {entry["path"] for entry in MAPPING["exclude"]}
    downs = {down for down in down_files() if up_of(down) in mapped}
    assert legacy_files() == mapped | excluded | downs


def test_no_legacy_file_is_mapped_twice() -> None:
    sources = mapped_sources()
    assert len(sources) == len(set(sources))


def test_every_excluded_file_gives_a_reason() -> None:
    assert all(str(entry.get("reason", "")).strip() for entry in MAPPING["exclude"])


def test_the_crlf_fixture_keeps_real_crlf_line_endings() -> None:
    crlf = [path for path in sorted(legacy_files()) if b"\r\n" in (ROOT / path).read_bytes()]
    assert len(crlf) == 1
    data = (ROOT / crlf[0]).read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n")


def readme_locations() -> list[tuple[str, int]]:
    """Every `path:line` of the hazards README, bare `:line` resolved against the last path named."""
    locations, path = [], ""
    for named, line in README_LOCATION.findall((ROOT / "README.md").read_text(encoding="utf-8")):
        path = named or path
        locations.append((path, int(line)))
    return locations


def starts_a_statement(lines: list[str], number: int) -> bool:
    """The 1-based line holds code, and the code before it (if any) ends a statement."""
    code = [line.strip() for line in lines[:number] if line.strip() and not line.strip().startswith("--")]
    return bool(code) and code[-1] == lines[number - 1].strip() and (len(code) == 1 or code[-2].endswith(";"))


def test_every_location_in_the_hazards_readme_is_the_first_line_of_a_statement() -> None:
    locations = readme_locations()
    assert locations
    for path, line in locations:
        lines = read_sql(path).splitlines()
        assert line <= len(lines), f"{path}:{line} is past the end of the file"
        assert starts_a_statement(lines, line), f"{path}:{line} does not start a statement"


# --- replay on a real PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.db
def test_every_mapped_source_applies_in_the_mapping_order(replayed: psycopg.Connection[Any]) -> None:
    tables = replayed.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables is not None and tables[0] > 0


@pytest.mark.db
def test_robots_keeps_the_columns_of_its_first_definition(replayed: psycopg.Connection[Any]) -> None:
    creating = [path for path in mapped_sources() if "CREATE TABLE IF NOT EXISTS robots (" in read_sql(path)]
    assert len(creating) == 2
    first, second = (columns_created_by(path, "robots") for path in creating)
    skipped = second - first
    assert skipped, "the two robots definitions should differ in their columns"
    columns = table_columns(replayed, "robots")
    assert first <= columns
    assert not skipped & columns


@pytest.mark.db
def test_the_last_mapped_definition_of_a_replaced_function_wins(replayed: psycopg.Connection[Any]) -> None:
    defining: dict[str, list[str]] = {}
    for path in mapped_sources():
        for name in dict.fromkeys(REPLACED_FUNCTION.findall(read_sql(path))):
            defining.setdefault(name.lower(), []).append(path)
    redefined = {name: paths for name, paths in defining.items() if len(paths) > 1}
    bodies = {name: function_body(replayed, name) for name in redefined}
    for name, paths in redefined.items():
        assert bodies[name] in read_sql(paths[-1]), f"{name}: the body from {paths[-1]} should win"
    changed = [name for name, paths in redefined.items() if bodies[name] not in read_sql(paths[0])]
    assert changed, "at least one function should be redefined with a different body"


def function_body(conn: psycopg.Connection[Any], name: str) -> str:
    rows = conn.execute(
        "SELECT prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname = %s", (name,)
    ).fetchall()
    assert len(rows) == 1, f"{name} should have exactly one definition, not {len(rows)}"
    return str(rows[0][0])


@pytest.mark.db
def test_every_table_seeded_by_a_mapped_source_has_rows(replayed: psycopg.Connection[Any]) -> None:
    seeded = {table for path in mapped_sources() for table in SEED_INSERT.findall(read_sql(path))}
    assert seeded
    for table in sorted(seeded):
        row = replayed.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
        assert row is not None and row[0] > 0, f"{table} has no rows"


@pytest.mark.db
def test_the_seeded_audit_log_hash_chain_verifies(replayed: psycopg.Connection[Any]) -> None:
    broken = replayed.execute("SELECT entry_id, problem FROM verify_audit_chain()").fetchall()
    root = replayed.execute("SELECT audit_merkle_root(1, 1) = (SELECT entry_hash FROM audit_log WHERE id = 1)")
    assert broken == []
    assert root.fetchone() == (True,)


# --- the legacy down scripts ---------------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize("down", down_files())
def test_the_down_script_undoes_its_up_script(down: str) -> None:
    """On the database as it stands before the up file's target, up then down changes nothing."""
    up = up_of(down)
    with scratch_database() as conn:
        apply_all(conn, sources_before_version(version_of(up)))
        before = catalog(conn)
        apply(conn, up)
        assert catalog_difference(before, catalog(conn)), f"{up} should change the schema"
        apply(conn, down)
        assert catalog_difference(before, catalog(conn)) == {}
