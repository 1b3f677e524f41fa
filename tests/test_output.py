"""What reaches the terminal and the written Markdown: messages that start with their location, the user's text shown
literally (no emoji codes, no markup, no control characters), and JSON on stdout even when a `--json` command fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consolidate.db.server import Server, scratch_database
from tests.clitools import run, snapshot
from tests.unprivileged import Stranger, another_user

MAPPING = """\
version: 1
root: legacy
output: out
sources:
  - db
migrations:
  - version: 1
    name: init
    sources:
      - {first}
  - version: 2
    name: more
    sources:
      - db/002_more.sql
"""
SECOND = "CREATE TABLE jobs (id int);\n"
HOSTILE = "\x1b[2J\x07"  # clears the screen, rings the bell


def project(folder: Path, first: str = "db/001_init.sql", text: str = "CREATE TABLE robots (id int);\n") -> Path:
    """A two-version legacy tree whose first file is `first` (a path below legacy/) holding `text`."""
    (folder / "legacy/db").mkdir(parents=True)
    (folder / "legacy" / first).write_text(text)
    (folder / "legacy/db/002_more.sql").write_text(SECOND)
    (folder / "mapping.yaml").write_text(MAPPING.format(first=quoted(first)))
    return folder


def quoted(name: str) -> str:
    """`name` as a YAML double-quoted string: JSON's escapes are YAML's, and YAML takes no raw control character."""
    return json.dumps(name)


def with_unknown_key_at(line: int, mapping: str) -> str:
    """`mapping` with comment lines in front so that an unknown key, put after `output:`, falls on `line`."""
    padded = "#\n" * (line - 4) + mapping
    return padded.replace("output: out\n", "output: out\ncolour: blue\n")


def raw_controls(text: str) -> list[str]:
    """The C0 and C1 control characters in `text`, line feed and tab aside."""
    return sorted({char for char in text if (ord(char) < 0x20 and char not in "\n\t") or 0x7F <= ord(char) < 0xA0})


# --- location first -------------------------------------------------------------------------------------------------


def test_an_error_line_starts_with_its_location_and_its_hint_follows_indented(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "mapping.yaml").write_text(with_unknown_key_at(4, MAPPING.format(first=quoted("db/001_init.sql"))))
    result = run("plan", "--mapping", "mapping.yaml", cwd=folder)
    assert result.exit_code == 2
    head, hint = result.stderr.splitlines()
    assert head == "mapping.yaml:4: error: unknown key 'colour' in the mapping file"
    assert hint.startswith("  hint: allowed keys: ")


def test_a_failed_migrations_detail_is_indented_under_its_one_error_line(
    tmp_path: Path, service_server: Server
) -> None:
    (tmp_path / "versions").mkdir()
    (tmp_path / "versions/001_u.sql").write_text(
        "CREATE TABLE u (id int PRIMARY KEY);\nINSERT INTO u VALUES (1), (1);\n"
    )
    with scratch_database(service_server, "output") as url:
        result = run("migrate", "up", "--dir", ".", "--database-url", url, cwd=tmp_path)
    assert result.exit_code == 1
    assert [line for line in result.stderr.splitlines() if "error:" in line] == [
        'versions/001_u.sql:2: error: 23505: duplicate key value violates unique constraint "u_pkey"'
    ]
    assert "  detail: Key (id)=(1) already exists." in result.stderr.splitlines()


def test_a_usage_error_names_the_tool_where_a_location_would_be(tmp_path: Path) -> None:
    result = run("apply", "--generate-down", "--dry-run", cwd=project(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("consolidate: error: --generate-down writes the mapping's output")


def test_migrate_without_a_database_is_a_usage_error_naming_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    result = run("migrate", "status", "--dir", str(tmp_path), cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("consolidate: error: no database: pass --database-url URL")


def test_status_prints_one_located_line_per_version_with_its_severity(tmp_path: Path, service_server: Server) -> None:
    folder = project(tmp_path)
    assert run("apply", cwd=folder).exit_code == 0
    with scratch_database(service_server, "output") as url:
        tree = str(folder / "out")
        assert run("migrate", "up", "--steps", "1", "--dir", tree, "--database-url", url).exit_code == 0
        lines = run("migrate", "status", "--dir", tree, "--database-url", url).stdout.splitlines()
    assert re.fullmatch(r"\S*versions/001_init\.sql: info: 001_init: applied — .*", lines[0]), lines
    assert re.fullmatch(r"\S*versions/002_more\.sql: info: 002_more: pending", lines[1]), lines


# --- emoji codes and markup ----------------------------------------------------------------------------------------


def test_an_error_at_line_100_prints_the_line_number_not_an_emoji(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "mapping.yaml").write_text(with_unknown_key_at(100, MAPPING.format(first=quoted("db/001_init.sql"))))
    result = run("plan", "--mapping", "mapping.yaml", cwd=folder)
    assert result.exit_code == 2
    assert result.stderr.startswith("mapping.yaml:100: error: unknown key"), result.stderr


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout taken for a wide terminal: plan draws its rich tables, as a user sees them."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.usefixtures("terminal")
def test_an_emoji_code_in_a_file_name_stays_literal_in_plan_tables(tmp_path: Path) -> None:
    result = run("plan", cwd=project(tmp_path, first="db/001_init:100:.sql"))
    assert result.exit_code == 0, result.output
    assert "001_init:100:.sql" in result.stdout and "\N{HUNDRED POINTS SYMBOL}" not in result.stdout


@pytest.mark.usefixtures("terminal")
def test_markup_in_a_file_name_stays_literal_in_plan_tables(tmp_path: Path) -> None:
    result = run("plan", cwd=project(tmp_path, first="db/001_[red]init.sql"))
    assert result.exit_code == 0, result.output
    assert "001_[red]init.sql" in result.stdout


# --- control characters ---------------------------------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A legacy file whose name, comment and a quoted identifier hold ESC[2J and BEL; the table is created again in
    the second file, so the plan names it among the duplicates."""
    table = f'CREATE TABLE "t{HOSTILE}" (id int);\n'
    folder = project(tmp_path, first=f"db/001_init{HOSTILE}.sql", text=f"-- clears {HOSTILE}\n{table}")
    (folder / "legacy/db/002_more.sql").write_text(table + SECOND)
    return folder


