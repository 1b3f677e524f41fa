"""The one configuration: `[tool.consolidate]` in pyproject.toml, or a consolidate.toml, nearest the current folder.

Every command reads it so that none needs a flag to find the tree; a flag always overrides it. Paths in it are
relative to the file that holds them, so the same file works from any subfolder of the project.

    [tool.consolidate]               # in consolidate.toml: the same keys, without the table header
    mapping = "db/mapping.yaml"      # --mapping
    tree = "build/deploy/migrations" # `migrate --dir` (else the mapping's output)
    database-url-env = "APP_DB_URL"  # read before DATABASE_URL and SUPABASE_DB_URL
    history-table = "_migrations"    # `migrate --history-table`
    postgres = 15                    # production's major, when the mapping does not declare one
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import ConsolidateError

FILE_NAME = "consolidate.toml"
PYPROJECT = "pyproject.toml"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Config:
    """What the configuration file says; every field None when it does not say (or there is no file)."""

    path: Path | None = None  # the file it was read from
    mapping: Path | None = None
    tree: Path | None = None
    database_url_env: str | None = None
    history_table: str | None = None
    postgres: int | None = None
    postgres_location: Location | None = None  # where `postgres` is set, for the server choice to name it


def _path(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() and "\0" not in value else None


def _env_name(value: object) -> str | None:
    return value if isinstance(value, str) and _ENV_NAME.match(value) else None


def _name(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _major(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 9 <= value <= 99 else None


# Key → (field, how its value is read (None: wrong), what it must be).
_KEYS: dict[str, tuple[str, Callable[[object], Any], str]] = {
    "mapping": ("mapping", _path, "a path to the mapping file, relative to this file"),
    "tree": ("tree", _path, "a path to the canonical tree (holds versions/ and down/), relative to this file"),
    "database-url-env": ("database_url_env", _env_name, "the name of an environment variable, e.g. APP_DATABASE_URL"),
    "history-table": ("history_table", _name, "a table name, NAME or SCHEMA.NAME"),
    "postgres": ("postgres", _major, "the PostgreSQL major production runs, a whole number such as 15"),
}


def find_config(start: Path) -> Config:
    """The configuration nearest `start`: walking up, the first consolidate.toml, or pyproject.toml holding a
    [tool.consolidate] table (one without it is passed over). An empty Config when there is none."""
    for folder in (start, *start.parents):
        own = folder / FILE_NAME
        if own.is_file():
            return read_config(own)
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            text = _read(pyproject)
            if re.search(r"^\s*\[\s*tool\s*\.\s*consolidate\s*\]", text, re.MULTILINE):
                return parse_config(text, pyproject)
    return Config()


def read_config(path: Path) -> Config:
    return parse_config(_read(path), path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        message = f"cannot read the configuration: {reason}"
        raise ConsolidateError.at("config.unreadable", message, Location(str(path))) from error


def parse_config(text: str, path: Path) -> Config:
    """Validate the configuration's text; every problem, located at its line, in one ConsolidateError (exit 2)."""
    shown = str(path)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_POSITION.search(str(error))
        where = Location(shown, int(found.group(1)), int(found.group(2))) if found else Location(shown)
        message = _TOML_POSITION.sub("", str(error)).strip()
        raise ConsolidateError.at("config.syntax", f"not valid TOML: {message}", where) from error
    in_pyproject = path.name == PYPROJECT
    table = document.get("tool", {}).get("consolidate", {}) if in_pyproject else document
    header = r"^\s*\[\s*tool\s*\.\s*consolidate\s*\]" if in_pyproject else None
    if not isinstance(table, dict):
        raise ConsolidateError.at("config.table", "[tool.consolidate] must be a table", Location(shown))
    values: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for key, value in table.items():
        where = Location(shown, _line_of(text, key, header))
        if key not in _KEYS:
            known = ", ".join(_KEYS)
            problems.append(Diagnostic("config.unknown-key", f"unknown key '{key}'", where, f"the keys are {known}"))
            continue
        field, read, expected = _KEYS[key]
        converted = read(value)
        if converted is None:
            problems.append(Diagnostic("config.value", f"'{key}' must be {expected}", where))
            continue
        values[field] = converted
        if field == "postgres":
            values["postgres_location"] = where
    if problems:
        raise ConsolidateError(problems)
    folder = path.parent
    for field in ("mapping", "tree"):
        if field in values:
            values[field] = folder / values[field]
    return Config(path=path, **values)


def _line_of(text: str, key: str, header: str | None) -> int | None:
    """The line setting `key`, after the table's header when there is one (tomllib gives no positions)."""
    lines = text.splitlines()
    start = 0
    if header is not None:
        start = next((index + 1 for index, line in enumerate(lines) if re.match(header, line)), 0)
    setting = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    return next((index + 1 for index in range(start, len(lines)) if setting.match(lines[index])), None)
