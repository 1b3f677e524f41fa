"""The pipeline under the verbs: load the mapping, scan the legacy folders it names, parse them, plan.

Every command that needs a plan (plan, apply, report, init, verify) goes through `planned`; nothing here writes.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from consolidate.core.changes import sha256
from consolidate.core.mapping import check_coverage, check_tree, read_mapping
from consolidate.core.not_sql import not_sql
from consolidate.core.patches import patch_sources
from consolidate.core.plan import build_plan
from consolidate.core.prelude import Prelude, read_prelude
from consolidate.core.scan import UNREADABLE, scan
from consolidate.core.statements import parse_file
from consolidate.errors import ConsolidateError
from consolidate.io.output import read_output
from consolidate.io.tree import read_sources
from consolidate.layout import LOCK_NAME, VERIFICATION_NAME, written_by_consolidate
from consolidate.model import Diagnostic, Location, Lock, Mapping, ParsedFile, Plan, RawFile, ScanResult
from consolidate.render.lock import edited, parse_lock
from consolidate.steps import stage

# Starting two worker processes and shipping parsed files back costs about as much as parsing a few dozen
# files; below this many a pool is not worth it (a round number, not a measured break-even).
PARALLEL_THRESHOLD = 64


@dataclass(frozen=True)
class Loaded:
    """A validated mapping and, for locating problems, the mapping line of every path it names."""

    mapping: Mapping
    lines: dict[str, int]
    sha256: str
    prelude: Prelude | None = None


def load_mapping(path: Path) -> Loaded:
    """Read and validate a mapping file; every problem is reported at once as a ConsolidateError."""
    if not path.is_file():
        raise ConsolidateError.at(
            "mapping.not-found",
            "mapping file not found",
            Location(str(path)),
            hint="pass --mapping PATH, or draft one with `consolidate init`",
        )
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConsolidateError.at(
            "mapping.unreadable", f"cannot read the mapping: {error}", Location(str(path))
        ) from error
    read = read_mapping(text, str(path), str(path.parent))
    return Loaded(read.mapping, read.lines, sha256(data), _prelude(read.mapping, read.prelude))


def _prelude(mapping: Mapping, found: tuple[str, int] | None) -> Prelude | None:
    """The platform's prerequisites the mapping names (docs/mapping.md), read and checked for syntax."""
    if found is None:
        return None
    written, line = found
    path = Path(mapping.base) / written
    try:
        prelude = read_prelude(path.as_posix(), path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConsolidateError.at(
            "mapping.prelude-unreadable",
            f"cannot read the prelude '{written}': {error.__class__.__name__}",
            Location(mapping.path, line),
            hint="prelude is relative to the mapping file's folder and must be a UTF-8 SQL file",
        ) from error
    if prelude.errors:
        raise ConsolidateError(prelude.errors)
    return prelude


def root_of(mapping: Mapping) -> Path:
    return Path(mapping.base) / mapping.root


def display_path(mapping: Mapping, source: str) -> str:
    """How a legacy file is shown: relative to the mapping's folder, so that file:line can be opened from there."""
    return Path(mapping.root, source).as_posix()


def output_of(mapping: Mapping, out: Path | None) -> Path:
    return out if out is not None else Path(mapping.base) / mapping.output


_OTHER_OUTPUT = "choose another output ('output' in the mapping, or --out): a folder of its own, e.g. build/migrations"


def check_output(mapping: Mapping, output: Path) -> None:
    """Refuse an output that apply must never replace; raises ConsolidateError (exit 2) naming the collision.

    apply swaps the whole output folder for a rebuilt one, so an output that is or contains a source folder would
    rewrite the legacy files it reads, and one that is or contains the root, the mapping's folder or a repository
    (a folder holding .git) would rebuild that whole tree. An output inside a repository is fine, and so is one
    inside a source folder (`sources: [.]`, as `init` drafts for migrations at the root) while it holds only what
    consolidate wrote there: the scan leaves the lock's own files out.
    """
    target = Path(os.path.realpath(output))
    root = root_of(mapping)
    # The widest first: `output: .` is best named as the mapping's folder, not as one of the sources it holds.
    named = [(Path(mapping.base), "the mapping's folder"), (root, f"the root '{mapping.root}'")]
    named += [(root / source, f"the source folder '{display_path(mapping, source)}'") for source in mapping.sources]
    collisions = (_collision(target, Path(os.path.realpath(path)), what, output) for path, what in named)
    # Lazily: the walk for .git comes last, once the output is known not to hold the sources or the mapping.
    found = next((problem for problem in collisions if problem is not None), None) or _repository_in(target)
    if found is not None:
        raise ConsolidateError.at("apply.dangerous-output", f"the output {found}", Location(str(output)), _OTHER_OUTPUT)


def _collision(output: Path, folder: Path, what: str, shown: Path) -> str | None:
    if output == folder:
        return f"is {what}"
    if folder.is_relative_to(output):
        return f"contains {what}"
    if output.is_relative_to(folder) and "source folder" in what:  # below root or the mapping's folder is normal
        others = _not_written_by_us(output, shown)
        return f"is inside {what} and holds {others}, which consolidate did not write" if others else None
    return None


def _not_written_by_us(output: Path, shown: Path) -> str | None:
    """A file in `output` that neither its lock lists nor carries apply's header (the first, by name), if any.
    `shown` is the output as the user named it, for the error of a lost lock."""
    files = read_output(output)
    lock = read_lock(output, files)
    if lock is None:
        _refuse_lost_lock(shown, files)
    # The lock lists what apply wrote; the lock itself and verify's record are ours too.
    own = {entry.path for entry in lock.outputs} | {LOCK_NAME, VERIFICATION_NAME} if lock is not None else set()
    return next(
        (str(output / path) for path in sorted(files) if path not in own and not written_by_consolidate(files[path])),
        None,
    )


def _refuse_lost_lock(output: Path, files: dict[str, bytes]) -> None:
    """Refuse an output among the legacy sources that holds generated files but no lock (issue 13 #6).

    The lock is what lists the files apply wrote there and keeps the original bytes of any legacy source it
    overwrote: without it the tool's headers still tell its files apart, but what they replaced is lost, and
    reading on would take a generated version for the legacy file it replaced.
    """
    generated = sorted(path for path, data in files.items() if written_by_consolidate(data))
    if not generated:
        return
    raise ConsolidateError.at(
        "lock.missing",
        f"{LOCK_NAME} is missing, and this output lies among the legacy sources: without it the files apply wrote "
        f"here ({len(generated)} carry its header: {generated[0]}, …) cannot be told for sure from legacy ones, nor "
        "a legacy file apply overwrote recovered",
        Location(str(output)),
        hint=f"restore it (e.g. `git checkout -- {output / LOCK_NAME}`); without a copy, restore the legacy files "
        "and remove the generated ones (their header says `Generated by consolidate` or `-- consolidate:`)",
    )


def _repository_in(output: Path) -> str | None:
    """Whether `output` is or contains a repository root (a `.git` folder, or a worktree's `.git` file)."""
    if not output.is_dir():
        return None
    for folder, folders, files in os.walk(output):
        if ".git" in folders or ".git" in files:
            where = Path(folder)
            return "is a repository root" if where == output else f"contains the repository {where}"
    return None


def read_lock(output: Path, files: dict[str, bytes]) -> Lock | None:
    data = files.get(LOCK_NAME)
    if data is None:
        return None
    return parse_lock(data.decode("utf-8", errors="replace"), str(output / LOCK_NAME))


def edited_lock(output: Path, files: dict[str, bytes]) -> Diagnostic | None:
    """The lock's being edited by hand since the tool wrote it, as a finding; None when it was not (or there is
    none). Its checksums decide which files apply may overwrite: an edited one must not be trusted silently."""
    data = files.get(LOCK_NAME)
    if data is None or not edited(data.decode("utf-8", errors="replace")):
        return None
    return Diagnostic(
        "lock.edited",
        "edited by hand since consolidate wrote it (its content no longer matches its digest)",
        Location(str(output / LOCK_NAME)),
        hint="restore it from version control, or run `consolidate apply --force` to write it anew from the mapping "
        "and the sources (--force also overwrites any file in the way)",
    )


@dataclass(frozen=True)
class Scanned:
    mapping: Mapping
    scan: ScanResult


def scan_mapping(loaded: Loaded, output: Path | None = None) -> Scanned:
    """Read the legacy folders the mapping names and check that every file is accounted for.

    When the output folder lies among the sources (in-place consolidation), the files the lock says apply
    wrote are not legacy files: they are left out, and a legacy source that apply overwrote is read from the
    copy the lock preserved.
    """
    mapping = loaded.mapping
    root = root_of(mapping)
    if not root.is_dir():
        raise ConsolidateError.at(
            "mapping.root-missing",
            f"root folder '{mapping.root}' does not exist",
            Location(mapping.path),
            hint="root is relative to the mapping file's folder",
        )
    tree = read_sources(root, mapping.sources)
    tree = replace(tree, files=_without_own_outputs(tree.files, root, output_of(mapping, output)))
    scanned = scan(tree.files, dict(mapping.encodings))
    # What the walk did not read (editor files, pipes, …) is reported beside what scan found in what it read.
    # So are other tools' migrations kept as code, which would otherwise go missing in silence (issue 17 #5).
    found = (*scanned.findings, *tree.findings, *not_sql(tree.others))
    ordered = sorted(found, key=lambda item: (item.location.path, item.location.line or 0))
    scanned = replace(scanned, findings=tuple(ordered))
    # scan() is pure and knows paths relative to root; users open them from the mapping's folder.
    findings = tuple(_displayed(mapping, finding) for finding in scanned.findings)
    # What io could not read and what scan could not decode, with every other problem of the tree: one run
    # lists them all (issue 13, promise 8).
    refused = (_displayed(mapping, problem) for problem in tree.unreadable)
    decoded = (finding for finding in findings if finding.code in UNREADABLE)
    unreadable = tuple(sorted((*refused, *decoded), key=lambda item: (item.location.path, item.location.line or 0)))
    problems = check_tree(mapping, tree, loaded.lines) + check_coverage(mapping, scanned, loaded.lines)
    if unreadable or problems:
        raise ConsolidateError(unreadable + problems)
    return Scanned(mapping, replace(scanned, findings=findings))


def _displayed(mapping: Mapping, finding: Diagnostic) -> Diagnostic:
    return replace(finding, location=replace(finding.location, path=display_path(mapping, finding.location.path)))


def inside(path: Path, folder: Path) -> str | None:
    """`path` relative to `folder` (posix) when it lies inside it, else None."""
    try:
        relative = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return relative.as_posix()


def _without_own_outputs(files: tuple[RawFile, ...], root: Path, output: Path) -> tuple[RawFile, ...]:
    """The legacy files, where the output lies among them: apply's own files left out (those its lock lists, and
    those carrying its header), and a legacy file apply overwrote read from the copy the lock preserved.
    A lost lock there is refused (`_refuse_lost_lock`)."""
    prefix = inside(output, root)
    if prefix is None or not any(_below(raw.path, prefix) for raw in files):
        return files  # the output is not read as a source: nothing of it to leave out
    on_disk = read_output(output)
    lock = read_lock(output, on_disk)
    if lock is None:
        _refuse_lost_lock(output, on_disk)
        return files
    own = {Path(prefix, entry.path).as_posix() for entry in lock.outputs}
    preserved = {item.path: item for item in lock.preserved}
    kept = []
    for raw in files:
        if raw.path in preserved:
            kept.append(RawFile(raw.path, preserved[raw.path].data))
        elif raw.path not in own and not (_below(raw.path, prefix) and written_by_consolidate(raw.data)):
            kept.append(raw)
    return tuple(kept)


def _below(path: str, folder: str) -> bool:
    return folder == "." or path.startswith(f"{folder}/")


def _parse_job(job: tuple[str, str, str]) -> ParsedFile:
    path, text, dialect = job
    return parse_file(path, text, dialect)


def parse_sources(scanned: Scanned, jobs: int | None = None) -> dict[str, ParsedFile]:
    """Split and parse every mapped source, in a process pool when there are enough of them."""
    mapping = scanned.mapping
    sources = [source for target in mapping.targets for source in target.sources]
    work = []
    for source in sources:
        legacy = scanned.scan.file(source)
        assert legacy is not None, source  # check_tree guarantees every mapped source was scanned
        work.append((display_path(mapping, source), legacy.text, mapping.dialect))
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    results = []
    with stage("parsing", len(work)) as advance:
        if workers > 1 and len(work) >= PARALLEL_THRESHOLD:
            # fork: workers share the parent's hash seed, so AST fingerprints (hash-based) compare across them.
            with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                for result in pool.map(_parse_job, work, chunksize=max(1, len(work) // (workers * 8))):
                    results.append(result)
                    advance()
        else:
            for job in work:
                results.append(_parse_job(job))
                advance()
    return dict(zip(sources, results, strict=True))


# Young collections every 50,000 new container objects instead of 700, and full ones almost never, while a tree
# is parsed and planned: each statement's sqlglot tree is a cycle (nodes point at their parents), so young
# collections must still run, but every full collection scans all the parsed files kept so far, which made plan at
# 10,000 files superlinear (docs/benchmarks.md, issue 16).
_PLAN_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector tuned for building one large heap while the body runs, then restored."""
    before = gc.get_threshold()
    gc.set_threshold(*_PLAN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass(frozen=True)
class Planned:
    """Everything one planning pass produced, for the commands that go on to render."""

    loaded: Loaded
    scan: ScanResult
    parsed: dict[str, ParsedFile]
    plan: Plan


def planned(
    mapping_path: Path, jobs: int | None = None, out: Path | None = None, loaded: Loaded | None = None
) -> Planned:
    """Scan, parse and plan; raises ConsolidateError for bad input (exit 2)."""
    with fewer_collections():
        return _planned(mapping_path, jobs, out, loaded)


def _planned(mapping_path: Path, jobs: int | None, out: Path | None, loaded: Loaded | None) -> Planned:
    loaded = loaded or load_mapping(mapping_path)
    scanned = scan_mapping(loaded, out)
    parsed, decided = patch_sources(scanned.mapping, parse_sources(scanned, jobs))
    if decided:  # a decision that cannot apply: the plan would read another file than the team fixed
        raise ConsolidateError(decided)
    mapping = scanned.mapping
    if loaded.prelude is not None:  # what the prelude creates exists before any migration runs
        mapping = replace(mapping, provided=tuple(dict.fromkeys(mapping.provided + loaded.prelude.provided)))
    result, problems = build_plan(mapping, scanned.scan, parsed)
    if problems:
        raise ConsolidateError(problems)
    return Planned(loaded, scanned.scan, parsed, result)
