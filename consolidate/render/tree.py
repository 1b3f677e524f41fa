"""Render the canonical migrations and their rollbacks from a plan, in memory.

Every statement written is the legacy text itself, byte for byte, with the comments that lead it: a removed
duplicate leaves one comment line naming where its kept copy is, and a definition left out by a keep-first
resolution says so. Nothing is regenerated from an AST, except the columns a merge-columns resolution adds,
which are marked as generated. A statement the mapping patches or drops (`patches`) comes as core/patches.py put
it in the file as patched: a comment line naming the decision, then the replacement; the legacy replay runs that
same text, so both trees carry the decision the same way.

Rendering never moves a statement boundary. psql runs a file's last statement even without its `;`, but in a
canonical file more text follows it (the next source, RESET lines, generated columns), so that `;` is written
for it, right after its code and before any comment that trails it: no line moves.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import jinja2

from consolidate import __version__
from consolidate.core.comments import code_end, code_start
from consolidate.core.hazards import wrapped
from consolidate.core.session import resets
from consolidate.core.statements import split
from consolidate.layout import GENERATED_MARKER, down_path, tree_version, version_path
from consolidate.model import (
    Action,
    Conflict,
    Decision,
    Duplicate,
    ObjectRef,
    ParsedFile,
    Plan,
    PlannedSource,
    PlannedTarget,
    ScanResult,
    Statement,
)
from consolidate.model import Mapping as MappingModel

SESSION_RESET_NOTE = (
    "-- consolidate: this source set session settings, which ended with its own psql run; reset them before "
    "the next source"
)
TRANSACTION_NOTE = "-- consolidate: transaction control left out: the version runs in one transaction"
GENERATED_SQL = "-- ==== consolidate: generated SQL ===="  # everything after this line is the generated rollback
_UP_LINE = re.compile(r"^-- up: (?P<path>\S+) sha256 (?P<sha>[0-9a-f]{64})$", re.M)
DATA_KINDS = frozenset({"Insert", "Update", "Delete", "Merge"})
_LINE_BREAKS = re.compile(r"[\r\n]+")  # what ends a -- comment for PostgreSQL


def later_migrations(paths: Iterable[str], mapping: MappingModel) -> set[str]:
    """Files of migrations written after the consolidation: numbered past its last version. Once the canonical
    tree is the source, new migrations are added to it by hand; they are not the consolidation's concern, so
    apply, report and verify leave them alone (the runner applies them)."""
    last = max((target.version for target in mapping.targets), default=0)
    later = set()
    for path in paths:
        version = tree_version(path)
        if version is not None and version > last:
            later.add(path)
    return later


@dataclass(frozen=True)
class GeneratedDown:
    """A rollback generated from a schema difference, valid for the up script with this checksum."""

    up_sha256: str
    sql: str


def read_generated(text: str) -> GeneratedDown | None:
    """The generated rollback a down file holds (its first line says so), to carry it into the next apply."""
    if not text.startswith(GENERATED_MARKER):
        return None
    found = _UP_LINE.search(text)
    if found is None:
        return None
    _, marker, body = text.partition(f"\n{GENERATED_SQL}\n")
    if not marker:
        return None
    return GeneratedDown(found.group("sha"), body.strip("\n"))


@dataclass(frozen=True)
class _Source:
    path: str
    sha256: str
    body: str


def _key(statement: Statement) -> tuple[str, int]:
    return (statement.path, statement.index)


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def terminated(text: str) -> str:
    """A legacy script whose last statement has its `;`, as psql read the file alone (see the module's note)."""
    chunks = split(text)
    if not chunks or not chunks[-1].is_statement:
        return text
    last = chunks[-1]
    return text[: last.offset] + _terminate(last.text)


def _terminate(statement: str) -> str:
    """The statement's text with its `;` after the code, before what trails it (a comment may end the file)."""
    end = code_end(statement)
    if not end or statement[end - 1] == ";":
        return statement
    return f"{statement[:end]};{statement[end:]}"


def without_wrapping(text: str) -> str:
    """A legacy script without the BEGIN … COMMIT that wraps it whole (its comments kept, a note in their
    place): the runner runs a down script in one transaction, and refuses one that opens its own."""
    chunks = split(text)
    statements = [chunk for chunk in chunks if chunk.is_statement]
    if not wrapped([chunk.text for chunk in statements]):
        return text
    ends = {id(statements[0]), id(statements[-1])}
    parts, noted = [], False
    for chunk in chunks:
        if id(chunk) in ends:
            lead = chunk.text[: code_start(chunk.text)]  # comments before the BEGIN or COMMIT stay
            parts.append(lead + ("\n" if lead.strip() and not lead.endswith("\n") else "") + TRANSACTION_NOTE)
            noted = True
        else:
            parts.append(_on_new_line(chunk.text) if noted else chunk.text)
            noted = False
    return "".join(parts)


def _one_line(value: object) -> str:
    """A value written into a comment line of ours: a line break in a name, path or description would end the
    comment and leave the rest of the line to be read as SQL."""
    return _LINE_BREAKS.sub(" ", str(value))


def _on_new_line(text: str) -> str:
    """Text that follows a comment line of ours: a statement on the same line would be commented out."""
    return text if text.startswith(("\n", "\r\n")) else "\n" + text


def _removed_line(duplicate: Duplicate) -> str:
    kept, removed = duplicate.kept, duplicate.removed
    where = f"kept at {kept.path}:{kept.line}"
    return "\n" + _one_line(f"-- consolidate: removed duplicate of {removed.target} (line {removed.line}), {where}")


def _left_out_line(conflict: Conflict) -> str:
    assert conflict.resolution is not None
    first = conflict.first
    return "\n" + _one_line(
        f"-- consolidate: {conflict.object} left out (keep-first: first defined at {first.path}:{first.line});"
        f" {' '.join(conflict.resolution.reason.split())}"
    )


def merged_columns(conflict: Conflict) -> str:
    """ALTER TABLE … ADD COLUMN IF NOT EXISTS for the columns the skipped definition would have added."""
    table = conflict.object.qualified
    note = f"-- consolidate: generated by merge-columns for {conflict.object}: columns the skipped definition adds"
    lines = ["\n" + _one_line(note)]
    lines += [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column.name} {column.definition};"
        for column in conflict.second.facts.columns
        if column.name in conflict.lost_columns
    ]
    return "\n".join(lines)


