"""The `consolidate` command's entry point (`python -m consolidate` and the console script alike).

Importing the CLI pulls in typer, rich, sqlglot and pglast: a Ctrl-C in that second must end the program like a
Ctrl-C anywhere else (typer maps one during a command to exit 130), not with a traceback. So this module imports
nothing heavy before its `try`, and SIGTERM and SIGHUP are made to unwind like Ctrl-C before anything starts
(consolidate.cli.signals).
"""

import sys

from consolidate.cli import signals

EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED


def main() -> None:
    """Run the CLI; an interruption before typer takes over (while importing) exits 128 + the signal's number
    (130 for Ctrl-C) without a traceback."""
    signals.install()
    try:
        from consolidate.cli.main import main as run

        run()
    except KeyboardInterrupt as interrupt:
        sys.exit(signals.interrupted(interrupt))


if __name__ == "__main__":
    main()
