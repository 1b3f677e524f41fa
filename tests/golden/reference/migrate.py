"""Run this canonical migration tree: `python -m <this.package>.migrate up|down|status|verify|reset|baseline`.

Written by `consolidate apply`; do not edit. It needs the `consolidate` package installed, and takes the database
from --database-url, DATABASE_URL or SUPABASE_DB_URL. `--dir` defaults to the folder holding this file.
"""

import sys
from pathlib import Path

from consolidate.cli.migrate import app


def main() -> None:
    args = sys.argv[1:]
    if args and not args[0].startswith("-") and "--dir" not in args:
        args = [args[0], "--dir", str(Path(__file__).resolve().parent), *args[1:]]
    app(args)


if __name__ == "__main__":
    main()
