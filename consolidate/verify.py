"""Prove a consolidation on PostgreSQL: replay the legacy sources and the canonical tree, compare, prove rollbacks.

Order of work, each step on a scratch database that is always dropped:
1. legacy: every mapped legacy source in the mapping's order into L (a failing statement is reported and the
   replay goes on, so one run lists every broken file);
2. canonical: versions/ in order into C, one transaction per version, copying C after each version
   (`CREATE DATABASE … TEMPLATE`) so that the rollback proof never replays a prefix again;
3. equivalence: L and C compared both ways (results.dbdiff with privileges, domains, table rows);
4. rollback proof, top down: down/k applied to a copy of the database at k must give the database at k-1.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consolidate import pipeline
from consolidate.core.comments import code_start
from consolidate.core.lines import BREAK
from consolidate.core.patches import describe, legacy_line, patched_text, shown
from consolidate.core.plan import created_roles, lent_server_changes
from consolidate.core.prelude import Prelude
from consolidate.db.diff import SchemaDiff, compare, read_early, reconcile_sql
from consolidate.db.prelude import apply_prelude, prelude_roles
from consolidate.db.replay import replay_files
from consolidate.db.replay_roles import ReplayRoles, replay_roles
from consolidate.db.server import (
    DEBIAN,
    SCRATCH_PREFIX,
    DebianLayout,
    Server,
    copy_database,
    postgres,
    scratch_database,
    version_text,
)
from consolidate.errors import EXIT_FAIL, EXIT_USAGE, ConsolidateError
from consolidate.io.output import read_output
from consolidate.layout import LOCK_NAME, STUB_MARKER, VERIFICATION_NAME, down_path, version_path
from consolidate.model import Decision, Diagnostic, Location, Plan, Statement
from consolidate.postgres.consequences import link
from consolidate.postgres.extensions import (
    called_functions,
    needed_extensions,
    stand_in_blockers,
    stand_in_sql,
    ways_out,
)
from consolidate.postgres.failures import Failure
from consolidate.render.tree import GeneratedDown, merged_columns

FORMAT = 1


@dataclass(frozen=True)
class VersionResult:
    version: int
    label: str
    replay: str  # "ok" | "failed"
    rollback: str  # "verified" | "wrong" | "failing" | "stub" | "not proven" (when the up replay failed)
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verification:
    server: str
    server_version: str
    stand_ins: tuple[str, ...]
    legacy_failures: tuple[Failure, ...]
    canonical_failures: tuple[Failure, ...]
    diff: SchemaDiff | None
    versions: tuple[VersionResult, ...]
    outputs: dict[str, str] = field(default_factory=dict)  # path → sha256 of the files proven
    expected: tuple[str, ...] = ()  # differences a recorded resolution causes on purpose
    decided: tuple[str, ...] = ()  # decisions of the mapping on legacy statements (patched, dropped): on purpose too

    @property
    def equivalent(self) -> bool:
        return self.diff is not None and self.diff.equivalent

    @property
    def proven(self) -> bool:
        rollbacks_ok = all(v.rollback in ("verified", "stub") for v in self.versions)
        return not self.legacy_failures and not self.canonical_failures and self.equivalent and rollbacks_ok

    def document(self, date: str) -> dict[str, Any]:
        """verification.json: what `consolidate report` turns into its checklist."""
        return {
            "format": FORMAT,
            "proven": self.proven,
            "date": date,
            "server": self.server,
            "server_version": self.server_version,
            "stand_ins": list(self.stand_ins),
            "equivalent": self.equivalent,
            "expected_differences": list(self.expected) + list(self.decided),
            "differences": list(self.diff.objects()) if self.diff is not None else [],
            "legacy_failures": [f.diagnostic().to_dict() for f in self.legacy_failures],
            "canonical_failures": [f.diagnostic().to_dict() for f in self.canonical_failures],
            "versions": [
                {
                    "version": v.version,
                    "label": v.label,
                    "replay": v.replay,
                    "rollback": v.rollback,
                    "detail": list(v.detail),
                }
                for v in self.versions
            ],
            "outputs": dict(sorted(self.outputs.items())),
        }


@dataclass(frozen=True)
class _Tree:
    """The canonical files on disk: per version its up and down text."""

    labels: tuple[tuple[int, str], ...]
    up: dict[int, tuple[str, str]]  # version → (display path, text)
    down: dict[int, tuple[str, str]]
    hashes: dict[str, str]


def _read_tree(done: pipeline.Planned, output: Path) -> _Tree:
    files = read_output(output)
    if LOCK_NAME not in files:
        raise ConsolidateError.at(
            "verify.no-tree",
            "the canonical tree has not been written here",
            Location(str(output)),
            hint="run `consolidate apply` first",
        )
    width = done.plan.mapping.width
    labels: list[tuple[int, str]] = []
    up: dict[int, tuple[str, str]] = {}
    down: dict[int, tuple[str, str]] = {}
    hashes: dict[str, str] = {}
    for target in done.plan.targets:
        version, label = target.target.version, target.target.label(width)
        labels.append((version, label))
        for kind, path in (("up", version_path(label)), ("down", down_path(label))):
            data = files.get(path)
            if data is None:
                raise ConsolidateError.at(
                    "verify.missing-file",
                    "missing from the canonical tree",
                    Location(str(output / path)),
                    hint="run `consolidate apply`",
                )
            hashes[path] = hashlib.sha256(data).hexdigest()
            (up if kind == "up" else down)[version] = (str(output / path), data.decode("utf-8", errors="replace"))
    return _Tree(tuple(labels), up, down, hashes)


def _stand_ins(
    done: pipeline.Planned, server: Server, allow: bool, needed: dict[str, list[Location]]
) -> dict[str, set[str]]:
    """Extensions the trees create that the server lacks, each with the functions of it the trees call."""
    missing = sorted(set(needed) - set(server.available_extensions))
    if not missing:
        return {}
    calls = called_functions(list(done.parsed.values()))
    problems: list[Diagnostic] = []
    chosen: dict[str, set[str]] = {}
    for extension in missing:
        called = set(calls.get(extension, {}))
        if allow and stand_in_sql(extension, called) is not None:
            chosen[extension] = called
            continue
        problems.append(_no_stand_in(extension, called, calls.get(extension, {}), needed, server, allow))
    if problems:
        raise ConsolidateError(problems, exit_code=EXIT_USAGE)
    return chosen


def _expected(plan: Plan) -> list[tuple[str, str]]:
    """The schema changes recorded resolutions make on purpose: (what, the SQL the canonical tree runs for it)."""
    return [
        (f"{c.object}: columns {', '.join(c.lost_columns)} added by merge-columns", merged_columns(c))
        for c in plan.conflicts
        if c.resolution is not None and c.resolution.decision is Decision.MERGE_COLUMNS and c.lost_columns
    ]


def _no_stand_in(
    extension: str,
    called: set[str],
    sites: dict[str, list[Location]],
    needed: dict[str, list[Location]],
    server: Server,
    allow: bool,
) -> Diagnostic:
    """Why an extension cannot be stood in: the function without an honest stand-in, at the line that calls it."""
    lacks = f"the trees need extension {extension}, which {server.describe()} lacks"
    if not allow:
        where = next(iter(needed[extension]), Location(extension))
        return Diagnostic(
            "verify.extension", f"{lacks}; stand-ins are refused (--no-stand-ins)", where, ways_out(extension)
        )
    blockers = stand_in_blockers(extension, called)
    function = blockers[0] if blockers else ""
    where = next(iter(sites.get(function, [])), next(iter(needed[extension]), Location(extension)))
    named = f"{function}() has no honest stand-in in core PostgreSQL" if function else "it has no stand-in"
    return Diagnostic("verify.extension", f"{lacks}; {named}", where, ways_out(extension))


def legacy_files(done: pipeline.Planned) -> list[tuple[str, str]]:
    """The mapped legacy files in mapping order, each (path as the plan shows it, text): what a legacy replay runs.

    A file the mapping has decisions on (`patches`) runs as patched, as it was planned: legacy-as-patched is what
    the canonical tree must equal, and each decision is listed as an intended difference.
    """
    mapping = done.plan.mapping
    patched = {patch.file for patch in mapping.patches}
    files = []
    for target in mapping.targets:
        for source in target.sources:
            legacy = done.scan.file(source)
            assert legacy is not None
            text = patched_text(done.parsed[source]) if source in patched else legacy.text
            files.append((pipeline.display_path(mapping, source), text))
    return files


def _at_legacy_lines(failures: tuple[Failure, ...], done: pipeline.Planned) -> tuple[Failure, ...]:
    """Failures in a patched file, moved from the lines of the text replayed to the legacy file's own."""
    mapping = done.plan.mapping
    parsed = {pipeline.display_path(mapping, patch.file): done.parsed[patch.file] for patch in mapping.patches}
    return tuple(
        replace(failure, line=legacy_line(parsed[failure.path], failure.line)) if failure.path in parsed else failure
        for failure in failures
    )


