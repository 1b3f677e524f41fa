"""Tables for the terminal: rich tables when stdout is a terminal, plain aligned text when piped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from consolidate.diagnostics import printable


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    empty: str = "none"


def print_sections(console: Console, sections: Sequence[Section]) -> None:
    for section in sections:
        # Cells hold the user's names and paths: escaped before the widths are measured, as they will be shown.
        shown = replace(section, rows=tuple(tuple(printable(cell) for cell in row) for row in section.rows))
        if console.is_terminal:
            _print_rich(console, shown)
        else:
            _print_plain(console, shown)


def _print_rich(console: Console, section: Section) -> None:
    if not section.rows:
        console.print(f"[bold]{section.title}[/bold]: {section.empty}\n")
        return
    table = Table(title=section.title, title_justify="left", title_style="bold")
    for column in section.columns:
        table.add_column(column, overflow="fold")
    for row in section.rows:
        table.add_row(*(escape(cell) for cell in row))  # a `[b]` in a name is text, not markup
    console.print(table)
    console.print()


def _print_plain(console: Console, section: Section) -> None:
    out = console.file
    if not section.rows:
        out.write(f"{section.title}: {section.empty}\n\n")
        return
    out.write(f"{section.title}\n")
    widths = [
        max(len(line) for line in [column, *_cells(section, index)]) for index, column in enumerate(section.columns)
    ]
    out.write(_line(section.columns, widths) + "\n")
    for row in section.rows:
        # A cell may hold several lines (a target's sources): continuation lines keep the column grid.
        height = max(cell.count("\n") + 1 for cell in row)
        split = [cell.split("\n") + [""] * (height - cell.count("\n") - 1) for cell in row]
        for level in range(height):
            out.write(_line([cell[level] for cell in split], widths) + "\n")
    out.write("\n")


def _cells(section: Section, index: int) -> list[str]:
    return [line for row in section.rows for line in row[index].split("\n")]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
