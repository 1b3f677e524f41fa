"""Where a line of a canonical version comes from: the legacy file:line of its statement (core/provenance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consolidate import pipeline
from consolidate.core.provenance import Provenance, provenance
from consolidate.model import Location
from tests.clitools import run

FIRST = "-- users\nCREATE TABLE users (\n    id int,\n    name text\n);\nCREATE INDEX users_name ON users (name);\n"
# Repeats FIRST's index (removed as a duplicate), then a statement of its own, then one the mapping patches.
SECOND = (
    "CREATE INDEX users_name ON users (name);\n"
    "\n"
    "CREATE TABLE posts (\n"
    "    id int,\n"
    "    author int\n"
    ");\n"
    "CREATE TABLE logs (id int, order int);\n"
)
PATCH = """patches:
  - file: db/002_posts.sql
    line: 7
    sql: |
      CREATE TABLE logs (
          id int,
          "order" int
      );
    reason: order is a reserved word
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_users.sql").write_text(FIRST)
    (tmp_path / "db" / "002_posts.sql").write_text(SECOND)
    assert run("init", cwd=tmp_path).exit_code == 0
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping.read_text() + PATCH)
    assert run("apply", cwd=tmp_path).exit_code == 0, run("plan", cwd=tmp_path).output
    return tmp_path


def of_version(tree: Path, version: int) -> tuple[Provenance, list[str]]:
    done = pipeline.planned(tree / "mapping.yaml")
    (target,) = [t for t in done.plan.targets if t.target.version == version]
    (path,) = (tree / done.plan.mapping.output / "versions").glob(f"{version:03d}_*.sql")
    text = path.read_text()
    return provenance(text, target, done.parsed), text.splitlines()


def canonical_line(lines: list[str], text: str) -> int:
    return lines.index(text) + 1


def test_a_line_inside_a_statement_maps_to_the_same_line_of_the_legacy_statement(tree: Path) -> None:
    found, lines = of_version(tree, 1)
    assert found.legacy(canonical_line(lines, "    name text"), 5) == Location("db/001_users.sql", 4, 5)


def test_a_statement_after_a_removed_duplicate_maps_to_its_own_legacy_line(tree: Path) -> None:
    found, lines = of_version(tree, 2)
    assert found.legacy(canonical_line(lines, "    author int")) == Location("db/002_posts.sql", 5)


def test_a_patched_statement_maps_to_the_legacy_line_of_the_statement_it_replaces(tree: Path) -> None:
    found, lines = of_version(tree, 2)
    assert found.legacy(canonical_line(lines, '    "order" int')) == Location("db/002_posts.sql", 7)


def test_a_line_of_the_versions_header_has_no_legacy_line(tree: Path) -> None:
    found, _ = of_version(tree, 1)
    assert found.legacy(1) is None
