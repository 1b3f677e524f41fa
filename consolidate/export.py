"""`consolidate export`: the canonical tree, read as the runner reads it, written in another tool's layout.

The conversion is core/export_layouts.py; this module reads the tree, checks the destination and writes through
the one atomic tree writer. A destination is written only when it is empty (or missing), or holds a previous
export: its marker file (MARKER_NAME) names the files that export wrote, and the folder holds no others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consolidate.core.export_layouts import MARKER_NAME, Format, Version, export_files, marker_format
from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import ConsolidateError
from consolidate.io.atomic import recover, write_tree
from consolidate.io.disk import disk_error
from consolidate.io.output import read_output
from consolidate.io.output_lock import Waiting, holding
from consolidate.runner.runner import Version as TreeVersion
from consolidate.runner.runner import read_tree


@dataclass(frozen=True)
class Exported:
    """What an export wrote: where, in which layout, which files (the marker left out), and the last version."""

    out: Path
    layout: Format
    files: tuple[str, ...]
    last: str | None  # the last canonical version, as written; None for an empty tree


def export(tree: Path, layout: Format, out: Path, waiting: Waiting | None = None) -> Exported:
    """Write the canonical tree at `tree` into `out` in `layout`'s names and markers; atomically, or nothing."""
    versions = [_version(item) for item in read_tree(tree)]
    files = export_files(layout, versions)
    with holding(out, "consolidate export", waiting or Waiting()):
        recover(out)
        previous = _previous_export(out)
        write_tree(out, {path: text.encode() for path, text in files.items()}, remove=previous - set(files))
    written = tuple(sorted(path for path in files if path != MARKER_NAME))
    return Exported(out, layout, written, versions[-1].version if versions else None)


def _version(item: TreeVersion) -> Version:
    down = item.down.read_bytes() if item.down.is_file() else None
    return Version(
        item.version,
        item.name,
        _text(item.data, item.up),
        None if down is None else _text(down, item.down),
        str(item.up),
    )


def _text(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")  # the runner strips a BOM too; none belongs inside another tool's file
    except UnicodeDecodeError as error:
        raise ConsolidateError.at(
            "export.not-utf8",
            f"not UTF-8 (byte {error.start}): the exported files would not hold the same text",
            Location(str(path)),
            hint="save the file as UTF-8, then run `consolidate apply` and export again",
        ) from None


def _previous_export(out: Path) -> set[str]:
    """The files a previous export wrote in `out` (none when it is empty or missing); any other file: refused."""
    present = set(read_output(out))  # hidden names (the marker among them) are left out
    marker = out / MARKER_NAME
    try:
        found = marker_format(marker.read_text(encoding="utf-8", errors="replace") if marker.is_file() else "")
    except OSError as error:
        raise disk_error(error, marker) from error
    if found is None:
        if present:
            raise _not_an_export(out, present)
        return set()
    others = present - set(found[1])
    if others:
        raise _not_an_export(out, others)
    return set(found[1])


def _not_an_export(out: Path, files: set[str]) -> ConsolidateError:
    shown = ", ".join(sorted(files)[:3]) + (", …" if len(files) > 3 else "")
    return ConsolidateError(
        [
            Diagnostic(
                "export.not-empty",
                f"the folder holds files a previous export did not write ({shown}); nothing was written",
                Location(str(out)),
                hint="export into an empty folder, or move those files out of it",
            )
        ]
    )
