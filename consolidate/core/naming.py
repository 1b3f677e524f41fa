"""What a legacy migration file's path says: naming scheme, direction, version and feature name.

Pure string work: no disk. Every path parses to something (at worst an unnumbered up file), so one
odd name never stops a scan.
"""

from __future__ import annotations

import re

from consolidate.model import Direction, FileName, Scheme

# Diesel's dashed timestamp, with the fourth dashed part of newer diesel_cli folders ("2020-01-01-000000-0000").
_DIESEL_ID = r"\d{4}-\d{2}-\d{2}-\d{6}(?:-\d+)?"
_DIESEL_VERSION = re.compile(_DIESEL_ID + r"\Z", re.ASCII)
# Digits with optional dotted parts ("010", "1.2"), or diesel's dashed timestamp.
_FOLDER_ID = re.compile(rf"^({_DIESEL_ID}|\d+(?:\.\d+)*)[^a-zA-Z0-9]*(.*)\Z", re.DOTALL | re.ASCII)
_FLYWAY = re.compile(r"^([VvUu])(\d+(?:[._]\d+)*)__(.*)\Z", re.DOTALL | re.ASCII)
_REPEATABLE = re.compile(r"^[Rr]__(.*)\Z", re.DOTALL | re.ASCII)
_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)(.*)\Z", re.DOTALL | re.ASCII)
# A direction word at the end of a stem, after a separator: "_down", "-rollback", ".up".
_SUFFIX = re.compile(r"^(.*?)([_\-. ])(up|down|rollback|revert|undo)\Z", re.DOTALL | re.IGNORECASE | re.ASCII)
_DIGITS = re.compile(r"[0-9]+")
_NON_WORD = re.compile(r"[^a-z0-9]+")

_DOWN_WORDS = frozenset({"down", "rollback", "revert", "undo"})
_FOLDER_STEMS = frozenset({"up", "down", "migration"})  # folder-per-migration: the folder names the feature
_TIMESTAMP_DIGITS = range(12, 15)
_SQITCH_FOLDERS = frozenset({"deploy", "revert"})

VersionKey = tuple[tuple[int, str], ...]


def parse_name(path: str) -> FileName:
    """Read the scheme, direction, version and feature name out of a legacy file's posix path."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    base = parts[-1] if parts else ""
    folder = parts[-2] if len(parts) > 1 else ""
    stem = base[:-4] if base.lower().endswith(".sql") else base
    return (
        _folder_migration(stem, folder)
        or _flyway(stem)
        or _numbered(stem)
        or _sqitch(stem, folder)
        or _unnumbered(stem, folder)
    )


def is_repeatable(path: str) -> bool:
    """A Flyway repeatable migration (`R__name.sql`): Flyway runs these after every versioned one, by name."""
    base = path.rsplit("/", 1)[-1]
    return base.lower().endswith(".sql") and _REPEATABLE.match(base[:-4]) is not None


def normalise(text: str) -> str:
    """Lower case, runs of anything but ``[a-z0-9]`` become ``_``, no leading or trailing ``_``."""
    return _NON_WORD.sub("_", text.lower()).strip("_")


def feature_key(name: FileName) -> str:
    """The feature a file belongs to, independent of its version: equal keys are the same feature."""
    return normalise(name.name)


def version_identity(version: str) -> VersionKey:
    """Numeric parts of a version, so that ``010`` = ``10``, ``1_2`` = ``1.2`` and ``1.0`` = ``1``."""
    # (length, digits) without leading zeros compares like the number, without int()'s size limit.
    if _DIESEL_VERSION.match(version):
        # Diesel's version is the folder's prefix without its dashes: 2017-08-31-230457 is 20170831230457,
        # and sorts among the 14-digit timestamps of the same tree.
        version = version.replace("-", "")
    numbers = [digits.lstrip("0") for digits in _DIGITS.findall(version)]
    parts = [(len(number), number) for number in numbers]
    while len(parts) > 1 and parts[-1] == (0, ""):
        parts.pop()
    return tuple(parts)


def version_sort_key(version: str | None) -> tuple[int, VersionKey, str]:
    """Numeric-aware order of versions: ``2`` < ``10``, ``1.2`` < ``1.10``, None last."""
    if version is None:
        return (1, (), "")
    return (0, version_identity(version), version)


def _folder_migration(stem: str, folder: str) -> FileName | None:
    # Prisma's migration.sql, diesel's and sqlx's up.sql/down.sql: the folder carries id and name.
    match = _FOLDER_ID.match(folder)
    if stem.lower() not in _FOLDER_STEMS or match is None:
        return None
    direction = Direction.DOWN if stem.lower() == "down" else Direction.UP
    return FileName(Scheme.FOLDER, direction, match.group(1), normalise(match.group(2)))


def _flyway(stem: str) -> FileName | None:
    repeatable = _REPEATABLE.match(stem)
    if repeatable is not None:
        return FileName(Scheme.UNNUMBERED, Direction.UP, None, normalise(repeatable.group(1)))
    match = _FLYWAY.match(stem)
    if match is None:
        return None
    direction = Direction.DOWN if match.group(1) in "Uu" else Direction.UP
    return FileName(Scheme.FLYWAY, direction, match.group(2), normalise(match.group(3)))


def _numbered(stem: str) -> FileName | None:
    match = _NUMBERED.match(stem)
    if match is None:
        return None
    version, rest = match.group(1), match.group(2)
    name, direction, separator = _split_direction(rest)
    return FileName(_numbered_scheme(version, separator), direction, version, normalise(name))


def _numbered_scheme(version: str, separator: str) -> Scheme:
    if version.isascii() and version.isdigit() and len(version) in _TIMESTAMP_DIGITS:
        return Scheme.TIMESTAMP
    # golang-migrate writes the direction as a second extension: 001_name.up.sql.
    return Scheme.GOLANG if separator == "." else Scheme.NUMBERED


def _sqitch(stem: str, folder: str) -> FileName | None:
    # Sqitch keeps a change's scripts under one name in deploy/ and revert/ (and checks in verify/).
    if folder not in _SQITCH_FOLDERS:
        return None
    direction = Direction.DOWN if folder == "revert" else Direction.UP
    return FileName(Scheme.SQITCH, direction, None, normalise(stem))


def _unnumbered(stem: str, folder: str) -> FileName:
    if stem.lower() in _FOLDER_STEMS:
        # A bare up.sql/down.sql names no feature itself: its folder does (if there is one).
        direction = Direction.DOWN if stem.lower() == "down" else Direction.UP
        return FileName(Scheme.UNNUMBERED, direction, None, normalise(folder))
    name, direction, _ = _split_direction(stem)
    return FileName(Scheme.UNNUMBERED, direction, None, normalise(name))


def _split_direction(text: str) -> tuple[str, Direction, str]:
    """Split a trailing direction word off: ``robots_down`` -> (``robots``, DOWN, ``_``)."""
    match = _SUFFIX.match(text)
    if match is None:
        return text, Direction.UP, ""
    direction = Direction.DOWN if match.group(3).lower() in _DOWN_WORDS else Direction.UP
    return match.group(1), direction, match.group(2)
