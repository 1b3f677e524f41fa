"""One library function per CLI verb: plain arguments in, a result out. The CLI only parses, calls and prints.

The verbs plan through `consolidate.pipeline`; `verify` and `apply_generated_downs` call into `consolidate.verify`,
which plans through the pipeline too and never imports this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import jinja2

from consolidate import __version__
from consolidate.core.changes import Change, Status, compute_changes, sha256
from consolidate.core.draft import PRELUDE_NAME, draft
from consolidate.core.hand_written import backups, hand_written, is_backup, stub_kept
from consolidate.core.mapping import DEFAULT_WIDTH
from consolidate.core.naming import parse_name
from consolidate.core.next_version import down_text, name_problem, name_taken, next_label, up_text
from consolidate.core.releases import MANIFEST_NAME, manifest_files, release_version
from consolidate.core.report_facts import report_facts
from consolidate.core.scan import scan
from consolidate.core.sqitch import PLAN_NAME, plan_changes
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.io.atomic import recover, write_tree
from consolidate.io.disk import disk_error
from consolidate.io.output import read_output

# Re-exported: the CLI builds a Waiting (its layer imports commands, never io).
from consolidate.io.output_lock import DEFAULT_WAIT as DEFAULT_WAIT
from consolidate.io.output_lock import Waiting as Waiting
from consolidate.io.output_lock import holding
from consolidate.io.tree import read_sources
from consolidate.layout import (
    DOWNS,
    LOCK_NAME,
    REPORT_NAME,
    RUNNER_NAME,
    VERIFICATION_NAME,
    VERSIONS,
    down_path,
    number,
    read_versions,
    tree_version,
    version_path,
)
from consolidate.model import (
    Diagnostic,
    Location,
    Lock,
    LockEntry,
    Mapping,
    Plan,
    Preserved,
    Rollbacks,
    ScanResult,
    Scheme,
)
from consolidate.pipeline import (
    Loaded,
    Planned,
    check_output,
    edited_lock,
    inside,
    load_mapping,
    output_of,
    planned,
    read_lock,
    root_of,
)
from consolidate.render.environment import environment
from consolidate.render.lock import lock_text
from consolidate.render.report import render_report
from consolidate.render.tree import GeneratedDown, later_migrations, read_generated, render_tree

if TYPE_CHECKING:
    from consolidate.verify import ServerOptions, Verification


def plan(mapping_path: Path, jobs: int | None = None) -> Plan:
    """Scan, parse and plan; raises ConsolidateError for bad input (exit 2), returns the plan otherwise."""
    return planned(mapping_path, jobs).plan


def _today() -> str:
    """The date a changed lock records: SOURCE_DATE_EPOCH when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC).date().isoformat()
    return date.today().isoformat()


@dataclass(frozen=True)
class ApplyResult:
    output: Path
    changes: list[Change]
    written: bool
    # With check: what else fails the check (a tree `migrate` refuses, a file nobody wrote inside the
    # consolidated range, an edited lock); each names its file.
    problems: tuple[Diagnostic, ...] = ()
    replaced_edited_lock: bool = False  # with force: the lock apply replaced had been edited by hand
    hand_written: tuple[str, ...] = ()  # rollbacks the user wrote, kept as they are (`core.hand_written`)
    backups: tuple[tuple[str, str], ...] = ()  # with force: (file replaced or removed, where its copy went)

    @property
    def pending(self) -> list[Change]:
        return [change for change in self.changes if change.status is not Status.UNCHANGED]