def decisions(plan: Plan) -> tuple[str, ...]:
    """Each decision of the mapping on a legacy statement, as an intended difference between legacy and canonical."""
    return tuple(describe(patch, shown(plan.mapping, patch)) for patch in plan.mapping.patches)


@contextmanager
def _roles(server: Server, prelude: Prelude | None) -> Iterator[list[str]]:
    """The prelude's roles for the whole run (roles are cluster-wide: only those created here are dropped)."""
    if prelude is None:
        yield []
        return
    with prelude_roles(server, prelude) as created:
        yield created


def _prepare(conninfo: str, prelude: Prelude | None, stand_ins: dict[str, set[str]]) -> None:
    """What the platform provides, in a new scratch database, before any migration runs."""
    if prelude is None:
        return
    failures = apply_prelude(conninfo, prelude, stand_ins=stand_ins)
    if failures:
        raise ConsolidateError([failure.diagnostic() for failure in failures])


@contextmanager
def _canonical(
    server: Server, tree: _Tree, stand_ins: dict[str, set[str]], prelude: Prelude | None, around: set[int]
) -> Iterator[tuple[str, dict[int, str], list[Failure], set[int]]]:
    """Replay versions in order into one database: (final, snapshots, failures, failed versions).

    The database is copied (CREATE DATABASE … TEMPLATE) only at k and k-1 for each version k in `around`:
    the rollback proof and the rollback generator compare exactly those, and never replay a prefix again. The
    snapshot of the last version is the final database itself; the rollback proof applies each down script to
    its snapshot in place, top down, once the final database has been compared.
    """
    wanted = around | {v - 1 for v in around}
    with ExitStack() as stack:
        build = stack.enter_context(scratch_database(server, "canonical"))
        _prepare(build, prelude, stand_ins)
        snapshots = {0: stack.enter_context(copy_database(server, build, "at0"))} if 0 in wanted else {}
        failures: list[Failure] = []
        failed: set[int] = set()
        rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
        for version, _ in tree.labels:
            replayed = replay_files(build, [tree.up[version]], per_file_transaction=True, stand_ins=stand_ins)
            failures += replayed.failures
            rolled_back |= replayed.rolled_back
            if replayed.failures:
                failed.add(version)
            if version in wanted:
                # The last version's database is the build itself: nothing is replayed into it any more.
                last = version == tree.labels[-1][0]
                snapshots[version] = (
                    build if last else stack.enter_context(copy_database(server, build, f"at{version}"))
                )
        # Each version was replayed on its own: what a failed version's rollback took from the later ones shows
        # only across them.
        order = {tree.up[version][0]: version for version, _ in tree.labels}
        failures = list(link(failures, (), order, rolled_back))
        yield build, snapshots, failures, failed


