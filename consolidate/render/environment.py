"""The one jinja2 environment: templates from `--templates DIR` when given, else the ones shipped in the package."""

from __future__ import annotations

from pathlib import Path

import jinja2

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
    )
