"""The `consolidate` command line: parse options, call one library function, print, exit with a defined code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from consolidate import __version__, commands
from consolidate.cli.calling import call, json_output, print_problems, run, usage
from consolidate.cli.changes_view import print_changes
from consolidate.cli.console import terminal
from consolidate.cli.export import export
from consolidate.cli.help import CONTEXT
from consolidate.cli.init_view import init_remaining, init_summary
from consolidate.cli.migrate import GROUP as MIGRATE
from consolidate.cli.migrate import ScratchPrefixOption, resolve_prefix
from consolidate.cli.migrate import app as migrate_app
from consolidate.cli.plan_view import plan_problems, plan_sections, plan_summary
from consolidate.cli.progress import progress
from consolidate.cli.settings import config, mapping_path
from consolidate.cli.settings import database_url as resolve_database_url
from consolidate.cli.tables import print_sections
from consolidate.commands import DEFAULT_WAIT, Waiting
from consolidate.core.changes import Status
from consolidate.core.plan_json import plan_document
from consolidate.errors import EXIT_FAIL, EXIT_OK
from consolidate.layout import LOCK_NAME, REPORT_NAME
from consolidate.model import Rollbacks

if TYPE_CHECKING:
    from consolidate.verify import ServerOptions

# Locals in a traceback could hold a database URL with its password: never show them.
app = typer.Typer(
    help="Consolidate SQL migrations scattered over many folders into one canonical, proven tree.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    context_settings=CONTEXT,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        terminal().print(f"consolidate {__version__}", markup=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Consolidate SQL migrations scattered over many folders into one canonical, proven tree."""


MappingOption = Annotated[
    Path | None,
    typer.Option("--mapping", "-m", help="The mapping file (default: the configuration's, else mapping.yaml)."),
]


@app.command()
def plan(
    mapping: MappingOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as a JSON document.")] = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Parser processes (default: cores).")] = None,
) -> None:
    """Preview the consolidation; writes nothing. Exit 0 clean, 1 the plan has errors, 2 bad input."""
    with json_output(as_json), progress(as_json):
        path = mapping_path(mapping)  # a bad configuration prints its JSON document too
        result = call(lambda: commands.plan(path, jobs))
    if as_json:
        sys.stdout.write(json.dumps(plan_document(result), indent=2) + "\n")
        print_problems(plan_problems(result))
    else:
        console = terminal()
        print_sections(console, plan_sections(result))
        print_problems(plan_problems(result))
        console.print(plan_summary(result), markup=False)
    raise typer.Exit(EXIT_OK if result.clean else EXIT_FAIL)


DatabaseUrlOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Server to use (else DATABASE_URL, SUPABASE_DB_URL, else a private one)."),
]
PostgresBinOption = Annotated[
    Path | None, typer.Option("--postgres-bin", help="Start the private server from these PostgreSQL binaries.")
]
NoStandInsOption = Annotated[
    bool, typer.Option("--no-stand-ins", help="Refuse core stand-ins for extensions the server lacks.")
]
TemplatesOption = Annotated[
    Path | None, typer.Option("--templates", help="Folder of templates overriding the shipped ones.")
]
LockWaitOption = Annotated[
    float, typer.Option("--lock-wait", min=0, help="Seconds to wait for another writer of the output to finish.")
]


def _waiting(seconds: float) -> Waiting:
    """Wait that long for another writer's lock, saying once on stderr whom for (stdout stays the result's)."""
    return Waiting(seconds, lambda line: terminal(stderr=True).print(line, markup=False))


