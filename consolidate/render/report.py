"""CONSOLIDATION.md: the facts (consolidate/core/report_facts.py) laid out by the template, and the text helpers
the template calls."""

from __future__ import annotations

from collections.abc import Iterable

import jinja2

from consolidate.core.report_facts import ReportFacts

TEMPLATE_NAME = "CONSOLIDATION.md.j2"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(text).split()).replace("|", "\\|")


def codes(items: Iterable[str], separator: str = ", ") -> str:
    """Each item as inline code, joined."""
    return separator.join(f"`{item}`" for item in items)


def render_report(env: jinja2.Environment, facts: ReportFacts) -> str:
    """CONSOLIDATION.md: the template lays the facts out; the text ends in exactly one newline."""
    text = env.get_template(TEMPLATE_NAME).render(facts=facts, cell=cell, codes=codes)
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(lines).strip("\n") + "\n"