def apply(
    mapping_path: Path,
    out: Path | None = None,
    *,
    dry_run: bool = False,
    check: bool = False,
    force: bool = False,
    templates: Path | None = None,
    jobs: int | None = None,
    generated: dict[str, GeneratedDown] | None = None,
    waiting: Waiting | None = None,
) -> ApplyResult:
    """Render the canonical tree in memory, check it against the disk, and write it atomically (unless dry_run).

    An edited lock is refused unless `force` (its checksums say which files are ours to overwrite). With `check`
    nothing is written, and the result's `problems` also hold what `migrate` would refuse in the tree as it is.
    Writing, it holds the output's writer lock from reading the tree to the switch (`waiting`: how long to wait
    for another writer's); --check and --dry-run take none.
    """
    dry_run = dry_run or check
    loaded = load_mapping(mapping_path)
    output = output_of(loaded.mapping, out)
    check_output(loaded.mapping, output)  # first: the lock file goes beside the output, never beside a dangerous one
    with nullcontext() if dry_run else _writing(output, "consolidate apply", waiting):
        done = planned(mapping_path, jobs, output, loaded)
        return _written(
            done, output, dry_run=dry_run, check=check, force=force, templates=templates, generated=generated
        )


def _written(
    done: Planned,
    output: Path,
    *,
    dry_run: bool,
    check: bool,
    force: bool,
    templates: Path | None,
    generated: dict[str, GeneratedDown] | None,
) -> ApplyResult:
    """apply once planned: compare with the disk, then write (unless dry_run)."""
    if not done.plan.clean:
        raise ConsolidateError(done.plan.errors, exit_code=EXIT_FAIL)
    on_disk = read_output(output)
    current = _consolidated(output, on_disk, done.plan.mapping)
    edited = edited_lock(output, current)
    if edited is not None and not (force or check):
        raise ConsolidateError([edited])
    lock = read_lock(output, current)
    consumed = _consumed(done, output, current, lock)
    # Sources read above may be overwritten in place: their bytes are in the lock now.
    owned = {LOCK_NAME} if lock else set()
    owned |= {at for at, item in consumed.items() if sha256(current[at]) == item.sha256}
    desired, hand = _render_outputs(
        done, environment(templates), current, lock, _today(), consumed, generated, frozenset(owned)
    )
    changes, refusals = compute_changes(desired, current, lock, str(output), force, always_owned=frozenset(owned))
    if refusals:
        raise ConsolidateError(refusals)
    copies = backups(changes, current, lock, frozenset(owned)) if force else {}
    found = [edited] if edited is not None else []
    if check:
        found += stub_kept(str(output), hand, current)
    problems = (*found, *_tree_problems(output, on_disk, done.plan.mapping, lock)) if check else ()
    result = ApplyResult(
        output,
        changes,
        False,
        problems,
        replaced_edited_lock=edited is not None,
        hand_written=tuple(sorted(hand)),
        backups=tuple(sorted(copies.items())),
    )
    if dry_run or not result.pending:
        return result
    removed = [change.path for change in changes if change.status is Status.REMOVED]
    kept = {copy: current[path] for path, copy in copies.items()}
    write_tree(output, {**kept, **{c.path: c.new for c in result.pending if c.new is not None}}, removed)
    return replace(result, written=True)


@contextmanager
def _writing(output: Path, command: str, waiting: Waiting | None) -> Iterator[None]:
    """Hold the output's writer lock, and first undo what an interrupted write left beside the output: under the
    lock, a temporary folder there is no live writer's (issue 13 #4)."""
    with holding(output, command, waiting or Waiting()):
        recover(output)
        yield


def _tree_problems(output: Path, files: dict[str, bytes], mapping: Mapping, lock: Lock | None) -> list[Diagnostic]:
    """What fails a check besides an out-of-date file or an edited lock: the files of versions/ `migrate` refuses
    (by its own rules, `layout.read_versions`: then it runs nothing), and the migration files numbered inside the
    consolidated range that the lock does not list (nobody checked them, yet `migrate` runs them). Migrations
    numbered after the consolidation's last version are the team's own and none of the check's concern."""
    last = max((target.version for target in mapping.targets), default=0)
    after = f"after {number(last, mapping.width)}"
    _, refused = read_versions(_version_files(files))
    problems = []
    for item in refused:
        how = (
            "name it NNN_name.sql, or move it out of versions/"
            if item.code == "name"
            else "give it a version number no other file of versions/ has"
        )
        problems.append(
            Diagnostic(
                f"check.migrate-{item.code}",
                f"{item.message}: `consolidate migrate` refuses this tree and runs nothing",
                Location(str(output / VERSIONS / item.file_name)),
                hint=how,
            )
        )
    known = {entry.path for entry in lock.outputs} if lock is not None else set()
    named = {f"{VERSIONS}/{item.file_name}" for item in refused}
    for path in sorted(files):
        version = tree_version(path)
        if version is None or version > last or path in known or path in named:
            continue
        problems.append(
            Diagnostic(
                "check.unknown-file",
                f"consolidate did not write this file (the lock does not list it), yet it is numbered inside the "
                f"consolidation (up to {number(last, mapping.width)}): nothing checked it",
                Location(str(output / path)),
                hint=f"number it {after} (migrations written after the consolidation are the team's own), or "
                "move it out of the tree",
            )
        )
    return problems