@app.command()
def apply(
    mapping: MappingOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the mapping's output).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would change, with diffs; write nothing.")
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the tree is out of date; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files consolidate did not write.")] = False,
    templates: TemplatesOption = None,
    generate_down: Annotated[
        bool,
        typer.Option("--generate-down", help="Generate stub or disproven rollbacks on PostgreSQL, then verify."),
    ] = False,
    database_url: DatabaseUrlOption = None,
    postgres_bin: PostgresBinOption = None,
    no_stand_ins: NoStandInsOption = False,
    lock_wait: LockWaitOption = DEFAULT_WAIT,
    scratch_prefix: ScratchPrefixOption = None,
) -> None:
    """Write the canonical tree: versions/, down/, consolidation.lock, CONSOLIDATION.md. Atomic, deterministic."""
    mapping = mapping_path(mapping)
    waiting = _waiting(lock_wait)
    if generate_down:
        if out is not None or dry_run or check:
            _usage("--generate-down writes the mapping's output and proves it: drop --out, --dry-run and --check")
        options = _server_options(database_url, postgres_bin, no_stand_ins, scratch_prefix)
        _apply_generated(mapping, options, force, templates, waiting)
        return
    result = call(
        lambda: commands.apply(
            mapping, out, dry_run=dry_run, check=check, force=force, templates=templates, waiting=waiting
        )
    )
    console = terminal()
    if check:
        # What the check found is diagnostics (stderr); its verdict when it passes, the result (stdout).
        stderr = terminal(stderr=True)
        for change in result.pending:
            # A removal is a file an earlier apply wrote that the mapping no longer produces (issue 13 #5).
            why = "stale: apply removes it" if change.status is Status.REMOVED else change.status
            stderr.print(f"out of date: {result.output / change.path} ({why})", markup=False)
        print_problems(result.problems)
        if result.pending:
            _print_kept(stderr, result)
            stderr.print("run `consolidate apply` to bring it up to date", markup=False)
        if result.pending or result.problems:
            raise typer.Exit(EXIT_FAIL)
        console.print(f"{result.output} is up to date", markup=False)
        _print_kept(console, result)
        return
    if result.replaced_edited_lock:
        message = f"replacing {result.output / LOCK_NAME}, which was edited by hand (--force)"
        terminal(stderr=True).print(message, markup=False)
    if dry_run:
        print_changes(console, result.changes, diffs=True)
        for path, copy in result.backups:
            console.print(f"would save {result.output / path} as {result.output / copy} first", markup=False)
        return
    if not result.written:
        console.print(f"nothing to write: {result.output} is up to date", markup=False)
        _print_kept(console, result)
        return
    print_changes(console, result.changes, diffs=False)
    for path, copy in result.backups:
        console.print(f"saved {result.output / path} as {result.output / copy} before replacing it", markup=False)
    console.print(f"wrote {result.output}; report: {result.output / REPORT_NAME}", markup=False)
    _print_kept(console, result)


def _print_kept(console: Console, result: commands.ApplyResult) -> None:
    for path in result.hand_written:
        console.print(f"kept {result.output / path}: your hand-written rollback", markup=False)


def _usage(message: str) -> None:
    raise usage(message)


def _apply_generated(
    mapping: Path, options: ServerOptions, force: bool, templates: Path | None, waiting: Waiting
) -> None:
    from consolidate.cli.verify_view import print_verification

    result, proof = call(
        lambda: commands.apply_generated_downs(mapping, options, force=force, templates=templates, waiting=waiting)
    )
    console = terminal()
    print_changes(console, result.changes, diffs=False)
    print_verification(console, terminal(stderr=True), proof.verification)
    raise typer.Exit(EXIT_OK if proof.proven else EXIT_FAIL)


def _server_options(
    database_url: str | None, postgres_bin: Path | None, no_stand_ins: bool, scratch_prefix: str | None
) -> ServerOptions:
    """The server options of `verify` and `apply --generate-down`: --database-url, else DATABASE_URL, …"""
    # Imported here: the database layer (psycopg, results) costs a second of start-up the other commands skip.
    from consolidate.db.installations import Production
    from consolidate.verify import ServerOptions

    url = resolve_database_url(database_url)  # a malformed URL stops here, before any work
    found = config()
    production = None
    if found.postgres is not None:
        production = Production(found.postgres, str(found.postgres_location), "the configuration")
    prefix = resolve_prefix(scratch_prefix)
    return ServerOptions(url, postgres_bin, not no_stand_ins, scratch_prefix=prefix, production=production)


@app.command()
def report(
    mapping: MappingOption = None,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when CONSOLIDATION.md is out of date.")] = False,
    templates: TemplatesOption = None,
    lock_wait: LockWaitOption = DEFAULT_WAIT,
) -> None:
    """Regenerate CONSOLIDATION.md from the lock, the mapping, the tree and verification.json."""
    mapping = mapping_path(mapping)
    result = call(lambda: commands.report(mapping, check=check, templates=templates, waiting=_waiting(lock_wait)))
    console = terminal()
    if check and (result.changed or result.problems):
        if result.changed:
            terminal(stderr=True).print(f"out of date: {result.path}; run `consolidate report`", markup=False)
        print_problems(result.problems)
        raise typer.Exit(EXIT_FAIL)
    state = "rewrote" if result.written else "up to date:"
    console.print(f"{state} {result.path}", markup=False)


