"""The `consolidate` command line: parse options, call one library function, print, exit with a defined code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from consolidate import commands
from consolidate.cli.plan_view import plan_sections, plan_summary
from consolidate.cli.tables import print_sections
from consolidate.core.plan_json import plan_document
from consolidate.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE, ConsolidateError

# Locals in a traceback could hold a database URL with its password: never show them.
app = typer.Typer(
    help="Consolidate SQL migrations scattered over many folders into one canonical, proven tree.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

MappingOption = Annotated[Path, typer.Option("--mapping", "-m", help="The mapping file.")]

T = TypeVar("T")


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=not sys.stdout.isatty())


def _run(call: Callable[[], T]) -> T:
    """Call into the library; a user mistake becomes one line per problem on stderr and exit code 2."""
    try:
        return call()
    except ConsolidateError as error:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for line in error.message().splitlines():
            console.print(f"error: {line}", markup=False)
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def plan(
    mapping: MappingOption = Path("mapping.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as a JSON document.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Parser processes (default: cores).")] = None,
) -> None:
    """Preview the consolidation; writes nothing. Exit 0 clean, 1 the plan has errors, 2 bad input."""
    result = _run(lambda: commands.plan(mapping, jobs))
    if as_json:
        sys.stdout.write(json.dumps(plan_document(result), indent=2) + "\n")
    else:
        console = _stdout()
        print_sections(console, plan_sections(result))
        console.print(plan_summary(result), markup=False)
    raise typer.Exit(EXIT_OK if result.clean else EXIT_FAIL)


@app.command()
def init(
    sources: Annotated[list[str] | None, typer.Argument(help="Legacy folders below ROOT (default: found).")] = None,
    root: Annotated[Path, typer.Option("--root", help="Folder the source paths are relative to.")] = Path("."),
    mapping: MappingOption = Path("mapping.yaml"),
) -> None:
    """Draft a mapping.yaml from a scan of the legacy folders; never overwrites an existing file."""
    _run(lambda: commands.init(mapping, root, sources or []))
    Console(stderr=True).print(f"wrote {mapping}; review it, then run `consolidate plan --mapping {mapping}`")


def main() -> None:
    app()
