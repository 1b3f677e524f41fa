"""Draft a mapping.yaml from a scan, for a user who has none (`consolidate init`).

One target per legacy up file, files of the same feature (same name without the number) merged into one target,
sorted by number then folder; unnumbered files come last. Files that are no migrations (bootstrap scripts,
schema snapshots, sqlc queries, unpaired down files: `core.exclusions`) are drafted as exclusions with their
reason; a tool's history table the SQL uses is declared and created in a prelude (`core.history`). The draft is
a starting point: the user reviews it and records the resolutions that `consolidate plan` asks for.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from consolidate.core.exclusions import exclusions
from consolidate.core.history import HistoryTable, history_tables, prelude_text
from consolidate.core.naming import feature_key, is_repeatable, version_sort_key
from consolidate.core.releases import release_version
from consolidate.model import Direction, LegacyFile, ScanResult, Scheme

SQITCH_VERIFY_REASON = "Sqitch verify scripts: checks that a change deployed, not migrations"
UNLISTED_REASON = "not listed in its release folder's manifest.json: the schema tool never runs it; check, then map"
PRELUDE_NAME = "prelude.sql"
HEADER = """\
# Draft written by `consolidate init` from a scan of the legacy folders.
# Review it: merge or split targets, check each exclusion's reason, then run `consolidate plan`.
# Format reference: docs/mapping.md
"""
HISTORY_NOTE = """\
# provided / prelude: the legacy SQL uses {tables}, which the migration tool created
# before the first migration ran; {prelude} creates it again for a replay.
"""


@dataclass(frozen=True)
class Draft:
    """The files `consolidate init` writes: the mapping, and a prelude when the legacy SQL needs one."""

    mapping: str
    prelude: str | None = None


@dataclass(frozen=True)
class _Order:
    """Run orders read beside the SQL: Sqitch plans (project folder → changes) and release manifests
    (release folder → file names)."""

    plans: Mapping[str, Sequence[str]]
    manifests: Mapping[str, Sequence[str]]

    def key(self, item: LegacyFile) -> tuple[object, ...]:
        """Version, folder, place in the folder's plan or manifest, path: the order files are drafted in.
        Flyway repeatables come last, after every versioned and unnumbered file, by name, as Flyway runs them."""
        if is_repeatable(item.path):
            return ((2, (), ""), "", 0, f"{item.name.name}\0{item.path}")
        folder = PurePosixPath(item.path).parent
        if item.name.scheme is Scheme.SQITCH:
            names, name = self.plans.get(str(folder.parent), ()), item.name.name
        else:
            names, name = self.manifests.get(str(folder), ()), PurePosixPath(item.path).name
        place = names.index(name) if name in names else len(names)
        return (version_sort_key(_version(item)), str(folder), place, item.path)


def _version(item: LegacyFile) -> str | None:
    """A file's version: from its name, or, for an unnumbered file in a release folder, the folder's."""
    return release_version(item.path) if item.name.scheme is Scheme.UNNUMBERED else item.name.version


def _sequence(item: LegacyFile) -> str:
    """The folder whose files the tool ran as one sequence: a migration folder's or a release folder's parent."""
    folder = PurePosixPath(item.path).parent
    released = item.name.scheme is Scheme.UNNUMBERED and _version(item) is not None
    return str(folder.parent if item.name.scheme is Scheme.FOLDER or released else folder)


def _features(scan: ScanResult, order: _Order, excluded: Mapping[str, str]) -> list[tuple[str, list[LegacyFile]]]:
    """Group up files by feature, keeping the groups in order of their first file: (target name, files).

    Files of one feature in different folders are merged (the tree is scattered; no tool ordered them). Two of one
    sequence are not: the tool ran it in order, with other files between them, and a merge would move the later
    one ahead of those (`014_templates` and `017_templates` stay two targets, the second `templates_2`).
    """
    groups: list[tuple[str, list[LegacyFile]]] = []
    by_feature: dict[str, list[list[LegacyFile]]] = {}
    ups = (f for f in scan.files if f.direction is Direction.UP and not _below_any(f.path, excluded))
    for item in sorted(ups, key=order.key):
        feature = feature_key(item.name) or "migration"
        same = by_feature.setdefault(feature, [])
        group = next((files for files in same if _sequence(item) not in {_sequence(f) for f in files}), None)
        if group is None:
            group = []
            same.append(group)
            groups.append((_unique(feature, {name for name, _ in groups}), group))
        group.append(item)
    return groups


def _unique(feature: str, taken: set[str]) -> str:
    """The feature's name, or with the first free suffix `_2`, `_3`, … when another target has it."""
    number = 1
    name = feature
    while name in taken:
        number += 1
        name = f"{feature}_{number}"
    return name


