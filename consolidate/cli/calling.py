"""The one place the CLI calls into the library: a user mistake becomes its message and its exit code."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import typer

from consolidate.cli import signals
from consolidate.cli.console import say
from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import EXIT_FAIL, ConsolidateError, located_lines

T = TypeVar("T")

# Set by `json_output` for the length of a command run with --json: a failure anywhere in it, an option check
# included, then also prints its JSON document.
_AS_JSON: ContextVar[bool] = ContextVar("as_json", default=False)


def call(function: Callable[[], T]) -> T:
    """Run `function`; a ConsolidateError is reported (see `fail`) and exits with its code.

    An OS error the library did not turn into one (a file it could not read, mid-command) is reported the same
    way, exit 1: one located line and, under --json, its document — never a traceback with nothing on stdout.
    """
    try:
        return function()
    except ConsolidateError as error:
        raise fail(error) from None
    except OSError as error:
        raise fail(_os_error(error)) from None


def _os_error(error: OSError) -> ConsolidateError:
    """An OS error as the disk boundary reports one (io.disk): the path, the system's words, exit 1."""
    path = os.fsdecode(error.filename) if error.filename is not None else ""
    denied = isinstance(error, PermissionError)
    hint = "check its permissions (and those of the folders above it)" if denied else ""
    found = Diagnostic("disk.os-error", error.strerror or str(error), Location(path), hint)
    return ConsolidateError([found], EXIT_FAIL)


@contextmanager
def json_output(as_json: bool) -> Iterator[None]:
    """The body of a command with `--json`: when it fails, stdout still gets a JSON document (the error's)."""
    token = _AS_JSON.set(as_json)
    try:
        yield
    finally:
        _AS_JSON.reset(token)


def run(app: typer.Typer, prog_name: str, arguments: Sequence[str] | None = None) -> int:
    """Run the command line (`arguments`, else the process's) and give its exit code; a mistake in the command
    line itself (an unknown option, `--steps 0`) is one located line and a hint, exit 2, as every other error —
    not typer's framed usage box.

    SIGTERM and SIGHUP unwind like Ctrl-C, cleaning up, and exit 128 + the signal's number (see cli.signals):
    typer reports any KeyboardInterrupt as 130, so the signal received decides.
    """
    signals.install()
    command = typer.main.get_command(app)
    arguments = list(sys.argv[1:] if arguments is None else arguments)
    _show_notices()
    try:
        code = command.main(arguments, prog_name=prog_name, standalone_mode=False)
        if signals.received() is not None:
            return signals.interrupted()
    except typer.TyperException as error:  # typer's own click: every usage error derives from it
        if not error.format_message().strip():  # no command given: the help was printed instead
            return error.exit_code
        context = getattr(error, "ctx", None)
        where = context.command_path if context is not None else prog_name
        found = Diagnostic("cli.usage", error.format_message(), Location(where), f"see `{where} --help`")
        with json_output("--json" in arguments):
            return fail(ConsolidateError([found], error.exit_code)).exit_code
    except typer.Abort:  # a prompt that met the end of its input
        return fail(ConsolidateError.at("cli.aborted", "aborted: no answer", Location(prog_name))).exit_code
    except KeyboardInterrupt as interrupt:  # outside the command (typer maps one inside it to exit 130)
        return signals.interrupted(interrupt)
    return code if isinstance(code, int) else 0


class _Notices(logging.Handler):
    """The library's notices (what was reclaimed from interrupted runs), one plain line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        say(record.getMessage(), stderr=True)


def _show_notices() -> None:
    library = logging.getLogger("consolidate")
    if not any(isinstance(handler, _Notices) for handler in library.handlers):
        library.addHandler(_Notices(logging.INFO))
        library.setLevel(logging.INFO)


def usage(message: str, hint: str = "") -> typer.Exit:
    """A mistake in the command line itself (options that exclude each other, no database given): exit 2."""
    return fail(ConsolidateError.at("cli.usage", message, Location(""), hint))


def fail(error: ConsolidateError) -> typer.Exit:
    """Print `error` on stderr, `path:line: error: message` per finding; under `--json` also its document on
    stdout, so a script reading stdout gets JSON either way. Returns the Exit to raise."""
    print_problems(error.diagnostics)
    if _AS_JSON.get():
        sys.stdout.write(json.dumps(error.document(), indent=2) + "\n")
    return typer.Exit(error.exit_code)


def print_problems(problems: Sequence[Diagnostic]) -> None:
    """Print `problems` on stderr, one located line each (and its hint): diagnostics never go to stdout, which
    holds the command's result (issue 13, promise 11)."""
    for line in located_lines(problems):
        say(line, stderr=True)
