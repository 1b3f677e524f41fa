"""Benchmark `consolidate verify` against the psql floor (issue 16: verify ≤ 4× the floor).

    python bench/verify_floor_bench.py [--files 200 1000] [--repeat 5] [--rollbacks none changed] [--seed 0]
                                       [--no-fixtures] [--service-url URL]

Trees, each in a temporary folder outside the repository and applied first (`consolidate apply`): the shipped
mapping.yaml and legacy_fixtures/, and one bench/generate_tree.py tree per --files (legacy .sql files).

- floor: the legacy up scripts verify replays (consolidate.verify.legacy_files: mapping order, a patched file as
  patched), concatenated, ``psql -X -q -v ON_ERROR_STOP=1 -1 -f all.sql`` on a fresh empty database of the
  service (CREATE DATABASE … TEMPLATE template0 and DROP outside the timing; ON_ERROR_STOP so that a floor whose
  transaction aborted cannot pass for a fast one);
- verify: ``python -m consolidate verify --mapping M --database-url URL --rollbacks R`` in a fresh process, end to
  end (start-up, plan, replays, compare, verification.json and CONSOLIDATION.md written). Each --rollbacks choice
  runs on its own copy of the applied tree, after one untimed run: `changed` (the default) then carries what the
  previous run of the same choice proved, as everyday runs do.

--repeat rounds, each running the floor and every verify once, their order rotated every round; reported per tree
and choice: median seconds, and the median of the paired ratios verify / floor of the same round.

Profile: after the rounds, one run per tree and choice of this script with --child, making the CLI's one library
call (consolidate.commands.verify) with verify_bench's phase marks (plan, server start, legacy replay, canonical
replay, diff, rollback proof, clean-up) plus `writing outputs` (verification.json, CONSOLIDATION.md); start-up is
the child's wall time minus the call's (interpreter start and imports). Children import a snapshot of
consolidate/ taken when the run starts. The markdown goes to stdout and bench/out/verify_floor.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, only bench/ is on sys.path; appended, the root cannot shadow the consolidate a child imports.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from bench.generate_tree import generate
from bench.runner_bench import PSQL, Databases, database_url
from bench.verify_bench import (
    PHASES,
    URL_VARIABLES,
    Clock,
    applied,
    fixtures_case,
    instrumented,
    machine,
    run_child,
    snapshot_code,
)
from consolidate import commands
from consolidate.model import Rollbacks
from consolidate.verify import ServerOptions

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SERVICE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET = 4.0  # verify / floor
PROFILE = ("start-up", *PHASES, "writing outputs")


# --- the floor -----------------------------------------------------------------------------------------------


def concatenated(case: Path, code: Path) -> Path:
    """all.sql beside the case: what the legacy replay runs, as one file (written by a child on the snapshot)."""
    script = (
        "import sys; from pathlib import Path; from consolidate import pipeline; "
        "from consolidate.verify import legacy_files; "
        "files = legacy_files(pipeline.planned(Path(sys.argv[1]))); "
        "Path(sys.argv[2]).write_text(''.join(t if t.endswith(chr(10)) else t + chr(10) for _, t in files))"
    )
    target = case.parent / f"{case.name}.all.sql"
    run_child([sys.executable, "-c", script, str(case / "mapping.yaml"), str(target)], case, code)
    return target


def floor(databases: Databases, script: Path) -> float:
    """One psql replay of `script` on a fresh database: its wall seconds; a failing floor stops the bench."""
    name = databases.create()
    try:
        environment = {key: value for key, value in os.environ.items() if key not in (*URL_VARIABLES, "PGOPTIONS")}
        command = [*PSQL, "-f", str(script), database_url(databases.service_url, name)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        elapsed = time.perf_counter() - started
    finally:
        databases.drop(name)
    if done.returncode != 0:
        raise SystemExit(f"the floor failed on {script} (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


# --- verify --------------------------------------------------------------------------------------------------


def verify_cli(case: Path, code: Path, service_url: str, rollbacks: str) -> float:
    """`consolidate verify` end to end in a fresh process: wall seconds (exit 0 or 1: a proof or its failure)."""
    command = [sys.executable, "-m", "consolidate", "verify", "--mapping", str(case / "mapping.yaml")]
    wall, _, _ = run_child([*command, "--database-url", service_url, "--rollbacks", rollbacks], case, code)
    return wall


def child(mapping: Path, rollbacks: str, service_url: str) -> None:
    """In the child: the CLI's library call, its phases marked; printed as JSON."""
    clock = Clock()
    original = commands._record_verification

    def recording(*args: Any, **kwargs: Any) -> Any:
        clock.switch("writing outputs")
        return original(*args, **kwargs)

    setattr(commands, "_record_verification", recording)  # noqa: B010
    with instrumented(clock):
        started = clock.since = time.perf_counter()
        commands.verify(mapping, ServerOptions(service_url), rollbacks=Rollbacks(rollbacks))
        clock.switch("done")
    print(json.dumps({"phases": clock.seconds, "total": clock.since - started}))