def _version_files(files: dict[str, bytes]) -> list[str]:
    """The names of the `.sql` files directly in versions/: what `migrate` reads (`layout.read_versions`)."""
    names = [path.removeprefix(f"{VERSIONS}/") for path in files if PurePosixPath(path).parent.as_posix() == VERSIONS]
    return [name for name in names if name.endswith(".sql")]


def _consolidated(output: Path, files: dict[str, bytes], mapping: Mapping) -> dict[str, bytes]:
    """The output's files but the migrations written after the consolidation (see `later_migrations`).

    A file the lock lists was written by apply, whatever its number: when the mapping no longer produces it (a
    version merged into the one before) it is stale and apply removes it, where taking it for the team's own
    later migration left it for `migrate up` to run again (issue 13 #5).
    """
    lock = read_lock(output, files)
    ours = {entry.path for entry in lock.outputs} if lock is not None else set()
    later = later_migrations(files, mapping) - ours
    return {path: data for path, data in files.items() if path not in later}


def _consumed(done: Planned, output: Path, current: dict[str, bytes], lock: Lock | None) -> dict[str, Preserved]:
    """Mapped legacy sources that sit where apply writes (in place): output path → their original bytes,
    read from disk on the first apply and from the lock's preserved copy after it."""
    root = root_of(done.plan.mapping)
    kept = {item.path: item for item in lock.preserved} if lock is not None else {}
    consumed: dict[str, Preserved] = {}
    for target in done.plan.targets:
        for source in target.sources:
            at = inside(root / source.path, output)
            legacy = done.scan.file(source.path)
            data = current.get(at) if at is not None else None
            if at is None or legacy is None or data is None:
                continue
            if source.path in kept:
                consumed[at] = kept[source.path]
            elif sha256(data) == legacy.sha256:
                consumed[at] = Preserved(source.path, legacy.sha256, data)
    return consumed


def _render_outputs(
    done: Planned,
    env: jinja2.Environment,
    current: dict[str, bytes],
    old: Lock | None,
    date_today: str,
    consumed: dict[str, Preserved] | None = None,
    generated: dict[str, GeneratedDown] | None = None,
    always_owned: frozenset[str] = frozenset(),
) -> tuple[dict[str, bytes], frozenset[str]]:
    """Every file apply owns, rendered: versions/, down/, CONSOLIDATION.md and the lock (last: it hashes the rest);
    and the rollbacks among them that are the user's (kept as they are, and marked so in the lock).

    Generated rollbacks already in the tree are carried over (while their up script is unchanged); `generated`
    adds or replaces some.
    """
    plan = done.plan
    downs = {**_generated_downs(current), **(generated or {})}
    rendered = render_tree(env, plan, done.scan, done.parsed, downs)
    rendered[RUNNER_NAME] = env.get_template("migrate.py.j2").render()
    files = {path: text.encode("utf-8") for path, text in rendered.items()}
    hand = hand_written(files, current, old, always_owned)
    files |= hand
    core = Lock(
        tool_version=__version__,
        mapping_sha256=done.loaded.sha256,
        date="",
        sources=_lock_sources(plan, done.scan),
        outputs=tuple(LockEntry(path, sha256(data), by_user=path in hand) for path, data in sorted(files.items())),
        resolutions=plan.mapping.resolutions,
        preserved=tuple(
            sorted(
                (item for at, item in (consumed or {}).items() if at in files and files[at] != item.data),
                key=lambda item: item.path,
            )
        ),
    )
    unchanged = old is not None and _same_content(old, core)
    lock = replace(core, date=old.date if old is not None and unchanged else date_today)
    stale = {entry.path for entry in old.outputs} - set(files) if old is not None else set()
    tree = {path: data for path, data in current.items() if path not in stale} | files
    files[REPORT_NAME] = _build_report(env, done, lock, tree).encode("utf-8")
    report_entry = LockEntry(REPORT_NAME, sha256(files[REPORT_NAME]))
    lock = replace(lock, outputs=tuple(sorted((*lock.outputs, report_entry), key=_path)))
    files[LOCK_NAME] = lock_text(lock).encode("utf-8")
    return files, frozenset(hand)


