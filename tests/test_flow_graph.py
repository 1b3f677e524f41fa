"""CONSOLIDATION.md draws legacy files → canonical versions as a Mermaid flowchart (issue 17, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.flow_graph import MAX_FILES, FlowVersion, flow_graph

GOLDEN = Path(__file__).parent / "golden"

# The subset of Mermaid's flowchart grammar the report writes: a node's label is quoted text without a bare
# quote; every edge joins two nodes defined before; subgraphs are closed.
_NODE = re.compile(r'^\s*(?P<id>[a-z]\w*)\["(?P<label>[^"]*)"\](:::(?P<class>\w+))?$')
_SUBGRAPH = re.compile(r'^\s*subgraph (?P<id>[a-z]\w*)\["[^"]*"\]$')
_EDGE = re.compile(r"^\s*(?P<a>[a-z]\w*) --> (?P<b>[a-z]\w*)$")
_CLASS = re.compile(r"^\s*class (?P<id>[a-z]\w*) (?P<class>\w+)$")
_CLASSDEF = re.compile(r"^\s*classDef (?P<class>\w+) [\w:#,-]+$")


def problems(lines: tuple[str, ...] | list[str]) -> list[str]:
    """What makes `lines` no valid flowchart of that subset (empty when valid)."""
    found, nodes, depth, classes, used = [], set(), 0, set(), set()
    if not lines or lines[0] != "flowchart LR":
        found.append("no 'flowchart LR' header")
    for line in lines[1:]:
        if node := _NODE.match(line):
            if node["id"] in nodes:
                found.append(f"node {node['id']} defined twice")
            nodes.add(node["id"])
            used |= {node["class"]} - {None}
        elif _SUBGRAPH.match(line):
            depth += 1
        elif line.strip() == "end":
            depth -= 1
        elif edge := _EDGE.match(line):
            found += [f"edge to undefined {end}" for end in (edge["a"], edge["b"]) if end not in nodes]
        elif mark := _CLASS.match(line):
            found += [f"class on undefined {mark['id']}"] if mark["id"] not in nodes else []
            used.add(mark["class"])
        elif definition := _CLASSDEF.match(line):
            classes.add(definition["class"])
        else:
            found.append(f"not flowchart syntax: {line!r}")
    found += ["unbalanced subgraph"] if depth else []
    found += [f"class {name} never defined" for name in sorted(used - classes)]
    return found


def mermaid_block(report: str) -> list[str]:
    (block,) = re.findall(r"```mermaid\n(.*?)```", report, re.S)
    return block.splitlines()


VERSIONS = (
    FlowVersion("001_init", ("legacy/a/001_init.sql", "legacy/b/001_init.sql"), 10, 2),
    FlowVersion("002_users", ("legacy/a/002_users.sql",), 4, 1),
)


def test_each_legacy_file_sits_in_its_folder_and_points_at_its_version() -> None:
    lines = flow_graph(VERSIONS)
    assert problems(lines) == []
    text = "\n".join(lines)
    assert 'subgraph g0["legacy/a"]\n    f0["001_init.sql"]\n    f1["002_users.sql"]\n  end' in text
    assert "f0 --> v0" in text and "f2 --> v0" in text and "f1 --> v1" in text
    assert 'v0["001_init<br/>10 kept · 2 duplicates removed"]:::version' in text
    assert 'v1["002_users<br/>4 kept · 1 duplicate removed"]:::version' in text


def test_conflicted_and_failing_files_are_marked_and_failing_wins() -> None:
    lines = flow_graph(
        VERSIONS,
        conflicted={"legacy/b/001_init.sql", "legacy/a/002_users.sql"},
        failing={"legacy/a/002_users.sql"},
    )
    assert "  class f2 conflict" in lines and "  class f1 failing" in lines and "  class f1 conflict" not in lines


def test_a_large_tree_is_drawn_by_folder() -> None:
    versions = tuple(FlowVersion(f"{n:03}_v", (f"db/{n:03}_v.sql",), 1, 0) for n in range(MAX_FILES + 1))
    lines = flow_graph(versions, failing={"db/007_v.sql"})
    assert problems(lines) == [] and f'  d0["db/ ({MAX_FILES + 1} files)"]' in lines and "  class d0 failing" in lines
    assert not any(re.match(r"\s*f\d", line) for line in lines)  # no file nodes


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6))
def test_any_file_name_gives_a_valid_flowchart(names: list[str]) -> None:
    versions = tuple(FlowVersion(f"{i:03}_{name}", (f"src/{name}/x.sql",), 1, 0) for i, name in enumerate(names))
    assert problems(flow_graph(versions)) == []


def test_the_golden_reports_hold_a_valid_flowchart() -> None:
    for report in (GOLDEN / "reference" / "CONSOLIDATION.md", GOLDEN / "failed_proof" / "CONSOLIDATION.md"):
        lines = mermaid_block(report.read_text(encoding="utf-8"))
        assert problems(lines) == [], report
        assert sum(1 for line in lines if "-->" in line) == 19  # the reference case's 19 mapped legacy files