def _rollback(
    server: Server,
    tree: _Tree,
    version: int,
    label: str,
    snapshots: dict[int, str],
    stand_ins: dict[str, set[str]],
    failed: set[int],
) -> VersionResult:
    path, text = tree.down[version]
    replay = "failed" if version in failed else "ok"
    if text.startswith(STUB_MARKER):
        return VersionResult(version, label, replay, "stub")
    if replay == "failed":
        return VersionResult(version, label, replay, "not proven", ("the up script failed",))
    # In place: proofs run top down, so the database at k has served as the reference of k+1's proof already,
    # and nothing needs it after this one (a copy per rollback cost 0.05-0.25 s).
    trial = snapshots[version]
    replayed = replay_files(trial, [(path, text)], per_file_transaction=True, stand_ins=stand_ins)
    if replayed.failures:
        return VersionResult(version, label, replay, "failing", tuple(str(f.diagnostic()) for f in replayed.failures))
    diff = compare(trial, snapshots[version - 1])
    if diff.equivalent:
        return VersionResult(version, label, replay, "verified")
    return VersionResult(version, label, replay, "wrong", diff.objects())


@dataclass(frozen=True)
class ServerOptions:
    """How to get the server: `verify`'s and `apply --generate-down`'s options, passed along as one value."""

    database_url: str | None = None
    postgres_bin: Path | None = None
    allow_stand_ins: bool = True
    search_path: str | None = None  # where to look for pg_config (tests hide the system binaries with "")
    debian: DebianLayout = DEBIAN
    scratch_prefix: str = SCRATCH_PREFIX  # scratch databases are <prefix>_<purpose>_<pid>_<hex>


