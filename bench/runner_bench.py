"""Benchmark `consolidate migrate up` against psql (one transaction, and once per file) and dbmate.

    python bench/runner_bench.py [--kind generated|small] [--sizes 200 1000] [--repeat 5] [--seed 0]
                                 [--service-url URL]

For each size N a synthetic legacy tree is written into a temporary folder outside the repository and consolidated
with `consolidate apply`, so that every tool runs exactly the canonical tree a consolidation writes. --kind
generated (the default): about N / 0.75 files of bench/generate_tree.py, about N versions (the report gives the
real count). --kind small: N plain versions of a few statements each (a table, an index, a column or a foreign key
on an earlier table; no data), where per-version cost, not the server's work, dominates. On the tree, each on a
fresh empty database of the service (CREATE DATABASE … TEMPLATE template0, dropped after), wall time of:

- floor: every version file concatenated in order, ``psql -X -q -v ON_ERROR_STOP=1 -1 -f all.sql`` (one
  session, one transaction);
- psql per file: ``psql -X -q -v ON_ERROR_STOP=1 -1 -f FILE`` for each version file, one after the other;
- runner: ``python -m consolidate migrate up --dir TREE --database-url URL`` (what the console script
  ``consolidate migrate up`` runs) as a child process, start-up included;
- dbmate: ``dbmate --no-dump-schema migrate`` (the npm package's native binary, installed into
  bench/out/npm when absent) on a copy of the tree as db/migrations/<version>_<name>.sql, each file starting
  with ``-- migrate:up`` (dbmate runs each in its own transaction).

First a check round, untimed: every tool once, each must exit 0 and build the same number of user relations and
functions as the floor (a floor that fails names the version, e.g. one that cannot run inside a transaction).
Then --repeat repetitions, each running the four tools, their order rotated every repetition; reported per tool
are the median seconds and the median of the paired ratios tool / floor of the same repetition.

Children running consolidate import a copy of consolidate/ taken when the run starts (plan_bench's snapshot), so
that edits to the working tree during a run cannot mix code versions in one table. The markdown goes to stdout
and bench/out/runner.md.
"""

from __future__ import annotations

import argparse
import os
import platform
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
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_tree import generate
from plan_bench import child_context, commit, snapshot

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
NPM = OUT / "npm"
PYTHON = sys.executable
SERVICE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
UP_SHARE = 0.75  # about this share of generate_tree's files are up files, i.e. versions
TARGET_FLOOR = 0.95  # runner / floor at 1,000 versions
TOOLS = ("floor", "psql per file", "runner", "dbmate")
PSQL = ("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1")
URL_VARIABLES = ("DATABASE_URL", "SUPABASE_DB_URL", "PGDATABASE", "PGOPTIONS")  # only the arguments choose
OBJECTS = """
    SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND c.relname NOT IN ('_migrations', '_migrations_id_seq', '_migrations_pkey',
                                    '_migrations_version_key', 'schema_migrations', 'schema_migrations_pkey')),
           (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))
"""


# --- the server ----------------------------------------------------------------------------------------------


