"""Read the output folder as it is on disk: every file below it, relative path → bytes."""

from __future__ import annotations

from pathlib import Path

from consolidate.errors import ConsolidateError
from consolidate.io.disk import disk_error
from consolidate.model import Location


def read_output(folder: Path) -> dict[str, bytes]:
    """Every regular file below `folder` (none when it does not exist); hidden names are the writer's own."""
    if not folder.exists():
        return {}
    if not folder.is_dir():
        raise ConsolidateError.at(
            "apply.output-not-folder", "the output exists and is not a folder", Location(str(folder))
        )
    try:
        return _read(folder)
    except OSError as error:
        raise disk_error(error, folder) from error


def _read(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        files[relative.as_posix()] = path.read_bytes()
    return files
