"""Draft a mapping.yaml from a scan, for a user who has none (`consolidate init`).

One target per legacy up file, files of the same feature (same name without the number) merged into one target,
sorted by number then folder; unnumbered files come last. The draft is a starting point: the user reviews it,
excludes bootstrap scripts and records resolutions that `consolidate plan` asks for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

import yaml

from consolidate.core.naming import feature_key, version_sort_key
from consolidate.model import Direction, LegacyFile, ScanResult, Scheme

SQITCH_VERIFY_REASON = "Sqitch verify scripts: checks that a change deployed, not migrations"
SQLC_REASON = "sqlc queries (-- name: … annotations), not a migration; check, then keep or map"
SNAPSHOT_REASON = "a schema snapshot, which repeats what the migrations define; check, then keep or map"
_SQLC_QUERY = re.compile(r"^--\s*name:\s*\w+\s+:\w+", re.MULTILINE)
_SNAPSHOT_STEMS = frozenset({"schema", "structure", "dump", "db_schema", "schema_dump"})
HEADER = """\
# Draft written by `consolidate init` from a scan of the legacy folders.
# Review it: merge or split targets, exclude bootstrap scripts (with a reason), then run `consolidate plan`.
# Format reference: docs/mapping.md
"""


def _sort_key(item: LegacyFile, order: Mapping[str, Sequence[str]]) -> tuple[object, ...]:
    folder = str(PurePosixPath(item.path).parent)
    changes = order.get(str(PurePosixPath(folder).parent), ()) if item.name.scheme is Scheme.SQITCH else ()
    place = changes.index(item.name.name) if item.name.name in changes else len(changes)
    return (version_sort_key(item.name.version), folder, place, item.path)


def _features(scan: ScanResult, order: Mapping[str, Sequence[str]]) -> list[list[LegacyFile]]:
    """Group up files by feature, keeping the groups in order of their first file."""
    groups: dict[str, list[LegacyFile]] = {}
    checks = _sqitch_verify_folders(scan)
    ups = (
        f
        for f in scan.files
        if f.direction is Direction.UP and str(PurePosixPath(f.path).parent) not in checks and not _other_use(f)
    )
    for item in sorted(ups, key=lambda item: _sort_key(item, order)):
        groups.setdefault(feature_key(item.name) or "migration", []).append(item)
    return list(groups.values())


def _sqitch_verify_folders(scan: ScanResult) -> set[str]:
    """Sqitch verify/ folders beside a deploy/ one: their scripts check a change, they are no migrations."""
    folders = {PurePosixPath(f.path).parent for f in scan.files}
    return {str(folder) for folder in folders if folder.name == "verify" and folder.parent / "deploy" in folders}


def _sqitch_checks(scan: ScanResult) -> list[dict[str, str]]:
    return [{"path": folder, "reason": SQITCH_VERIFY_REASON} for folder in sorted(_sqitch_verify_folders(scan))]


def _other_use(item: LegacyFile) -> str | None:
    """Why an unnumbered .sql file among migrations is something else, when it plainly is: sqlc's query files
    (`-- name: GetUser :one`) and schema snapshots (schema.sql, structure.sql), which repeat every definition."""
    if item.name.scheme is not Scheme.UNNUMBERED or item.direction is not Direction.UP:
        return None
    if _SQLC_QUERY.search(item.text):
        return SQLC_REASON
    if PurePosixPath(item.path).stem.lower() in _SNAPSHOT_STEMS:
        return SNAPSHOT_REASON
    return None


def _other_uses(scan: ScanResult) -> list[dict[str, str]]:
    return [{"path": f.path, "reason": reason} for f in scan.files if (reason := _other_use(f)) is not None]


def draft_mapping(
    scan: ScanResult,
    root: str,
    sources: Sequence[str],
    width: int | None = None,
    sqitch_plans: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Return the text of a draft mapping.yaml for the scanned files.

    `sqitch_plans` maps the folder of a Sqitch project (holding deploy/ and revert/) to its changes in plan order
    (`sqitch.plan_changes`): its deploy scripts are drafted in that order, and its verify/ folder is excluded.
    """
    features = _features(scan, sqitch_plans or {})
    width = width or max(3, len(str(len(features))))
    migrations = [
        {
            "version": number,
            "name": feature_key(files[0].name) or f"migration_{number}",
            "description": "",
            "sources": [item.path for item in files],
        }
        for number, files in enumerate(features, start=1)
    ]
    document = {
        "version": 1,
        "dialect": "postgres",
        "root": root,
        "output": "deploy/migrations",
        "width": width,
        "sources": sorted(sources),
        "migrations": migrations,
    }
    if excluded := _sqitch_checks(scan) + _other_uses(scan):
        document["exclude"] = excluded
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
