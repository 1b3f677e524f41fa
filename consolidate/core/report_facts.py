"""What CONSOLIDATION.md shows, computed: every number, tick and command, as frozen values that render/report.py
lays out with its template. Pure: plan, scan, lock and tree (verification.json included) in, ReportFacts out.

The facts come from the plan, the scan, the lock and the output tree as it is (or will be) on disk:

- The tree is *current* when every output the lock records (but this report) is in the tree with the recorded
  checksum, versions/ and down/ hold nothing the lock does not know, every planned migration and rollback is in
  the lock, and every legacy file the plan reads is in the lock with the checksum it has now and its version.
- A down file is ``legacy``, ``generated`` or ``stub`` by the marker on its first line (consolidate.layout names
  them, render/tree.py writes them); a down file with none of them was written by hand.
- The tree is *verified* when ``verification.json`` says ``"proven": true`` (``"server_version"`` names the
  PostgreSQL it ran on), the proof applies to the tree (consolidate/core/proof.py: it proved these very files)
  and the tree is current: a proof of another tree proves nothing about this one.
- The report mirrors the last proof whatever it found (verdict, counts, root causes, rollbacks it disputes), and
  no box is ticked that it contradicts: a rollback it found wrong or failing, a statement PostgreSQL rejected as a
  syntax error. The report ends with the sha256 of the verification.json it was built from, so a new proof makes
  it out of date (`report --check`, `apply --check`).
- Paths are shown as seen from the mapping's folder, so that commands and ``file:line`` work from there.

Known limitation: the scan sees ``.sql`` files only, so a folder is offered for ``git rm -r`` when every ``.sql``
file in it is replaced; any other file in it (a README) would go with it. The rendered section says so.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath
from typing import TypeAlias

from consolidate.core import patches
from consolidate.core.flow_graph import LEGEND, FlowVersion, flow_graph
from consolidate.core.plan_json import down_status
from consolidate.core.proof import ROLLBACK_RESULTS, SKIPPED, Proof, RootCause, State, read_proof
from consolidate.layout import (
    DOWNS,
    GENERATED_MARKER,
    LEGACY_MARKER,
    LOCK_NAME,
    REPORT_NAME,
    RUNNER_NAME,
    STUB_MARKER,
    VERIFICATION_NAME,
    VERSIONS,
    down_path,
    label,
    number,
    version_path,
)
from consolidate.model import (
    Conflict,
    Decision,
    Diagnostic,
    Direction,
    Duplicate,
    Group,
    LegacyFile,
    Lock,
    Mapping,
    Patch,
    Plan,
    PlannedTarget,
    Redefinition,
    ScanResult,
)

RUNNER_COMMAND = "consolidate apply"  # writes the runner into the output once it exists
TITLE = "Migration consolidation report"
OTHER_TITLE = "Other"  # versions outside every group
UNGROUPED_TITLE = "Migrations"  # the one table of a mapping without groups
VERSIONS_FOLDER = f"{VERSIONS}/"  # the tree's paths in versions/ start with it
DOWNS_FOLDER = f"{DOWNS}/"
SHOWN_DRIFT = 20  # the status lists the first differences; the count says how many there are
SHOWN_CAUSES = 20  # root causes listed; verification.json has every failure
SHOWN_CHANGED = 3  # files named when a proof was of other files
PROOF_SECTION = "*Proof on PostgreSQL*"

_LOCATED = re.compile(r"(?P<path>.+?):\d+(?::\d+)?$")  # a root cause's "path:line[:column]"


class Role(StrEnum):
    """What the consolidation does with a legacy file."""

    MAPPED = "mapped"  # an up file in a target's sources
    DOWN = "down"  # the down script of a mapped file
    EXCLUDED = "excluded"  # excluded, or the down script of an excluded file: it stays
    UNACCOUNTED = "unaccounted"


class Rollback(StrEnum):
    """A down file as found in the tree."""

    LEGACY = "legacy"
    GENERATED = "generated"
    STUB = "stub"
    HAND_WRITTEN = "hand-written"
    MISSING = "missing"


# --- the facts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegacyCount:
    up: int
    down: int
    excluded: int
    unaccounted: int

    @property
    def total(self) -> int:
        return self.up + self.down + self.excluded + self.unaccounted


@dataclass(frozen=True)
class Listing:
    """A folder drawn as a tree: its path and one line per entry below it (notes aligned after a `#`)."""

    folder: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """One migration in a mapping table."""

    version: int
    label: str
    sources: tuple[str, ...]
    description: str
    kept: int
    removed: int  # duplicates removed
    left_out: int  # second definitions left out by a keep-first resolution
    rollback: Rollback
    rollback_detail: str  # e.g. "legacy down for 2 of 5 sources"; empty when there is nothing to add
    proof: str = ""  # what the last proof found for this rollback (verified, wrong, ...); empty when it says nothing


@dataclass(frozen=True)
class Table:
    title: str
    span: str  # "001–004", "005, 008–009"; empty when the table holds no migration
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Removal:
    """The `git rm` commands for the legacy files the canonical tree replaces."""

    commands: tuple[str, ...]
    files: int  # legacy files the commands remove
    folders: int  # of the commands, those removing a whole folder
    overwritten: tuple[str, ...]  # replaced legacy files that now hold a canonical file: never removed


@dataclass(frozen=True)
class Check:
    done: bool
    claim: str
    evidence: str


@dataclass(frozen=True)
class ClashFile:
    path: str
    destination: str  # the canonical label, "excluded" or "not accounted for"


@dataclass(frozen=True)
class Clash:
    number: str  # as written; several spellings of one number are joined with " / "
    files: tuple[ClashFile, ...]


@dataclass(frozen=True)
class RemovedDuplicate:
    object: str
    removed: str  # file:line
    kept: str  # file:line
    label: str  # the migration the removed statement came from


@dataclass(frozen=True)
class ConflictNote:
    object: str
    first: str
    second: str
    detail: str
    decision: str  # empty when unresolved
    reason: str
    lost_columns: tuple[str, ...]
    lost_constraints: tuple[str, ...]


@dataclass(frozen=True)
class RedefinitionNote:
    object: str
    earlier: str
    later: str


@dataclass(frozen=True)
class MissingRollback:
    label: str
    rollback: Rollback
    without_down: tuple[str, ...]  # sources that have no legacy down script
    unused_downs: tuple[str, ...]  # legacy down scripts left out: they would undo only part of the migration


@dataclass(frozen=True)
class ExcludedNote:
    path: str
    reason: str
    covers: tuple[str, ...]  # the files it keeps out when more than itself: a folder, or a file with a down script


@dataclass(frozen=True)
class DecisionNote:
    """A legacy statement the mapping patched or dropped (`patches`)."""

    verb: str  # patched | dropped
    at: str  # legacy file:line, from the mapping's folder
    reason: str


@dataclass(frozen=True)
class Finding:
    severity: str
    location: str
    message: str
    hint: str


@dataclass(frozen=True)
class CauseNote:
    """A root cause of the last proof, as one list item."""

    location: str
    replay: str  # "legacy replay", "legacy and canonical replays"; "" when unknown
    message: str  # "SQLSTATE: message", on one line
    hint: str  # on one line
    consequences: str  # "2 consequences"; empty when none


@dataclass(frozen=True)
class DisputedRollback:
    label: str
    result: str  # wrong | failing
    detail: str  # what the proof found, on one line


@dataclass(frozen=True)
class ProofFacts:
    """The section *Proof on PostgreSQL*: the last verify's verdict, its counts and its root causes."""

    recorded: bool  # verification.json holds a proof, whatever it found
    headline: str  # the verdict, where and when; or why there is none
    caveat: str  # why the proof does not speak for this tree; empty when it does
    counts: tuple[str, ...]
    causes: tuple[CauseNote, ...]  # the first SHOWN_CAUSES
    more_causes: int
    disputed: tuple[DisputedRollback, ...]
    sha256: str  # of the verification.json the report was built from; empty when there is none


