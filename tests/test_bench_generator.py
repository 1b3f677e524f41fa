"""The benchmark's synthetic legacy tree (bench/generate_tree.py): deterministic, complete, ordered, clean to plan."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pglast
import psycopg
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.generate_tree import generate
from consolidate import commands
from consolidate.core.naming import parse_name
from consolidate.model import Direction

FILES = 30
SEED = 7
CREATED = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?([\w.]+) \(")
REFERENCED = re.compile(r"REFERENCES ([\w.]+)\(")


def sql_files(out: Path) -> dict[str, bytes]:
    root = out / "legacy"
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*.sql"))}


def mapping_of(out: Path) -> dict[str, object]:
    document = yaml.safe_load((out / "mapping.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def mapped(out: Path) -> list[str]:
    migrations = mapping_of(out)["migrations"]
    assert isinstance(migrations, list)
    return [source for entry in migrations for source in entry["sources"]]


def excluded(out: Path) -> set[str]:
    entries = mapping_of(out).get("exclude") or []
    assert isinstance(entries, list)
    return {entry["path"] for entry in entries}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    generate(tmp_path, FILES, SEED)
    return tmp_path


def test_the_same_seed_writes_the_same_tree_byte_for_byte(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    generate(first, FILES, SEED)
    generate(second, FILES, SEED)
    assert sql_files(first) == sql_files(second)
    assert (first / "mapping.yaml").read_bytes() == (second / "mapping.yaml").read_bytes()


def test_another_seed_writes_another_tree(tmp_path: Path) -> None:
    generate(tmp_path / "a", FILES, SEED)
    generate(tmp_path / "b", FILES, SEED + 1)
    assert sql_files(tmp_path / "a") != sql_files(tmp_path / "b")


def test_it_writes_the_requested_number_of_sql_files_and_a_mapping(tree: Path) -> None:
    assert len(sql_files(tree)) == FILES
    assert (tree / "mapping.yaml").is_file()


def test_the_mapping_maps_every_up_file_once_and_nothing_else(tree: Path) -> None:
    ups = {path for path in sql_files(tree) if parse_name(path).direction is Direction.UP}
    sources = mapped(tree)
    assert len(sources) == len(set(sources))
    assert set(sources) == ups - excluded(tree)


def test_targets_are_numbered_one_to_n_in_generation_order(tree: Path) -> None:
    migrations = mapping_of(tree)["migrations"]
    assert isinstance(migrations, list)
    assert [entry["version"] for entry in migrations] == list(range(1, len(migrations) + 1))


def test_the_tree_mixes_naming_schemes_and_rollback_files(tmp_path: Path) -> None:
    generate(tmp_path, 300, SEED)
    names = [parse_name(path) for path in sql_files(tmp_path)]
    assert {name.scheme.value for name in names} >= {"numbered", "golang", "flyway", "timestamp"}
    assert any(name.direction is Direction.DOWN for name in names)


def test_up_files_are_twenty_to_eighty_lines_long(tree: Path) -> None:
    lengths = [len((tree / "legacy" / path).read_text(encoding="utf-8").splitlines()) for path in mapped(tree)]
    assert all(20 <= length <= 80 for length in lengths), lengths


def test_every_file_rollbacks_included_is_valid_postgresql_syntax(tmp_path: Path) -> None:
    generate(tmp_path, 120, SEED)
    for path, data in sql_files(tmp_path).items():
        assert pglast.parser.parse_sql(data.decode("utf-8")), path


@settings(max_examples=20, deadline=None)
@given(files=st.integers(min_value=1, max_value=60), seed=st.integers(min_value=0, max_value=10**6))
def test_any_size_and_seed_gives_exactly_that_many_files_and_tables_referenced_only_after_creation(
    files: int, seed: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        generate(out, files, seed)
        assert len(sql_files(out)) == files
        created: set[str] = set()
        for source in mapped(out):
            text = (out / "legacy" / source).read_text(encoding="utf-8")
            for statement in text.split(";"):
                # A statement may reference the table it creates (self-references), never a later one.
                created.update(CREATED.findall(statement))
                assert set(REFERENCED.findall(statement)) <= created, (source, statement)


def test_planning_a_generated_tree_is_clean_with_duplicates_and_resolved_conflicts(tree: Path) -> None:
    plan = commands.plan(tree / "mapping.yaml", jobs=1)
    assert plan.errors == ()
    assert len(plan.duplicates) >= 1
    assert plan.conflicts and all(conflict.resolution is not None for conflict in plan.conflicts)
    assert plan.statements > FILES


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty database on the local server, dropped afterwards."""
    name = f"bench_tree_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL server: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"host=127.0.0.1 user=postgres dbname={name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.db
def test_the_legacy_files_run_on_postgresql_in_mapping_order(tmp_path: Path, database: str) -> None:
    generate(tmp_path, 120, SEED)
    with psycopg.connect(database, autocommit=True) as connection:
        for source in mapped(tmp_path):
            # bytes: a file's text is no LiteralString, and without parameters it is sent as it is.
            connection.execute((tmp_path / "legacy" / source).read_bytes())
