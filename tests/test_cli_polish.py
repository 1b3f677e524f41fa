"""The command line as a user first meets it (issue 17 #3): --version, -h, readable help, whole paths and lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from consolidate import __version__
from consolidate.cli.tables import Section, print_sections
from tests.clitools import run

LONG_PATH = "legacy_fixtures/src/casare_rpa/infrastructure/persistence/migrations/002_robots_orchestration.sql"


def test_version_prints_the_version_and_exits_0() -> None:
    result = run("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"consolidate {__version__}")


@pytest.mark.parametrize("command", [[], ["plan"], ["migrate"], ["migrate", "up"], ["migrate", "status"]])
def test_dash_h_is_help_on_every_command(command: list[str]) -> None:
    result = run(*command, "-h")
    assert result.exit_code == 0 and "Usage:" in result.stdout


def test_help_shows_no_type_beside_a_flag() -> None:
    result = run("migrate", "status", "--help")
    assert "--json" in result.stdout and "<bool>" not in result.stdout
    assert "<path>" in result.stdout  # an option that takes a value still says what kind


def _table(width: int, *paths: str) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None)
    rows = tuple((str(number), "a name with several words in it", path) for number, path in enumerate(paths, 1))
    print_sections(console, [Section("Mapping", ("version", "name", "sources"), rows)])
    return out.getvalue()


def test_a_table_wraps_between_words_never_inside_a_path() -> None:
    shown = _table(125, LONG_PATH)
    assert LONG_PATH in shown and "┃" in shown  # a table, with the path whole


def test_a_path_wider_than_the_terminal_is_printed_as_a_plain_whole_line() -> None:
    shown = _table(80, LONG_PATH)
    assert LONG_PATH in shown and "┃" not in shown


def test_stderr_is_not_wrapped_when_it_is_not_a_terminal(tmp_path: Path) -> None:
    mapping = "a/" * 60 + "mapping.yaml"
    result = run("plan", "--mapping", mapping, cwd=tmp_path)
    assert result.exit_code == 2
    assert f"{mapping}: error: mapping file not found" in result.stderr.splitlines()[0]


@pytest.mark.parametrize("command", [["status"], ["verify"], ["baseline", "--version", "1"]])
def test_embedded_is_refused_where_it_could_only_say_all_pending(command: list[str], tmp_path: Path) -> None:
    result = run("migrate", *command, "--embedded", "--dir", str(tmp_path))
    assert result.exit_code == 2 and "--embedded is not for" in result.stderr