@dataclass(frozen=True)
class Example:
    title: str
    command: str
    available: bool  # False: the command exists once the runner does


@dataclass(frozen=True)
class ReportFacts:
    """Everything CONSOLIDATION.md shows, computed."""

    title: str
    date: str
    status: str
    verified: bool
    drift: tuple[str, ...]  # differences between the tree, the lock and the legacy files (first SHOWN_DRIFT)
    drift_count: int
    mapping: str  # the mapping file's name, as commands run from its folder take it
    root: str
    output: str
    locations: int
    legacy: LegacyCount
    before: tuple[Listing, ...]
    after: tuple[Listing, ...]
    tables: tuple[Table, ...]
    removal: Removal
    checks: tuple[Check, ...]
    runner: str  # path of the runner, from the mapping's folder
    runner_present: bool
    runner_command: str  # the command that will write the runner
    verification: str  # path of verification.json, from the mapping's folder
    clashes: tuple[Clash, ...]
    duplicates: tuple[RemovedDuplicate, ...]
    conflicts: tuple[ConflictNote, ...]
    redefinitions: tuple[RedefinitionNote, ...]
    missing_rollbacks: tuple[MissingRollback, ...]
    excluded: tuple[ExcludedNote, ...]
    findings: tuple[Finding, ...]
    fallbacks: int
    next_steps: tuple[str, ...]
    examples: tuple[Example, ...]
    proof: ProofFacts
    decisions: tuple[DecisionNote, ...] = ()
    graph: tuple[str, ...] = ()  # legacy files → canonical versions, as Mermaid lines (core/flow_graph.py)
    graph_legend: str = LEGEND
    requires: tuple[str, ...] = ()  # what the database must hold before the first version: provided and prelude


# --- paths and roles ----------------------------------------------------------------------------------------


def _below(path: str, folder: str) -> bool:
    return folder == "." or path == folder or path.startswith(folder + "/")


def _overlaps(one: str, other: str) -> bool:
    """Whether two folders (normalised, from the same base) are the same or one holds the other."""
    return _below(one, other) or _below(other, one)


def shown(mapping: Mapping, path: str) -> str:
    """A path below root as seen from the mapping's folder (the spelling statements and findings use).

    Root and paths are normalised by the mapping and the scan, so joining the text is what `Path(root, path)`
    gives, without building thousands of Path objects.
    """
    if path == ".":
        return mapping.root
    return path if mapping.root == "." else f"{mapping.root}/{path}"


def _folder(path: str) -> str:
    return posixpath.dirname(path) or "."


def _excluding(mapping: Mapping, path: str) -> str | None:
    """The reason a file is excluded, if it is."""
    for exclusion in mapping.excludes:
        if _below(path, exclusion.path):
            return exclusion.reason
    return None


def _roles(mapping: Mapping, scan: ScanResult) -> dict[str, Role]:
    mapped = {source for target in mapping.targets for source in target.sources}
    up_of = {down: up for up, down in scan.downs}
    return {file.path: _role(mapping, file.path, mapped, up_of.get(file.path)) for file in scan.files}


def _role(mapping: Mapping, path: str, mapped: set[str], up: str | None) -> Role:
    if path in mapped:
        return Role.MAPPED
    if _excluding(mapping, path) is not None:
        return Role.EXCLUDED
    if up is not None and up in mapped:
        return Role.DOWN
    if up is not None and _excluding(mapping, up) is not None:
        return Role.EXCLUDED  # a down script goes where its up file goes
    return Role.UNACCOUNTED


def _count(roles: Lookup[str, Role]) -> LegacyCount:
    values = list(roles.values())
    return LegacyCount(
        up=values.count(Role.MAPPED),
        down=values.count(Role.DOWN),
        excluded=values.count(Role.EXCLUDED),
        unaccounted=values.count(Role.UNACCOUNTED),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word if count == 1 else word + 's'}"


def _ranges(numbers: Iterable[int], width: int) -> str:
    """1, 2, 3, 5 → "001–003, 005"."""
    spans: list[list[int]] = []
    for version in sorted(set(numbers)):
        if spans and version == spans[-1][1] + 1:
            spans[-1][1] = version
        else:
            spans.append([version, version])
    return ", ".join(
        number(first, width) if first == last else f"{number(first, width)}–{number(last, width)}"
        for first, last in spans
    )


# --- drawing trees ------------------------------------------------------------------------------------------

Node: TypeAlias = dict[str, "Node | None"]  # folder names end in "/"; files are leaves (None)