def _merges(conflict: Conflict) -> bool:
    resolution = conflict.resolution
    return resolution is not None and resolution.decision is Decision.MERGE_COLUMNS and bool(conflict.lost_columns)


def _pieces(
    parsed: ParsedFile, kept: set[tuple[str, int]], removed: Mapping[tuple[str, int], Duplicate], plan: Plan
) -> Iterator[str]:
    """The file's chunks in order: kept ones verbatim (the last one terminated), left-out ones as one comment
    line each."""
    left_out = {_key(c.second): c for c in plan.conflicts if c.resolution is not None}
    statements = iter(parsed.statements)
    commented = False  # the last piece written ends on a comment line of ours
    for chunk in parsed.chunks:
        text = _on_new_line(chunk.text) if commented else chunk.text
        if not chunk.is_statement:
            yield text
            commented = False
            continue
        key = _key(next(statements))
        if key in kept:
            yield _terminate(text) if chunk is parsed.chunks[-1] else text
            conflict = left_out.get(key)
            if conflict is not None and _merges(conflict):
                yield merged_columns(conflict)
            commented = False
        elif key in removed or key in left_out:
            yield _removed_line(removed[key]) if key in removed else _left_out_line(left_out[key])
            commented = True
        elif key in plan.transaction_wraps:
            yield f"\n{TRANSACTION_NOTE}"
            commented = True


