"""Running the CLI in-process from a given folder, and looking at folders before and after."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from consolidate.cli.main import app

REPO = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> Result:
    previous = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        os.chdir(previous)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_reference_case(destination: Path) -> Path:
    """The shipped mapping and fixtures, copied so a test may edit them."""
    shutil.copytree(REPO / "legacy_fixtures", destination / "legacy_fixtures", symlinks=True)
    shutil.copy(REPO / "mapping.yaml", destination / "mapping.yaml")
    return destination


def consolidated(root: Path, files: dict[str, str]) -> Path:
    """A legacy folder `db/` holding `files` (name → text), drafted by `init` and written by `apply` in `root`."""
    folder = root / "db"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    assert run("init", cwd=root).exit_code == 0, run("plan", cwd=root).output
    assert run("apply", cwd=root).exit_code == 0
    return root