def _nest(paths: Iterable[str]) -> Node:
    top: Node = {}
    for path in paths:
        node = top
        *folders, name = path.split("/")
        for folder in folders:
            child = node.setdefault(folder + "/", {})
            assert child is not None
            node = child
        node[name] = None
    return top


def _branches(node: Node, prefix: str, base: str) -> Iterator[tuple[str, str]]:
    """(drawn line, path) for every entry below `node`, depth first, sorted by name."""
    names = sorted(node)
    for position, name in enumerate(names):
        last = position == len(names) - 1
        yield f"{prefix}{'└── ' if last else '├── '}{name}", base + name
        child = node[name]
        if child is not None:
            yield from _branches(child, prefix + ("    " if last else "│   "), base + name)


def draw(paths: Iterable[str], notes: Lookup[str, str]) -> tuple[str, ...]:
    """`tree`-style lines for relative posix paths, each file's note (if any) aligned after a `#`."""
    rows = list(_branches(_nest(paths), "", ""))
    width = max((len(line) for line, path in rows if notes.get(path)), default=0)
    return tuple(f"{line.ljust(width)}  # {notes[path]}" if notes.get(path) else line for line, path in rows)


# --- before and after ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """What several sections look up: the plan's targets by version and by source, and each file's role."""

    plan: Plan
    scan: ScanResult
    tree: Lookup[str, bytes]
    roles: dict[str, Role]
    by_version: dict[int, PlannedTarget]
    by_source: dict[str, PlannedTarget]  # up files and their down scripts
    files: dict[str, LegacyFile]
    proof: Proof  # the last proof, read from the tree's verification.json

    @property
    def mapping(self) -> Mapping:
        return self.plan.mapping

    def label(self, target: PlannedTarget) -> str:
        return target.target.label(self.mapping.width)


def _context(plan: Plan, scan: ScanResult, tree: Lookup[str, bytes]) -> _Context:
    by_source: dict[str, PlannedTarget] = {}
    for target in plan.targets:
        for source in target.sources:
            by_source[source.path] = target
            if source.down is not None:
                by_source[source.down] = target
    by_version = {target.target.version: target for target in plan.targets}
    files = {file.path: file for file in scan.files}
    proof = read_proof(tree.get(VERIFICATION_NAME), tree)
    return _Context(plan, scan, tree, _roles(plan.mapping, scan), by_version, by_source, files, proof)


def _location(path: str, sources: Sequence[str]) -> str | None:
    """The most specific source folder holding a file: nested source folders each list their own files."""
    return max((source for source in sources if _below(path, source)), key=len, default=None)


def _before_note(context: _Context, path: str) -> str:
    role = context.roles[path]
    target = context.by_source.get(path)
    if role is Role.MAPPED and target is not None:
        return f"→ {context.label(target)}"
    if role is Role.DOWN and target is not None:
        if target.has_down:
            return f"down → {context.label(target)}"
        return f"down, not used: {context.label(target)} lacks a complete rollback"
    return "excluded" if role is Role.EXCLUDED else "not accounted for"


def _before(context: _Context) -> tuple[Listing, ...]:
    sources = context.mapping.sources
    located: dict[str | None, list[str]] = {}
    for file in context.scan.files:
        located.setdefault(_location(file.path, sources), []).append(file.path)
    listings = []
    for source in dict.fromkeys(sources):
        inside = located.get(source, [])
        relative = {path: path if source == "." else path[len(source) + 1 :] for path in inside}
        notes = {relative[path]: _before_note(context, path) for path in inside}
        listings.append(Listing(shown(context.mapping, source) + "/", draw(relative.values(), notes)))
    return tuple(listings)


def rollback_of(data: bytes | None) -> Rollback:
    """What a down file is, by the marker on its first line."""
    if data is None:
        return Rollback.MISSING
    first = data.decode("utf-8", errors="replace").split("\n", 1)[0]
    if STUB_MARKER in first:
        return Rollback.STUB
    if GENERATED_MARKER in first:
        return Rollback.GENERATED
    return Rollback.LEGACY if LEGACY_MARKER in first else Rollback.HAND_WRITTEN


def _under(tree: Lookup[str, bytes], folder: str) -> list[str]:
    return sorted(path[len(folder) :] for path in tree if path.startswith(folder))


def _after(context: _Context) -> tuple[Listing, ...]:
    width = context.mapping.width
    descriptions = {version_path(t.target.label(width)): t.target.description for t in context.plan.targets}
    version_notes = {
        path[len(VERSIONS_FOLDER) :]: descriptions.get(path, "not in the mapping")
        for path in context.tree
        if path.startswith(VERSIONS_FOLDER)
    }
    down_notes = {
        path[len(DOWNS_FOLDER) :]: rollback_of(context.tree[path]).value
        for path in context.tree
        if path.startswith(DOWNS_FOLDER)
    }
    output = posixpath.normpath(context.mapping.output)
    return (
        Listing(f"{output}/{VERSIONS_FOLDER}", draw(_under(context.tree, VERSIONS_FOLDER), version_notes)),
        Listing(f"{output}/{DOWNS_FOLDER}", draw(_under(context.tree, DOWNS_FOLDER), down_notes)),
    )


# --- mapping tables -----------------------------------------------------------------------------------------


def _left_out(plan: Plan, target: PlannedTarget) -> int:
    """Second definitions of this target that a keep-first resolution leaves out of the canonical tree."""
    paths = {shown(plan.mapping, source.path) for source in target.sources}
    return sum(
        1
        for conflict in plan.conflicts
        if conflict.resolution is not None
        and conflict.resolution.decision is Decision.KEEP_FIRST
        and conflict.second.path in paths
    )


def _rollback_detail(target: PlannedTarget, rollback: Rollback) -> str:
    if rollback is Rollback.LEGACY or down_status(target) != "partial":
        return ""
    having = sum(1 for source in target.sources if source.down is not None)
    return f"legacy down for {having} of {len(target.sources)} sources"


