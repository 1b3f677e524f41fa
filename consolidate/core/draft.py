"""Draft a mapping.yaml from a scan, for a user who has none (`consolidate init`).

One target per legacy up file, files of the same feature (same name without the number) merged into one target,
sorted by number then folder; unnumbered files come last. The draft is a starting point: the user reviews it,
excludes bootstrap scripts and records resolutions that `consolidate plan` asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

import yaml

from consolidate.core.naming import feature_key, version_sort_key
from consolidate.model import Direction, LegacyFile, ScanResult

HEADER = """\
# Draft written by `consolidate init` from a scan of the legacy folders.
# Review it: merge or split targets, exclude bootstrap scripts (with a reason), then run `consolidate plan`.
# Format reference: docs/mapping.md
"""


def _sort_key(item: LegacyFile) -> tuple[object, ...]:
    return (version_sort_key(item.name.version), str(PurePosixPath(item.path).parent), item.path)


def _features(scan: ScanResult) -> list[list[LegacyFile]]:
    """Group up files by feature, keeping the groups in order of their first file."""
    groups: dict[str, list[LegacyFile]] = {}
    for item in sorted((f for f in scan.files if f.direction is Direction.UP), key=_sort_key):
        groups.setdefault(feature_key(item.name) or "migration", []).append(item)
    return list(groups.values())


def draft_mapping(scan: ScanResult, root: str, sources: Sequence[str], width: int | None = None) -> str:
    """Return the text of a draft mapping.yaml for the scanned files."""
    features = _features(scan)
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
    return HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