def _generated_downs(current: dict[str, bytes]) -> dict[str, GeneratedDown]:
    found = {}
    for path, data in current.items():
        if path.startswith(f"{DOWNS}/") and (item := read_generated(data.decode("utf-8", errors="replace"))):
            found[path] = item
    return found


def _build_report(env: jinja2.Environment, done: Planned, lock: Lock, tree: dict[str, bytes]) -> str:
    """CONSOLIDATION.md from facts. The report and the lock describe each other, so neither takes part in
    the facts: apply (before writing) and report (after) then see the same inputs and render the same text.

    verification.json does take part, down to its checksum (the report ends with it): a new proof makes the
    report out of date for `report --check` and, through the report's checksum in the lock, for `apply --check`.
    """
    outputs = tuple(entry for entry in lock.outputs if entry.path != REPORT_NAME)
    facts_tree = {
        path: data for path, data in tree.items() if path not in (REPORT_NAME, LOCK_NAME) and not is_backup(path)
    }
    facts = report_facts(done.plan, done.scan, replace(lock, outputs=outputs), facts_tree)
    return render_report(env, facts)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    changed: bool
    written: bool
    problems: tuple[Diagnostic, ...] = ()  # with check: as apply --check finds them (`_tree_problems`)


def report(
    mapping_path: Path, *, check: bool = False, templates: Path | None = None, waiting: Waiting | None = None
) -> ReportResult:
    """Regenerate CONSOLIDATION.md from the lock, the mapping and the tree as they are now.

    Writing, it holds the output's writer lock (see `apply`); with `check`, or with no output to rewrite, none.
    """
    loaded = load_mapping(mapping_path)
    output = output_of(loaded.mapping, None)
    with nullcontext() if check or not output.is_dir() else _writing(output, "consolidate report", waiting):
        return _report(mapping_path, loaded, output, check=check, templates=templates)


def _report(
    mapping_path: Path,
    loaded: Loaded,
    output: Path,
    *,
    check: bool,
    templates: Path | None,
    done: Planned | None = None,
) -> ReportResult:
    on_disk = read_output(output)
    current = _consolidated(output, on_disk, loaded.mapping)
    edited = edited_lock(output, current)
    if edited is not None and not check:
        raise ConsolidateError([edited])  # rewriting the lock (for the report's checksum) would bless the edit
    lock = read_lock(output, current)
    if lock is None:
        raise ConsolidateError.at(
            "report.no-lock",
            f"no {LOCK_NAME} here: the canonical tree has not been written",
            Location(str(output)),
            hint=f"run `consolidate apply --mapping {mapping_path}` first",
        )
    done = done or planned(mapping_path, loaded=loaded)
    text = _build_report(environment(templates), done, lock, current).encode("utf-8")
    path = output / REPORT_NAME
    found = [edited] if edited is not None else []
    problems = (*found, *_tree_problems(output, on_disk, loaded.mapping, lock)) if check else ()
    if current.get(REPORT_NAME) == text:
        return ReportResult(path, changed=False, written=False, problems=problems)
    if check:
        return ReportResult(path, changed=True, written=False, problems=problems)
    entries = [entry for entry in lock.outputs if entry.path != REPORT_NAME]
    new_lock = replace(lock, outputs=tuple(sorted((*entries, LockEntry(REPORT_NAME, sha256(text))), key=_path)))
    write_tree(output, {REPORT_NAME: text, LOCK_NAME: lock_text(new_lock).encode("utf-8")})
    return ReportResult(path, changed=True, written=True)