def _row(context: _Context, target: PlannedTarget) -> Row:
    rollback = rollback_of(context.tree.get(down_path(context.label(target))))
    return Row(
        version=target.target.version,
        label=context.label(target),
        sources=tuple(shown(context.mapping, source.path) for source in target.sources),
        description=target.target.description,
        kept=target.kept,
        removed=target.removed,
        left_out=_left_out(context.plan, target),
        rollback=rollback,
        rollback_detail=_rollback_detail(target, rollback),
        proof=_rollback_found(context.proof, context.label(target)),
    )


def _rollback_found(proof: Proof, label: str) -> str:
    """The last proof's result for a rollback: any while the proof applies; once it is stale, only a dispute
    (wrong, failing) about a down file unchanged since."""
    results = proof.rollbacks if proof.applies else proof.disputed
    found = next((item.result for item in results if item.label == label), "")
    return "" if found == "stub" else found  # the column says stub already: the proof found nothing more


def _group_table(group: Group, rows: Sequence[Row], width: int) -> Table:
    inside = tuple(row for row in rows if group.first <= row.version <= group.last)
    return Table(group.title, _ranges((row.version for row in inside), width), inside)


def _tables(context: _Context) -> tuple[Table, ...]:
    width = context.mapping.width
    rows = [_row(context, target) for target in context.plan.targets]
    tables = [_group_table(group, rows, width) for group in context.mapping.groups]
    grouped = {row.version for table in tables for row in table.rows}
    rest = tuple(row for row in rows if row.version not in grouped)
    if rest or not tables:
        title = OTHER_TITLE if tables else UNGROUPED_TITLE
        tables.append(Table(title, _ranges((row.version for row in rest), width), rest))
    return tuple(tables)


# --- removal ------------------------------------------------------------------------------------------------


def _replaced(mapping: Mapping, scan: ScanResult) -> set[str]:
    """Mapped legacy files and their down scripts: what the canonical tree replaces."""
    sources = {source for target in mapping.targets for source in target.sources}
    return sources | {down for up, down in scan.downs if up in sources}


def _overwritten(mapping: Mapping, paths: Iterable[str], tree: Lookup[str, bytes]) -> set[str]:
    """Legacy files at the very path of a canonical file (in-place output): removing them removes ours."""
    output = posixpath.normpath(mapping.output)
    found = set()
    for path in paths:
        where = posixpath.normpath(shown(mapping, path))
        if _below(where, output) and where != output and posixpath.relpath(where, output) in tree:
            found.add(path)
    return found


def _lineage(path: str) -> Iterator[str]:
    """Every folder holding a path, innermost first, ending with "."."""
    folder = path
    while folder != ".":
        folder = _folder(folder)
        yield folder


def _candidates(path: str, mapping: Mapping) -> Iterator[str]:
    """The folders holding a file, up to the top-most source folder holding it (never above: not ours)."""
    top = min((source for source in mapping.sources if _below(path, source)), key=len, default=None)
    if top is not None:
        yield from (folder for folder in _lineage(path) if _below(folder, top))


def _blocked(mapping: Mapping, scan: ScanResult, removable: set[str]) -> set[str]:
    """Folders that cannot go whole: they hold a file that stays, or overlap the output, or hold the mapping."""
    blocked = {folder for file in scan.files if file.path not in removable for folder in _lineage(file.path)}
    output = posixpath.normpath(mapping.output)
    for file in removable:
        for folder in _lineage(file):
            where = posixpath.normpath(shown(mapping, folder))
            if where == "." or _overlaps(where, output):  # "." holds the mapping file itself
                blocked.add(folder)
    return blocked


def removal(mapping: Mapping, scan: ScanResult, tree: Lookup[str, bytes]) -> Removal:
    """`git rm` commands for the replaced legacy files: whole folders where possible, otherwise file by file."""
    replaced = _replaced(mapping, scan) & {file.path for file in scan.files}
    overwritten = _overwritten(mapping, replaced, tree)
    removable = replaced - overwritten
    blocked = _blocked(mapping, scan, removable)
    chosen: set[str] = set()
    # Outermost first, so that a folder inside a chosen one is never chosen as well.
    for folder in sorted({f for path in removable for f in _candidates(path, mapping)} - blocked, key=len):
        if not any(parent in chosen for parent in _lineage(folder)):
            chosen.add(folder)
    singles = [path for path in removable if not any(folder in chosen for folder in _lineage(path))]
    commands = [(shown(mapping, folder), "git rm -r") for folder in chosen]
    commands += [(shown(mapping, path), "git rm") for path in singles]
    return Removal(
        commands=tuple(f"{verb} {shlex.quote(path)}" for path, verb in sorted(commands)),
        files=len(removable),
        folders=len(chosen),
        overwritten=tuple(sorted(shown(mapping, path) for path in overwritten)),
    )


# --- drift: the tree, the lock and the legacy files ---------------------------------------------------------


def _output_drift(lock: Lock, tree: Lookup[str, bytes], planned: Sequence[str]) -> Iterator[str]:
    recorded = {entry.path: entry.sha256 for entry in lock.outputs if entry.path != REPORT_NAME}
    for path, checksum in sorted(recorded.items()):
        if path not in tree:
            yield f"`{path}` is in the lock but missing from the tree"
        elif _sha256(tree[path]) != checksum:
            yield f"`{path}` differs from the checksum in the lock"
    for path in sorted(p for p in tree if p.startswith((VERSIONS_FOLDER, DOWNS_FOLDER)) and p not in recorded):
        yield f"`{path}` is not in the lock"
    for path in planned:
        if path not in recorded:
            yield f"`{path}` is planned but not in the lock (never applied)"


def _source_drift(context: _Context, lock: Lock) -> Iterator[str]:
    recorded = {entry.path: entry for entry in lock.sources}
    for path in sorted(set(recorded) | set(context.by_source)):
        entry, target, legacy = recorded.get(path), context.by_source.get(path), context.files.get(path)
        where = f"`{shown(context.mapping, path)}`"
        if entry is None:
            yield f"{where} is read by the plan but not in the lock"
        elif target is None or legacy is None:
            yield f"{where} is in the lock but no longer read by the plan"
        elif legacy.sha256 != entry.sha256:
            yield f"{where} changed since the lock was written"
        elif entry.target is not None and entry.target != target.target.version:
            yield f"{where} moved from version {entry.target} to {target.target.version}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _planned_outputs(plan: Plan) -> list[str]:
    width = plan.mapping.width
    stems = [t.target.label(width) for t in plan.targets]
    return sorted(path for stem in stems for path in (version_path(stem), down_path(stem)))