def _source(source: PlannedSource, parsed: ParsedFile, plan: Plan, followed: bool = False) -> _Source:
    """A source's part of its version; `followed` when another source comes after it in the same version."""
    kept = {_key(statement) for statement in source.statements}
    removed = {_key(duplicate.removed): duplicate for duplicate in source.removed}
    body = _ensure_newline("".join(_pieces(parsed, kept, removed, plan)).lstrip("\n"))
    undo = resets(statement.text for statement in source.statements) if followed else ()
    if undo:
        body += f"\n{SESSION_RESET_NOTE}\n" + "\n".join(undo) + "\n"
    return _Source(_one_line(source.path), source.sha256, body)


def _decided(plan: Plan, target: PlannedTarget) -> str:
    """The decisions of the mapping on this version's legacy statements, counted (each is noted where it applies)."""
    sources = {source.path for source in target.sources}
    verbs = [patch.verb for patch in plan.mapping.patches if patch.file in sources]
    counted = [f"{verbs.count(verb)} {verb}" for verb in ("patched", "dropped") if verb in verbs]
    return f", {' and '.join(counted)} by the mapping" if counted else ""


def render_migration(
    env: jinja2.Environment, plan: Plan, target: PlannedTarget, parsed: Mapping[str, ParsedFile]
) -> str:
    left_out = sum(
        1
        for c in plan.conflicts
        if c.resolution is not None
        and c.resolution.decision is Decision.KEEP_FIRST
        and any(c.second.path == parsed[s.path].path for s in target.sources)
    )
    counts = f"{target.kept} kept, {target.removed} removed as duplicates"
    if left_out:
        counts += f", {left_out} left out by a resolution"
    counts += _decided(plan, target)
    description = target.target.description
    label = target.target.label(plan.mapping.width)
    return env.get_template("migration.sql.j2").render(
        title=_one_line(f"{label}: {description}" if description else label),
        tool_version=__version__,
        mapping=_mapping_name(plan.mapping.path),
        sources=[
            _source(source, parsed[source.path], plan, followed=index < len(target.sources) - 1)
            for index, source in enumerate(target.sources)
        ],
        counts=counts,
    )


_RELATION_KINDS = frozenset({"table", "view", "materialized view", "sequence", "foreign table"})


def first_created(plan: Plan) -> dict[ObjectRef, int]:
    """The version that first creates each object the tree creates."""
    first: dict[ObjectRef, int] = {}
    for target in plan.targets:
        for ref in created_objects(target):
            first.setdefault(ref, target.target.version)
    return first


def replaced_objects(first: Mapping[ObjectRef, int], target: PlannedTarget) -> set[ObjectRef]:
    """What this version creates that an earlier version created already (`first`: see `first_created`): CREATE
    OR REPLACE of it replaces it, and a rollback must restore the earlier definition, not drop it."""
    return {ref for ref in created_objects(target) if first.get(ref, target.target.version) < target.target.version}


def created_objects(target: PlannedTarget) -> list[ObjectRef]:
    """What the kept statements create, in order and without repeats."""
    seen: dict[ObjectRef, None] = {}
    for source in target.sources:
        for statement in source.statements:
            if statement.facts.action in (Action.CREATE, Action.REPLACE) and statement.target is not None:
                seen.setdefault(statement.target, None)
            for extra in statement.facts.also_creates:
                seen.setdefault(extra, None)
    return list(seen)


def changed_objects(target: PlannedTarget) -> list[str]:
    """What the kept statements alter, drop, grant on or comment on (objects they did not create), in order and
    without repeats, each with what is done to it: a stub names them, so that a rollback restores them."""
    created = set(created_objects(target))
    # A COMMENT ON VIEW or ALTER of a relation names it by whatever kind the statement says: a relation this
    # version creates is new whatever the kind its later statements call it by.
    relations = {(ref.schema, ref.name) for ref in created if ref.kind in _RELATION_KINDS}
    seen: dict[str, None] = {}
    for source in target.sources:
        for statement in source.statements:
            facts = statement.facts
            if facts.action in (Action.ALTER, Action.DROP) and facts.target is not None:
                touched = [facts.target, *facts.also_drops]
            elif facts.action is Action.OTHER and statement.kind not in DATA_KINDS and statement.parsed:
                touched = list(facts.references)
            else:
                continue
            verb = facts.action.value if facts.action is not Action.OTHER else statement.kind.lower()
            for ref in touched:
                new = ref in created or (ref.kind in _RELATION_KINDS and (ref.schema, ref.name) in relations)
                if not new:
                    seen.setdefault(f"{ref} ({verb})", None)
    return list(seen)


