"""No fragment of a database password reaches any output, file or row, whatever URL the user types (issue 12).

Every command that takes a URL runs as a real process, with the URL given as --database-url, as DATABASE_URL and
as SUPABASE_DB_URL. The passwords are sentinels: every 4-character window of one is looked for in stdout, stderr,
every file under the working folder and, where the URL reaches the real server, in the `_migrations` rows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from consolidate.db.server import Server, scratch_database
from consolidate.db.urls import error_text, resolve_url
from consolidate.errors import EXIT_USAGE, ConsolidateError

REPO = Path(__file__).resolve().parent.parent
TREE = "out"
SOURCES = ("--database-url", "DATABASE_URL", "SUPABASE_DB_URL")
WAIT = 120.0  # seconds: a bound on one command, never a measure of speed

MAPPING = """\
version: 1
dialect: postgres
root: legacy
output: out
width: 3
sources: [m]
migrations:
  - {version: 1, name: a, sources: [m/001_a.sql]}
"""

# Sentinel pieces: no 4-character window of them occurs in any message the toolkit prints.
LEFT, RIGHT = "Jx7QvZ", "k2WpRm"


def windows(secret: str) -> set[str]:
    """Every 4-character substring: a longer leaked fragment always contains one."""
    return {secret[start : start + 4] for start in range(len(secret) - 3)}


def leaked(secret: str, text: str) -> set[str]:
    return {window for window in windows(secret) if window in text}


@dataclass(frozen=True)
class Form:
    """A URL as a user types it, and the password in it as the user meant it."""

    name: str
    url: str
    password: str
    malformed: bool


FORMS = [
    Form("wrong-port", f"postgresql://someone:{LEFT}{RIGHT}@127.0.0.1:1/postgres", LEFT + RIGHT, False),
    Form("bad-percent-escape", f"postgresql://u:ab%zz{LEFT}{RIGHT}@127.0.0.1/db", f"ab%zz{LEFT}{RIGHT}", True),
    Form("raw-at", f"postgresql://u:{LEFT}@{RIGHT}@127.0.0.1/db", f"{LEFT}@{RIGHT}", True),
    Form("raw-colon", f"postgresql://u:{LEFT}:{RIGHT}@127.0.0.1:1/db", f"{LEFT}:{RIGHT}", False),
    Form("raw-slash", f"postgresql://u:{LEFT}/{RIGHT}@127.0.0.1/db", f"{LEFT}/{RIGHT}", True),
    Form("url-space", f"postgresql://u:{LEFT} {RIGHT}@127.0.0.1/db", f"{LEFT} {RIGHT}", True),
    Form("keyword-space", f"host=127.0.0.1 port=1 user=u password={LEFT} {RIGHT}", f"{LEFT} {RIGHT}", True),
    Form("keyword-open-quote", f"host=127.0.0.1 user=u password='{LEFT} {RIGHT}", f"{LEFT} {RIGHT}", True),
    Form("query-password", f"postgresql://u@127.0.0.1:1/db?password={LEFT}{RIGHT}", LEFT + RIGHT, False),
    Form("empty-host", f"postgresql://nobody_{uuid.uuid4().hex[:8]}:{LEFT}{RIGHT}@/db", LEFT + RIGHT, False),
    Form("unix-socket", f"postgresql://u:{LEFT}{RIGHT}@%2Fnonexistent%2Fsocket/db", LEFT + RIGHT, False),
    Form("unknown-parameter", f"postgresql://u:{LEFT}{RIGHT}@127.0.0.1/db?frobnicate=1", LEFT + RIGHT, True),
]

COMMANDS = {
    "verify": ["-m", "consolidate", "verify"],
    "apply-generate-down": ["-m", "consolidate", "apply", "--generate-down"],
    "migrate-up": ["-m", "consolidate", "migrate", "up", "--dir", TREE],
    "migrate-down": ["-m", "consolidate", "migrate", "down", "--dir", TREE],
    "migrate-status": ["-m", "consolidate", "migrate", "status", "--dir", TREE],
    "migrate-verify": ["-m", "consolidate", "migrate", "verify", "--dir", TREE],
    "migrate-baseline": ["-m", "consolidate", "migrate", "baseline", "--version", "1", "--dir", TREE],
    "migrate-reset": ["-m", "consolidate", "migrate", "reset", "--yes", "--dir", TREE],
    "migrate-adopt": ["-m", "consolidate", "migrate", "adopt", "--dry-run", "--dir", TREE],
    "runner-entry": ["-m", "consolidate.migrate", "status", "--dir", TREE],
}


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def consolidate(folder: Path, command: str, url: str, source: str) -> Ran:
    """One command as a real process in `folder`, the URL given as `source`; this worktree's code, no other URL."""
    environment = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SUPABASE_DB_URL")}
    environment["PYTHONPATH"] = str(REPO)
    arguments = [sys.executable, *COMMANDS[command]]
    if source == "--database-url":
        arguments += ["--database-url", url]
    else:
        environment[source] = url
    done = subprocess.run(
        arguments, cwd=folder, env=environment, capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def files_text(folder: Path) -> str:
    """Every file under `folder`, as text (bytes that are not UTF-8 are replaced, never dropped)."""
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-version legacy tree, its mapping and the canonical tree `apply` writes from them."""
    folder = tmp_path_factory.mktemp("url-secrets")
    (folder / "legacy" / "m").mkdir(parents=True)
    (folder / "legacy" / "m" / "001_a.sql").write_text("CREATE TABLE url_secret_t (id int);\n")
    (folder / "legacy" / "m" / "001_a_down.sql").write_text("DROP TABLE url_secret_t;\n")
    (folder / "mapping.yaml").write_text(MAPPING)
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    applied = subprocess.run(
        [sys.executable, "-m", "consolidate", "apply"], cwd=folder, env=environment, capture_output=True, timeout=WAIT
    )
    assert applied.returncode == 0, applied.stderr
    return folder


@pytest.fixture
def case(template: Path, tmp_path: Path) -> Path:
    """A copy of the template of the test's own, so that what one command writes is seen by that test alone."""
    return Path(shutil.copytree(template, tmp_path / "case"))


def _matrix() -> Iterator[object]:
    # Each form meets every command, and across the commands every source: the pairing rotates the source.
    for form_index, form in enumerate(FORMS):
        for command_index, command in enumerate(COMMANDS):
            source = SOURCES[(form_index + command_index) % len(SOURCES)]
            yield pytest.param(form, command, source, id=f"{form.name}-{command}-{source}")


@pytest.mark.parametrize(("form", "command", "source"), list(_matrix()))
def test_no_fragment_of_the_password_reaches_output_or_files(form: Form, command: str, source: str, case: Path) -> None:
    ran = consolidate(case, command, form.url, source)
    assert ran.code != 0
    assert leaked(form.password, ran.stdout + ran.stderr) == set(), ran.stderr
    assert leaked(form.password, files_text(case)) == set()
    assert "Traceback" not in ran.stderr, ran.stderr


@pytest.mark.parametrize(
    ("form", "source"),
    [
        pytest.param(form, SOURCES[index % len(SOURCES)], id=f"{form.name}-{SOURCES[index % len(SOURCES)]}")
        for index, form in enumerate(FORMS)
        if form.malformed
    ],
)
def test_a_malformed_url_is_one_message_naming_its_origin_and_exits_2_writing_nothing(
    form: Form, source: str, case: Path
) -> None:
    before = {path: path.read_bytes() for path in case.rglob("*") if path.is_file()}
    ran = consolidate(case, "migrate-up", form.url, source)
    assert ran.code == EXIT_USAGE
    assert ran.stderr.count("malformed") == 1, ran.stderr
    assert source in ran.stderr and "percent-encod" in ran.stderr, ran.stderr
    assert {path: path.read_bytes() for path in case.rglob("*") if path.is_file()} == before


GENERIC_HINT = "--database-url, DATABASE_URL or SUPABASE_DB_URL"  # names all three: says nothing of which


def test_a_failed_connection_names_the_variable_the_url_came_from(case: Path) -> None:
    ran = consolidate(case, "migrate-status", f"postgresql://u:{LEFT}{RIGHT}@127.0.0.1:1/db", "SUPABASE_DB_URL")
    assert ran.code == EXIT_USAGE and "cannot connect to PostgreSQL at 127.0.0.1:1" in ran.stderr
    assert "SUPABASE_DB_URL" in ran.stderr.replace(GENERIC_HINT, ""), ran.stderr


def test_verify_names_the_option_the_url_came_from_when_it_cannot_connect(case: Path) -> None:
    ran = consolidate(case, "verify", f"postgresql://u:{LEFT}{RIGHT}@127.0.0.1:1/db", "--database-url")
    assert ran.code == EXIT_USAGE and "cannot connect to PostgreSQL at 127.0.0.1:1" in ran.stderr
    assert "--database-url" in ran.stderr.replace(GENERIC_HINT, ""), ran.stderr


# --- the real server: a role with a password, every command, the rows and the reports --------------------------

# Each special character sits between sentinel letters, so every window of the password is distinctive.
SPECIAL_PASSWORD = "Jx7Q@v:Zk/2W%pR?m#Y&h=N'b\"T\\c dG"


@pytest.fixture(scope="module")
def role(service_server: Server) -> Iterator[str]:
    """A login role of its own holding SPECIAL_PASSWORD (the service may trust any password: it is still sent)."""
    name = f"url_secrets_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(service_server.url, autocommit=True) as connection:
        statement = sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}")
        connection.execute(statement.format(sql.Identifier(name), sql.Literal(SPECIAL_PASSWORD)))
    try:
        yield name
    finally:
        with psycopg.connect(service_server.url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


CONNECTING = {
    "percent-encoded": "postgresql://{role}:" + quote(SPECIAL_PASSWORD, safe="") + "@127.0.0.1:5432/{database}",
    "key-value": "host=127.0.0.1 port=5432 user={role} dbname={database} password=" + _quoted(SPECIAL_PASSWORD),
    "query": "postgresql://{role}@127.0.0.1:5432/{database}?password=" + quote(SPECIAL_PASSWORD, safe=""),
}
SEQUENCE = (
    "migrate-up",
    "migrate-status",
    "migrate-verify",
    "migrate-baseline",
    "migrate-down",
    "runner-entry",
    "migrate-up",
    "migrate-reset",
    "migrate-adopt",
    "verify",
    "apply-generate-down",
)


@pytest.mark.db
@pytest.mark.parametrize(("form", "source"), [(form, SOURCES[i]) for i, form in enumerate(CONNECTING)])
def test_every_command_on_the_real_server_keeps_the_password_out_of_output_rows_and_reports(
    form: str, source: str, role: str, service_server: Server, case: Path
) -> None:
    typed = quote(SPECIAL_PASSWORD, safe="")
    with scratch_database(service_server, "url_secrets") as scratch:
        database = conninfo_to_dict(scratch)["dbname"]
        url = CONNECTING[form].format(role=role, database=database)
        for command in SEQUENCE:
            ran = consolidate(case, command, url, source)
            assert ran.code in (0, 1), f"{command}: {ran.stderr}"
            output = ran.stdout + ran.stderr
            assert leaked(SPECIAL_PASSWORD, output) | leaked(typed, output) == set(), f"{command}: {output}"
            if command == "migrate-up":
                with psycopg.connect(scratch) as connection:
                    rows = str(connection.execute("SELECT * FROM _migrations").fetchall())
                assert rows.count("001") >= 1 and leaked(SPECIAL_PASSWORD, rows) | leaked(typed, rows) == set()
    written = files_text(case)
    assert (case / "out" / "verification.json").exists() and (case / "out" / "CONSOLIDATION.md").exists()
    assert leaked(SPECIAL_PASSWORD, written) | leaked(typed, written) == set()


# --- the pure functions, over generated passwords -------------------------------------------------------------

MARKS = "JXZQWK"  # no hex digit among them: a '%' before them never makes a valid escape by accident
PIECES = st.one_of(
    st.sampled_from(["@", ":", "/", "%", "?", "#", "&", "=", "'", '"', "\\", " ", "%25"]),
    st.from_regex(f"[{MARKS}]{{2,4}}", fullmatch=True),
)
PASSWORDS = st.lists(PIECES, min_size=1, max_size=12).map("".join).filter(lambda text: len(windows(text)) > 0)


def marked(password: str) -> set[str]:
    """The windows of `password` distinctive enough to be a leak when found: two sentinel letters or more."""
    return {window for window in windows(password) if sum(char in MARKS for char in window) >= 2}


def typed_forms(password: str) -> list[str]:
    return [
        f"postgresql://u:{password}@127.0.0.1:5432/db",
        f"postgresql://u@127.0.0.1/db?password={password}",
        f"host=127.0.0.1 user=u password={password} dbname=db",
        f"host=127.0.0.1 user=u password={_quoted(password)} dbname=db",
        f"host=127.0.0.1 user=u password='{password}' dbname=db",
    ]


@settings(max_examples=60, deadline=None)
@given(PASSWORDS, st.sampled_from(SOURCES))
def test_a_url_libpq_cannot_read_is_refused_naming_its_origin_without_any_fragment_of_its_password(
    password: str, source: str
) -> None:
    for url in typed_forms(password):
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            pass
        else:
            continue
        environ = {} if source == "--database-url" else {source: url}
        with pytest.raises(ConsolidateError) as raised:
            resolve_url(url if source == "--database-url" else None, environ)
        text = str(raised.value)
        assert {window for window in marked(password) if window in text} == set(), (url, text)
        assert source in text and raised.value.__suppress_context__


@settings(max_examples=60, deadline=None)
@given(PASSWORDS)
def test_error_text_of_libpqs_parse_error_holds_no_fragment_of_the_password(password: str) -> None:
    for url in typed_forms(password):
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            text = error_text(error, url)
            assert {window for window in marked(password) if window in text} == set(), (url, text)


@settings(max_examples=60, deadline=None)
@given(PASSWORDS)
def test_an_accepted_url_gives_libpq_the_whole_password_and_nothing_else(password: str) -> None:
    # What is accepted is read as the user meant it: no piece of the password becomes a host, port or database.
    url = f"postgresql://u:{password}@127.0.0.1:5432/db"
    try:
        resolved = resolve_url(url, {})
    except ConsolidateError:
        return
    assert resolved is not None
    parts = conninfo_to_dict(resolved)
    assert (parts.get("password"), parts["host"], parts["port"], parts["dbname"]) == (
        unquote(password),
        "127.0.0.1",
        "5432",
        "db",
    )