@dataclass(frozen=True)
class VerifyResult:
    """A proof on PostgreSQL and verification.json as recorded beside the tree."""

    verification: Verification
    document: dict[str, Any]

    @property
    def proven(self) -> bool:
        return self.verification.proven


def verify(
    mapping_path: Path, options: ServerOptions, waiting: Waiting | None = None, rollbacks: Rollbacks = Rollbacks.CHANGED
) -> VerifyResult:
    """Prove the canonical tree on PostgreSQL, then record the proof, proven or not (see `_record_verification`)."""
    # Imported here: the database layer (psycopg, results) costs a second of start-up the other verbs skip.
    from consolidate.verify import verify as prove

    # Planned once: the proof and the report it brings up to date describe the same plan (a second planning pass
    # cost 0.3-1.5 s, issue 16).
    done = planned(mapping_path)
    return _record_verification(mapping_path, prove(mapping_path, options, rollbacks, done=done), waiting, done)


def apply_generated_downs(
    mapping_path: Path,
    options: ServerOptions,
    *,
    force: bool = False,
    templates: Path | None = None,
    waiting: Waiting | None = None,
) -> tuple[ApplyResult, VerifyResult]:
    """`apply --generate-down`: bring the tree up to date, generate the missing or disproven rollbacks, write
    them, and verify again so that every generated rollback is proven (or reported) at once; the proof is
    recorded as `verify` records it."""
    from consolidate.verify import generate_downs
    from consolidate.verify import verify as prove

    apply(mapping_path, force=force, templates=templates, waiting=waiting)
    generated = generate_downs(mapping_path, options)
    result = apply(mapping_path, force=force, templates=templates, generated=generated, waiting=waiting)
    return result, _record_verification(mapping_path, prove(mapping_path, options), waiting)


def _record_verification(
    mapping_path: Path, verification: Verification, waiting: Waiting | None, done: Planned | None = None
) -> VerifyResult:
    """Write verification.json beside the tree, then bring CONSOLIDATION.md up to date with it; under the
    output's writer lock (see `apply`). Without a tree (the plan's errors kept `apply` from writing one, and verify
    replayed the legacy tree alone) there is nothing to record beside: the document is returned, for --json."""
    document = verification.document(_today())
    loaded = done.loaded if done is not None else load_mapping(mapping_path)
    output = output_of(loaded.mapping, None)
    if not (output / LOCK_NAME).is_file():
        return VerifyResult(verification, document)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    with _writing(output, "consolidate verify", waiting):
        write_tree(output, {VERIFICATION_NAME: text.encode("utf-8")})
        _report(mapping_path, loaded, output, check=False, templates=None, done=done)
    return VerifyResult(verification, document)


def _path(entry: LockEntry) -> str:
    return entry.path


def _same_content(old: Lock, new: Lock) -> bool:
    """Whether a lock records the same consolidation, apart from its date and the report it describes."""

    def essence(lock: Lock) -> Lock:
        outputs = tuple(entry for entry in lock.outputs if entry.path != REPORT_NAME)
        resolutions = tuple(replace(r, location=Location("")) for r in lock.resolutions)
        return replace(lock, date="", outputs=outputs, resolutions=resolutions)

    return essence(old) == essence(new)


def _lock_sources(plan: Plan, scan: ScanResult) -> tuple[LockEntry, ...]:
    entries = []
    for target in plan.targets:
        for source in target.sources:
            for path in (source.path, source.down):
                legacy = scan.file(path) if path is not None else None
                if legacy is not None:
                    entries.append(LockEntry(legacy.path, legacy.sha256, target.target.version))
    return tuple(sorted(entries, key=_path))


