"""Benchmark the rollback proof (issue 16): proving every rollback of an N-version tree against replaying it up once.

    python bench/rollback_bench.py [--sizes 50 200 1000] [--repeat 3] [--service-url URL]

For each N a legacy tree of N migrations is written (one folder, golang-migrate names), each with a correct down
script: a table with a foreign key to the one before, an index, a function, two seed rows, and every fifth
version a column added to an earlier table. `consolidate init` and `apply` turn it into a canonical tree of N
versions. Then, in --repeat interleaved repetitions on the service (order rotated each time):

- up once (the floor): every version file concatenated, ``psql -X -q -1 -f all.sql`` on a fresh database;
- verify, rollbacks none: ``consolidate verify --rollbacks none`` (legacy replay, canonical replay, comparison);
- verify, rollbacks all: the same, every rollback proven again.

The rollback proof's cost is the paired difference all - none; the target is that cost ≤ 3 × the floor, at
every N (linear growth). Children import a snapshot of consolidate/ taken when the run starts. The markdown goes
to stdout and bench/out/rollback.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_bench import commit, snapshot
from runner_bench import PSQL, SERVICE_URL, Databases, database_url, environment, server_version

OUT = Path(__file__).resolve().parent / "out"
PYTHON = sys.executable
TARGET = 3.0  # proof / up once
KINDS = ("up once", "verify none", "verify all")


def write_tree(root: Path, versions: int) -> None:
    """N migrations, each undone exactly by its down script."""
    folder = root / "db" / "migrations"
    folder.mkdir(parents=True)
    for n in range(1, versions + 1):
        ref = f", parent_id integer REFERENCES item_{n - 1} (id)" if n > 1 else ""
        up = [
            f"CREATE TABLE item_{n} (id serial PRIMARY KEY, name text NOT NULL, state text DEFAULT 'new'{ref},"
            " created_at timestamptz NOT NULL DEFAULT now());",
            f"CREATE INDEX item_{n}_name ON item_{n} (name) WHERE state <> 'gone';",
            f"CREATE FUNCTION item_{n}_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM item_{n} $$;",
            f"INSERT INTO item_{n} (name) VALUES ('first'), ('second');",
        ]
        down = [f"DROP FUNCTION item_{n}_count();", f"DROP TABLE item_{n};"]
        if n % 5 == 0:
            up.append(f"ALTER TABLE item_{n - 3} ADD COLUMN note_{n} text;")
            down.insert(0, f"ALTER TABLE item_{n - 3} DROP COLUMN note_{n};")
        (folder / f"{n:06d}_item_{n}.up.sql").write_text("\n".join(up) + "\n", encoding="utf-8")
        (folder / f"{n:06d}_item_{n}.down.sql").write_text("\n".join(down) + "\n", encoding="utf-8")


def consolidate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "consolidate", *args], cwd=root, env=environment(), capture_output=True, text=True
    )


@dataclass
class Size:
    versions: int
    seconds: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    def median(self, kind: str) -> float:
        return statistics.median(self.seconds[kind])

    def proof(self) -> list[float]:
        return [a - b for a, b in zip(self.seconds["verify all"], self.seconds["verify none"], strict=True)]

    def ratio(self) -> float:
        """Median of the paired ratios proof / up once."""
        return statistics.median(p / u for p, u in zip(self.proof(), self.seconds["up once"], strict=True))


def run_once(kind: str, root: Path, databases: Databases, service_url: str) -> float:
    if kind == "up once":
        name = databases.create()
        try:
            command = [*PSQL, "-d", database_url(service_url, name), "-f", str(root / "all.sql")]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            elapsed = time.perf_counter() - started
        finally:
            databases.drop(name)
        if done.returncode != 0:
            raise SystemExit(f"psql failed:\n{done.stderr}")
        return elapsed
    mode = "none" if kind == "verify none" else "all"
    started = time.perf_counter()
    done = consolidate(root, "verify", "--database-url", service_url, "--rollbacks", mode)
    elapsed = time.perf_counter() - started
    expected = 1 if mode == "none" else 0  # none never says PROVEN
    if done.returncode != expected:
        raise SystemExit(f"verify --rollbacks {mode} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def measure(versions: int, repeat: int, work: Path, databases: Databases, service_url: str) -> Size:
    root = work / f"tree-{versions}"
    write_tree(root, versions)
    for args in (("init",), ("apply",)):
        done = consolidate(root, *args)
        if done.returncode != 0:
            raise SystemExit(f"consolidate {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    paths = sorted((root / "deploy" / "migrations" / "versions").glob("*.sql"))
    (root / "all.sql").write_text("".join(path.read_text(encoding="utf-8") + "\n" for path in paths), "utf-8")
    size = Size(len(paths))
    for kind in KINDS:  # untimed: warms the caches, and checks every step succeeds
        run_once(kind, root, databases, service_url)
    for round_ in range(repeat):
        order = KINDS[round_ % len(KINDS) :] + KINDS[: round_ % len(KINDS)]
        for kind in order:
            size.seconds[kind].append(run_once(kind, root, databases, service_url))
    return size


def report(sizes: list[Size], header: list[str]) -> str:
    lines = [*(f"{line}  " for line in header), ""]
    lines += ["| versions | up once s | verify none s | verify all s | proof (all − none) s | proof / up once |"]
    lines += ["|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        cells = [f"{size.versions:,}", *(f"{size.median(kind):.2f}" for kind in KINDS)]
        cells += [f"{statistics.median(size.proof()):.2f}", f"{size.ratio():.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| target | measured | verdict |", "|---|---:|---|"]
    for size in sizes:
        met = "met" if size.ratio() <= TARGET else "**missed**"
        lines.append(f"| proof ≤ {TARGET:g} × up once at {size.versions:,} versions | {size.ratio():.2f} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--service-url", default=SERVICE_URL)
    args = parser.parse_args(argv)
    databases = Databases(args.service_url)
    with tempfile.TemporaryDirectory(prefix="consolidate-bench-code-") as code, tempfile.TemporaryDirectory() as work:
        digest = snapshot(Path(code))
        started, before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
        sizes = [measure(n, args.repeat, Path(work), databases, args.service_url) for n in args.sizes]
    header = [
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}",
        f"Server: {server_version(args.service_url)} at the service",
        f"Code: consolidate/ as of {started} (commit {commit()} plus the working tree), sha256 {digest}…",
        f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run",
        f"Medians of {args.repeat} interleaved repetitions (`python bench/rollback_bench.py --sizes "
        f"{' '.join(map(str, args.sizes))} --repeat {args.repeat}`)",
    ]
    table = report(sizes, header)
    OUT.mkdir(exist_ok=True)
    (OUT / "rollback.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
