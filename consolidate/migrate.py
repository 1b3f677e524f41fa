"""`python -m consolidate.migrate <command>`: the runner without the rest of the toolkit's commands."""

import sys

from consolidate.cli.calling import run
from consolidate.cli.migrate import app

if __name__ == "__main__":
    sys.exit(run(app, "python -m consolidate.migrate"))
