"""The consolidation as a picture: legacy folders and files → canonical versions, as a Mermaid flowchart, which
GitHub and GitLab render in CONSOLIDATION.md (issue 17, item 6).

Files are grouped by folder; a file whose later definitions a `keep-first` resolution left out, and a file where the
last proof found a root cause, are marked. Past MAX_FILES files the picture draws folders instead of files, so that
it stays readable and within what the renderers accept.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass

MAX_FILES = 60

CLASSES = (
    "classDef conflict fill:#fff3cd,stroke:#b58105",
    "classDef failing fill:#f8d7da,stroke:#b02a37",
    "classDef version fill:#e7f1ff,stroke:#0b5ed7",
)
LEGEND = (
    "Blue: a canonical version, with its statements kept and the duplicates removed. Yellow: a legacy file "
    "defining an object another file defined first (a conflict, resolved in the mapping). Red: a legacy file where "
    "the last proof found a root cause."
)


@dataclass(frozen=True)
class FlowVersion:
    """One canonical version, as the picture needs it."""

    label: str  # "001_initial_schema"
    sources: tuple[str, ...]  # legacy files, as the report shows them
    kept: int
    removed: int  # duplicates removed


def flow_graph(
    versions: Sequence[FlowVersion], conflicted: Set[str] = frozenset(), failing: Set[str] = frozenset()
) -> tuple[str, ...]:
    """The Mermaid lines (without the fence): `conflicted` and `failing` are legacy files to mark."""
    files = list(dict.fromkeys(source for version in versions for source in version.sources))
    by_folder = len(files) > MAX_FILES
    lines = ["flowchart LR"]
    ids: dict[str, str] = {}
    for index, (folder, members) in enumerate(_folders(files).items()):
        if by_folder:
            node = f"d{index}"
            lines.append(f'  {node}["{_text(folder)}/ ({len(members)} files)"]')
            lines += _marks(node, members, conflicted, failing)
            ids.update((member, node) for member in members)
            continue
        lines.append(f'  subgraph g{index}["{_text(folder)}"]')
        for member in members:
            node = f"f{len(ids)}"
            ids[member] = node
            lines.append(f'    {node}["{_text(posixpath.basename(member))}"]')
        lines.append("  end")
        lines += [mark for member in members for mark in _marks(ids[member], [member], conflicted, failing)]
    lines.append('  subgraph canonical["canonical versions"]')
    for index, version in enumerate(versions):
        plural = "s" if version.removed > 1 else ""
        removed = f" · {version.removed} duplicate{plural} removed" if version.removed else ""
        lines.append(f'    v{index}["{_text(version.label)}<br/>{version.kept} kept{removed}"]:::version')
    lines.append("  end")
    edges = dict.fromkeys(
        f"  {ids[source]} --> v{index}" for index, version in enumerate(versions) for source in version.sources
    )
    return (*lines, *edges, *(f"  {line}" for line in CLASSES))


def _folders(files: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in files:
        found.setdefault(posixpath.dirname(path) or ".", []).append(path)
    return found


def _marks(node: str, members: Sequence[str], conflicted: Set[str], failing: Set[str]) -> list[str]:
    """A node's class: failing wins over conflict (it is what to fix first)."""
    if any(member in failing for member in members):
        return [f"  class {node} failing"]
    if any(member in conflicted for member in members):
        return [f"  class {node} conflict"]
    return []


def _text(label: str) -> str:
    """A label Mermaid reads as text: quotes and the characters its grammar gives meaning to, as entities."""
    return "".join(_ENTITIES.get(character, character) for character in label)


_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "&": "#amp;"}
