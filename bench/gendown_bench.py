"""Benchmark `consolidate apply --generate-down` against `consolidate verify` on the same tree (issue 16).

    python bench/gendown_bench.py [--sizes 50 200] [--kinds items generated] [--repeat 3] [--service-url URL]
    python bench/gendown_bench.py --sizes 200 --kinds items --profile      # cProfile of generate_downs() alone

Trees, each of about N versions, every rollback a stub:

- items: rollback_bench.py's tree (a table with a foreign key to the one before, an index, a function, two seed
  rows, every fifth version a column added to an earlier table) with its down files removed;
- generated: generate_tree.py's tree (seed 0) sized to about N targets (verify_bench.files_for); about half of
  its versions have no rollback file, so only those get a stub.

Each tree is written and applied (`consolidate init` for items, then `apply`) once, then kept as the pristine
copy. In --repeat interleaved repetitions (order alternated each time), each command runs in a fresh process on
a fresh copy of the pristine tree, so that every run sees the same stubs, writes the same downs and carries no
rollback result from an earlier run:

- verify: ``consolidate verify --database-url URL``;
- generate-down: ``consolidate apply --generate-down --database-url URL`` (apply, generate the downs, apply
  again, verify with every generated rollback proven).

Reported: the medians of each, and the median of the paired ratios generate-down / verify; the target is ≤ 2.
An untimed first round checks both commands (generate-down must exit 0; its downs are compared between runs) and
warms the caches. Children import a snapshot of consolidate/ taken when the run starts. The markdown goes to
stdout and bench/out/gendown.md. --profile writes bench/out/gendown-profile-<kind>-<N>.txt: a cProfile of one
`generate_downs()` call (by cumulative, then own time), on a copy applied once more.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_bench import commit, machine, snapshot
from rollback_bench import write_tree
from runner_bench import SERVICE_URL, environment, server_version
from verify_bench import files_for

from bench.generate_tree import generate

OUT = Path(__file__).resolve().parent / "out"
PYTHON = sys.executable
TARGET = 2.0  # generate-down / verify
KINDS = ("verify", "generate-down")
TREES = ("items", "generated")


def consolidate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "consolidate", *args], cwd=root, env=environment(), capture_output=True, text=True
    )


def succeeded(done: subprocess.CompletedProcess[str], what: str, codes: tuple[int, ...] = (0,)) -> None:
    if done.returncode not in codes:
        raise SystemExit(f"consolidate {what} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def pristine(kind: str, versions: int, work: Path) -> Path:
    """The tree of `kind` with about `versions` versions, applied, every rollback a stub or a legacy one."""
    root = work / f"{kind}-{versions}"
    if kind == "items":
        write_tree(root, versions)
        for down in (root / "db" / "migrations").glob("*.down.sql"):
            down.unlink()
        succeeded(consolidate(root, "init"), "init")
    else:
        generate(root, files_for(versions, 0, work), 0)
    succeeded(consolidate(root, "apply"), "apply")
    return root


def downs(root: Path) -> dict[str, str]:
    """Every down file of the tree's output, by name."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(root.rglob("down/*.sql"))}


@dataclass
class Size:
    kind: str
    versions: int
    stubs: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    outcome: str = ""  # generate-down's verdict on its rollbacks

    def median(self, kind: str) -> float:
        return statistics.median(self.seconds[kind])

    def ratio(self) -> float:
        """Median of the paired ratios generate-down / verify."""
        pairs = zip(self.seconds["generate-down"], self.seconds["verify"], strict=True)
        return statistics.median(g / v for g, v in pairs)


def verdict_line(stdout: str) -> str:
    """The verdict line of a run: "rollbacks: 18 verified, 2 wrong"."""
    return next((line for line in stdout.splitlines() if line.startswith("rollbacks:")), "")


