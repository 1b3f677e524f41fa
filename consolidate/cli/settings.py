"""What a command runs on when its flags do not say: the flag, else the configuration (io/config.py), else the
built-in default. Read afresh by each command: it is one small file, and tests change folders between commands."""

from __future__ import annotations

import os
from pathlib import Path

from consolidate.cli.calling import call
from consolidate.config import Config, find_config

DEFAULT_MAPPING = Path("mapping.yaml")
DEFAULT_TREE = Path("deploy/migrations")  # where `migrate` looked before the configuration and the mapping said
DEFAULT_HISTORY = "_migrations"


def config() -> Config:
    """The configuration nearest the current folder; a malformed one stops here (exit 2)."""
    return call(lambda: find_config(Path.cwd()))


def mapping_path(flag: Path | None) -> Path:
    """--mapping, else the configuration's `mapping`, else mapping.yaml here."""
    return flag or config().mapping or DEFAULT_MAPPING


def tree_dir(flag: Path | None) -> Path:
    """`migrate --dir`, else the configuration's `tree`, else the output of the mapping (the configuration's or
    mapping.yaml here), so that `migrate` runs what `apply` wrote; else deploy/migrations."""
    if flag is not None:
        return flag
    found = config()
    if found.tree is not None:
        return found.tree
    mapping = found.mapping or DEFAULT_MAPPING
    if not mapping.is_file():
        return DEFAULT_TREE
    from consolidate.pipeline import load_mapping, output_of

    return output_of(call(lambda: load_mapping(mapping)).mapping, None)


def history_table(flag: str | None) -> str:
    """--history-table (or CONSOLIDATE_HISTORY_TABLE), else the configuration's, else _migrations."""
    return flag or config().history_table or DEFAULT_HISTORY


def url_variables() -> tuple[str, ...]:
    """The environment variables that hold the database URL: the configuration's one, else the usual ones."""
    from consolidate.db.urls import URL_VARIABLES

    named = config().database_url_env
    return (named,) if named else URL_VARIABLES


def database_url(flag: str | None) -> str | None:
    """--database-url, else the first set variable of `url_variables`; a malformed URL stops here (exit 2)."""
    from consolidate.db.urls import resolve_url

    return call(lambda: resolve_url(flag, os.environ, url_variables()))