# --- checks -------------------------------------------------------------------------------------------------


def _first(diagnostics: Sequence[Diagnostic]) -> str:
    return f"first at {diagnostics[0].location}: {diagnostics[0].message}" if diagnostics else ""


def _migrations_check(context: _Context, lock: Lock) -> Check:
    count = len(context.plan.targets)
    paths = [version_path(context.label(target)) for target in context.plan.targets]
    recorded = {entry.path: entry.sha256 for entry in lock.outputs}
    missing = [path for path in paths if path not in context.tree]
    differing = [path for path in paths if path in context.tree and _sha256(context.tree[path]) != recorded.get(path)]
    evidence = f"{count - len(missing)} of {count} present, {count - len(missing) - len(differing)} match the lock"
    if missing:
        evidence += f"; missing: {', '.join(f'`{path}`' for path in missing)}"
    if differing:
        evidence += f"; differ from the lock: {', '.join(f'`{path}`' for path in differing)}"
    output = posixpath.normpath(context.mapping.output)
    claim = (
        f"All {_plural(count, 'migration')} present in `{output}/{VERSIONS_FOLDER}` and matching the lock's checksums"
    )
    return Check(not missing and not differing, claim, evidence)


def _number(name: str) -> int | None:
    digits = name[: len(name) - len(name.lstrip("0123456789"))]
    return int(digits) if digits else None


def _numbering_check(context: _Context) -> Check:
    count, width = len(context.plan.targets), context.mapping.width
    names = [path[len(VERSIONS_FOLDER) :] for path in context.tree if path.startswith(VERSIONS_FOLDER)]
    numbers = sorted(n for n in (_number(name) for name in names) if n is not None)
    expected = list(range(1, count + 1))
    problems = []
    if missing := sorted(set(expected) - set(numbers)):
        problems.append(f"missing {_ranges(missing, width)}")
    if extra := sorted(n for n, times in Counter(numbers).items() if times > 1 or not 1 <= n <= count):
        problems.append(f"unexpected or repeated {_ranges(extra, width)}")
    if unnumbered := sorted(name for name in names if _number(name) is None):
        problems.append(f"unnumbered: {', '.join(f'`{name}`' for name in unnumbered)}")
    evidence = "; ".join(problems) if problems else _ranges(numbers, width) or "no migrations"
    return Check(not problems, f"Numbered 1 to {count} without gaps", evidence)


def _coverage_check(count: LegacyCount, unaccounted: Sequence[str]) -> Check:
    evidence = (
        f"{count.up} mapped, {_plural(count.down, 'down script')} with their up files, {count.excluded} excluded"
        f" (of {_plural(count.total, 'legacy file')})"
    )
    if unaccounted:
        evidence += f"; not accounted for: {', '.join(f'`{path}`' for path in unaccounted)}"
    return Check(not unaccounted, "Every legacy file mapped or excluded", evidence)


def _conflict_check(plan: Plan) -> Check:
    resolved = [c for c in plan.conflicts if c.resolution is not None]
    decisions = sorted({f"{c.resolution.decision.value}: {c.object}" for c in resolved if c.resolution is not None})
    if plan.unresolved:
        names = ", ".join(sorted({str(conflict.object) for conflict in plan.unresolved}))
        evidence = f"{_plural(len(plan.unresolved), 'unresolved conflict')}: {names}"
    elif resolved:
        evidence = f"{_plural(len(resolved), 'conflict')}, all resolved ({'; '.join(decisions)})"
    else:
        evidence = "no object is defined twice with different definitions"
    return Check(not plan.unresolved, "No unresolved conflicts", evidence)


def _ordering_check(plan: Plan) -> Check:
    """Ordering errors and every other error finding of the plan (resolution dependents, transaction hazards,
    two versions in one folder): anything but syntax and conflicts, which have checks of their own."""
    errors = tuple(e for e in plan.errors if e not in plan.syntax_errors and e.code != "plan.unresolved-conflict")
    evidence = (
        f"{_plural(len(errors), 'plan error')}, {_first(errors)}"
        if errors
        else "every referenced table or view is created earlier or provided" + _accepted(plan, syntax=False)
    )
    return Check(not errors, "No ordering errors", evidence)


def _accepted(plan: Plan, syntax: bool) -> str:
    count = sum((error in plan.syntax_errors) == syntax for error in plan.accepted)
    return f"; {_plural(count, 'finding')} accepted in the mapping, each with its reason" if count else ""


def _patched(plan: Plan) -> str:
    count = len(plan.mapping.patches)
    return (
        f"; {_plural(count, 'legacy statement')} patched or dropped in the mapping, each with its reason"
        if count
        else ""
    )


def _decision(mapping: Mapping, patch: Patch) -> DecisionNote:
    return DecisionNote(patch.verb, f"{patches.shown(mapping, patch)}:{patch.line}", " ".join(patch.reason.split()))


def _syntax_check(plan: Plan, proof: Proof) -> Check:
    errors = tuple(error for error in plan.errors if error in plan.syntax_errors)
    evidence = (
        f"{_plural(len(errors), 'syntax error')}, {_first(errors)}"
        if errors
        else f"{_plural(plan.statements, 'statement')} accepted by PostgreSQL's parser (pglast)"
        + _accepted(plan, syntax=True)
        + _patched(plan)
    )
    # The server is the judge: its grammar may be older than pglast's (PostgreSQL 16+ syntax on a 15 server).
    rejected = proof.rejected if proof.applies else ()
    if rejected:
        evidence += (
            f"; but PostgreSQL {proof.server_version} rejected {_plural(len(rejected), 'statement')} as syntax errors"
            f" (42601) in the last proof, first at `{rejected[0]}`"
        )
    return Check(not errors and not rejected, "No syntax errors (PostgreSQL's parser)", evidence)


def _duplicates_check(plan: Plan, current: bool) -> Check:
    count = len(plan.duplicates)
    claim = f"{_plural(count, 'duplicate definition')} removed"
    evidence = "listed under Known issues" if count else "no identical definition was repeated"
    if not current:
        evidence += "; the tree does not match the lock, so its files may not reflect this"
    return Check(current, claim, evidence)


