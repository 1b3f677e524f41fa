"""The `consolidate` command's entry point (`python -m consolidate` and the console script alike).

Importing the CLI pulls in typer, rich, sqlglot and pglast: a Ctrl-C in that second must end the program like a
Ctrl-C anywhere else (typer maps one during a command to exit 130), not with a traceback. So this module imports
nothing heavy before its `try`.
"""

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a program ended by Ctrl-C


def main() -> None:
    """Run the CLI; a Ctrl-C before typer takes over (while importing) exits 130 without a traceback."""
    try:
        from consolidate.cli.main import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
