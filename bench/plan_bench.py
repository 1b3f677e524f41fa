"""Benchmark `consolidate plan` against the bare cost of parsing the same files with sqlglot and pglast.

    python bench/plan_bench.py [--sizes 1000 10000] [--repeat 3] [--seed 0] [--no-serial] [--profile]

For each size N a tree of N .sql files is generated (bench/generate_tree.py) into a temporary folder outside the
repository. Then, interleaved and each in a fresh child process, --repeat times (default 3 up to 2,000 files,
1 above):

- start-up: ``python -c "import consolidate.cli.main"``, i.e. interpreter start and every import `plan` pays;
- ``python -m consolidate plan --mapping <tree>/mapping.yaml --json`` (stdout to /dev/null), with the default number of
  parser processes and, unless --no-serial, with ``--jobs 1``;
- the baseline: a child that reads the mapped up files (the files `plan` parses), then times
  ``sqlglot.parse(text, read="postgres")`` over all of them and, separately, ``pglast.parser.parse_sql(text)``
  over all of them. Interpreter start, imports and reading are outside both timings.

Every child imports a copy of consolidate/ taken when the run starts, so that edits to the working tree during a
run cannot mix code versions in one table; the report names the copy by commit and digest.

Fairness: plan's "net" time is its wall time minus the median start-up, so neither side pays interpreter start
or imports. Peak RSS comes from wait4() on each child: the largest single process of its tree (with a parser pool
that is the parent or one worker, not their sum).

The medians go to a markdown table on stdout and in bench/out/plan.md; --profile also writes
bench/out/profile-<N>.txt, a cProfile of ``plan --jobs 1`` sorted by cumulative time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TypedDict

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_tree import generate

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PYTHON = sys.executable
TARGET_RATIO = 1.25  # plan / (sqlglot + pglast) at 1,000 files
TARGET_SCALING = 11.0  # plan(10,000) / plan(1,000)
MIB = 1024  # ru_maxrss is in KiB on Linux
SNAPSHOT = "CONSOLIDATE_BENCH_SNAPSHOT"  # folder holding the copy of the package the children run


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int
    exit_code: int
    stdout: str = ""


@dataclass
class Sample:
    """Every run of one kind at one size; medians are what gets reported."""

    runs: list[Run] = field(default_factory=list)

    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    def rss_mib(self) -> float:
        return statistics.median(run.max_rss_kib for run in self.runs) / MIB

    def phase(self, name: str) -> float:
        """Median of a phase the baseline child timed itself."""
        return float(statistics.median(float(json.loads(run.stdout)[name]) for run in self.runs))


@dataclass
class Size:
    files: int
    parsed: int  # up files mapped, i.e. what plan and the baseline parse
    samples: dict[str, Sample] = field(default_factory=dict)

    def sample(self, kind: str) -> Sample:
        return self.samples.setdefault(kind, Sample())

    def net(self, kind: str) -> float:
        """Plan's wall time without interpreter start and imports."""
        return self.samples[kind].seconds() - self.samples["startup"].seconds()

    def parse(self) -> float:
        baseline = self.samples["baseline"]
        return baseline.phase("sqlglot") + baseline.phase("pglast")


# --- children ----------------------------------------------------------------------------------------------