def _unread(target: PlannedTarget) -> list[str]:
    """Where the kept statements hold ones of which consolidate could read no object (DO blocks, syntax its
    parsers lack)."""
    return [
        f"{s.path}:{s.line}"
        for source in target.sources
        for s in source.statements
        if not s.parsed and s.target is None and not s.facts.references
    ]


def _data_changes(target: PlannedTarget) -> list[str]:
    return [
        f"{s.kind.upper()} at {s.path}:{s.line}"
        for source in target.sources
        for s in source.statements
        if s.kind in DATA_KINDS
    ]


def render_down(
    env: jinja2.Environment,
    plan: Plan,
    target: PlannedTarget,
    scan: ScanResult,
    generated: GeneratedDown | None = None,
    up_sha256: str = "",
    first: Mapping[ObjectRef, int] | None = None,
) -> str:
    """A generated rollback still valid for this up script; else the legacy down scripts in reverse source order
    when every source has one; otherwise a stub that refuses to run. `first`: `first_created(plan)`, computed
    once by a caller rendering every version."""
    label = target.target.label(plan.mapping.width)
    downs = [source.down for source in target.sources]
    if generated is not None and generated.up_sha256 == up_sha256:
        return env.get_template("down.sql.j2").render(
            stub=False,
            generated=generated.sql,
            label=label,
            up_path=version_path(label),
            up_sha256=up_sha256,
            data_changes=[_one_line(change) for change in _data_changes(target)],
        )
    if all(downs):
        sources = []
        for source in reversed(target.sources):
            legacy = scan.file(source.down or "")
            assert legacy is not None, source.down
            body = _ensure_newline(without_wrapping(terminated(legacy.text)))
            sources.append(_Source(_one_line(legacy.path), legacy.sha256, body))
        return env.get_template("down.sql.j2").render(
            stub=False,
            generated="",
            label=label,
            tool_version=__version__,
            mapping=_mapping_name(plan.mapping.path),
            sources=sources,
        )
    replaced = replaced_objects(first if first is not None else first_created(plan), target)
    return env.get_template("down.sql.j2").render(
        stub=True,
        label=label,
        missing=[_one_line(source.path) for source in target.sources if source.down is None],
        partial=[_one_line(source.down) for source in target.sources if source.down is not None],
        objects=[_one_line(ref) for ref in reversed(created_objects(target)) if ref not in replaced],
        replaced=[_one_line(ref) for ref in reversed(created_objects(target)) if ref in replaced],
        changed=[_one_line(item) for item in reversed(changed_objects(target))],
        unread=[_one_line(item) for item in _unread(target)],
        changes_data=any(s.kind in DATA_KINDS for source in target.sources for s in source.statements),
    )


def render_tree(
    env: jinja2.Environment,
    plan: Plan,
    scan: ScanResult,
    parsed: Mapping[str, ParsedFile],
    generated: Mapping[str, GeneratedDown] | None = None,
) -> dict[str, str]:
    """versions/ and down/ of the canonical tree: relative path → text. `generated` is keyed by down path."""
    width = plan.mapping.width
    files: dict[str, str] = {}
    first = first_created(plan)
    for target in plan.targets:
        up = render_migration(env, plan, target, parsed)
        label = target.target.label(width)
        files[version_path(label)] = up
        path = down_path(label)
        up_sha256 = hashlib.sha256(up.encode("utf-8")).hexdigest()
        files[path] = render_down(env, plan, target, scan, (generated or {}).get(path), up_sha256, first)
    return files


def _mapping_name(path: str) -> str:
    """The mapping as a generated header names it: its file name only, so that the same tree is the same bytes
    whichever folder the command ran from (a configuration file hands the mapping over as an absolute path)."""
    return _one_line(PurePosixPath(path.replace("\\", "/")).name)
