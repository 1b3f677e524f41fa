"""Prove a consolidation on PostgreSQL: replay the legacy sources and the canonical tree, compare, prove rollbacks.

Order of work, each step on a scratch database that is always dropped:
1. legacy: every mapped legacy source in the mapping's order into L (a failing statement is reported and the
   replay goes on, so one run lists every broken file);
2. canonical: versions/ in order into C, one transaction per version, copying C after each version
   (`CREATE DATABASE … TEMPLATE`) so that the rollback proof never replays a prefix again;
3. equivalence: L and C compared both ways (results.dbdiff with privileges, domains, table rows);
4. rollback proof, top down: down/k applied to a copy of the database at k must give the database at k-1.

Nothing that a replay can report stops it (issue 14, "never a dead end"): a legacy syntax error is a failure at
its file:line like any other; an extension no server has and no stand-in can play makes its CREATE EXTENSION
fail at its line, and what fails because of it is its consequence; when the plan has errors, so that `apply`
cannot write the canonical tree, the legacy replay still runs and the verification says why steps 2-4 did not.
Every failure of both replays is then gathered under its root cause (postgres/root_causes.py), canonical ones
at the legacy file:line of their statement (core/provenance.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Set
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consolidate import pipeline
from consolidate.core.comments import code_start
from consolidate.core.lines import BREAK
from consolidate.core.patches import describe, legacy_line, patched_text, shown
from consolidate.core.plan import created_roles, lent_server_changes
from consolidate.core.prelude import Prelude
from consolidate.core.proof import DISPUTED, Proof, State, read_proof
from consolidate.core.provenance import Provenance, provenance
from consolidate.db.diff import Schema, SchemaDiff, Sides, compare, read_early, read_schema, schema_sql
from consolidate.db.fingerprint import Watch
from consolidate.db.installations import DEBIAN, DebianLayout, Production
from consolidate.db.prelude import apply_prelude, prelude_roles
from consolidate.db.replay import replay_files, replaying
from consolidate.db.replay_roles import ReplayRoles, replay_roles
from consolidate.db.server import (
    SCRATCH_PREFIX,
    Server,
    copy_database,
    postgres,
    scratch_database,
    version_text,
)
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.io.output import read_output
from consolidate.layout import LOCK_NAME, STUB_MARKER, VERIFICATION_NAME, down_path, version_path
from consolidate.model import Decision, Location, Mapping, ObjectRef, Plan, Rollbacks, Statement
from consolidate.postgres.consequences import Removed, created, link
from consolidate.postgres.extensions import called_functions, needed_extensions, stand_in_blockers, stand_in_sql
from consolidate.postgres.failures import SYNTAX_ERROR, Failure, hints, newer_syntax_hint
from consolidate.postgres.root_causes import RootCause, root_causes
from consolidate.render.tree import GeneratedDown, merged_columns
from consolidate.steps import stage

Calls = dict[str, dict[str, list[Location]]]  # extension → its function → where the trees call it

FORMAT = 1
SYNTAX_HINT = (
    "correct the statement with a `patch` decision in the mapping, or leave it out with `drop` (the legacy file "
    "stays as it is)"
)


@dataclass(frozen=True)
class VersionResult:
    version: int
    label: str
    replay: str  # "ok" | "failed"
    rollback: str  # "verified" | "wrong" | "failing" | "stub" | "skipped" | "not proven" (the up replay failed)
    detail: tuple[str, ...] = ()
    carried: bool = False  # the last proof's result, kept: nothing it depends on changed since (--rollbacks changed)


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
    causes: tuple[RootCause, ...] = ()  # every failure of both replays under the cause a person fixes
    canonical_not_run: str = ""  # why the canonical tree was not replayed (and nothing after it), when it was not
    setup: str = ""  # what every database state depended on besides the files (see `_setup`): for carrying rollbacks

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
            "legacy_failures": [_failure_record(f) for f in self.legacy_failures],
            "canonical_failures": [_failure_record(f) for f in self.canonical_failures],
            "canonical_not_run": self.canonical_not_run or None,
            "root_causes": [_cause_record(cause) for cause in self.causes],
            "versions": [
                {
                    "version": v.version,
                    "label": v.label,
                    "replay": v.replay,
                    "rollback": v.rollback,
                    "detail": list(v.detail),
                    "carried": v.carried,
                }
                for v in self.versions
            ],
            "outputs": dict(sorted(self.outputs.items())),
            "setup": self.setup,
        }


def _place(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"path": location.path, "line": location.line, "column": location.column}


def _failure_record(failure: Failure) -> dict[str, Any]:
    """One failure in verification.json: its diagnostic's keys, then its SQLSTATE, the legacy file:line of a
    canonical failure's statement (`source`) and what it is a consequence of (`cause`), when known."""
    cause = failure.cause
    return {
        **failure.diagnostic().to_dict(),
        "sqlstate": failure.sqlstate,
        "source": _place(failure.source),
        "cause": None if cause is None else {**(_place(cause.location) or {}), "skipped": cause.skipped or None},
    }


