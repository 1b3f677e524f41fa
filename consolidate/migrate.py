"""`python -m consolidate.migrate <command>`: the runner without the rest of the toolkit's commands."""

from consolidate.cli.migrate import app

if __name__ == "__main__":
    app()