def test_plan_shows_control_characters_from_names_and_sql_as_escapes(hostile: Path) -> None:
    result = run("plan", cwd=hostile)
    assert result.exit_code == 0, result.output
    assert raw_controls(result.output) == []
    assert "001_init\\x1b[2J\\x07.sql" in result.stdout and "table t\\x1b[2J\\x07" in result.stdout


def test_apply_and_its_report_show_control_characters_as_escapes(hostile: Path) -> None:
    result = run("apply", cwd=hostile)
    assert result.exit_code == 0, result.output
    assert raw_controls(result.output) == []
    report = (hostile / "out/CONSOLIDATION.md").read_text()
    assert raw_controls(report) == []
    assert "001_init\\x1b[2J\\x07.sql" in report


def test_the_canonical_sql_keeps_the_users_bytes_exactly(hostile: Path) -> None:
    assert run("apply", cwd=hostile).exit_code == 0
    (version,) = (hostile / "out/versions").glob("001_*.sql")
    assert f"-- clears {HOSTILE}\n".encode() in version.read_bytes()
    assert f'CREATE TABLE "t{HOSTILE}" (id int);'.encode() in version.read_bytes()


def test_an_error_naming_a_file_shows_its_control_characters_as_escapes(tmp_path: Path) -> None:
    folder = project(tmp_path)
    mapping = folder / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace('"db/001_init.sql"', quoted(f"db/001_gone{HOSTILE}.sql")))
    result = run("plan", cwd=folder)
    assert result.exit_code == 2
    assert raw_controls(result.stderr) == [] and "001_gone\\x1b[2J\\x07.sql" in result.stderr


# --- diagnostics on stderr, the result on stdout (issue 13, promise 11) -----------------------------------------------

LOCATED = re.compile(r"^\S+: (error|warning|info): ", re.MULTILINE)  # path[:line[:col]]: severity: message