def _cause_record(cause: RootCause) -> dict[str, Any]:
    """One root cause in verification.json: where to fix it, what PostgreSQL said, and how much it explains."""
    return {
        **(_place(cause.location) or {}),
        "sqlstate": cause.sqlstate,
        "message": cause.message,
        "hint": cause.hint,
        "detail": cause.detail,
        "replays": list(cause.replays),
        "canonical": _place(cause.canonical),
        "repeats": [_place(place) for place in cause.repeats],
        "consequences": len(cause.consequences),
        "failures": cause.failures,
    }


@dataclass(frozen=True)
class _Tree:
    """The canonical files on disk: per version its up and down text."""

    labels: tuple[tuple[int, str], ...]
    up: dict[int, tuple[str, str]]  # version → (display path, text)
    down: dict[int, tuple[str, str]]
    hashes: dict[str, str]
    previous: Proof  # the last proof, read from the tree's verification.json


def _read_tree(done: pipeline.Planned, output: Path) -> _Tree | None:
    """The canonical tree on disk; None when it is not all there and the plan has errors, so that `apply` cannot
    write it (the legacy replay is all verify can do then: issue 14, "never a dead end")."""
    try:
        return _tree_on_disk(done, output)
    except ConsolidateError:
        if done.plan.clean:
            raise  # `consolidate apply` writes it: the hint says so
        return None


def _tree_on_disk(done: pipeline.Planned, output: Path) -> _Tree:
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
    return _Tree(tuple(labels), up, down, hashes, read_proof(files.get(VERIFICATION_NAME), files))


def _not_run(plan: Plan) -> str:
    """Why the canonical tree was not replayed: the plan's errors keep `apply` from writing it."""
    errors = len(plan.errors)
    return (
        f"the plan has {errors} error{'s' if errors != 1 else ''}, so `consolidate apply` cannot write the canonical "
        "tree: only the legacy tree is diagnosed until they are settled (`consolidate plan` lists them)"
    )


def production(mapping: Mapping) -> Production | None:
    """The production major the mapping declares, with where: the server choice names it."""
    if mapping.postgres is None:
        return None
    return Production(mapping.postgres, str(mapping.postgres_location or Location(mapping.path)))


def _declared(mapping: Mapping, options: ServerOptions) -> int | None:
    """The production major: the mapping's, else the configuration's."""
    chosen = production(mapping) or options.production
    return chosen.major if chosen else None


def _standable(needed: dict[str, list[Location]], calls: Calls, allow: bool) -> frozenset[str]:
    """The extensions the trees create that an honest stand-in could play, should the server lack them."""
    if not allow:
        return frozenset()
    return frozenset(name for name in needed if stand_in_sql(name, set(calls.get(name, {}))) is not None)


