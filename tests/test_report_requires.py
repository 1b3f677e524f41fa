"""CONSOLIDATION.md says what the tree requires of its database: the objects the platform provides (issue 15)."""

from __future__ import annotations

from pathlib import Path

from tests.clitools import run

MAPPING = """\
version: 1
root: legacy
output: deploy/migrations
prelude: platform/prelude.sql
sources: [db]
migrations:
  - version: 1
    name: profiles
    sources: [db/001_profiles.sql]
"""


def tree(root: Path, prelude: bool) -> str:
    (root / "legacy" / "db").mkdir(parents=True)
    (root / "legacy" / "db" / "001_profiles.sql").write_text(
        "CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users (id));\n"
        if prelude
        else "CREATE TABLE profiles (id uuid PRIMARY KEY);\n"
    )
    if prelude:
        (root / "platform").mkdir()
        (root / "platform" / "prelude.sql").write_text(
            "CREATE SCHEMA auth;\nCREATE TABLE auth.users (id uuid PRIMARY KEY);\n"
        )
    (root / "mapping.yaml").write_text(MAPPING if prelude else MAPPING.replace("prelude: platform/prelude.sql\n", ""))
    result = run("apply", cwd=root)
    assert result.exit_code == 0, result.output
    return (root / "deploy" / "migrations" / "CONSOLIDATION.md").read_text()


def test_the_report_lists_what_the_prelude_provides(tmp_path: Path) -> None:
    report = tree(tmp_path, prelude=True)
    assert report.count("## What the database must provide") == 1
    section = report.split("## What the database must provide", 1)[1].split("\n## ", 1)[0]
    assert "- table auth.users" in section and "- schema auth" in section


def test_a_tree_needing_nothing_has_no_such_section(tmp_path: Path) -> None:
    assert "## What the database must provide" not in tree(tmp_path, prelude=False)
