"""`consolidate migrate`: run a canonical tree against a database. Each command is one call into the runner."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from consolidate.cli.calling import call
from consolidate.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE

app = typer.Typer(
    help="Apply, roll back and check the canonical tree on a database (tracking table _migrations).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

DirOption = Annotated[Path, typer.Option("--dir", help="The canonical tree: holds versions/ and down/.")]
UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="The database (else DATABASE_URL, then SUPABASE_DB_URL).")
]
LockWaitOption = Annotated[
    float, typer.Option("--lock-wait", min=0, help="Seconds to wait for another runner's lock before giving up.")
]
LockTimeoutOption = Annotated[
    str | None, typer.Option("--lock-timeout", help="Server lock_timeout for each statement (e.g. 5s).")
]
StatementTimeoutOption = Annotated[
    str | None, typer.Option("--statement-timeout", help="Server statement_timeout for each statement (e.g. 10min).")
]
TargetOption = Annotated[str | None, typer.Option("--target", help="Stop at this version (inclusive).")]
DEFAULT_DIR = Path("deploy/migrations")


def _url(database_url: str | None) -> str:
    from consolidate.db.urls import resolve_url

    url = resolve_url(database_url, os.environ)
    if url is None:
        Console(stderr=True).print(
            "error: no database: pass --database-url URL or set DATABASE_URL (or SUPABASE_DB_URL)", markup=False
        )
        raise typer.Exit(EXIT_USAGE)
    return url


def _say(text: str) -> None:
    Console(highlight=False, soft_wrap=True).print(text, markup=False)


@app.command()
def up(
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Apply at most N versions.")] = None,
    target: TargetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run; run nothing.")] = False,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
) -> None:
    """Apply pending versions in order, each in its own transaction with its _migrations row."""
    from consolidate.runner import Limits
    from consolidate.runner import up as run_up

    url = _url(database_url)
    limits = Limits(lock_timeout, statement_timeout)
    applied = call(
        lambda: run_up(directory, url, steps=steps, target=target, dry_run=dry_run, lock_wait=lock_wait, limits=limits)
    )
    for item in applied:
        timing = "would run" if item.execution_time_ms is None else f"{item.execution_time_ms} ms"
        _say(f"{'pending' if dry_run else 'applied'} {item.version}_{item.name} ({timing})")
    _say("nothing to apply" if not applied else f"{len(applied)} version(s) {'pending' if dry_run else 'applied'}")


@app.command()
def down(
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Roll back N versions.")] = 1,
    target: TargetOption = None,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
) -> None:
    """Roll back the newest versions with their down scripts; a stub or missing one stops before anything runs."""
    from consolidate.runner import Limits
    from consolidate.runner import down as run_down

    url = _url(database_url)
    limits = Limits(lock_timeout, statement_timeout)
    rolled = call(lambda: run_down(directory, url, steps=steps, target=target, lock_wait=lock_wait, limits=limits))
    _rolled_back(rolled)


def _rolled_back(rolled: list[str]) -> None:
    for version in rolled:
        _say(f"rolled back {version}")
    _say("nothing to roll back" if not rolled else f"{len(rolled)} version(s) rolled back")


@app.command()
def reset(
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")] = False,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
) -> None:
    """Roll back every applied version, newest first. Asks first unless --yes."""
    from consolidate.db.urls import redact
    from consolidate.runner import Limits
    from consolidate.runner import reset as run_reset

    url = _url(database_url)
    if not yes:
        if not sys.stdin.isatty():
            Console(stderr=True).print("error: reset needs --yes when not run from a terminal", markup=False)
            raise typer.Exit(EXIT_USAGE)
        if not typer.confirm(f"Roll back every migration applied to {redact(url)}?", default=False):
            raise typer.Exit(EXIT_FAIL)
    limits = Limits(lock_timeout, statement_timeout)
    _rolled_back(call(lambda: run_reset(directory, url, lock_wait=lock_wait, limits=limits)))


@app.command()
def baseline(
    version: Annotated[str, typer.Option("--version", help="Record versions up to this one as applied.")],
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    check_schema: Annotated[
        bool, typer.Option("--check-schema", help="First prove the live schema is the tree's at --version.")
    ] = False,
    lock_wait: LockWaitOption = 60.0,
) -> None:
    """Adopt a database the legacy migrations built: record versions ≤ V as applied without running them."""
    from consolidate.runner import baseline as run_baseline

    url = _url(database_url)
    recorded = call(lambda: run_baseline(directory, url, version, check_schema=check_schema, lock_wait=lock_wait))
    for item in recorded:
        _say(f"recorded {item} as applied")
    _say(f"{len(recorded)} version(s) recorded" if recorded else "nothing to record: already baselined")


def _report(directory: Path, database_url: str | None, lock_wait: float, as_json: bool, check_only: bool) -> None:
    from consolidate.runner import status as run_status
    from consolidate.runner import verify as run_verify

    url = _url(database_url)
    runner = run_verify if check_only else run_status
    report = call(lambda: runner(directory, url, lock_wait=lock_wait))
    if as_json:
        entries = [
            {"version": e.version, "name": e.name, "state": e.state.value, "path": e.path} for e in report.entries
        ]
        sys.stdout.write(json.dumps({"clean": report.clean, "versions": entries}, indent=2) + "\n")
    else:
        for entry in report.entries:
            _say(str(entry.diagnostic()))
        _say("clean" if report.clean else "not clean")
    raise typer.Exit(EXIT_OK if report.clean else EXIT_FAIL)


@app.command()
def status(
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    lock_wait: LockWaitOption = 60.0,
) -> None:
    """Every version: applied, pending, checksum mismatch, missing file or unknown row. Exit 0 only when clean."""
    _report(directory, database_url, lock_wait, as_json, check_only=False)


@app.command()
def verify(
    directory: DirOption = DEFAULT_DIR,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    lock_wait: LockWaitOption = 60.0,
) -> None:
    """Checksums of applied versions against their files; a mismatch exits 1 naming the files."""
    _report(directory, database_url, lock_wait, as_json, check_only=True)