def run_once(kind: str, tree: Path, work: Path, service_url: str) -> tuple[float, dict[str, str], str]:
    """One command on a fresh copy of the pristine tree: wall seconds, the down files it leaves, its verdict."""
    copy = work / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(tree, copy, symlinks=True)
    args = ("verify",) if kind == "verify" else ("apply", "--generate-down")
    started = time.perf_counter()
    done = consolidate(copy, *args, "--database-url", service_url)
    elapsed = time.perf_counter() - started
    # verify exits 1 on stubs; generate-down on rollbacks dbdiff gets wrong (verdict_line() names them).
    succeeded(done, " ".join(args), (0, 1))
    return elapsed, downs(copy), verdict_line(done.stdout)


def measure(kind: str, versions: int, repeat: int, work: Path, service_url: str) -> Size:
    tree = pristine(kind, versions, work)
    stubs = sum(text.startswith("-- consolidate: stub") for text in downs(tree).values())
    size = Size(kind, len(list(tree.rglob("versions/*.sql"))), stubs)
    _, generated, size.outcome = run_once("generate-down", tree, work, service_url)  # untimed: checks, warms
    run_once("verify", tree, work, service_url)
    for round_ in range(repeat):
        for command in KINDS if round_ % 2 == 0 else KINDS[::-1]:
            seconds, written, _ = run_once(command, tree, work, service_url)
            if command == "generate-down" and written != generated:
                raise SystemExit(f"{kind}-{versions}: generate-down wrote other downs than its first run")
            size.seconds[command].append(seconds)
        print(f"{kind} {versions}: round {round_ + 1} done", file=sys.stderr)
    return size


def profile(kind: str, versions: int, work: Path, service_url: str) -> Path:
    """A cProfile of one generate_downs() call in this process, on a fresh copy of the pristine tree."""
    from consolidate.verify import ServerOptions, generate_downs

    tree = pristine(kind, versions, work)
    copy = work / "profiled"
    shutil.copytree(tree, copy, symlinks=True)
    profiler = cProfile.Profile()
    profiler.runcall(generate_downs, copy / "mapping.yaml", ServerOptions(service_url))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"gendown-profile-{kind}-{versions}.txt"
    with path.open("w", encoding="utf-8") as out:
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
    return path


def report(sizes: list[Size], header: list[str]) -> str:
    lines = [*(f"{line}  " for line in header), ""]
    lines += ["| tree | versions | stubs | verify s | generate-down s | generate-down / verify | generated downs |"]
    lines += ["|---|---:|---:|---:|---:|---:|---|"]
    for size in sizes:
        cells = [size.kind, f"{size.versions:,}", f"{size.stubs:,}"]
        cells += [
            *(f"{size.median(kind):.2f}" for kind in KINDS),
            f"{size.ratio():.2f}",
            size.outcome.removeprefix("rollbacks: "),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
    for size in sizes:
        met = "met" if size.ratio() <= TARGET else "**missed**"
        where = f"{size.kind}, {size.versions:,} versions"
        lines.append(f"| generate-down ≤ {TARGET:g} × verify ({where}) | {size.ratio():.2f} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--kinds", nargs="+", choices=TREES, default=list(TREES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--service-url", default=SERVICE_URL)
    parser.add_argument("--profile", action="store_true", help="profile generate_downs() instead of timing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="consolidate-bench-code-") as code, tempfile.TemporaryDirectory() as work:
        digest = snapshot(Path(code))
        if args.profile:
            for kind in args.kinds:
                for n in args.sizes:
                    print(profile(kind, n, Path(work) / f"{kind}-{n}-profile", args.service_url))
            return 0
        started, before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
        sizes = [
            measure(kind, n, args.repeat, Path(work) / f"{kind}-{n}", args.service_url)
            for kind in args.kinds
            for n in args.sizes
        ]
    command = f"python bench/gendown_bench.py --sizes {' '.join(map(str, args.sizes))} --kinds {' '.join(args.kinds)}"
    header = [
        f"Machine: {machine()}",
        f"Server: {server_version(args.service_url)} at the service",
        f"Code: consolidate/ as of {started} (commit {commit()} plus the working tree), sha256 {digest}…",
        f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run",
        f"Medians of {args.repeat} interleaved repetitions (`{command} --repeat {args.repeat}`)",
    ]
    table = report(sizes, header)
    OUT.mkdir(exist_ok=True)
    (OUT / "gendown.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