def _rollback_check(context: _Context) -> Check:
    count = len(context.plan.targets)
    states = [rollback_of(context.tree.get(down_path(context.label(t)))) for t in context.plan.targets]
    legacy = states.count(Rollback.LEGACY)
    evidence = f"{legacy} of {count} carried from legacy, {_plural(states.count(Rollback.STUB), 'stub')}"
    if generated := states.count(Rollback.GENERATED):
        evidence += f", {generated} generated from the schema difference"
    if hand := states.count(Rollback.HAND_WRITTEN):
        evidence += f", {hand} hand-written"
    if missing := states.count(Rollback.MISSING):
        evidence += f", {missing} missing"
    real = legacy + generated + hand
    proof = context.proof
    disputed = proof.disputed
    if disputed:
        evidence += "; the last proof found " + ", ".join(f"`{item.label}` {item.result}" for item in disputed)
    elif proof.applies and proof.rollbacks:
        evidence += f"; the last proof: {_rollback_counts(proof, every=False)}"
    return Check(real == count and not disputed, "Rollback scripts for every migration", evidence)


def _rollback_counts(proof: Proof, every: bool = True) -> str:
    """ "3 verified, 1 wrong, 0 failing, 2 stub, 0 not proven"; without `every`, the results that occur only."""
    counts = [(proof.count(result), result) for result in ROLLBACK_RESULTS]
    counts += [(proof.count(SKIPPED), "skipped (--rollbacks none)")] if proof.count(SKIPPED) else []
    return ", ".join(f"{count} {result}" for count, result in counts if every or count)


def _verification_check(facts: _Verified, where: str) -> Check:
    claim = "Verified on a database"
    if facts.verified:
        return Check(True, claim, f"`{where}` says proven on PostgreSQL {facts.server}")
    return Check(False, claim, facts.why)


def _runner_check(present: bool, where: str) -> Check:
    evidence = f"`{where}` is present" if present else f"`{where}` does not exist yet"
    return Check(present, "Runner present", evidence)


def _sources_check(context: _Context, lock: Lock) -> Check:
    drift = list(_source_drift(context, lock))
    count = len(context.by_source)
    evidence = f"{count - len(drift)} of {_plural(count, 'legacy file')} read match the lock"
    if drift:
        evidence += f"; {drift[0]}"
    return Check(not drift, "Legacy files unchanged since the lock was written", evidence)


# --- verification -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Verified:
    verified: bool
    server: str
    why: str  # why not, when not


def _verified(proof: Proof, current: bool, where: str) -> _Verified:
    server = proof.server_version or "(version not recorded)"
    if proof.state is State.ABSENT:
        return _Verified(False, "", "not verified on a database — run `consolidate verify`")
    if proof.state is State.UNREADABLE:
        return _Verified(False, "", f"`{where}` is not a record `consolidate verify` wrote — run it again")
    if not proof.applies:
        why = f"`{where}` records a proof of other files than the tree's — run `consolidate verify`"
        return _Verified(False, server, why)
    if not proof.proven:
        why = f"`{where}` records NOT PROVEN on PostgreSQL {server}: {_found(proof)} (see {PROOF_SECTION})"
        return _Verified(False, server, why)
    if not current:
        why = f"`{where}` says proven, but the tree no longer matches the lock — run `consolidate verify`"
        return _Verified(False, server, why)
    return _Verified(True, server, "")


def _found(proof: Proof) -> str:
    """What made a proof fail, in a few words."""
    found = []
    for count, what in (
        (proof.legacy_failures, "failing legacy statement"),
        (proof.canonical_failures, "failing canonical statement"),
    ):
        if count:
            found.append(_plural(count, what))
    if not proof.equivalent:
        found.append(f"the schemas differ ({_plural(proof.differences, 'difference')})")
    found += [f"{proof.count(result)} {result} rollback" for result in ("wrong", "failing") if proof.count(result)]
    return ", ".join(found) or "it records no reason"


def _proof_facts(proof: Proof, where: str) -> ProofFacts:
    if proof.state is State.ABSENT:
        headline = (
            f"No proof yet: `{where}` does not exist. `consolidate verify` replays the legacy files and this tree "
            "on PostgreSQL and records what it finds there."
        )
        return ProofFacts(False, headline, "", (), (), 0, (), "")
    if proof.state is State.UNREADABLE:
        headline = f"`{where}` is not a record `consolidate verify` wrote (not a JSON object): run it again."
        return ProofFacts(False, headline, "", (), (), 0, (), proof.sha256)
    verdict = "PROVEN" if proof.proven else "NOT PROVEN"
    server = proof.server_version or "(version not recorded)"
    headline = f"**{verdict}** by `consolidate verify` on PostgreSQL {server}"
    headline += f" ({proof.date}), recorded in `{where}`." if proof.date else f", recorded in `{where}`."
    causes = tuple(_cause_note(cause) for cause in proof.root_causes)
    return ProofFacts(
        recorded=True,
        headline=headline,
        caveat=_caveat(proof),
        counts=_proof_counts(proof),
        causes=causes[:SHOWN_CAUSES],
        more_causes=max(0, len(causes) - SHOWN_CAUSES),
        disputed=tuple(
            DisputedRollback(item.label, item.result, _folded("; ".join(item.detail))) for item in proof.disputed
        ),
        sha256=proof.sha256,
    )


def _caveat(proof: Proof) -> str:
    if proof.applies:
        return ""
    if not proof.changed:
        return "It names no file it proved, so it vouches for nothing here: run `consolidate verify`."
    named = ", ".join(f"`{path}`" for path in proof.changed[:SHOWN_CHANGED])
    more = f" and {len(proof.changed) - SHOWN_CHANGED} more" if len(proof.changed) > SHOWN_CHANGED else ""
    return (
        f"It proved other files than the tree's ({_plural(len(proof.changed), 'file')} differ since: {named}{more}), "
        "so it vouches for nothing here; what it found is shown as it was. Run `consolidate verify`."
    )