def _stand_ins(
    server: Server, needed: dict[str, list[Location]], calls: Calls, standable: frozenset[str], allow: bool
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Extensions the trees create that the server lacks: those a stand-in plays, each with the functions of it the
    trees call; and those none can, each with why (said where its CREATE EXTENSION fails)."""
    missing = sorted(set(needed) - set(server.available_extensions))
    chosen: dict[str, set[str]] = {}
    unavailable: dict[str, str] = {}
    for extension in missing:
        called = set(calls.get(extension, {}))
        if extension in standable:
            chosen[extension] = called
        else:
            unavailable[extension] = _no_stand_in(extension, called, calls.get(extension, {}), allow)
    return chosen, unavailable


def _no_stand_in(extension: str, called: set[str], sites: dict[str, list[Location]], allow: bool) -> str:
    """Why an extension the server lacks is not stood in: refused, or a called function no core SQL can honestly
    compute (named with the line that calls it), or an extension consolidate knows no stand-in for."""
    lacks = f"the server lacks {extension}"
    if not allow:
        return f"{lacks}, and stand-ins are refused (--no-stand-ins)"
    blockers = stand_in_blockers(extension, called)
    if blockers:
        where = next(iter(sites.get(blockers[0], [])), None)
        at = f" (called at {where})" if where is not None else ""
        return f"{lacks}, and {blockers[0]}(){at} has no honest stand-in in core PostgreSQL"
    return f"{lacks}, and consolidate has no stand-in for it"


def _expected(plan: Plan) -> list[tuple[str, str]]:
    """The schema changes recorded resolutions make on purpose: (what, the SQL the canonical tree runs for it)."""
    return [
        (f"{c.object}: columns {', '.join(c.lost_columns)} added by merge-columns", merged_columns(c))
        for c in plan.conflicts
        if c.resolution is not None and c.resolution.decision is Decision.MERGE_COLUMNS and c.lost_columns
    ]


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
    """Failures in a patched file, moved from the lines of the text replayed to the legacy file's own; so are the
    causes they follow from, where the hint names them too."""
    mapping = done.plan.mapping
    parsed = {pipeline.display_path(mapping, patch.file): done.parsed[patch.file] for patch in mapping.patches}

    def moved(failure: Failure) -> Failure:
        if failure.path in parsed:
            failure = replace(failure, line=legacy_line(parsed[failure.path], failure.line))
        cause = failure.cause
        if cause is None or cause.location.path not in parsed:
            return failure
        at = cause.location
        legacy = replace(at, line=legacy_line(parsed[at.path], at.line)) if at.line is not None else at
        # The hint names the cause as `path:line` (postgres/consequences.py): the same place, at its legacy line.
        hint = re.sub(rf"{re.escape(f'{at.path}:{at.line}')}(?!\d)", f"{legacy.path}:{legacy.line}", failure.hint)
        return replace(failure, cause=replace(cause, location=legacy), hint=hint)

    return tuple(moved(failure) for failure in failures)


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


@dataclass(frozen=True)
class _Replayed:
    """The canonical replay: its final database, the copies it kept, its failures, and what its trials proved."""

    build: str
    snapshots: dict[int, str]
    failures: list[Failure]
    failed: set[int]
    verified: set[int] = field(default_factory=set)  # rollbacks proven in place by a trial


@contextmanager
def _canonical(
    server: Server,
    tree: _Tree,
    stand_ins: dict[str, set[str]],
    prelude: Prelude | None,
    around: set[int],
    removed: Removed | None = None,
    trials: Set[int] = frozenset(),
    after: Callable[[int, str], None] | None = None,
) -> Iterator[_Replayed]:
    """Replay versions in order into one database.

    `trials`: versions whose rollback is tried in place, right after the version ran: the down script runs in a
    transaction that is then rolled back, and the database's fingerprint then must equal the one the version found
    (db/fingerprint.py; a ``Watch`` keeps it up to date through the replay, reading again only what each version
    touched). Those that match are `verified`; any other outcome is left to the exact proof.

    `around`: the database is copied (CREATE DATABASE … TEMPLATE) at k and k-1 for each version k there: the
    exact rollback proof and the rollback generator compare exactly those, and never replay a prefix again. The
    snapshot of the last version is the final database itself; the exact proof applies each down script to
    its snapshot in place, top down, once the final database has been compared. `removed`: per version file,
    the objects whose creation the plan removed there as a duplicate (see `_removed`). `after(k, build)` is
    called with the database at 0 (the prelude run) and after each version k, while the replay waits: it may read
    the build database (on its own connection), never change it.
    """
    wanted = around | {v - 1 for v in around}
    with ExitStack() as stack:
        build = stack.enter_context(scratch_database(server, "canonical"))
        _prepare(build, prelude, stand_ins)
        if after is not None:
            after(0, build)
        snapshots = {0: stack.enter_context(copy_database(server, build, "at0"))} if 0 in wanted else {}
        failures: list[Failure] = []
        failed: set[int] = set()
        verified: set[int] = set()
        rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
        session = stack.enter_context(ExitStack())  # the open connection, closed before each copy
        replay = None
        # Trials keep one fingerprint up to date through the replay (db/fingerprint.Watch); copies need the
        # database to themselves, so a replay that makes them tries nothing.
        watch = Watch() if trials and not wanted else None
        what = "replaying the canonical tree" + (", trying each rollback in place" if watch else "")
        with stage(what, len(tree.labels)) as advance:
            for version, _ in tree.labels:
                if replay is None:
                    replay = session.enter_context(replaying(build, stand_ins))
                    if watch is not None:
                        replay.look(watch.install)
                if watch is not None:
                    down = tree.down[version] if version in trials else None
                    replayed, same = replay.version(tree.up[version], down, watch)
                    if same:
                        verified.add(version)
                else:
                    replayed = replay.files([tree.up[version]], per_file_transaction=True)
                failures += replayed.failures
                rolled_back |= replayed.rolled_back
                if replayed.failures:
                    failed.add(version)
                if after is not None:
                    after(version, build)
                if version in wanted:
                    session.close()  # a copy needs the database to itself
                    replay = None
                    # The last version's database is the build itself: nothing is replayed into it any more.
                    last = version == tree.labels[-1][0]
                    snapshots[version] = (
                        build if last else stack.enter_context(copy_database(server, build, f"at{version}"))
                    )
                advance()
        if watch is not None and replay is not None:
            replay.look(watch.remove)
        session.close()
        # Each version was replayed on its own: what a failed version's rollback took from the later ones shows
        # only across them.
        order = {tree.up[version][0]: version for version, _ in tree.labels}
        failures = list(link(failures, (), order, rolled_back, removed))
        yield _Replayed(build, snapshots, failures, failed, verified)


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
        return VersionResult(version, label, replay, "failing", tuple(_one_line(f) for f in replayed.failures))
    diff = compare(trial, snapshots[version - 1], sides=Sides("after the rollback", "before the version"))
    if diff.equivalent:
        return VersionResult(version, label, replay, "verified")
    return VersionResult(version, label, replay, "wrong", diff.objects())


def _one_line(failure: Failure) -> str:
    """A rollback's failure as one line of its detail: where, SQLSTATE, message, hint (one failure per line)."""
    message = " ".join(failure.message.split())
    hint = failure.diagnostic().hint
    return f"{failure.location}: {failure.sqlstate or 'error'}: {message}" + (f" (hint: {hint})" if hint else "")


def _removed(done: pipeline.Planned, tree: _Tree) -> Removed:
    """Per canonical version file: each object a statement of its sources created that the plan removed there as
    a duplicate, with the sentence saying so, for a failure on that object (issue 14: a uuid_generate_v4() failure
    whose CREATE EXTENSION was removed as a duplicate of one in a version that rolled back)."""
    found: dict[str, list[tuple[ObjectRef, str]]] = {}
    for target in done.plan.targets:
        path = tree.up[target.target.version][0]
        for source in target.sources:
            for duplicate in source.removed:
                gone, kept = duplicate.removed, duplicate.kept
                why = (
                    f"this version's own {gone.target} ({gone.location}) was removed as a duplicate of {kept.location}"
                )
                found.setdefault(path, []).extend((ref, why) for ref in created(gone.facts))
    return found


@dataclass(frozen=True)
class ServerOptions:
    """How to get the server: `verify`'s and `apply --generate-down`'s options, passed along as one value."""

    database_url: str | None = None
    postgres_bin: Path | None = None
    allow_stand_ins: bool = True
    search_path: str | None = None  # where to look for pg_config (tests hide the system binaries with "")
    debian: DebianLayout = DEBIAN
    scratch_prefix: str = SCRATCH_PREFIX  # scratch databases are <prefix>_<purpose>_<pid>_<hex>
    production: Production | None = None  # the configuration's major, when the mapping declares none


@dataclass(frozen=True)
class _Run:
    """One run against a server: the plan, the canonical tree on disk (None: it cannot be written, see
    `_read_tree`), the server, what stands in and what cannot be stood in (why, by extension)."""

    done: pipeline.Planned
    tree: _Tree | None
    server: Server
    stand_ins: dict[str, set[str]]
    prelude: Prelude | None
    roles: ReplayRoles  # the roles the trees create: each replay's, set aside or dropped
    unavailable: dict[str, str] = field(default_factory=dict)

    def written(self) -> _Tree:
        """The canonical tree, which `apply` has written (it raises on a plan with errors before this is asked)."""
        if self.tree is None:
            return _tree_on_disk(self.done, pipeline.output_of(self.done.plan.mapping, None))
        return self.tree


@contextmanager
def _run(mapping_path: Path, options: ServerOptions, done: pipeline.Planned | None = None) -> Iterator[_Run]:
    """Plan (unless `done` is the plan), read the tree, start or reach the server (with the prelude's roles) for
    the block; the roles its replays create are dropped after the block's scratch databases."""
    done = done or pipeline.planned(mapping_path)
    tree = _read_tree(done, pipeline.output_of(done.plan.mapping, None))
    needed = needed_extensions(list(done.parsed.values()))
    calls = called_functions(list(done.parsed.values())) if needed else {}
    standable = _standable(needed, calls, options.allow_stand_ins)
    prelude = done.loaded.prelude
    if options.database_url:
        _refuse_server_changes(done)
    with (
        postgres(
            options.database_url,
            postgres_bin=options.postgres_bin,
            needs=frozenset(needed),
            search_path=options.search_path,
            debian=options.debian,
            scratch_prefix=options.scratch_prefix,
            standable=standable,
            production=production(done.plan.mapping) or options.production,
        ) as server,
        _roles(server, prelude),
        replay_roles(server, created_roles(_mapped_statements(done))) as roles,
    ):
        stand_ins, unavailable = _stand_ins(server, needed, calls, standable, options.allow_stand_ins)
        yield _Run(done, tree, server, stand_ins, prelude, roles, unavailable)


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


def verify(
    mapping_path: Path,
    options: ServerOptions,
    rollbacks: Rollbacks = Rollbacks.CHANGED,
    *,
    done: pipeline.Planned | None = None,
) -> Verification:
    """Replay both trees on PostgreSQL and prove them equivalent, and every non-stub rollback right; every failure
    is reported, under its root cause, and nothing a replay can report stops the run. `done`: the mapping already
    planned, by a caller that goes on to use the same plan."""
    with _run(mapping_path, options, done) as run:
        server, tree, stand_ins = run.server, run.tree, run.stand_ins
        setup = _setup(run)
        with scratch_database(server, "legacy") as legacy_db:
            _prepare(legacy_db, run.prelude, stand_ins)
            files = legacy_files(run.done)
            with stage("replaying the legacy tree", len(files)) as advance:
                legacy = replay_files(
                    legacy_db, files, per_file_transaction=False, stand_ins=stand_ins, advance=advance
                )
            expected = _expected(run.done.plan)
            # A recorded resolution changes the schema on purpose: make the same change to the legacy database,
            # so that what remains of the comparison is only what nobody decided.
            adjusted = replay_files(legacy_db, [(why, sql) for why, sql in expected], per_file_transaction=True)
            canonical = _prove_canonical(run, tree, legacy_db, rollbacks, setup) if tree is not None else None
        legacy_failures = _left_out(_at_legacy_lines(legacy.failures, run.done), run.done.plan) + adjusted.failures
        major, declared = server.version // 10000, _declared(run.done.plan.mapping, options)
        legacy_failures = _explained(legacy_failures, run.unavailable, major, declared)
        canonical_failures, diff, versions = canonical or ((), None, ())
        to_legacy = _to_legacy(run.done, tree, canonical_failures) if tree is not None else None
        canonical_failures = tuple(
            replace(failure, source=to_legacy(failure.location) if to_legacy else None)
            for failure in _explained(canonical_failures, run.unavailable, major, declared)
        )
        return Verification(
            server=server.describe(),
            server_version=version_text(server.version),
            stand_ins=tuple(sorted(stand_ins)),
            legacy_failures=legacy_failures,
            canonical_failures=canonical_failures,
            expected=tuple(why for why, _ in expected),
            decided=decisions(run.done.plan),
            diff=diff,
            versions=versions,
            outputs=tree.hashes if tree is not None else {},
            causes=root_causes(legacy_failures, canonical_failures, to_legacy),
            canonical_not_run="" if tree is not None else _not_run(run.done.plan),
            setup=setup,
        )


def _prove_canonical(
    run: _Run, tree: _Tree, legacy_db: str, rollbacks: Rollbacks, setup: str
) -> tuple[tuple[Failure, ...], SchemaDiff, tuple[VersionResult, ...]]:
    """Steps 2-4: the canonical replay, its equivalence with the legacy database, the rollback proof (of the
    rollbacks `rollbacks` asks for; the others carried from the last proof, or skipped)."""
    server, stand_ins = run.server, run.stand_ins
    written = {v for v, _ in tree.labels if not tree.down[v][1].startswith(STUB_MARKER)}
    carried = carried_rollbacks(tree, setup) if rollbacks is Rollbacks.CHANGED else {}
    proven = set() if rollbacks is Rollbacks.NONE else written - set(carried)
    removed = _removed(run.done, tree)
    # The canonical replay creates the roles the legacy one did (42710 if they were left, issue 13, 7): the legacy
    # database is read while they have their names, then they are set aside.
    legacy_side = read_early(legacy_db) if run.roles.created() else legacy_db
    run.roles.set_aside()
    # Each rollback is first tried in place during the one replay (no copy, no whole-database diff); only those
    # the trial could not prove get the exact proof, on a second replay that keeps copies around them.
    with _canonical(server, tree, stand_ins, run.prelude, set(), removed, trials=proven) as replay:
        diff = compare(legacy_side, replay.build, sides=Sides("legacy", "canonical"))
        failures, failed, verified = replay.failures, replay.failed, replay.verified
    exact = proven - verified - failed
    with _canonical(server, tree, stand_ins, run.prelude, exact) if exact else nullcontext(None) as again:
        snapshots = again.snapshots if again is not None else {}
        checked = [v for v, _ in tree.labels if v not in verified and (v in proven or v not in written)]
        with stage("proving rollbacks", len(checked)) as advance:
            versions = tuple(
                VersionResult(version, label, "ok", "verified")
                if version in verified
                else _proving(advance, _rollback(server, tree, version, label, snapshots, stand_ins, failed))
                if version in proven or version not in written
                else _not_proven_now(version, label, failed, carried.get(version))
                for version, label in reversed(tree.labels)
            )
    return tuple(failures), diff, tuple(sorted(versions, key=lambda v: v.version))


def _proving(advance: Callable[[], None], result: VersionResult) -> VersionResult:
    """A rollback checked: one step further (a stub's is quick, but counts too)."""
    advance()
    return result


def _not_proven_now(version: int, label: str, failed: set[int], carried: VersionResult | None) -> VersionResult:
    """A rollback this run does not prove: the last proof's result when nothing it depends on changed, else
    skipped (--rollbacks none)."""
    replay = "failed" if version in failed else "ok"
    if replay == "failed":
        return VersionResult(version, label, replay, "not proven", ("the up script failed",))
    if carried is not None:
        return replace(carried, replay=replay)
    return VersionResult(version, label, replay, "skipped", ("--rollbacks none",))


def _setup(run: _Run) -> str:
    """What every database state of a replay depends on besides the tree's files: the server's exact version,
    the stand-ins and the prelude. A rollback result is carried only while it is the same."""
    prelude = [statement.text for statement in run.prelude.statements] if run.prelude is not None else []
    stand_ins = {name: sorted(called) for name, called in run.stand_ins.items()}
    facts = {"server": run.server.version, "stand_ins": stand_ins, "prelude": prelude}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def carried_rollbacks(tree: _Tree, setup: str) -> dict[int, VersionResult]:
    """The last proof's rollback results that still hold: a rollback of version k is proven on the database at
    k, so it holds while its down file and every up file up to k are the bytes that proof recorded, and the setup
    is the same. Stub, skipped and unproven results are never carried."""
    proof = tree.previous
    if proof.state is not State.RECORDED or not setup or proof.setup != setup:
        return {}
    changed = set(proof.changed)
    recorded = {item.label: item for item in proof.rollbacks}
    carried: dict[int, VersionResult] = {}
    for version, label in tree.labels:
        if version_path(label) in changed:
            break  # every later database state differs
        item = recorded.get(label)
        if item is None or down_path(label) in changed or item.result not in ("verified", *DISPUTED):
            continue
        carried[version] = VersionResult(version, label, "ok", item.result, item.detail, carried=True)
    return carried


def _explained(
    failures: tuple[Failure, ...], unavailable: dict[str, str], server_major: int, production: int | None
) -> tuple[Failure, ...]:
    """Failures with what verify knows of their way out: a CREATE EXTENSION that failed for an extension the
    server lacks, with why no stand-in played its part; a statement PostgreSQL rejects, with the newer major whose
    grammar accepts it, if any, else with the decision that corrects it (the mapping's `patches`)."""
    explained = []
    for failure in failures:
        if failure.extension in unavailable:
            failure = replace(failure, hint=hints(failure.hint, unavailable[failure.extension]))
        elif failure.sqlstate == SYNTAX_ERROR:
            newer = newer_syntax_hint(failure, server_major, production)
            # Newer syntax is no broken statement, unless production is this very major: then it never ran there.
            decide = SYNTAX_HINT if not newer or production == server_major else ""
            failure = replace(failure, hint=hints(failure.hint, newer, decide))
        explained.append(failure)
    return tuple(explained)


def _to_legacy(
    done: pipeline.Planned, tree: _Tree, failures: tuple[Failure, ...]
) -> Callable[[Location], Location | None]:
    """Canonical file:line → the legacy file:line of the statement there (core/provenance.py), for the versions
    where something failed: read once each, and only those."""
    by_path = {tree.up[target.target.version][0]: target for target in done.plan.targets}
    wanted = {failure.path for failure in failures} | {
        failure.cause.location.path for failure in failures if failure.cause is not None
    }
    known: dict[str, Provenance] = {}
    for path in wanted & set(by_path):
        target = by_path[path]
        known[path] = provenance(tree.up[target.target.version][1], target, done.parsed)

    def to_legacy(location: Location) -> Location | None:
        found = known.get(location.path)
        return found.legacy(location.line, location.column) if found is not None and location.line else None

    return to_legacy


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
        mapping, tree = run.done.plan.mapping, run.written()
        redo = _disproven(read_output(pipeline.output_of(mapping, None)))
        chosen = {
            target.target.version: target
            for target in run.done.plan.targets
            if tree.down[target.target.version][1].startswith(STUB_MARKER) or target.target.label(mapping.width) in redo
        }
        found: dict[int, str] = {}
        with _canonical(
            run.server, tree, run.stand_ins, run.prelude, set(), after=_reading_downs(set(chosen), found)
        ) as replay:
            if replay.failures:
                raise ConsolidateError([f.diagnostic() for f in replay.failures], exit_code=EXIT_FAIL)
        generated = {}
        for version, target in chosen.items():
            body = found[version] or "-- The schema at this version equals the one before it: nothing to undo."
            label = target.target.label(mapping.width)
            generated[down_path(label)] = GeneratedDown(tree.hashes[version_path(label)], body)
    return generated


def _reading_downs(chosen: Set[int], found: dict[int, str]) -> Callable[[int, str], None]:
    """The canonical replay's `after`: reads the database in place at k-1 and k for each chosen k (each state
    once, however many downs it serves), and puts k's down SQL in `found` as soon as both are read. Neither a
    copy of the database nor a second read of a state: those made generate-down 3-6x verify (issue 16)."""
    schemas: dict[int, Schema] = {}

    def after(version: int, build: str) -> None:
        if version not in chosen and version + 1 not in chosen:
            return
        schemas[version] = read_schema(build)
        if version in chosen:
            found[version] = droppable(schema_sql(schemas[version], schemas.pop(version - 1))).strip()

    return after


_DROP = re.compile(
    r"^(drop (?:table|type|sequence|view|materialized view|function|domain) (?:if exists )?[^;]*?);$", re.M
)
_DROP_CONSTRAINT = re.compile(r'^(alter table "[^"]+"\."[^"]+" drop constraint) (?!if exists)', re.M)
_DROP_COLUMN = re.compile(r'^(alter table "[^"]+"\."[^"]+" drop column) ("[^"]+");$', re.M)


def droppable(sql: str) -> str:
    """dbdiff's SQL made robust for a rollback, whose every statement drops what the version created.

    dbdiff orders drops by kind, not by dependency: a table is dropped before the function that uses its row
    type (2BP01), a column before the generated columns computed from it (2BP01, found on Temporal's visibility
    schema), and a partition's inherited constraint after its parent's took it away (42704). CASCADE and IF
    EXISTS let the drops land in any order. Safe because the rollback proof follows: anything
    CASCADE removed that the previous version had shows up as a difference, and the rollback is reported wrong.
    """
    sql = _DROP.sub(lambda m: m.group(0) if m.group(1).endswith(" cascade") else f"{m.group(1)} cascade;", sql)
    sql = _DROP_COLUMN.sub(r"\1 if exists \2 cascade;", sql)
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