def profile(case: Path, code: Path, service_url: str, rollbacks: str) -> dict[str, float]:
    """One marked run in a child: seconds per phase, start-up included."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(case / "mapping.yaml"), rollbacks]
    wall, _, stdout = run_child([*command, "--service-url", service_url], case, code)
    document = json.loads(stdout.strip().splitlines()[-1])
    return {"start-up": wall - document["total"], **document["phases"], "wall": wall}


# --- rounds --------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One tree: its floor and its verify per --rollbacks choice, paired by round."""

    tree: str
    floor: list[float] = field(default_factory=list)
    verify: dict[str, list[float]] = field(default_factory=dict)
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)

    def ratio(self, rollbacks: str) -> float:
        return statistics.median(v / f for v, f in zip(self.verify[rollbacks], self.floor, strict=True))


def measure(name: str, case: Path, bench: Bench, repeat: int, choices: Sequence[str]) -> Row:
    """The tree's rounds: a copy per choice, one untimed verify each, then floor and verifies interleaved."""
    script = concatenated(case, bench.code)
    copies = {choice: case.parent / f"{case.name}-{choice}" for choice in choices}
    for choice, copy in copies.items():
        shutil.copytree(case, copy, symlinks=True)
        verify_cli(copy, bench.code, bench.service_url, choice)
    row = Row(name, verify={choice: [] for choice in choices})
    runs: list[tuple[str, Callable[[], float]]] = [("floor", lambda: floor(bench.databases, script))]
    runs += [(c, lambda c=c: verify_cli(copies[c], bench.code, bench.service_url, c)) for c in choices]  # type: ignore[misc]
    for round_ in range(repeat):
        shift = round_ % len(runs)
        for what, run in runs[shift:] + runs[:shift]:
            seconds = run()
            (row.floor if what == "floor" else row.verify[what]).append(seconds)
        print(
            f"  {name} round {round_ + 1}: floor {row.floor[-1]:.2f}s, verify "
            + ", ".join(f"{c} {row.verify[c][-1]:.2f}s" for c in choices),
            file=sys.stderr,
        )
    for choice, copy in copies.items():
        row.profiles[choice] = profile(copy, bench.code, bench.service_url, choice)
    return row


@dataclass(frozen=True)
class Bench:
    code: Path
    service_url: str
    databases: Databases


# --- reporting -----------------------------------------------------------------------------------------------


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def ratio_table(rows: Sequence[Row], choices: Sequence[str]) -> list[str]:
    header = ["tree", "rounds", "floor s (median)"]
    for choice in choices:
        header += [f"verify --rollbacks {choice} s", f"{choice}: median ratio", "verdict (≤ 4×)"]
    lines = [_line(header), "|---|---:|---:|" + "---:|---:|---|" * len(choices)]
    for row in rows:
        cells = [row.tree, str(len(row.floor)), f"{statistics.median(row.floor):.2f}"]
        for choice in choices:
            ratio = row.ratio(choice)
            cells += [f"{statistics.median(row.verify[choice]):.2f}", f"{ratio:.2f}×"]
            cells.append("met" if ratio <= TARGET else "**missed**")
        lines.append(_line(cells))
    return lines


def profile_table(rows: Sequence[Row], choices: Sequence[str]) -> list[str]:
    lines = [_line(["tree", "--rollbacks", *(f"{p} s" for p in PROFILE), "wall s"])]
    lines.append("|---|---|" + "---:|" * (len(PROFILE) + 1))
    for row in rows:
        for choice in choices:
            found = row.profiles[choice]
            cells = [f"{found.get(p, 0.0):.2f}" for p in PROFILE]
            lines.append(_line([row.tree, choice, *cells, f"{found['wall']:.2f}"]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, nargs="*", default=[200, 1000], help="generated trees, by .sql files")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rollbacks", nargs="+", default=["none", "changed"], choices=[r.value for r in Rollbacks])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fixtures", action="store_true")
    parser.add_argument("--service-url", default=SERVICE_URL)
    parser.add_argument("--child", nargs=2, metavar=("MAPPING", "ROLLBACKS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(Path(args.child[0]), args.child[1], args.service_url)
        return 0
    before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="consolidate-verify-floor-"))
    rows = []
    try:
        bench = Bench(snapshot_code(work / "code"), args.service_url, Databases(args.service_url))
        if not args.no_fixtures:
            rows.append(measure("fixtures", fixtures_case(work, bench.code), bench, args.repeat, args.rollbacks))
        for files in args.files:
            case = work / f"tree-{files}"
            generate(case, files, args.seed)
            applied(case, bench.code)
            rows.append(measure(f"generated, {files} files", case, bench, args.repeat, args.rollbacks))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run"
    command = "python bench/verify_floor_bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [f"Command: `{command.strip()}`", f"Machine: {machine()}", load, ""]
    parts += [*ratio_table(rows, args.rollbacks), "", "Where the time goes (one marked run each):", ""]
    parts += profile_table(rows, args.rollbacks)
    text = "\n".join(parts) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "verify_floor.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