def _proof_counts(proof: Proof) -> tuple[str, ...]:
    equivalent = "yes" if proof.equivalent else f"no ({_plural(proof.differences, 'difference')})"
    counts = [
        f"Failing legacy statements: {proof.legacy_failures}",
        f"Failing canonical statements: {proof.canonical_failures}",
        f"Schemas equivalent: {equivalent}",
        f"Rollbacks: {_rollback_counts(proof)}",
    ]
    if proof.stand_ins:
        counts.append(f"Stand-ins for extensions the server lacks: {', '.join(proof.stand_ins)}")
    return tuple(counts)


def _folded(text: str) -> str:
    return " ".join(text.split())


def _cause_note(cause: RootCause) -> CauseNote:
    message = f"{cause.sqlstate}: {cause.message}" if cause.sqlstate else cause.message
    consequences = _plural(cause.consequences, "consequence") if cause.consequences else ""
    replay = f"{cause.replay} replay{'s' if ' and ' in cause.replay else ''}" if cause.replay else ""
    return CauseNote(cause.location, replay, _folded(message), _folded(cause.hint), consequences)


# --- known issues -------------------------------------------------------------------------------------------


def _number_key(version: str) -> tuple[int, int | str]:
    """Numbers compare by value ("001" is "1"); other versions (flyway "1.2") as written."""
    return (0, int(version)) if version.isdigit() else (1, version)


def _destination(context: _Context, path: str) -> str:
    target = context.by_source.get(path)
    if target is not None and context.roles[path] is Role.MAPPED:
        return context.label(target)
    return "excluded" if context.roles[path] is Role.EXCLUDED else "not accounted for"


def _clashes(context: _Context) -> tuple[Clash, ...]:
    by_number: dict[tuple[int, int | str], list[LegacyFile]] = {}
    for file in context.scan.files:
        if file.direction is Direction.UP and file.name.version is not None:
            by_number.setdefault(_number_key(file.name.version), []).append(file)
    return tuple(
        Clash(
            " / ".join(sorted({file.name.version or "" for file in files})),
            tuple(ClashFile(shown(context.mapping, f.path), _destination(context, f.path)) for f in files),
        )
        for _, files in sorted(by_number.items())
        if len(files) > 1
    )


def _duplicate(context: _Context, duplicate: Duplicate) -> RemovedDuplicate:
    removed = duplicate.removed
    target = context.by_version.get(duplicate.target)
    return RemovedDuplicate(
        object=str(removed.target) if removed.target is not None else removed.kind,
        removed=str(removed.location),
        kept=str(duplicate.kept.location),
        label=context.label(target) if target is not None else str(duplicate.target),
    )


def _conflict(conflict: Conflict) -> ConflictNote:
    resolution = conflict.resolution
    return ConflictNote(
        object=str(conflict.object),
        first=str(conflict.first.location),
        second=str(conflict.second.location),
        detail=conflict.detail,
        decision=resolution.decision.value if resolution is not None else "",
        reason=" ".join(resolution.reason.split()) if resolution is not None else "",
        lost_columns=conflict.lost_columns,
        lost_constraints=conflict.lost_constraints,
    )


def _redefinition(item: Redefinition) -> RedefinitionNote:
    return RedefinitionNote(str(item.object), str(item.earlier.location), str(item.later.location))


def _missing_rollbacks(context: _Context) -> tuple[MissingRollback, ...]:
    notes = []
    for target in context.plan.targets:
        rollback = rollback_of(context.tree.get(down_path(context.label(target))))
        if rollback in (Rollback.LEGACY, Rollback.GENERATED, Rollback.HAND_WRITTEN):
            continue
        without = tuple(shown(context.mapping, s.path) for s in target.sources if s.down is None)
        unused = tuple(shown(context.mapping, s.down) for s in target.sources if s.down is not None and without)
        notes.append(MissingRollback(context.label(target), rollback, without, unused))
    return tuple(notes)


def _excluded(context: _Context) -> tuple[ExcludedNote, ...]:
    mapping, up_of = context.mapping, {down: up for up, down in context.scan.downs}
    notes = []
    for exclusion in sorted(mapping.excludes, key=lambda item: item.path):
        path = shown(mapping, exclusion.path)
        files = tuple(
            shown(mapping, file.path)
            for file in context.scan.files
            if _below(file.path, exclusion.path) or _below(up_of.get(file.path, "\0"), exclusion.path)
        )
        reason = " ".join(exclusion.reason.split())
        notes.append(ExcludedNote(path, reason, () if files == (path,) else files))
    return tuple(notes)


def _finding(diagnostic: Diagnostic) -> Finding:
    return Finding(diagnostic.severity.value, str(diagnostic.location), diagnostic.message, diagnostic.hint)


# --- next steps and examples --------------------------------------------------------------------------------


def _option(mapping: Mapping) -> str:
    name = PurePosixPath(mapping.path).name
    return "" if name == "mapping.yaml" else f" --mapping {shlex.quote(name)}"


def _next_steps(context: _Context, facts: _Steps) -> tuple[str, ...]:
    option = _option(context.mapping)
    steps = []
    if not context.plan.clean:
        steps.append(f"Fix the plan's {_plural(len(context.plan.errors), 'error')}: `consolidate plan{option}`.")
    if facts.unaccounted:
        steps.append(f"Map or exclude: {', '.join(f'`{path}`' for path in facts.unaccounted)}.")
    if facts.drift:
        steps.append(f"Bring the tree in line with the lock and the legacy files: `consolidate apply{option}`.")
    if facts.failed:
        steps.append(
            f"Fix the root causes the last proof found (see {PROOF_SECTION}), then prove the tree again: "
            f"`consolidate verify{option}`."
        )
    elif not facts.verified:
        steps.append(f"Prove the tree on a database: `consolidate verify{option}`.")
    if facts.stubs:
        stubs = ", ".join(f"`{label}`" for label in facts.stubs)
        steps.append(f"Generate and prove rollbacks for {stubs}: `consolidate apply --generate-down`.")
    if not facts.runner_present:
        steps.append(
            f"Until the runner exists (`{facts.runner}`), apply `{VERSIONS_FOLDER}` in order with your own tool."
        )
    if facts.removal:
        steps.append("Once verified, remove the replaced legacy files (see *Files ready for removal*).")
    width = context.mapping.width
    last = max((target.target.version for target in context.plan.targets), default=0)
    new = version_path(label(last + 1, "<name>", width))
    steps.append(
        f"Write new migrations from `{new}` on, each with its `{down_path('…')}`: consolidate leaves the versions "
        f"after {number(last, width)} alone, and the runner applies them."
    )
    return tuple(steps)


