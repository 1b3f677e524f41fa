"""verify states why it runs on the server it runs on, and never passes newer syntax off as a broken statement
(issue 14, item 6). On the PostgreSQL 15 service, so that PostgreSQL 16+ syntax fails for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consolidate.core.grammar import GRAMMAR_MAJOR
from consolidate.db.installations import embedded_installation, system_installations
from consolidate.db.server import inspect
from tests.clitools import run

# `IS JSON` is PostgreSQL 16's: 15's grammar stops at JSON.
NEWER = "CREATE TABLE docs (id int PRIMARY KEY, body text CHECK (body IS JSON));\n"


@pytest.fixture
def fifteen(service_url: str) -> str:
    """The service, when it is older than the toolkit's grammar (it is PostgreSQL 15 here and in CI)."""
    if inspect(service_url, "url").version // 10000 >= GRAMMAR_MAJOR:
        pytest.skip("the service is as new as the toolkit's grammar: no syntax is newer than it")
    return service_url


def case(root: Path, sql: str, declared: int | None = None, more: str = "") -> Path:
    """A one-folder tree (a second file holding `more`, if any), initialised and applied."""
    (root / "db").mkdir()
    (root / "db" / "001_docs.sql").write_text(sql)
    if more:
        (root / "db" / "002_more.sql").write_text(more)
    assert run("init", cwd=root).exit_code == 0
    if declared is not None:
        mapping = root / "mapping.yaml"
        mapping.write_text(mapping.read_text() + f"postgres: {declared}\n")
    run("apply", cwd=root)  # a plan with errors writes nothing: verify then diagnoses the legacy tree alone
    return root


def failure_hints(root: Path, url: str) -> list[str]:
    """The hint of every failure of both replays, as `verify --json` gives them (also when nothing is written)."""
    result = run("verify", "--database-url", url, "--json", cwd=root)
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    return [failure["hint"] for failure in document["legacy_failures"] + document["canonical_failures"]]


def test_a_statement_only_a_newer_major_accepts_names_the_major_it_needs(tmp_path: Path, fifteen: str) -> None:
    hints = failure_hints(case(tmp_path, NEWER), fifteen)
    needs = f"PostgreSQL {GRAMMAR_MAJOR}'s grammar accepts this statement: it needs a PostgreSQL newer than 15"
    assert len(hints) == 2 and all(needs in hint for hint in hints)
    assert not any("with a `patch` decision" in hint for hint in hints)  # newer syntax is not a broken statement


def test_newer_syntax_on_the_declared_production_major_is_a_statement_production_never_ran(
    tmp_path: Path, fifteen: str
) -> None:
    (hint, _) = failure_hints(case(tmp_path, NEWER, declared=15), fifteen)
    assert "and production runs 15 (the mapping's 'postgres'): it fails there as here" in hint
    assert "with a `patch` decision" in hint


def test_a_plain_syntax_error_is_not_blamed_on_the_server_version(tmp_path: Path, fifteen: str) -> None:
    root = case(tmp_path, "CREATE TABLE logs (id int);\n", more="CREATE TABLE broken (id int,, name text);\n")
    (hint,) = failure_hints(root, fifteen)
    assert "grammar accepts" not in hint and "with a `patch` decision" in hint


def test_a_lent_server_of_another_major_than_declared_is_named_in_the_server_line(tmp_path: Path, fifteen: str) -> None:
    root = case(tmp_path, "CREATE TABLE logs (id int);\n", declared=16)
    result = run("verify", "--database-url", fifteen, cwd=root)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("server: ")]
    at = len((root / "mapping.yaml").read_text().splitlines())
    assert line.endswith(
        f"— the mapping declares PostgreSQL 16 (mapping.yaml:{at}): this server rejects syntax PostgreSQL 16 accepts"
    )
    assert result.exit_code == 0  # said, not refused: the user chose this server


def test_a_lent_server_of_the_declared_major_gets_no_remark(tmp_path: Path, fifteen: str) -> None:
    root = case(tmp_path, "CREATE TABLE logs (id int);\n", declared=15)
    result = run("verify", "--database-url", fifteen, cwd=root)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("server: ")]
    assert "declares" not in line and result.exit_code == 0


def test_without_a_url_the_declared_major_installed_here_is_the_one_proven_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    majors = {found.major for found in system_installations(None)} - {embedded_installation().major}
    if not majors:
        pytest.skip("no PostgreSQL here of another major than the embedded wheel's")
    major = max(majors, key=int)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    root = case(tmp_path, "CREATE TABLE logs (id int);\n", declared=int(major))
    result = run("verify", cwd=root)
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("server: ")]
    at = len((root / "mapping.yaml").read_text().splitlines())
    assert line.startswith(f"server: system PostgreSQL {major} from ")
    assert line.endswith(f"— the mapping declares PostgreSQL {major} (mapping.yaml:{at})")
    assert result.exit_code == 0
