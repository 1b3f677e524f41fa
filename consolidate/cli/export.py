"""`consolidate export`: the canonical tree in the layout of the tool a team's deploys already run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from consolidate.cli import settings
from consolidate.cli.calling import call
from consolidate.cli.console import terminal
from consolidate.cli.migrate import DirOption
from consolidate.commands import DEFAULT_WAIT, Waiting
from consolidate.core.export_layouts import ADOPT_NAME, Format

# Where a team reads how its existing databases move onto the export (`{guide}`: the export's ADOPT.md).
ADOPT_HINT = (
    "existing databases: {guide} says how (`consolidate migrate adopt --dry-run` finds the version each is at; "
    "then {tool}'s history records the migrations up to it)"
)

# How each tool runs the exported folder ({out}).
RUN_HINTS = {
    Format.GOLANG_MIGRATE: 'migrate -path {out} -database "$DATABASE_URL" up',
    Format.FLYWAY: "flyway -locations=filesystem:{out} -url=jdbc:postgresql://HOST/DB migrate (U… undo files: Teams)",
    Format.DBMATE: "dbmate --migrations-dir {out} --no-dump-schema up",
    Format.DIESEL: "diesel migration run --migration-dir {out}",
    Format.SQITCH: "sqitch --chdir {out} deploy db:pg://HOST/DB",
}


def export(
    layout: Annotated[Format, typer.Option("--format", help="The layout to write.", case_sensitive=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder to write: empty, missing, or a previous export.")],
    directory: DirOption = None,
    lock_wait: Annotated[
        float, typer.Option("--lock-wait", min=0, help="Seconds to wait for another writer of the folder to finish.")
    ] = DEFAULT_WAIT,
) -> None:
    """Write the canonical tree in golang-migrate, Flyway, dbmate, diesel or Sqitch layout, with their markers for
    statements that cannot run in a transaction. Exit 2 on bad input, nothing written."""
    # Imported here: reading the tree as the runner does loads psycopg, a start-up cost the other commands skip.
    from consolidate.export import export as export_tree

    tree = settings.tree_dir(directory)  # as `migrate` finds it: the configuration's, else the mapping's output
    notify = terminal(stderr=True)
    result = call(
        lambda: export_tree(tree, layout, out, Waiting(lock_wait, lambda line: notify.print(line, markup=False)))
    )
    console = terminal()
    console.print(f"wrote {len(result.files)} files in {layout} layout to {out}", markup=False)
    console.print(f"run: {RUN_HINTS[layout].format(out=out)}", markup=False)
    console.print(ADOPT_HINT.format(tool=layout, guide=out / ADOPT_NAME), markup=False)