def run_child(command: Sequence[str], capture: bool = False) -> Run:
    """Run a command in a fresh process; its wall time, exit code, stdout and the peak RSS wait4() reports."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        stdout = out if capture else subprocess.DEVNULL
        process = subprocess.Popen(command, stdout=stdout, stderr=err, text=True, **child_context())
        # wait4, not Popen.wait: it is the only way to get this child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {code}:\n{err.read()}")
        return Run(elapsed, usage.ru_maxrss, code, out.read())


def snapshot(into: Path) -> str:
    """Copy the consolidate package for the children to import, so that edits to the working tree during a run
    cannot mix code versions within one table; returns a digest of the copied code to name it by."""
    shutil.copytree(HERE.parent / "consolidate", into / "consolidate", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((into / "consolidate").rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(into).as_posix().encode() + b"\0" + path.read_bytes())
    os.environ[SNAPSHOT] = str(into)
    return digest.hexdigest()[:12]


class ChildContext(TypedDict):
    cwd: str | None
    env: dict[str, str]


def child_context() -> ChildContext:
    """Where the children run and with what environment, so that they import the snapshot: `python -m` and
    `python -c` put their working folder first on sys.path, PYTHONPATH comes before the editable install."""
    environment = dict(os.environ)
    folder = environment.get(SNAPSHOT)
    if folder is not None:
        environment["PYTHONPATH"] = folder
    return {"cwd": folder, "env": environment}


def mapped_sources(mapping: Path) -> list[Path]:
    document = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    root = mapping.parent / document["root"]
    return [root / source for entry in document["migrations"] for source in entry["sources"]]


def baseline_child(list_file: Path) -> None:
    """In the child: time sqlglot, then pglast, over every listed file; print the phases as JSON."""
    started = time.perf_counter()
    import logging

    import pglast
    import sqlglot

    logging.getLogger("sqlglot").setLevel(logging.CRITICAL)  # fall-back warnings would cost terminal time
    imported = time.perf_counter()
    texts = [Path(path).read_text(encoding="utf-8") for path in list_file.read_text(encoding="utf-8").splitlines()]
    read = time.perf_counter()
    for text in texts:
        sqlglot.parse(text, read="postgres")
    parsed = time.perf_counter()
    for text in texts:
        pglast.parser.parse_sql(text)
    done = time.perf_counter()
    phases = {"imports": imported - started, "read": read - imported, "sqlglot": parsed - read, "pglast": done - parsed}
    print(json.dumps(phases))


# --- measuring ---------------------------------------------------------------------------------------------


def measure(files: int, repeat: int, seed: int, serial: bool, profile: bool) -> Size:
    """Generate a tree of `files` files in a temporary folder and time every kind of run on it, interleaved."""
    work = Path(tempfile.mkdtemp(prefix=f"consolidate-bench-{files}-"))
    try:
        mapping = generate(work / "tree", files, seed)
        sources = mapped_sources(mapping)
        list_file = work / "sources.txt"
        list_file.write_text("\n".join(str(path) for path in sources) + "\n", encoding="utf-8")
        plan = [PYTHON, "-m", "consolidate", "plan", "--mapping", str(mapping), "--json"]
        kinds: dict[str, list[str]] = {
            "startup": [PYTHON, "-c", "import consolidate.cli.main"],
            "plan": plan,
            "baseline": [PYTHON, str(Path(__file__).resolve()), "--baseline", str(list_file)],
        }
        if serial:
            kinds["plan-serial"] = [*plan, "--jobs", "1"]
        size = Size(files, len(sources))
        for round_ in range(repeat):
            order = list(kinds)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]  # no kind always runs first
            for kind in order:
                size.sample(kind).runs.append(run_child(kinds[kind], capture=kind == "baseline"))
                print(f"  N={files} round {round_ + 1}/{repeat} {kind}: {size.sample(kind).runs[-1].seconds:.2f}s")
        if profile:
            write_profile(files, mapping, work)
        return size
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_profile(files: int, mapping: Path, work: Path) -> None:
    """cProfile of a serial plan (a pool's workers would be invisible to it): consolidate's functions by
    cumulative time, then every function by own time, which shows the hot spots inside libraries."""
    stats_file = work / "plan.prof"
    command = [PYTHON, "-m", "cProfile", "-o", str(stats_file), "-m", "consolidate", "plan", "--mapping"]
    command += [str(mapping), "--json", "--jobs", "1"]
    subprocess.run(command, capture_output=True, check=False, **child_context())
    stream = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=stream)
    stats.sort_stats("cumulative").print_stats("consolidate/", 40)
    stats.sort_stats("tottime").print_stats(25)
    text = stream.getvalue().replace(f"{os.environ.get(SNAPSHOT, HERE.parent)}/", "")  # paths as in the repository
    OUT.mkdir(exist_ok=True)
    (OUT / f"profile-{files}.txt").write_text(text, encoding="utf-8")


# --- reporting ---------------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = f"sqlglot {metadata.version('sqlglot')}, pglast {metadata.version('pglast')}"
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {versions}, {platform.system()}"


def commit() -> str:
    """The checked-out commit, read without touching the repository (no index refresh, unlike `git status`)."""
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "**missed**"


def report(sizes: list[Size], repeats: dict[int, int], serial: bool, header: list[str]) -> str:
    lines = [
        *(f"{line}  " for line in header),  # two spaces: a markdown line break
        "",
        "| files | up files parsed | runs | start-up s | plan wall s | plan net s | plan RSS MiB "
        + ("| plan --jobs 1 net s | --jobs 1 RSS MiB " if serial else "")
        + "| read s | sqlglot s | pglast s | sqlglot + pglast s | baseline RSS MiB |",
        "|" + "---:|" * (13 if serial else 11),
    ]
    for size in sizes:
        s = size.samples
        row = [
            f"{size.files:,}",
            f"{size.parsed:,}",
            str(repeats[size.files]),
            f"{s['startup'].seconds():.2f}",
            f"{s['plan'].seconds():.2f}",
            f"{size.net('plan'):.2f}",
            f"{s['plan'].rss_mib():.0f}",
        ]
        if serial:
            row += [f"{size.net('plan-serial'):.2f}", f"{s['plan-serial'].rss_mib():.0f}"]
        row += [
            f"{s['baseline'].phase('read'):.2f}",
            f"{s['baseline'].phase('sqlglot'):.2f}",
            f"{s['baseline'].phase('pglast'):.2f}",
            f"{size.parse():.2f}",
            f"{s['baseline'].rss_mib():.0f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join([*lines, "", *targets(sizes, serial)]) + "\n"


def ratio_cell(value: float, limit: float) -> str:
    return f"{value:.2f} ({verdict(value, limit)})"


def targets(sizes: list[Size], serial: bool) -> list[str]:
    kinds = ["plan", "plan-serial"] if serial else ["plan"]
    header = "| measure | " + " | ".join(("default --jobs", "--jobs 1")[: len(kinds)]) + " | target |"
    lines = [header, "|---|" + "---:|" * len(kinds) + "---|"]
    by_files = {size.files: size for size in sizes}
    small, large = by_files.get(1000), by_files.get(10000)
    if small is None:
        return ["Targets are judged at 1,000 and 10,000 files; this run measured neither."]
    if small is not None:
        cells = [ratio_cell(small.net(kind) / small.parse(), TARGET_RATIO) for kind in kinds]
        lines.append(f"| plan net / (sqlglot + pglast), 1,000 files | {' | '.join(cells)} | ≤ {TARGET_RATIO} |")
    if small is not None and large is not None:
        cells = [ratio_cell(large.net(kind) / small.net(kind), TARGET_SCALING) for kind in kinds]
        lines.append(f"| plan net, 10,000 / 1,000 files | {' | '.join(cells)} | ≤ {TARGET_SCALING:g} |")
        walls = [f"{large.samples[kind].seconds() / small.samples[kind].seconds():.2f}" for kind in kinds]
        lines.append(f"| plan wall, 10,000 / 1,000 files (for reference) | {' | '.join(walls)} | |")
    failed = sorted({size.files for size in sizes for k in kinds for run in size.samples[k].runs if run.exit_code})
    if failed:
        lines += ["", f"**plan exited 1 (the plan has errors) at {', '.join(map(str, failed))} files.**"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="numbers of .sql files")
    parser.add_argument("--repeat", type=int, help="runs per kind (default: 3 up to 2,000 files, 1 above)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-serial", dest="serial", action="store_false", help="skip plan --jobs 1")
    parser.add_argument("--profile", action="store_true", help="also write bench/out/profile-<N>.txt")
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)  # child mode: the list of files
    args = parser.parse_args(argv)
    if args.baseline is not None:
        baseline_child(args.baseline)
        return 0
    repeats = {files: args.repeat or (3 if files <= 2000 else 1) for files in args.sizes}
    with tempfile.TemporaryDirectory(prefix="consolidate-bench-code-") as code:
        digest = snapshot(Path(code))
        started, before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
        sizes = [measure(files, repeats[files], args.seed, args.serial, args.profile) for files in args.sizes]
    header = [
        f"Machine: {machine()}",
        f"Code: consolidate/ as of {started} (commit {commit()} plus the working tree), sha256 {digest}…",
        # Other work on the machine inflates every figure; the load average says how much there was.
        f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run",
    ]
    table = report(sizes, repeats, args.serial, header)
    OUT.mkdir(exist_ok=True)
    (OUT / "plan.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