@dataclass(frozen=True)
class _Run:
    """One run against a server: the plan, the canonical tree on disk, the server and what stands in."""

    done: pipeline.Planned
    tree: _Tree
    server: Server
    stand_ins: dict[str, set[str]]
    prelude: Prelude | None
    roles: ReplayRoles  # the roles the trees create: each replay's, set aside or dropped


@contextmanager
def _run(mapping_path: Path, options: ServerOptions) -> Iterator[_Run]:
    """Plan, read the tree, start or reach the server (with the prelude's roles) for the block; the roles its
    replays create are dropped after the block's scratch databases."""
    done = pipeline.planned(mapping_path)
    tree = _read_tree(done, pipeline.output_of(done.plan.mapping, None))
    needed = needed_extensions(list(done.parsed.values()))
    needs = frozenset(needed)
    prelude = done.loaded.prelude
    if options.database_url:
        _refuse_server_changes(done)
    with (
        postgres(
            options.database_url,
            postgres_bin=options.postgres_bin,
            needs=needs,
            search_path=options.search_path,
            debian=options.debian,
            scratch_prefix=options.scratch_prefix,
        ) as server,
        _roles(server, prelude),
        replay_roles(server, created_roles(_mapped_statements(done))) as roles,
    ):
        yield _Run(done, tree, server, _stand_ins(done, server, options.allow_stand_ins, needed), prelude, roles)


def _mapped_statements(done: pipeline.Planned) -> Iterator[Statement]:
    """Every statement of the mapped legacy files: the canonical tree runs the same ones, verbatim."""
    for target in done.plan.mapping.targets:
        for source in target.sources:
            yield from done.parsed[source].statements


def _refuse_server_changes(done: pipeline.Planned) -> None:
    """Stop before anything runs when a mapped statement would change the server at --database-url itself."""
    found = lent_server_changes(done.parsed.values())
    if found:
        raise ConsolidateError(found)


def verify(mapping_path: Path, options: ServerOptions) -> Verification:
    """Replay both trees on PostgreSQL and prove them equivalent, and every non-stub rollback right."""
    with _run(mapping_path, options) as run:
        server, tree, stand_ins = run.server, run.tree, run.stand_ins
        with scratch_database(server, "legacy") as legacy_db:
            _prepare(legacy_db, run.prelude, stand_ins)
            legacy = replay_files(legacy_db, legacy_files(run.done), per_file_transaction=False, stand_ins=stand_ins)
            expected = _expected(run.done.plan)
            # A recorded resolution changes the schema on purpose: make the same change to the legacy database,
            # so that what remains of the comparison is only what nobody decided.
            adjusted = replay_files(legacy_db, [(why, sql) for why, sql in expected], per_file_transaction=True)
            # The canonical replay creates the roles the legacy one did (42710 if they were left, issue 13, 7):
            # the legacy database is read while they have their names, then they are set aside.
            legacy_side = read_early(legacy_db) if run.roles.created() else legacy_db
            run.roles.set_aside()
            proven = {v for v, _ in tree.labels if not tree.down[v][1].startswith(STUB_MARKER)}
            with _canonical(server, tree, stand_ins, run.prelude, proven) as (
                canonical_db,
                snapshots,
                failures,
                failed,
            ):
                diff = compare(legacy_side, canonical_db)
                versions = tuple(
                    _rollback(server, tree, version, label, snapshots, stand_ins, failed)
                    for version, label in reversed(tree.labels)
                )
        return Verification(
            server=server.describe(),
            server_version=version_text(server.version),
            stand_ins=tuple(sorted(stand_ins)),
            legacy_failures=_left_out(_at_legacy_lines(legacy.failures, run.done), run.done.plan) + adjusted.failures,
            canonical_failures=tuple(failures),
            expected=tuple(why for why, _ in expected),
            decided=decisions(run.done.plan),
            diff=diff,
            versions=tuple(sorted(versions, key=lambda v: v.version)),
            outputs=tree.hashes,
        )