@dataclass(frozen=True)
class _Steps:
    """The facts the next steps depend on."""

    unaccounted: tuple[str, ...]
    drift: bool
    verified: bool
    failed: bool  # the last proof applies to the tree and found it NOT PROVEN
    stubs: tuple[str, ...]  # and the rollbacks the last proof disputes: `apply --generate-down` redoes both
    runner_present: bool
    runner: str
    removal: bool


def _examples(mapping: Mapping, runner_present: bool) -> tuple[Example, ...]:
    option = _option(mapping)
    tree = f" --dir {posixpath.normpath(mapping.output)}"  # the runner reads the tree, not the mapping
    return (
        Example("Preview the consolidation", f"consolidate plan{option}", True),
        Example("Check that the canonical tree is current", f"consolidate apply --check{option}", True),
        Example("Check that this report is current", f"consolidate report --check{option}", True),
        Example("Apply the pending migrations", f"consolidate migrate up{tree}", runner_present),
        Example("Show which migrations are applied", f"consolidate migrate status{tree}", runner_present),
        Example("Roll back the last two migrations", f"consolidate migrate down --steps 2{tree}", runner_present),
    )


# --- the whole --------------------------------------------------------------------------------------------


def _status(plan: Plan, drift: int, verified: _Verified, proof: Proof) -> str:
    if not plan.clean:
        return f"Not consolidated: the plan has {_plural(len(plan.errors), 'error')} (run `consolidate plan`)"
    if drift:
        return f"Out of date: {_plural(drift, 'difference')} with `{LOCK_NAME}` (run `consolidate apply`)"
    if verified.verified:
        return f"Consolidated and verified on PostgreSQL {verified.server}"
    if proof.state is State.RECORDED and proof.applies:
        return f"Consolidated, NOT PROVEN on PostgreSQL {verified.server}: {_found(proof)} (see {PROOF_SECTION})"
    if proof.state is State.RECORDED:
        return "Consolidated, not verified: the last proof was of other files (run `consolidate verify`)"
    return "Consolidated, not verified on a database"


def report_facts(
    plan: Plan,
    scan: ScanResult,
    lock: Lock,
    tree: Lookup[str, bytes],
) -> ReportFacts:
    """Everything CONSOLIDATION.md shows, from the plan, the scan, the lock and the output tree (relative paths,
    verification.json among them when verify wrote one)."""
    context = _context(plan, scan, tree)
    mapping = context.mapping
    output = posixpath.normpath(mapping.output)
    drift = [*_output_drift(lock, tree, _planned_outputs(plan)), *_source_drift(context, lock)]
    runner, evidence = f"{output}/{RUNNER_NAME}", f"{output}/{VERIFICATION_NAME}"
    proof = context.proof
    verified = _verified(proof, not drift, evidence)
    count = _count(context.roles)
    unaccounted = tuple(shown(mapping, p) for p, role in sorted(context.roles.items()) if role is Role.UNACCOUNTED)
    missing_rollbacks = _missing_rollbacks(context)
    removed = removal(mapping, scan, tree)
    tables = _tables(context)
    steps = _Steps(
        unaccounted=unaccounted,
        drift=bool(drift),
        verified=verified.verified,
        failed=proof.state is State.RECORDED and proof.applies and not proof.proven,
        stubs=tuple(dict.fromkeys([*(item.label for item in missing_rollbacks), *(i.label for i in proof.disputed)])),
        runner_present=RUNNER_NAME in tree,
        runner=runner,
        removal=bool(removed.commands),
    )
    return ReportFacts(
        requires=mapping.provided,
        title=TITLE,
        date=lock.date,
        status=_status(plan, len(drift), verified, proof),
        verified=verified.verified,
        drift=tuple(drift[:SHOWN_DRIFT]),
        drift_count=len(drift),
        mapping=PurePosixPath(mapping.path).name,
        root=mapping.root,
        output=output,
        locations=len(mapping.sources),
        legacy=count,
        before=_before(context),
        after=_after(context),
        tables=tables,
        removal=removed,
        checks=(
            _migrations_check(context, lock),
            _numbering_check(context),
            _coverage_check(count, unaccounted),
            _sources_check(context, lock),
            _conflict_check(plan),
            _ordering_check(plan),
            _syntax_check(plan, proof),
            _duplicates_check(plan, not drift),
            _rollback_check(context),
            _verification_check(verified, evidence),
            _runner_check(RUNNER_NAME in tree, runner),
        ),
        runner=runner,
        runner_present=RUNNER_NAME in tree,
        runner_command=RUNNER_COMMAND,
        verification=evidence,
        clashes=_clashes(context),
        duplicates=tuple(_duplicate(context, duplicate) for duplicate in plan.duplicates),
        conflicts=tuple(_conflict(conflict) for conflict in plan.conflicts),
        redefinitions=tuple(_redefinition(item) for item in plan.redefinitions),
        missing_rollbacks=missing_rollbacks,
        excluded=_excluded(context),
        findings=tuple(_finding(diagnostic) for diagnostic in plan.findings),
        fallbacks=plan.fallbacks,
        next_steps=_next_steps(context, steps),
        examples=_examples(mapping, RUNNER_NAME in tree),
        proof=_proof_facts(proof, evidence),
        decisions=tuple(_decision(mapping, patch) for patch in mapping.patches),
        graph=_graph(context, tables),
    )


def _graph(context: _Context, tables: Sequence[Table]) -> tuple[str, ...]:
    """The picture: every version with its sources; the files a conflict's later definition sits in; the files
    where the last proof (when it speaks for this tree) found a root cause."""
    proof = context.proof
    versions = [FlowVersion(row.label, row.sources, row.kept, row.removed) for table in tables for row in table.rows]
    conflicted = {conflict.second.path for conflict in context.plan.conflicts}  # statements' paths are as shown
    causes = proof.root_causes if proof.applies else ()
    failing = {found["path"] for cause in causes if (found := _LOCATED.match(cause.location))}
    return flow_graph(versions, conflicted, failing)