def _below_any(path: str, folders: Iterable[str]) -> bool:
    return any(path == folder or path.startswith(folder + "/") for folder in folders)


def _sqitch_verify_folders(scan: ScanResult) -> set[str]:
    """Sqitch verify/ folders beside a deploy/ one: their scripts check a change, they are no migrations."""
    folders = {PurePosixPath(f.path).parent for f in scan.files}
    return {str(folder) for folder in folders if folder.name == "verify" and folder.parent / "deploy" in folders}


def _excluded(scan: ScanResult, manifests: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Path → reason for every folder and file the draft leaves out: Sqitch checks, files no manifest lists,
    then the other uses (`exclusions`)."""
    checks = {folder: SQITCH_VERIFY_REASON for folder in sorted(_sqitch_verify_folders(scan))}
    rest = [item for item in scan.files if not _below_any(item.path, checks)]
    unlisted = {item.path: UNLISTED_REASON for item in rest if _unlisted(item, manifests)}
    rest = [item for item in rest if item.path not in unlisted]
    paired = {down for _, down in scan.downs}
    unpaired = [item.path for item in rest if item.direction is Direction.DOWN and item.path not in paired]
    sequenced = frozenset(item.path for item in rest if item.name.scheme is Scheme.UNNUMBERED and _version(item))
    return checks | unlisted | exclusions(rest, unpaired, sequenced)


def _unlisted(item: LegacyFile, manifests: Mapping[str, Sequence[str]]) -> bool:
    listed = manifests.get(str(PurePosixPath(item.path).parent))
    return listed is not None and PurePosixPath(item.path).name not in listed


def draft(
    scan: ScanResult,
    root: str,
    sources: Sequence[str],
    width: int | None = None,
    *,
    sqitch_plans: Mapping[str, Sequence[str]] | None = None,
    manifests: Mapping[str, Sequence[str]] | None = None,
) -> Draft:
    """Draft a mapping for the scanned files, and the prelude it names when the legacy SQL needs one.

    `sqitch_plans` maps the folder of a Sqitch project (holding deploy/ and revert/) to its changes in plan order
    (`sqitch.plan_changes`): its deploy scripts are drafted in that order, and its verify/ folder is excluded.
    `manifests` maps a release folder (`versioned/v1.7`) to its files in run order (`releases.manifest_files`).
    A file or folder under `sources` that is no migration (`exclusions`) is drafted as an exclusion with its reason.
    """
    excluded = _excluded(scan, manifests or {})
    features = _features(scan, _Order(sqitch_plans or {}, manifests or {}), excluded)
    tables = history_tables([item for _, files in features for item in files])
    document: dict[str, object] = {
        "version": 1,
        "dialect": "postgres",
        "root": root,
        "output": _output(root, sources),
        "width": width or max(3, len(str(len(features)))),
        "sources": sorted(sources),
    }
    if tables:
        document |= {"provided": [table.provided for table in tables], "prelude": PRELUDE_NAME}
    document["migrations"] = _migrations(features)
    if excluded:
        document["exclude"] = [{"path": path, "reason": reason} for path, reason in excluded.items()]
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)
    return Draft(HEADER + _notes(tables) + text, prelude_text(tables) if tables else None)


# Where the canonical tree goes, relative to the mapping's folder: the first that holds no legacy source. An output
# among the sources would make apply refuse (or, with --force, write over legacy files).
_OUTPUTS = ("deploy/migrations", "consolidated/migrations", "build/consolidated/migrations")


def _output(root: str, sources: Sequence[str]) -> str:
    folders = [posixpath.normpath(posixpath.join(root, source)) for source in sources]
    return next((o for o in _OUTPUTS if not any(_overlap(o, f) for f in folders)), _OUTPUTS[-1])


def _overlap(first: str, second: str) -> bool:
    """Whether one folder is the other or lies below it (`.` holds everything)."""
    return (
        first == second
        or "." in (first, second)
        or f"{first}/".startswith(f"{second}/")
        or f"{second}/".startswith(f"{first}/")
    )


def _migrations(features: Sequence[tuple[str, Sequence[LegacyFile]]]) -> list[dict[str, object]]:
    return [
        {"version": number, "name": name, "description": "", "sources": [item.path for item in files]}
        for number, (name, files) in enumerate(features, start=1)
    ]


def _notes(tables: Sequence[HistoryTable]) -> str:
    if not tables:
        return ""
    return HISTORY_NOTE.format(tables=", ".join(table.name for table in tables), prelude=PRELUDE_NAME)
