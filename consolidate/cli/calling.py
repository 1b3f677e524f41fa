"""The one place the CLI calls into the library: a user mistake becomes its message and its exit code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import typer

from consolidate.cli.console import terminal
from consolidate.diagnostics import Location
from consolidate.errors import ConsolidateError

T = TypeVar("T")

# Set by `json_output` for the length of a command run with --json: a failure anywhere in it, an option check
# included, then also prints its JSON document.
_AS_JSON: ContextVar[bool] = ContextVar("as_json", default=False)


def call(function: Callable[[], T]) -> T:
    """Run `function`; a ConsolidateError is reported (see `fail`) and exits with its code."""
    try:
        return function()
    except ConsolidateError as error:
        raise fail(error) from None


@contextmanager
def json_output(as_json: bool) -> Iterator[None]:
    """The body of a command with `--json`: when it fails, stdout still gets a JSON document (the error's)."""
    token = _AS_JSON.set(as_json)
    try:
        yield
    finally:
        _AS_JSON.reset(token)


def usage(message: str, hint: str = "") -> typer.Exit:
    """A mistake in the command line itself (options that exclude each other, no database given): exit 2."""
    return fail(ConsolidateError.at("cli.usage", message, Location(""), hint))


def fail(error: ConsolidateError) -> typer.Exit:
    """Print `error` on stderr, `path:line: error: message` per finding; under `--json` also its document on
    stdout, so a script reading stdout gets JSON either way. Returns the Exit to raise."""
    stderr = terminal(stderr=True)
    for line in error.message().splitlines():
        stderr.print(line, markup=False)
    if _AS_JSON.get():
        sys.stdout.write(json.dumps(error.document(), indent=2) + "\n")
    return typer.Exit(error.exit_code)