def database_url(service_url: str, name: str) -> str:
    """The service URL pointing at database `name`."""
    parts = urlsplit(service_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class Databases:
    """Fresh empty databases on the service, one per measurement, created and dropped outside the timings."""

    def __init__(self, service_url: str) -> None:
        self.service_url = service_url
        self.count = 0

    def create(self) -> str:
        self.count += 1
        name = f"runner_bench_{os.getpid()}_{self.count}"
        with psycopg.connect(self.service_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.service_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def objects(self, name: str) -> tuple[int, int]:
        """User relations and functions in `name`, the tracking tables left out."""
        with psycopg.connect(database_url(self.service_url, name)) as connection:
            row = connection.execute(OBJECTS).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


# --- the trees -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """One consolidated tree and what each tool is given to run it."""

    files: int  # legacy .sql files generated
    canonical: Path  # holds versions/ and down/
    versions: list[Path]
    concatenated: Path
    dbmate: Path  # holds db/migrations


# Not passed on: variables that could choose another database, and PYTHONDONTWRITEBYTECODE, under which every
# runner child compiled consolidate's modules from source again (~0.05 s each start), where an installed package
# has them compiled once; the check round compiles them into the snapshot before anything is timed.
NOT_PASSED = (*URL_VARIABLES, "PYTHONDONTWRITEBYTECODE")


def environment() -> dict[str, str]:
    """The children's environment: that of the snapshot, without NOT_PASSED."""
    context = child_context()["env"]
    return {name: value for name, value in context.items() if name not in NOT_PASSED}


def small_tree(out: Path, versions: int) -> Path:
    """Write `versions` small plain legacy files below out/legacy and the mapping that keeps one version each;
    returns the mapping's path. Each creates a table and an index and changes an earlier table, with no data."""
    folder = out / "legacy" / "migrations"
    folder.mkdir(parents=True)
    width = max(3, len(str(versions)))
    lines = ["version: 1", "dialect: postgres", "root: legacy", "output: deploy/migrations", f"width: {width}"]
    lines += ["sources:", "  - migrations", "migrations:"]
    for number in range(1, versions + 1):
        table, earlier = f"small_{number:0{width}}", f"small_{max(1, number // 2):0{width}}"
        statements = [
            f"CREATE TABLE {table} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            f"    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);",
            f"CREATE INDEX {table}_name_idx ON {table} (name);",
        ]
        if number > 1 and number % 2:
            statements.append(f"ALTER TABLE {earlier} ADD COLUMN {table}_id bigint REFERENCES {table} (id);")
        elif number > 1:
            statements.append(f"ALTER TABLE {earlier} ADD COLUMN note_{number} text;")
        name = f"{number:0{width}}_create_{table}.sql"
        (folder / name).write_text("\n\n".join(statements) + "\n", encoding="utf-8")
        lines += [f"  - version: {number}", f"    name: create_{table}", f"    sources: [migrations/{name}]"]
    mapping = out / "mapping.yaml"
    mapping.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return mapping


def consolidated(work: Path, kind: str, versions: int, seed: int) -> Tree:
    """A tree of about `versions` up files of `kind`, applied by the snapshot, with its concatenation and its
    dbmate copy."""
    if kind == "small":
        files, mapping = versions, small_tree(work / "legacy-tree", versions)
    else:
        files = max(1, round(versions / UP_SHARE))
        mapping = generate(work / "legacy-tree", files, seed)
    command = [PYTHON, "-m", "consolidate", "apply", "--mapping", str(mapping)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=child_context()["cwd"], env=environment())
    if done.returncode != 0:
        raise SystemExit(f"consolidate apply exited {done.returncode}:\n{done.stdout}{done.stderr}")
    document = yaml.safe_load(mapping.read_text(encoding="utf-8"))
    canonical = mapping.parent / document["output"]
    paths = sorted((canonical / "versions").glob("*.sql"))
    texts = [path.read_text(encoding="utf-8") for path in paths]
    concatenated = work / "all.sql"
    # A newline after each file, so that a last line without one cannot run into the next file's first.
    concatenated.write_text("".join(text if text.endswith("\n") else text + "\n" for text in texts), encoding="utf-8")
    migrations = work / "dbmate" / "db" / "migrations"
    migrations.mkdir(parents=True)
    for path, text in zip(paths, texts, strict=True):
        # dbmate refuses a file without a down block; an empty one is what a tree without rollbacks would have.
        body = text if text.endswith("\n") else text + "\n"
        (migrations / path.name).write_text(f"-- migrate:up\n{body}\n-- migrate:down\n", encoding="utf-8")
    return Tree(files, canonical, paths, concatenated, work / "dbmate")


def failing_version(tree: Tree, stderr: str) -> str:
    """The version file holding the line of `all.sql` psql's error names, e.g. ``psql:/…/all.sql:812: ERROR``."""
    marker = f"{tree.concatenated}:"
    for line in stderr.splitlines():
        at = line.find(f"psql:{marker}")
        if at >= 0:
            number = int(line[at + len(marker) + 5 :].split(":", 1)[0])
            for path in tree.versions:
                text = path.read_text(encoding="utf-8")
                lines = text.count("\n") + (not text.endswith("\n"))
                if number <= lines:
                    return f"{path.name}, line {number}"
                number -= lines
    return "a version psql's error does not name"


# --- running the tools ---------------------------------------------------------------------------------------


def dbmate_binary() -> Path:
    """The native dbmate binary inside the npm package, installed into bench/out/npm first when absent."""
    found = native_dbmate()
    if found is None:
        print("installing dbmate into bench/out/npm", file=sys.stderr)
        NPM.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(NPM), "dbmate"], check=True, capture_output=True)
        found = native_dbmate()
    if found is None:
        raise SystemExit(f"no native dbmate binary under {NPM / 'node_modules'}")
    return found