@dataclass(frozen=True)
class NewResult:
    """The two files `new` wrote."""

    up: Path
    down: Path


def new(mapping_path: Path, name: str, waiting: Waiting | None = None, directory: Path | None = None) -> NewResult:
    """Write the next migration of the canonical tree (`core.next_version`): its up script, and a stub for its
    rollback; never over a file. Under the output's writer lock (see `apply`).

    The tree is the mapping's output, or `directory` (a tree kept without its mapping: numbered after its own
    files, padded like them, else to DEFAULT_WIDTH digits).
    """
    if directory is None:
        loaded = load_mapping(mapping_path)
        output, width = output_of(loaded.mapping, None), loaded.mapping.width
        last = max((target.version for target in loaded.mapping.targets), default=0)
        there, how = (output / LOCK_NAME).is_file(), f"run `consolidate apply --mapping {mapping_path}` first"
    else:
        output, width, last = directory, DEFAULT_WIDTH, 0
        there, how = (output / VERSIONS).is_dir(), "give --dir the folder that holds versions/ and down/"
    problem = name_problem(name, str(output / VERSIONS))
    if problem is not None:
        raise ConsolidateError([problem])
    if not there:
        raise ConsolidateError.at(
            "new.no-tree", "the canonical tree has not been written here", Location(str(output)), hint=how
        )
    with _writing(output, "consolidate new", waiting):
        files = read_output(output)
        found, _ = read_versions(_version_files(files))
        same = name_taken(found, name)
        if same is not None:
            raise ConsolidateError.at(
                "new.name-taken",
                f"a migration is already named {same.name}: {same.file_name}",
                Location(str(output / VERSIONS / same.file_name)),
                hint="name what this migration does differently, e.g. add_user_email_index",
            )
        label = next_label(found, last, width, name)
        written = {version_path(label): up_text(label), down_path(label): down_text(label)}
        for path in written:
            if path in files:  # numbered past every version file, so only a down file left behind is here
                raise ConsolidateError.at(
                    "new.exists",
                    "a file already exists here; new never overwrites it",
                    Location(str(output / path)),
                    hint="move it out of the way, or remove it if it is left over",
                )
        write_tree(output, {path: text.encode("utf-8") for path, text in written.items()})
    return NewResult(output / version_path(label), output / down_path(label))


@dataclass(frozen=True)
class InitResult:
    """What `init` wrote, and what `plan` says about it."""

    mapping: Path
    text: str  # the mapping as written
    prelude: Path | None  # written beside the mapping when the legacy SQL needs one
    remaining: tuple[Diagnostic, ...]  # plan's errors on the draft (or the bad input it met); empty when clean

    @property
    def clean(self) -> bool:
        return not self.remaining


def init(mapping_path: Path, root: Path, sources: Sequence[str], jobs: int | None = None) -> InitResult:
    """Draft a mapping (and its prelude) from a scan of `root`, never overwriting a file, then plan on the draft.

    The draft is written even when the plan finds errors: they are returned, for the user to settle in the
    mapping (resolutions, moves), which is what the draft is for.
    """
    prelude_path = mapping_path.parent / PRELUDE_NAME
    for path in (mapping_path, prelude_path):
        if path.exists():
            raise ConsolidateError.at(
                "init.exists",
                "a file already exists here; init never overwrites it",
                Location(str(path)),
                hint="choose another --mapping path (the prelude is drafted beside it), or edit the existing file",
            )
    if not root.is_dir():
        raise ConsolidateError.at("init.root-missing", "root folder does not exist", Location(str(root)))
    folders = list(sources) or _sql_folders(root)
    tree = read_sources(root, folders)
    if tree.unreadable:  # a draft must account for every file: one it cannot read stops it, each one named
        raise ConsolidateError(_from_here(root, problem) for problem in tree.unreadable)
    problems = [f"source folder '{folder}' does not exist below {root}" for folder in tree.missing]
    if problems:
        raise ConsolidateError.at("init.source-missing", "; ".join(problems), Location(str(root)))
    relative_root = Path(os.path.relpath(str(root), str(mapping_path.parent))).as_posix()
    scanned = scan(tree.files)
    plans, manifests = _sqitch_plans(root, scanned), _manifests(root, scanned)
    drafted = draft(scanned, relative_root, folders, sqitch_plans=plans, manifests=manifests)
    try:
        mapping_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise disk_error(error, mapping_path.parent) from error
    if drafted.prelude is not None:
        _write_new(prelude_path, drafted.prelude)
    try:
        _write_new(mapping_path, drafted.mapping)
    except ConsolidateError:
        if drafted.prelude is not None:
            prelude_path.unlink(missing_ok=True)  # written just above: init writes both or neither
        raise
    written = prelude_path if drafted.prelude is not None else None
    return InitResult(mapping_path, drafted.mapping, written, _remaining(mapping_path, jobs))


