"""`consolidate migrate`: run a canonical tree against a database. Each command is one call into the runner."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from consolidate.cli import settings
from consolidate.cli.calling import call, json_output, usage
from consolidate.cli.console import draws, say, terminal
from consolidate.cli.help import CONTEXT
from consolidate.diagnostics import printable
from consolidate.errors import EXIT_FAIL, EXIT_OK

if TYPE_CHECKING:
    from consolidate.runner import Entry, Progress


GROUP = "migrate"  # its name under `consolidate`
app = typer.Typer(
    help="Apply, roll back and check the canonical tree on a database (tracking table _migrations).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,  # as `consolidate` has it: the group is also run as the root (consolidate.__main__)
    context_settings=CONTEXT,
)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="The canonical tree: holds versions/ and down/ (default: the configuration's, else the mapping's output).",
    ),
]
UrlOption = Annotated[
    str | None, typer.Option("--database-url", help="The database (else DATABASE_URL, then SUPABASE_DB_URL).")
]
LockWaitOption = Annotated[
    float, typer.Option("--lock-wait", min=0, help="Seconds to wait for another runner's lock before giving up.")
]
# status and verify never wait for the lock; the option stays accepted so that existing health checks keep working.
IgnoredLockWaitOption = Annotated[float, typer.Option("--lock-wait", hidden=True)]
LockTimeoutOption = Annotated[
    str | None, typer.Option("--lock-timeout", help="Server lock_timeout for each statement (e.g. 5s).")
]
StatementTimeoutOption = Annotated[
    str | None, typer.Option("--statement-timeout", help="Server statement_timeout for each statement (e.g. 10min).")
]
TargetOption = Annotated[str | None, typer.Option("--target", help="Stop at this version (inclusive).")]
EmbeddedOption = Annotated[
    bool,
    typer.Option(
        "--embedded", help="Run on a throw-away local PostgreSQL, deleted when the command ends (for trying out)."
    ),
]
# status, verify and baseline read what a database recorded: a throw-away one has recorded nothing (issue 17 #3).
RefusedEmbeddedOption = Annotated[bool, typer.Option("--embedded", hidden=True)]
HistoryOption = Annotated[
    str | None,
    typer.Option(
        "--history-table",
        envvar="CONSOLIDATE_HISTORY_TABLE",
        help="The history table, NAME or SCHEMA.NAME (default: the configuration's, else _migrations).",
    ),
]
ScratchPrefixOption = Annotated[
    str | None,
    typer.Option(
        "--scratch-prefix",
        help="Start scratch database names with this (else CONSOLIDATE_SCRATCH_PREFIX, else consolidate).",
    ),
]
PreludeOption = Annotated[
    Path | None,
    typer.Option("--prelude", help="The mapping's prelude: what the platform provides before the first version."),
]


def _usage_error(text: str, hint: str = "") -> typer.Exit:
    return usage(text, hint)


@contextmanager
def _database(database_url: str | None, embedded: bool | None, directory: Path) -> Iterator[str]:
    """The URL to run on: --database-url, DATABASE_URL, SUPABASE_DB_URL, or with --embedded a throw-away server
    (`embedded` None: a command that reads what a database recorded, where a throw-away one is not offered)."""
    if embedded:
        if database_url:
            raise _usage_error("--embedded and --database-url exclude each other: choose one database")
        from consolidate.runner.embedded import throwaway_server

        with ExitStack() as stack:
            server = call(lambda: stack.enter_context(throwaway_server(directory)))
            say(f"on a throw-away {server.describe()}: it is deleted when this command ends", stderr=True)
            yield server.url
        return
    url = settings.database_url(database_url)  # a malformed URL stops here, before any work
    if url is None:
        first, *others = settings.url_variables()
        variables = first + (f" (or {', '.join(others)})" if others else "")
        offer = "; --embedded runs on a throw-away local server" if embedded is not None else ""
        raise _usage_error(f"no database: pass --database-url URL or set {variables}{offer}")
    yield url


def resolve_prefix(cli_value: str | None) -> str:
    """--scratch-prefix, else CONSOLIDATE_SCRATCH_PREFIX, else the default; a bad one stops here (exit 2)."""
    # Imported here: the server module brings psycopg, which `up` and `status` do not need at start.
    from consolidate.db.server import scratch_prefix

    return call(lambda: scratch_prefix(cli_value, os.environ))


def _say(text: str) -> None:
    say(text)


@contextmanager
def _progress(verb: str, doing: str) -> Iterator[Progress]:
    """A bar with the running version on a terminal; elsewhere (CI logs, pipes) one plain line per version."""
    from consolidate.runner import Progress

    if not draws():

        class Lines(Progress):
            def done(self, version: str, name: str, milliseconds: int) -> None:
                say(f"{verb} {version}_{name} ({milliseconds} ms)")

        yield Lines()
        return
    console = terminal()
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        # The description holds a file's name: literal text (no markup, no emoji codes), escaped as console prints.
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(doing, total=None)

        class Drawn(Progress):
            def begin(self, total: int) -> None:
                bar.update(task, total=total)

            def start(self, version: str, name: str) -> None:
                bar.update(task, description=printable(f"{doing} {version}_{name}"))

            def done(self, version: str, name: str, milliseconds: int) -> None:
                bar.console.print(f"{verb} {version}_{name} ({milliseconds} ms)", markup=False)
                bar.advance(task)

        yield Drawn()


@app.command()
def up(
    directory: DirOption = None,
    database_url: UrlOption = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Apply at most N versions.")] = None,
    target: TargetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run; run nothing.")] = False,
    allow_drift: Annotated[
        bool, typer.Option("--allow-drift", help="Apply even though an applied version's file changed or is gone.")
    ] = False,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
    embedded: EmbeddedOption = False,
    history: HistoryOption = None,
    prelude: PreludeOption = None,
) -> None:
    """Apply pending versions in order, each in its own transaction with its _migrations row."""
    directory, history = settings.tree_dir(directory), settings.history_table(history)
    from consolidate.runner import Limits
    from consolidate.runner import up as run_up

    limits = Limits(lock_timeout, statement_timeout)
    with _database(database_url, embedded, directory) as url, _progress("applied", "applying") as progress:
        applied = call(
            lambda: run_up(
                directory,
                url,
                steps=steps,
                target=target,
                dry_run=dry_run,
                allow_drift=allow_drift,
                lock_wait=lock_wait,
                limits=limits,
                progress=progress,
                history=history,
                prelude=prelude,
            )
        )
    if dry_run:
        for item in applied:
            _say(f"pending {item.version}_{item.name}")
    verb = "pending" if dry_run else "applied"
    _say(f"{len(applied)} version(s) {verb}" if applied else "nothing to apply")


@app.command()
def down(
    directory: DirOption = None,
    database_url: UrlOption = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Roll back N versions.")] = 1,
    target: TargetOption = None,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
    embedded: EmbeddedOption = False,
    history: HistoryOption = None,
) -> None:
    """Roll back the newest versions with their down scripts; a stub or missing one stops before anything runs."""
    directory, history = settings.tree_dir(directory), settings.history_table(history)
    from consolidate.runner import Limits
    from consolidate.runner import down as run_down

    limits = Limits(lock_timeout, statement_timeout)
    with _database(database_url, embedded, directory) as url, _progress("rolled back", "rolling back") as progress:
        rolled = call(
            lambda: run_down(
                directory,
                url,
                steps=steps,
                target=target,
                lock_wait=lock_wait,
                limits=limits,
                progress=progress,
                history=history,
            )
        )
    _rolled_back(rolled)


def _rolled_back(rolled: list[str]) -> None:
    _say(f"{len(rolled)} version(s) rolled back" if rolled else "nothing to roll back")


@app.command()
def reset(
    directory: DirOption = None,
    database_url: UrlOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")] = False,
    lock_wait: LockWaitOption = 60.0,
    lock_timeout: LockTimeoutOption = None,
    statement_timeout: StatementTimeoutOption = None,
    embedded: EmbeddedOption = False,
    history: HistoryOption = None,
) -> None:
    """Roll back every applied version, newest first. Asks first unless --yes."""
    directory, history = settings.tree_dir(directory), settings.history_table(history)
    from consolidate.postgres.redaction import redact
    from consolidate.runner import Limits
    from consolidate.runner import reset as run_reset

    limits = Limits(lock_timeout, statement_timeout)
    with _database(database_url, embedded, directory) as url:
        if not yes:
            if not sys.stdin.isatty():
                raise _usage_error("reset needs --yes when not run from a terminal")
            if not typer.confirm(f"Roll back every migration applied to {redact(url)}?", default=False):
                raise typer.Exit(EXIT_FAIL)
        with _progress("rolled back", "rolling back") as progress:
            rolled = call(
                lambda: run_reset(
                    directory, url, lock_wait=lock_wait, limits=limits, progress=progress, history=history
                )
            )
    _rolled_back(rolled)


@app.command()
def baseline(
    version: Annotated[str, typer.Option("--version", help="Record versions up to this one as applied.")],
    directory: DirOption = None,
    database_url: UrlOption = None,
    check_schema: Annotated[
        bool, typer.Option("--check-schema", help="First prove the live schema is the tree's at --version.")
    ] = False,
    lock_wait: LockWaitOption = 60.0,
    embedded: RefusedEmbeddedOption = False,
    history: HistoryOption = None,
    scratch_prefix: ScratchPrefixOption = None,
    prelude: PreludeOption = None,
) -> None:
    """Adopt a database the legacy migrations built: record versions ≤ V as applied without running them."""
    _refuse_embedded(embedded, "baseline")
    directory, history = settings.tree_dir(directory), settings.history_table(history)
    from consolidate.runner import baseline as run_baseline

    prefix = resolve_prefix(scratch_prefix) if check_schema else None
    with _database(database_url, None, directory) as url:
        recorded = call(
            lambda: run_baseline(
                directory,
                url,
                version,
                check_schema=check_schema,
                lock_wait=lock_wait,
                history=history,
                scratch_prefix=prefix,
                prelude=prelude,
            )
        )
    for item in recorded:
        _say(f"recorded {item} as applied")
    _say(f"{len(recorded)} version(s) recorded" if recorded else "nothing to record: already baselined")


@app.command()
def repair(
    reason: Annotated[str, typer.Option("--reason", help="Why the applied file changed (recorded with who did it).")],
    version: Annotated[
        str | None, typer.Option("--version", help="Repair this version only (default: every changed one).")
    ] = None,
    directory: DirOption = None,
    database_url: UrlOption = None,
    lock_wait: LockWaitOption = 60.0,
    history: HistoryOption = None,
) -> None:
    """Record an intended change to applied versions' files (Flyway's repair): their rows take the new checksums."""
    from consolidate.runner.repair import repair as run_repair

    directory, history = settings.tree_dir(directory), settings.history_table(history)
    with _database(database_url, None, directory) as url:
        repaired = call(
            lambda: run_repair(directory, url, reason, version=version, lock_wait=lock_wait, history=history)
        )
    for item in repaired:
        _say(f"repaired {item.version}_{item.name} ({item.change}): checksum {item.checksum_from} → {item.checksum_to}")
    _say(
        f"{len(repaired)} version(s) repaired" if repaired else "nothing to repair: every applied file matches its row"
    )


@app.command()
def adopt(
    directory: DirOption = None,
    database_url: UrlOption = None,
    version: Annotated[
        str | None, typer.Option("--version", help="The version you expect: refused if the proof says another.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be recorded and why; record nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was found as JSON.")] = False,
    prelude: PreludeOption = None,
    lock_wait: LockWaitOption = 60.0,
    embedded: EmbeddedOption = False,
    history: HistoryOption = None,
    scratch_prefix: ScratchPrefixOption = None,
) -> None:
    """Take over a database the legacy migrations built: find its canonical version, prove it, record it."""
    from consolidate.runner.adopt import adopt as run_adopt

    prefix = resolve_prefix(scratch_prefix)
    with json_output(as_json):
        tree, table = settings.tree_dir(directory), settings.history_table(history)
        with _database(database_url, embedded, tree) as url:
            found = call(
                lambda: run_adopt(
                    tree,
                    url,
                    version=version,
                    dry_run=dry_run,
                    lock_wait=lock_wait,
                    history=table,
                    scratch_prefix=prefix,
                    prelude=prelude,
                )
            )
    if as_json:
        sys.stdout.write(json.dumps(found.document(), indent=2) + "\n")
        return
    for reason in found.reasons:
        _say(reason)
    at = f"{found.version}_{found.name}" if found.version else "none (below the first version)"
    _say(f"the database is at version {at}")
    verb = "would record" if dry_run else "recorded"
    _say(
        f"{verb} {len(found.recorded)} version(s) as adopted"
        if found.recorded
        else "nothing to record: `consolidate migrate up` applies the whole tree"
    )


def _refuse_embedded(embedded: bool, command: str) -> None:
    if embedded:
        raise _usage_error(
            f"--embedded is not for `migrate {command}`: a throw-away server starts empty, so it could only say that "
            "every version is pending",
            "give the database with --database-url (or DATABASE_URL); try the tree with `migrate up --embedded`",
        )


def _report(
    directory: Path | None,
    database_url: str | None,
    embedded: bool,
    as_json: bool,
    check_only: bool,
    history: str | None,
) -> None:
    from consolidate.runner import status as run_status
    from consolidate.runner import verify as run_verify

    runner = run_verify if check_only else run_status
    with json_output(as_json):  # a refusal or a bad configuration prints its JSON document too
        _refuse_embedded(embedded, "verify" if check_only else "status")
        tree, table = settings.tree_dir(directory), settings.history_table(history)
        with _database(database_url, None, tree) as url:
            report = call(lambda: runner(tree, url, history=table))
    running = str(report.running) if report.running else None
    if as_json:
        entries = [_as_json(entry) for entry in report.entries]
        document = {"clean": report.clean, "running": running, "versions": entries}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        for entry in report.entries:
            _say(entry.diagnostic().headline() + _applied_text(entry))
        if running:
            _say(f"a migration is running ({running}): versions may still be applied after this was read")
        _say("clean" if report.clean else "not clean")
    raise typer.Exit(EXIT_OK if report.clean else EXIT_FAIL)


def _applied_text(entry: Entry) -> str:
    """When, how long, from which commit, by whom: what the row recorded."""
    row = entry.row
    if row is None:
        return ""
    parts = [
        f"{row.execution_time_ms} ms" if row.execution_time_ms is not None else "",
        f"commit {row.git_commit[:12]}" if row.git_commit else "",
        f"by {row.applied_by}" if row.applied_by else "",
        f"repaired by {row.repaired_by}: {row.repair_reason}" if row.repaired_by else "",
    ]
    details = ", ".join(part for part in parts if part)
    return f" — {row.applied_at.isoformat(sep=' ', timespec='seconds')}" + (f" ({details})" if details else "")


def _as_json(entry: Entry) -> dict[str, object]:
    row = entry.row
    return {
        "version": entry.version,
        "name": entry.name,
        "state": entry.state.value,
        "path": entry.path,
        "recorded_name": row.name if row else None,  # differs from "name" when the file was renamed
        "applied_at": row.applied_at.isoformat() if row else None,
        "execution_time_ms": row.execution_time_ms if row else None,
        "git_commit": row.git_commit if row else None,
        "applied_by": row.applied_by if row else None,
        "checksum": row.checksum if row else None,
        "repaired_by": row.repaired_by if row else None,
        "repair_reason": row.repair_reason if row else None,
    }


@app.command()
def status(
    directory: DirOption = None,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    lock_wait: IgnoredLockWaitOption = 0.0,
    embedded: RefusedEmbeddedOption = False,
    history: HistoryOption = None,
) -> None:
    """Every version: applied, pending, changed (and how), renamed, missing or unknown. Exit 0 only when clean."""
    _report(directory, database_url, embedded, as_json, check_only=False, history=history)


@app.command()
def verify(
    directory: DirOption = None,
    database_url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    lock_wait: IgnoredLockWaitOption = 0.0,
    embedded: RefusedEmbeddedOption = False,
    history: HistoryOption = None,
) -> None:
    """Checksums of applied versions against their files; a mismatch exits 1 naming the files."""
    _report(directory, database_url, embedded, as_json, check_only=True, history=history)