def native_dbmate() -> Path | None:
    """The package's platform binary, not its Node wrapper: Node's start-up is no part of dbmate's cost."""
    for path in sorted((NPM / "node_modules").rglob("dbmate")):
        if path.is_file() and os.access(path, os.X_OK) and path.read_bytes()[:4] == b"\x7fELF":
            return path
    return None


@dataclass(frozen=True)
class Tools:
    service_url: str
    dbmate: Path

    def run(self, tool: str, tree: Tree, database: str) -> tuple[float, str]:
        """Run `tool` on `tree` into `database`: wall seconds, and stderr when it failed (else "")."""
        url = database_url(self.service_url, database)
        started = time.perf_counter()
        if tool == "floor":
            error = self.child([*PSQL, "-d", url, "-f", str(tree.concatenated)])
        elif tool == "psql per file":
            error = ""
            for path in tree.versions:
                error = self.child([*PSQL, "-d", url, "-f", str(path)])
                if error:
                    break
        elif tool == "runner":
            command = [PYTHON, "-m", "consolidate", "migrate", "up", "--dir", str(tree.canonical)]
            command += ["--database-url", url]
            error = self.child(command, child_context()["cwd"])
        else:
            dbmate_url = f"{url}?sslmode=disable"
            command = [str(self.dbmate), "--url", dbmate_url, "--no-dump-schema", "migrate"]
            error = self.child(command, str(tree.dbmate))
        return time.perf_counter() - started, error

    def child(self, command: Sequence[str], cwd: str | None = None) -> str:
        done = subprocess.run(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=environment()
        )
        return f"exit {done.returncode}: {done.stderr.strip()}" if done.returncode else ""


# --- measuring -----------------------------------------------------------------------------------------------


@dataclass
class Size:
    """Every measurement at one size: seconds per tool, one entry per repetition."""

    versions: int
    files: int
    built: tuple[int, int] = (0, 0)  # relations and functions every tool built in the check round
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def median(self, tool: str) -> float:
        return statistics.median(self.seconds[tool])

    def ratio(self, tool: str, base: str = "floor") -> float:
        """Median of the ratios tool / base paired by repetition."""
        return statistics.median(a / b for a, b in zip(self.seconds[tool], self.seconds[base], strict=True))


def once(tools: Tools, databases: Databases, tool: str, tree: Tree) -> tuple[float, str, tuple[int, int]]:
    """`tool` on a fresh database: seconds, error and the objects it built."""
    name = databases.create()
    try:
        seconds, error = tools.run(tool, tree, name)
        return seconds, error, databases.objects(name)
    finally:
        databases.drop(name)


def check(tools: Tools, databases: Databases, tree: Tree) -> tuple[int, int]:
    """Every tool once, untimed: each must succeed and build what the floor builds (returned). Also warms the
    caches, and makes the runner compile the snapshot's modules before it is timed."""
    _, error, expected = once(tools, databases, "floor", tree)
    if error:
        raise SystemExit(
            f"the concatenated tree fails as one transaction, at {failing_version(tree, error)}; if that version "
            f"cannot run inside a transaction, this tree has no single-transaction floor:\n{error}"
        )
    for tool in TOOLS[1:]:
        _, error, built = once(tools, databases, tool, tree)
        if error:
            raise SystemExit(f"{tool} failed on the tree of {len(tree.versions)} versions:\n{error}")
        if built != expected:
            raise SystemExit(f"{tool} built {built} (relations, functions); the floor built {expected}")
    print(
        f"  {len(tree.versions)} versions: every tool applies the tree, {expected[0]} relations, "
        f"{expected[1]} functions",
        file=sys.stderr,
    )
    return expected


def measure(tools: Tools, databases: Databases, kind: str, versions: int, repeat: int, seed: int) -> Size:
    """Write and consolidate a tree of `kind` of about `versions` versions; time every tool, interleaved."""
    work = Path(tempfile.mkdtemp(prefix=f"consolidate-runner-bench-{versions}-"))
    try:
        tree = consolidated(work, kind, versions, seed)
        size = Size(len(tree.versions), tree.files, check(tools, databases, tree))
        for round_ in range(repeat):
            shift = round_ % len(TOOLS)
            for tool in TOOLS[shift:] + TOOLS[:shift]:  # no tool always runs first
                seconds, error, _ = once(tools, databases, tool, tree)
                if error:
                    raise SystemExit(f"{tool} failed in repetition {round_ + 1}:\n{error}")
                size.seconds.setdefault(tool, []).append(seconds)
                print(
                    f"  {size.versions} versions, repetition {round_ + 1}/{repeat}, {tool}: {seconds:.2f}s",
                    file=sys.stderr,
                )
        return size
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- reporting -----------------------------------------------------------------------------------------------


