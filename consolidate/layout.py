"""The canonical tree's layout, defined once: its folders, file names, first-line markers and other outputs.

    versions/003_robots.sql          a version: its number zero-padded to the mapping's width, then its name
    down/003_robots_down.sql         its rollback, whose first line may carry a marker (STUB_MARKER, ...)
    consolidation.lock               what apply read and wrote
    CONSOLIDATION.md                 the report
    migrate.py                       the runner
    verification.json                the last proof on PostgreSQL

Apply writes this layout, the report and verify read it, and the runner reads it on every deploy: so this module
imports nothing but the standard library (tests/test_layers.py checks it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

VERSIONS = "versions"  # folder of the up scripts
DOWNS = "down"  # folder of the rollbacks

LOCK_NAME = "consolidation.lock"
REPORT_NAME = "CONSOLIDATION.md"
RUNNER_NAME = "migrate.py"
VERIFICATION_NAME = "verification.json"

# The first line of a down file says who wrote it; a down file with none of these was written by hand.
STUB_MARKER = "-- consolidate: stub"  # refuses to run: there is no rollback
LEGACY_MARKER = "-- consolidate: legacy"  # the legacy down scripts, carried over
GENERATED_MARKER = "-- consolidate: generated"  # generated from a schema difference

MAX_VERSION_DIGITS = 10  # the runner's _migrations.version is varchar(10)

_UP_FILE = re.compile(r"(?P<version>\d+)_(?P<name>.+)\.sql")
_TREE_FILE = re.compile(rf"{VERSIONS}/(?P<up>\d+)_[^/]+\.sql|{DOWNS}/(?P<down>\d+)_[^/]+_down\.sql")


def stem(version: str, name: str) -> str:
    """What a version's file names start with: the version as written, then its name (`003_robots`)."""
    return f"{version}_{name}"


def number(version: int, width: int) -> str:
    """A version number as the tree writes it: zero-padded to `width` digits (the mapping's)."""
    return f"{version:0{width}d}"


def label(version: int, name: str, width: int) -> str:
    """A version's label: its number as the tree writes it, then its name."""
    return stem(number(version, width), name)


def up_file(label: str) -> str:
    """The up script's file name in versions/."""
    return f"{label}.sql"


def down_file(label: str) -> str:
    """The rollback's file name in down/."""
    return f"{label}_down.sql"


def version_path(label: str) -> str:
    """The up script's path in the tree (posix, relative to the output folder)."""
    return f"{VERSIONS}/{up_file(label)}"


def down_path(label: str) -> str:
    """The rollback's path in the tree (posix, relative to the output folder)."""
    return f"{DOWNS}/{down_file(label)}"


def parse_up_file(file_name: str) -> tuple[str, str] | None:
    """(version as written, name) of an up script's file name (`003_robots.sql` → ("003", "robots")), or None
    when the name is not one."""
    found = _UP_FILE.fullmatch(file_name)
    return None if found is None else (found["version"], found["name"])


def tree_version(path: str) -> int | None:
    """The version number of a migration file of the tree (`versions/…` or `down/…`, posix, relative to the
    output folder); None for any other path."""
    found = _TREE_FILE.fullmatch(path)
    return None if found is None else int(found["up"] or found["down"])


# --- the tree as the runner reads it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpFile:
    """An up script of versions/ the runner reads: its file name, the version as written and its name."""

    file_name: str
    version: str
    name: str

    @property
    def number(self) -> int:
        return int(self.version)


@dataclass(frozen=True)
class Refused:
    """A file of versions/ the runner refuses: why (`code`: "name" or "duplicate"), in words."""

    file_name: str
    code: str
    message: str


def read_versions(file_names: Iterable[str]) -> tuple[list[UpFile], list[Refused]]:
    """The `.sql` files directly in versions/, as `migrate` reads them: the up scripts in version order, and the
    files it refuses (a name that is not `NNN_name.sql` with at most MAX_VERSION_DIGITS digits, or a version
    number a file sorted before it already has). `migrate` runs nothing while any file is refused; `apply
    --check` fails on them: one definition, so the two agree."""
    found: list[UpFile] = []
    refused: list[Refused] = []
    seen: dict[int, UpFile] = {}
    for file_name in sorted(file_names):
        parsed = parse_up_file(file_name)
        if parsed is None or len(parsed[0]) > MAX_VERSION_DIGITS:
            refused.append(Refused(file_name, "name", "not a version file (NNN_name.sql)"))
            continue
        item = UpFile(file_name, *parsed)
        if (first := seen.setdefault(item.number, item)) is not item:
            refused.append(Refused(file_name, "duplicate", f"version {item.version} is also {first.file_name}"))
            continue
        found.append(item)
    return sorted(found, key=lambda item: item.number), refused
