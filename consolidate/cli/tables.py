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
        if console.is_terminal and _fits(console, shown):
            _print_rich(console, shown)
        else:
            _print_plain(console, shown)


def _print_rich(console: Console, section: Section) -> None:
    if not section.rows:
        console.print(f"[bold]{section.title}[/bold]: {section.empty}\n")
        return
    table = Table(title=section.title, title_justify="left", title_style="bold")
    for column, width in zip(section.columns, _widths(section, console.width), strict=True):
        table.add_column(column, width=width)
    for row in section.rows:
        table.add_row(*(escape(cell) for cell in row))  # a `[b]` in a name is text, not markup
    console.print(table)
    console.print()


# A rich table's frame: a rule and a space either side of each cell.
_FRAME_PER_COLUMN = 3


def _fits(console: Console, section: Section) -> bool:
    """Whether a table can show every word of every cell whole at the console's width; else plain lines are
    printed, which the terminal wraps without losing a character (a folded path cannot be copied)."""
    needed = sum(_longest_word(section, index) + _FRAME_PER_COLUMN for index in range(len(section.columns))) + 1
    return needed <= console.width


def _widths(section: Section, width: int) -> list[int]:
    """Each column's width: what its longest line needs, less where the table would be wider than `width`, taken
    from the columns with the most room above their longest word. Cells then wrap between words, never inside a
    path, as rich's own sharing-out would (issue 17 #3); `_fits` has made sure there is room for every word."""
    columns = range(len(section.columns))
    widths = [max(len(line) for line in [section.columns[index], *_cells(section, index)]) for index in columns]
    floors = [_longest_word(section, index) for index in columns]
    excess = sum(widths) + _FRAME_PER_COLUMN * len(widths) + 1 - width
    while excess > 0:
        roomiest = max(columns, key=lambda index: widths[index] - floors[index])
        taken = min(excess, widths[roomiest] - floors[roomiest])
        widths[roomiest] -= taken
        excess -= taken
    return widths


def _longest_word(section: Section, index: int) -> int:
    return max(len(word) for text in [section.columns[index], *_cells(section, index)] for word in [*text.split(), ""])


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
