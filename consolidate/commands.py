"""One library function per CLI verb: plain arguments in, a result out. The CLI only parses, calls and prints."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from consolidate.core.draft import draft_mapping
from consolidate.core.mapping import check_coverage, check_tree, parse_mapping, source_lines
from consolidate.core.plan import build_plan
from consolidate.core.scan import scan
from consolidate.core.statements import parse_file
from consolidate.errors import ConsolidateError
from consolidate.io.tree import read_sources
from consolidate.model import Location, Mapping, ParsedFile, Plan, ScanResult

# Below this many files a process pool costs more than it saves (measured in bench/plan_bench.py).
PARALLEL_THRESHOLD = 64


@dataclass(frozen=True)
class Loaded:
    """A validated mapping and, for locating problems, the mapping line of every path it names."""

    mapping: Mapping
    lines: dict[str, int]


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConsolidateError.at(
            "mapping.unreadable", f"cannot read the mapping: {error}", Location(str(path))
        ) from error
    return Loaded(parse_mapping(text, str(path), str(path.parent)), source_lines(text))


def root_of(mapping: Mapping) -> Path:
    return Path(mapping.base) / mapping.root


def display_path(mapping: Mapping, source: str) -> str:
    """How a legacy file is shown: relative to the mapping's folder, so that file:line can be opened from there."""
    return Path(mapping.root, source).as_posix()


@dataclass(frozen=True)
class Scanned:
    mapping: Mapping
    scan: ScanResult


def scan_mapping(loaded: Loaded) -> Scanned:
    """Read the legacy folders the mapping names and check that every file is accounted for."""
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
    scanned = scan(tree.files)
    problems = check_tree(mapping, tree, loaded.lines) + check_coverage(mapping, scanned, loaded.lines)
    if problems:
        raise ConsolidateError(problems)
    # scan() is pure and knows paths relative to root; users open them from the mapping's folder.
    findings = tuple(
        replace(finding, location=replace(finding.location, path=display_path(mapping, finding.location.path)))
        for finding in scanned.findings
    )
    return Scanned(mapping, replace(scanned, findings=findings))


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
    if workers > 1 and len(work) >= PARALLEL_THRESHOLD:
        # fork: workers share the parent's hash seed, so AST fingerprints (hash-based) compare across them.
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            results = list(pool.map(_parse_job, work, chunksize=max(1, len(work) // (workers * 8))))
    else:
        results = [_parse_job(job) for job in work]
    return dict(zip(sources, results, strict=True))


def plan(mapping_path: Path, jobs: int | None = None) -> Plan:
    """Scan, parse and plan; raises ConsolidateError for bad input (exit 2), returns the plan otherwise."""
    scanned = scan_mapping(load_mapping(mapping_path))
    parsed = parse_sources(scanned, jobs)
    result, problems = build_plan(scanned.mapping, scanned.scan, parsed)
    if problems:
        raise ConsolidateError(problems)
    return result


def init(mapping_path: Path, root: Path, sources: Sequence[str]) -> str:
    """Draft a mapping from a scan of `root`; never overwrites an existing file. Returns the text written."""
    if mapping_path.exists():
        raise ConsolidateError.at(
            "init.exists",
            "a mapping already exists here; init never overwrites it",
            Location(str(mapping_path)),
            hint="choose another --mapping path, or edit the existing file",
        )
    if not root.is_dir():
        raise ConsolidateError.at("init.root-missing", "root folder does not exist", Location(str(root)))
    folders = list(sources) or _sql_folders(root)
    tree = read_sources(root, folders)
    problems = [f"source folder '{folder}' does not exist below {root}" for folder in tree.missing]
    if problems:
        raise ConsolidateError.at("init.source-missing", "; ".join(problems), Location(str(root)))
    relative_root = Path(os.path.relpath(str(root), str(mapping_path.parent))).as_posix()
    text = draft_mapping(scan(tree.files), relative_root, folders)
    mapping_path.parent.mkdir(parents=True, exist_ok=True)
    # "x" mode: a file that appeared since the check above is still never overwritten.
    with mapping_path.open("x", encoding="utf-8") as handle:
        handle.write(text)
    return text


def _sql_folders(root: Path) -> list[str]:
    """The top-most folders below root that hold .sql files, for `init` without explicit sources."""
    found: list[str] = []
    for path in sorted(root.rglob("*.sql"), key=lambda p: p.as_posix()):
        relative = path.parent.relative_to(root).as_posix()
        if any(part.startswith(".") for part in Path(relative).parts):
            continue
        if not any(relative == top or relative.startswith(top + "/") for top in found):
            found = [top for top in found if not top.startswith(relative + "/")] + [relative]
    return sorted(found)
