"""Migrations other tools keep as code (Alembic, Django, Rails) in a source folder: named aloud, never read.

consolidate reads SQL only. A folder of Alembic revisions skipped in silence would leave their tables out of the
canonical tree with nothing said; so each folder holding them gets one warning with the count and the command that
turns them into SQL (issue 17 #5). A .py or .rb file without a tool's markers (an __init__.py, a helper) is not a
migration and is left alone.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from consolidate.model import Diagnostic, Location, RawFile, Severity


@dataclass(frozen=True)
class Kind:
    tool: str
    language: str
    suffix: str
    markers: tuple[re.Pattern[str], ...]  # all must be found
    hint: str


KINDS = (
    Kind(
        "Alembic",
        "Python",
        ".py",
        (re.compile(r"^revision\s*(?::[^=]*)?=", re.M), re.compile(r"^down_revision\s*(?::[^=]*)?=", re.M)),
        "use their offline SQL output, e.g. `alembic upgrade --sql base:head > migrations.sql`, in a source folder",
    ),
    Kind(
        "Django",
        "Python",
        ".py",
        (re.compile(r"^class\s+\w+\s*\(\s*migrations\.Migration\s*\)", re.M),),
        "use their SQL, e.g. `python manage.py sqlmigrate APP NAME > NAME.sql` for each, in a source folder",
    ),
    Kind(
        "Rails",
        "Ruby",
        ".rb",
        (re.compile(r"ActiveRecord::Migration"),),
        "use their SQL, e.g. the structure.sql `rails db:schema:dump` writes with schema_format = :sql",
    ),
)


def kind_of(raw: RawFile) -> Kind | None:
    """Which tool's migration the file is, by its markers; None for any other file."""
    text = raw.data.decode("utf-8", errors="replace")
    for kind in KINDS:
        if raw.path.lower().endswith(kind.suffix) and all(marker.search(text) for marker in kind.markers):
            return kind
    return None


def not_sql(others: Iterable[RawFile]) -> list[Diagnostic]:
    """One warning per folder and tool: `not SQL: N Python migrations (Alembic) are not read`, at the first file."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    kinds = {kind.tool: kind for kind in KINDS}
    for raw in others:
        kind = kind_of(raw)
        if kind is not None:
            found[(posixpath.dirname(raw.path), kind.tool)].append(raw.path)
    findings = []
    for (_, tool), paths in sorted(found.items()):
        kind, count = kinds[tool], len(paths)
        plural = "s" if count != 1 else ""
        message = f"not SQL: {count} {kind.language} migration{plural} ({tool}) here, which consolidate cannot read"
        findings.append(Diagnostic("scan.not-sql", message, Location(sorted(paths)[0]), kind.hint, Severity.WARNING))
    return findings
