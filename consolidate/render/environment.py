"""The one jinja2 environment: templates from `--templates DIR` when given, else the ones shipped in the package."""

from __future__ import annotations

from pathlib import Path

import jinja2

from consolidate.diagnostics import printable

SHIPPED = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAMES = ("migration.sql.j2", "down.sql.j2", "CONSOLIDATION.md.j2")


def environment(templates: Path | None = None) -> jinja2.Environment:
    """A strict environment: an undefined variable is an error, never an empty string in a migration."""
    search = [str(templates)] if templates is not None else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*search, str(SHIPPED)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # SQL and Markdown, never HTML
        finalize=_shown,
    )


MARKDOWN = ".md.j2"


@jinja2.pass_context
def _shown(context: jinja2.runtime.Context, value: object) -> object:
    """Every value a Markdown template prints, with its control characters escaped: a file name holding ESC[2J
    must not clear the screen of whoever reads CONSOLIDATION.md in a terminal. SQL templates print the user's
    bytes unchanged: they are the migration, not a view of it."""
    if context.name is not None and context.name.endswith(MARKDOWN):
        return printable(str(value))
    return value