def _write_new(path: Path, text: str) -> None:
    # "x" mode: a file that appeared since the check in init is still never overwritten.
    try:
        handle = path.open("x", encoding="utf-8")
    except OSError as error:
        raise disk_error(error, path) from error
    try:
        with handle:
            handle.write(text)
    except OSError as error:
        path.unlink(missing_ok=True)  # ours, half-written: a truncated draft would read as a mapping
        raise disk_error(error, path) from error


def _remaining(mapping_path: Path, jobs: int | None) -> tuple[Diagnostic, ...]:
    """The errors `plan` reports on the draft; bad input found in it (a gap in the draft) is reported alike."""
    try:
        return planned(mapping_path, jobs).plan.errors
    except ConsolidateError as error:
        return error.diagnostics


def _sqitch_plans(root: Path, scanned: ScanResult) -> dict[str, list[str]]:
    """Each Sqitch project's changes in plan order, by the folder holding its deploy/ (and its sqitch.plan)."""
    projects = {
        PurePosixPath(item.path).parent.parent.as_posix() for item in scanned.files if item.name.scheme is Scheme.SQITCH
    }
    plans = {}
    for project in sorted(projects):
        plan = root / project / PLAN_NAME
        if plan.is_file():
            plans[project] = plan_changes(plan.read_text(encoding="utf-8", errors="replace"))
    return plans


def _manifests(root: Path, scanned: ScanResult) -> dict[str, list[str]]:
    """Each release folder's files in run order, from the manifest.json beside them (`core.releases`)."""
    folders = {
        PurePosixPath(item.path).parent.as_posix()
        for item in scanned.files
        if item.name.scheme is Scheme.UNNUMBERED and release_version(item.path) is not None
    }
    found = {}
    for folder in sorted(folders):
        manifest = root / folder / MANIFEST_NAME
        listed = manifest_files(manifest.read_text(encoding="utf-8", errors="replace")) if manifest.is_file() else None
        if listed is not None:
            found[folder] = listed
    return found


def _from_here(root: Path, problem: Diagnostic) -> Diagnostic:
    """`problem`, found at a path below `root`, located as the user reaches it from where init runs."""
    return replace(problem, location=replace(problem.location, path=(root / problem.location.path).as_posix()))


def _sql_folders(root: Path) -> list[str]:
    """The top-most folders below root that hold .sql files, for `init` without explicit sources.

    A folder per migration (diesel, Prisma, sqlx: `<version>_<name>/up.sql`) counts as its parent folder:
    the tree of migrations is one source, not one source per migration.
    """
    folders = set()
    for path in root.rglob("*.sql"):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if not any(part.startswith(".") for part in relative.parent.parts):
            folders.add(_source_folder(relative))
    return sorted(folder.as_posix() for folder in folders if not any(above in folders for above in folder.parents))


def _source_folder(relative: PurePosixPath) -> PurePosixPath:
    if parse_name(relative.as_posix()).scheme is Scheme.FOLDER:
        return relative.parent.parent
    return relative.parent
