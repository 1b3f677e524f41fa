"""The one place the CLI calls into the library: a user mistake becomes its message and its exit code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

from consolidate.errors import ConsolidateError

T = TypeVar("T")


def call(function: Callable[[], T]) -> T:
    """Run `function`; a ConsolidateError is printed one line per problem on stderr and exits with its code."""
    try:
        return function()
    except ConsolidateError as error:
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for line in error.message().splitlines():
            console.print(f"error: {line}", markup=False)
        raise typer.Exit(error.exit_code) from None
