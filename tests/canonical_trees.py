"""Canonical trees written for the runner's tests, the refusal a call ends in, and what the database then holds."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from consolidate.errors import ConsolidateError


def tree(root: Path, versions: dict[str, str], downs: dict[str, str] | None = None) -> Path:
    """A canonical tree: versions/<name>.sql and down/<name>_down.sql."""
    (root / "versions").mkdir(parents=True, exist_ok=True)
    (root / "down").mkdir(exist_ok=True)
    for name, text in versions.items():
        (root / "versions" / f"{name}.sql").write_text(text)
    for name, text in (downs or {}).items():
        (root / "down" / f"{name}_down.sql").write_text(text)
    return root


def refusal(call: object, *args: object, **kwargs: object) -> ConsolidateError:
    """The ConsolidateError `call(*args, **kwargs)` raises (the test fails if it raises none)."""
    with pytest.raises(ConsolidateError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def exists(url: str, name: str) -> bool:
    """Whether the relation `name` exists in the database."""
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
    return bool(row and row[0])


def rows(url: str) -> list[str]:
    """The versions `_migrations` records, in order; none when the table does not exist."""
    if not exists(url, "_migrations"):
        return []
    with psycopg.connect(url) as connection:
        return [str(row[0]) for row in connection.execute("SELECT version FROM _migrations ORDER BY version")]