def process(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, from `folder`: stdout and stderr as a shell sees them, never mixed."""
    command = [sys.executable, "-m", "consolidate", *arguments]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120, check=False)


def used_before_created(folder: Path) -> Path:
    """A project whose first file indexes a table the second creates: one ordering error."""
    return project(folder, text="CREATE INDEX ix ON jobs (id);\n")


def hand_written_in_range(folder: Path) -> Path:
    """An applied project with a file nobody wrote for the consolidation among its versions."""
    assert run("apply", cwd=project(folder)).exit_code == 0
    (folder / "out/versions/002_extra.sql").write_text("SELECT 1;\n")
    return folder


@pytest.mark.parametrize(
    ("make", "arguments", "code", "result"),
    [
        (used_before_created, ["plan"], 1, "Plan is 1 error(s)."),
        (used_before_created, ["plan", "--json"], 1, '"clean": false'),
        (used_before_created, ["init", "--root", "legacy", "--mapping", "draft.yaml"], 0, "plan on the draft: 1 error"),
        (hand_written_in_range, ["apply", "--check"], 1, ""),
        (hand_written_in_range, ["report", "--check"], 1, ""),
    ],
    ids=["plan", "plan --json", "init", "apply --check", "report --check"],
)
def test_problems_go_to_stderr_and_only_the_result_to_stdout(
    make: Callable[[Path], Path], arguments: list[str], code: int, result: str, tmp_path: Path
) -> None:
    ran = process(make(tmp_path), *arguments)
    assert ran.returncode == code, ran.stderr
    assert LOCATED.search(ran.stderr), ran.stderr
    assert not LOCATED.search(ran.stdout), ran.stdout
    assert result in ran.stdout


# --- --json when the command fails ----------------------------------------------------------------------------------


def test_plan_json_prints_the_errors_as_json_when_the_mapping_is_bad(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "mapping.yaml").write_text(with_unknown_key_at(4, MAPPING.format(first=quoted("db/001_init.sql"))))
    before = snapshot(folder)
    result = run("plan", "--json", cwd=folder)
    document = json.loads(result.stdout)
    assert (result.exit_code, document["ok"], document["exit_code"]) == (2, False, 2)
    ((code, line),) = [(error["code"], error["line"]) for error in document["errors"]]
    assert (code, line) == ("mapping.unknown-key", 4)
    assert snapshot(folder) == before


@pytest.mark.parametrize("verb", ["status", "verify"])
def test_migrate_json_prints_the_usage_error_as_json(
    verb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    result = run("migrate", verb, "--json", "--dir", str(tmp_path), cwd=tmp_path)
    document = json.loads(result.stdout)
    assert (result.exit_code, document["ok"], document["exit_code"]) == (2, False, 2)
    ((path, message),) = [(error["path"], error["message"]) for error in document["errors"]]
    assert path == "" and message.startswith("no database")


def test_verify_json_prints_the_error_as_json_before_apply(tmp_path: Path, service_url: str) -> None:
    result = run("verify", "--json", "--database-url", service_url, cwd=project(tmp_path))
    document = json.loads(result.stdout)
    assert (result.exit_code, document["ok"], document["exit_code"]) == (2, False, 2)
    assert any("consolidate apply" in error["hint"] + error["message"] for error in document["errors"])


@pytest.fixture(scope="module")
def stranger() -> Iterator[Stranger]:
    with another_user() as user:
        yield user


@pytest.mark.parametrize(
    ("command", "unreadable"),
    [
        (["plan", "--json"], "legacy/db/002_more.sql"),
        (["verify", "--json", "--database-url", "{url}"], "legacy/db/002_more.sql"),
        (["migrate", "status", "--json", "--dir", "out", "--database-url", "{url}"], "out/versions/001_init.sql"),
        (["migrate", "verify", "--json", "--dir", "out", "--database-url", "{url}"], "out/versions/001_init.sql"),
    ],
    ids=["plan", "verify", "migrate status", "migrate verify"],
)
def test_every_json_command_prints_its_failure_document_when_a_file_cannot_be_read(
    command: list[str], unreadable: str, stranger: Stranger, service_url: str
) -> None:
    with stranger.folder() as folder:
        case = project(folder)
        assert run("apply", cwd=case).exit_code == 0
        (case / "legacy/db/002_more.sql").chmod(0)
        (case / "out/versions/001_init.sql").chmod(0)
        result = stranger.run(case, *(argument.format(url=service_url) for argument in command))
    document = json.loads(result.stdout)  # valid JSON on stdout, the diagnostics on stderr
    assert (result.returncode, document["ok"], document["exit_code"]) == (2, False, 2), result.stderr
    assert [error["path"] for error in document["errors"]] == [unreadable]
    assert result.stderr.startswith(f"{unreadable}: error: cannot read the file: Permission denied")


@pytest.mark.parametrize("on_a_terminal", [False, True], ids=["log", "terminal"])
def test_migrate_up_shows_control_characters_in_a_version_name_as_escapes(
    on_a_terminal: bool, tmp_path: Path, service_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    if on_a_terminal:  # the progress bar, whose description is the running version's name
        monkeypatch.setenv("FORCE_COLOR", "1")
    (tmp_path / "versions").mkdir()
    (tmp_path / f"versions/001_clear{HOSTILE}.sql").write_text("CREATE TABLE cleared (id int);\n")
    with scratch_database(service_server, "output") as url:
        result = run("migrate", "up", "--dir", str(tmp_path), "--database-url", url)
    assert result.exit_code == 0, result.output
    assert HOSTILE[:4] not in result.output and "\x07" not in result.output  # the terminal's own codes remain
    assert "001_clear\\x1b[2J\\x07" in result.output


# --- mistakes in the command line itself ----------------------------------------------------------------------------


def command_line(*arguments: str, module: str = "consolidate") -> subprocess.CompletedProcess[str]:
    """The real entry point in a process of its own (typer's in-process runner skips it)."""
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SUPABASE_DB_URL")}
    command = [sys.executable, "-m", module, *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)


@pytest.mark.parametrize(
    ("module", "arguments", "where"),
    [
        ("consolidate", ["migrate", "up", "--steps", "0"], "consolidate migrate up: error: "),
        ("consolidate", ["plan", "--no-such-option"], "consolidate plan: error: "),
        ("consolidate.migrate", ["status", "--no-such-option"], "python -m consolidate.migrate status: error: "),
    ],
)
def test_an_argument_error_is_one_located_line_and_its_hint_exit_2(
    module: str, arguments: list[str], where: str
) -> None:
    result = command_line(*arguments, module=module)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert lines[0].startswith(where) and lines[1].startswith("  hint: see `")
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


def test_an_argument_error_under_json_still_prints_a_json_document() -> None:
    result = command_line("plan", "--json", "--no-such-option")
    document = json.loads(result.stdout)
    assert (result.returncode, document["ok"], document["errors"][0]["code"]) == (2, False, "cli.usage")


def test_no_command_prints_the_help_and_exits_2_without_an_empty_error() -> None:
    result = command_line()
    assert result.returncode == 2 and "Usage" in result.stdout + result.stderr and "error" not in result.stderr