def version_of(command: Sequence[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def machine(dbmate: Path) -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text(encoding="utf-8").splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), model)
    tools = f"{version_of(['psql', '--version'])}, {version_of([str(dbmate), '--version'])}"
    python = f"Python {platform.python_version()}, psycopg {metadata.version('psycopg')}"
    return f"{os.cpu_count()} CPUs ({model}), {python}, {tools}, {platform.system()}"


def server_version(service_url: str) -> str:
    with psycopg.connect(service_url) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else 'unknown'}"


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def report(sizes: Sequence[Size], header: Sequence[str]) -> str:
    lines = [*(f"{line}  " for line in header), ""]  # two spaces: a markdown line break
    lines += ["| versions | legacy files | tool | runs | median s | min–max s | median × floor |"]
    lines += ["|---:|---:|---|---:|---:|---:|---:|"]
    for size in sizes:
        for tool in TOOLS:
            seconds = size.seconds[tool]
            cells = [f"{size.versions:,}", f"{size.files:,}", tool, str(len(seconds)), f"{size.median(tool):.2f}"]
            cells += [f"{min(seconds):.2f}–{max(seconds):.2f}", f"{size.ratio(tool):.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
    checks = [
        f"- {size.versions:,} versions: the concatenation applies as one transaction; every tool built the same "
        f"{size.built[0]:,} relations and {size.built[1]:,} functions (tracking tables left out)"
        for size in sizes
    ]
    return "\n".join([*lines, "", "Check round (untimed):", *checks, "", *targets(sizes)]) + "\n"


def targets(sizes: Sequence[Size]) -> list[str]:
    lines = ["| target | measured | verdict |", "|---|---:|---|"]
    near = min(sizes, key=lambda size: abs(size.versions - 1000))
    if abs(near.versions - 1000) <= 100:
        ratio = near.ratio("runner")
        goal = f"runner ≤ {TARGET_FLOOR} × floor at {near.versions:,} versions"
        lines.append(f"| {goal} | {ratio:.2f} | {verdict(ratio <= TARGET_FLOOR)} |")
    else:
        lines.append(f"| runner ≤ {TARGET_FLOOR} × floor at 1,000 versions | not measured | |")
    for size in sizes:
        ratio = size.ratio("runner", "dbmate")  # paired by repetition, like the ratios to the floor
        lines.append(
            f"| runner below dbmate at {size.versions:,} versions (runner / dbmate) | {ratio:.2f} | "
            f"{verdict(ratio < 1)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--kind", choices=("generated", "small"), default="generated", help="generate_tree's trees or small versions"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000], help="about this many versions")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of the four tools (medians)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--service-url", default=SERVICE_URL, help="any database of the server to use")
    args = parser.parse_args(argv)
    tools = Tools(args.service_url, dbmate_binary())
    databases = Databases(args.service_url)
    with tempfile.TemporaryDirectory(prefix="consolidate-bench-code-") as code:
        digest = snapshot(Path(code))
        started, before = time.strftime("%Y-%m-%d %H:%M"), os.getloadavg()[0]
        sizes = [measure(tools, databases, args.kind, versions, args.repeat, args.seed) for versions in args.sizes]
    trees = {
        "generated": f"bench/generate_tree.py --seed {args.seed}",
        "small": "small plain versions (bench/runner_bench.py --kind small)",
    }
    header = [
        f"Machine: {machine(tools.dbmate)}; server: {server_version(args.service_url)} at the service",
        f"Code: consolidate/ as of {started} (commit {commit()} plus the working tree), sha256 {digest}…",
        # Other work on the machine inflates every figure; the load average says how much there was.
        f"Load average (1 min): {before:.2f} before, {os.getloadavg()[0]:.2f} after the run",
        f"Trees: {trees[args.kind]}, then `consolidate apply`; medians of {args.repeat} "
        "interleaved repetitions, each run on a fresh empty database",
    ]
    table = report(sizes, header)
    OUT.mkdir(exist_ok=True)
    (OUT / "runner.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
