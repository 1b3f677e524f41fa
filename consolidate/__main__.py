"""The `consolidate` command's entry point (`python -m consolidate` and the console script alike).

Importing the CLI pulls in typer, rich, sqlglot and pglast: a Ctrl-C in that second must end the program like a
Ctrl-C anywhere else (typer maps one during a command to exit 130), not with a traceback. So this module imports
nothing heavy before its `try`, and SIGTERM and SIGHUP are made to unwind like Ctrl-C before anything starts
(consolidate.cli.signals).

`consolidate migrate …` runs on every deploy: it goes straight to the `migrate` group, the same typer app that
`consolidate.cli.main` adds under that name, without importing the toolkit's other commands (their parsers,
templates and views take a quarter of a second to import; docs/benchmarks.md, issue 16).
"""

import sys

from consolidate.cli import signals

EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED
PROG = "consolidate"


def main() -> None:
    """Run the CLI; an interruption before typer takes over (while importing) exits 128 + the signal's number
    (130 for Ctrl-C) without a traceback."""
    signals.install()
    try:
        from consolidate.cli import migrate
        from consolidate.cli.calling import run

        if sys.argv[1:2] == [migrate.GROUP]:
            sys.exit(run(migrate.app, f"{PROG} {migrate.GROUP}", sys.argv[2:]))
        from consolidate.cli.main import main as run_all

        run_all()
    except KeyboardInterrupt as interrupt:
        sys.exit(signals.interrupted(interrupt))


if __name__ == "__main__":
    main()