def _left_out(failures: tuple[Failure, ...], plan: Plan) -> tuple[Failure, ...]:
    """Legacy failures at statements the canonical tree leaves out, saying so: why the legacy tree fails where
    the canonical one does not (a repeated CREATE TRIGGER dropped as a duplicate, a conflict resolved keep-first)."""
    reasons: dict[str, list[tuple[Statement, str]]] = {}
    for duplicate in plan.duplicates:
        why = f"the canonical tree leaves this statement out: it repeats {duplicate.kept.location}"
        reasons.setdefault(duplicate.removed.path, []).append((duplicate.removed, why))
    for conflict in plan.conflicts:
        if conflict.resolution is not None and conflict.resolution.decision is Decision.KEEP_FIRST:
            why = (
                f"the canonical tree leaves this definition out (keep-first: the first is at {conflict.first.location})"
            )
            reasons.setdefault(conflict.second.path, []).append((conflict.second, why))
    explained = []
    for failure in failures:
        found = next((why for statement, why in reasons.get(failure.path, []) if _holds(statement, failure.line)), "")
        explained.append(replace(failure, hint="; ".join(filter(None, [failure.hint, found]))) if found else failure)
    return tuple(explained)


def _holds(statement: Statement, line: int) -> bool:
    """Whether `line` of its file lies within the statement (its leading comments, above its line, left out)."""
    body = statement.text[code_start(statement.text) :].rstrip()
    return statement.line <= line <= statement.line + len(BREAK.findall(body))


def generate_downs(mapping_path: Path, options: ServerOptions) -> dict[str, GeneratedDown]:
    """For each version whose rollback is a stub or failed its last proof: the SQL turning the database at
    that version into the database at the one before (results.dbdiff), keyed by down path."""
    with _run(mapping_path, options) as run:
        mapping, tree = run.done.plan.mapping, run.tree
        redo = _disproven(read_output(pipeline.output_of(mapping, None)))
        chosen = {
            target.target.version: target
            for target in run.done.plan.targets
            if tree.down[target.target.version][1].startswith(STUB_MARKER) or target.target.label(mapping.width) in redo
        }
        with _canonical(run.server, tree, run.stand_ins, run.prelude, set(chosen)) as (_, snapshots, failures, _):
            if failures:
                raise ConsolidateError([f.diagnostic() for f in failures], exit_code=EXIT_FAIL)
            generated = {}
            for version, target in chosen.items():
                sql = droppable(reconcile_sql(snapshots[version], snapshots[version - 1])).strip()
                body = sql or "-- The schema at this version equals the one before it: nothing to undo."
                label = target.target.label(mapping.width)
                generated[down_path(label)] = GeneratedDown(tree.hashes[version_path(label)], body)
    return generated


_DROP = re.compile(
    r"^(drop (?:table|type|sequence|view|materialized view|function|domain) (?:if exists )?[^;]*?);$", re.M
)
_DROP_CONSTRAINT = re.compile(r'^(alter table "[^"]+"\."[^"]+" drop constraint) (?!if exists)', re.M)


def droppable(sql: str) -> str:
    """dbdiff's SQL made robust for a rollback, whose every statement drops what the version created.

    dbdiff orders drops by kind, not by dependency: a table is dropped before the function that uses its row
    type (2BP01), and a partition's inherited constraint is dropped after its parent's took it away (42704).
    CASCADE and IF EXISTS let the drops land in any order. Safe because the rollback proof follows: anything
    CASCADE removed that the previous version had shows up as a difference, and the rollback is reported wrong.
    """
    sql = _DROP.sub(lambda m: m.group(0) if m.group(1).endswith(" cascade") else f"{m.group(1)} cascade;", sql)
    return _DROP_CONSTRAINT.sub(r"\1 if exists ", sql)


def _disproven(files: dict[str, bytes]) -> set[str]:
    """Labels whose rollback the last verification found wrong or failing."""
    try:
        document = json.loads(files.get(VERIFICATION_NAME, b"{}"))
    except ValueError:
        return set()
    versions = document.get("versions", []) if isinstance(document, dict) else []
    return {
        str(item.get("label"))
        for item in versions
        if isinstance(item, dict) and item.get("rollback") in ("wrong", "failing")
    }