@app.command()
def verify(
    mapping: MappingOption = None,
    database_url: DatabaseUrlOption = None,
    postgres_bin: PostgresBinOption = None,
    no_stand_ins: NoStandInsOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print verification.json instead of text.")] = False,
    lock_wait: LockWaitOption = DEFAULT_WAIT,
    scratch_prefix: ScratchPrefixOption = None,
    cleanup: Annotated[
        bool,
        typer.Option("--cleanup", help="Only list what interrupted runs left behind, and remove what is not in use."),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every consequence, difference and rollback.")
    ] = False,
    rollbacks: Annotated[
        Rollbacks,
        typer.Option(
            "--rollbacks",
            help="Which rollbacks to prove: changed (keep the last proof's result where nothing it depends on "
            "changed), all, or none.",
        ),
    ] = Rollbacks.CHANGED,
) -> None:
    """Replay legacy and canonical trees on PostgreSQL, prove them equivalent and every rollback right."""
    from consolidate.cli.verify_view import print_verification

    if cleanup:
        _cleanup(database_url, as_json)
        return
    with json_output(as_json):
        path = mapping_path(mapping)
        options = _server_options(database_url, postgres_bin, no_stand_ins, scratch_prefix)
        with progress(as_json):
            result = call(lambda: commands.verify(path, options, _waiting(lock_wait), rollbacks))
    if as_json:
        sys.stdout.write(json.dumps(result.document, indent=2) + "\n")
    else:
        print_verification(terminal(), terminal(stderr=True), result.verification, verbose)
    raise typer.Exit(EXIT_OK if result.proven else EXIT_FAIL)


def _cleanup(database_url: str | None, as_json: bool) -> None:
    """`verify --cleanup`: every leftover of interrupted runs, one line each (or a JSON document); exit 1 when one
    whose owner is gone could not be removed."""
    from consolidate.cli.cleanup_view import cleanup_document, cleanup_lines
    from consolidate.db.leftovers import cleanup

    with json_output(as_json):
        url = resolve_database_url(database_url)
        found = call(lambda: cleanup(url))
    if as_json:
        sys.stdout.write(json.dumps(cleanup_document(found), indent=2) + "\n")
    else:
        console = terminal()
        for line in cleanup_lines(found, with_server=url is not None):
            console.print(line, markup=False)
    raise typer.Exit(EXIT_FAIL if any(leftover.error for leftover in found) else EXIT_OK)


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. add_user_email.")],
    mapping: MappingOption = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="The canonical tree, when there is no mapping (default: its output).")
    ] = None,
    lock_wait: LockWaitOption = DEFAULT_WAIT,
) -> None:
    """Add the next migration to the canonical tree: versions/NNN_name.sql and its rollback stub. Never overwrites."""
    path = mapping_path(mapping)
    # A tree kept without its mapping: the configuration's `tree` (issue 17 #3).
    tree = directory or (config().tree if not path.is_file() else None)
    result = call(lambda: commands.new(path, name, _waiting(lock_wait), tree))
    console = terminal()
    console.print(f"wrote {result.up}", markup=False)
    console.print(f"wrote {result.down} (a stub: replace it, first line too, with the rollback)", markup=False)


@app.command()
def init(
    sources: Annotated[list[str] | None, typer.Argument(help="Legacy folders below ROOT (default: found).")] = None,
    root: Annotated[Path, typer.Option("--root", help="Folder the source paths are relative to.")] = Path("."),
    mapping: MappingOption = None,
) -> None:
    """Draft a mapping.yaml from a scan of the legacy folders, then plan on it; never overwrites a file.

    Exit 0 once the draft is written, whether or not the plan on it is clean: the errors that remain are printed
    with what to do, and are settled in the mapping (`consolidate plan` is the check that exits 1).
    """
    mapping = mapping_path(mapping)
    result = call(lambda: commands.init(mapping, root, sources or []))
    wrote = f"wrote {mapping}" + (f" and its prelude {result.prelude}" if result.prelude else "")
    stderr, console = terminal(stderr=True), terminal()
    stderr.print(f"{wrote}; review it", markup=False)
    verdict, *advice = init_summary(result)
    console.print(verdict, markup=False)
    for line in init_remaining(result):  # located lines: diagnostics, on stderr
        stderr.print(line, markup=False)
    for line in advice:
        console.print(line, markup=False)


def main() -> None:
    sys.exit(run(app, "consolidate"))


app.command(name="export")(export)
app.add_typer(migrate_app, name=MIGRATE)  # `consolidate migrate` goes straight to it (consolidate.__main__)
