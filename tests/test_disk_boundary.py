"""The disk boundary: what the tool reads from source folders and where it refuses to write, and how an OS error
or a Ctrl-C ends a command: one line, the right exit code, no traceback, nothing half-written.

Real files, real processes, real signals and resource limits; a real (tiny) filesystem for a full disk.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clitools import REPO, snapshot
from tests.unprivileged import Stranger, another_user

MAPPING = """\
version: 1
root: legacy
output: {output}
sources: [db]
migrations:
  - {{version: 1, name: {name}, sources: [db/001_init.sql]}}
"""


def make_case(
    folder: Path, output: str = "out", name: str = "init", sql: bytes = b"CREATE TABLE a (id int);\n"
) -> Path:
    """A one-migration case: legacy/db/001_init.sql mapped to version 1, written to `output`."""
    (folder / "legacy/db").mkdir(parents=True)
    (folder / "legacy/db/001_init.sql").write_bytes(sql)
    (folder / "mapping.yaml").write_text(MAPPING.format(output=output, name=name))
    return folder


def consolidate(case: Path, *args: str, **popen: object) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: a process of its own, importing this worktree's code."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "consolidate", *args]
    return subprocess.run(command, cwd=case, env=env, capture_output=True, text=True, timeout=120, **popen)  # type: ignore[call-overload,no-any-return]


def hidden_leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".consolidate-")]


# --- OS errors while writing: one line, exit 1, the old tree intact -------------------------------------------


def test_a_migration_name_too_long_for_the_filesystem_is_one_line_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    case = make_case(tmp_path, name="x" * 300)
    result = consolidate(case, "apply")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "File name too long" in result.stderr and "001_" + "x" * 300 in result.stderr
    # One located line, then its hint on a line of its own.
    headline, *rest = result.stderr.strip().splitlines()
    assert ": error: " in headline and all(line.startswith("  hint: ") for line in rest) and len(rest) <= 1
    assert not (case / "out").exists() and hidden_leftovers(case) == []


def _limit_file_size(limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer instead of failing write()
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_file_size_limit_during_apply_is_one_line_exit_1_and_leaves_the_old_tree(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    assert consolidate(case, "apply").returncode == 0
    before = snapshot(case / "out")
    (case / "legacy/db/001_init.sql").write_bytes(b"CREATE TABLE a (id int);\n-- " + b"x" * 200_000 + b"\n")
    result = consolidate(case, "apply", preexec_fn=lambda: _limit_file_size(100_000))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "File too large" in result.stderr
    assert snapshot(case / "out") == before
    assert hidden_leftovers(case) == []


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that fills up for real."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a tiny tmpfs needs mount rights (root): {mounted.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_during_apply_is_one_line_exit_1_and_leaves_the_old_tree(
    tmp_path: Path, tiny_filesystem: Path
) -> None:
    case = make_case(tmp_path / "case", output=str(tiny_filesystem / "out"))
    assert consolidate(case, "apply").returncode == 0
    before = snapshot(tiny_filesystem / "out")
    (case / "legacy/db/001_init.sql").write_bytes(b"CREATE TABLE a (id int);\n-- " + b"x" * 200_000 + b"\n")
    result = consolidate(case, "apply")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "No space left on device" in result.stderr
    assert snapshot(tiny_filesystem / "out") == before
    assert hidden_leftovers(tiny_filesystem) == []


def test_init_on_a_full_disk_leaves_no_half_written_mapping(tmp_path: Path, tiny_filesystem: Path) -> None:
    case = make_case(tmp_path / "case")
    (tiny_filesystem / "filler").write_bytes(b"x" * 60_000)  # the disk holds a few bytes more, not a mapping
    (tiny_filesystem / "filler2").write_bytes(b"x" * 4096)
    mapping = tiny_filesystem / "mapping.yaml"
    result = consolidate(case, "init", "--root", "legacy", "--mapping", str(mapping))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "No space left on device" in result.stderr
    assert not mapping.exists()


# --- Ctrl-C at start-up --------------------------------------------------------------------------------------


def _console_script() -> list[str]:
    """The program pip installs for `consolidate`, as pyproject.toml declares it (module:function)."""
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["consolidate"]
    module, function = entry.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


def _importing_libraries(pid: int) -> bool:
    """Whether the process has loaded a compiled extension from site-packages: it is past Python's own start-up
    and inside the program's imports (the first such module comes with the CLI's libraries)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any("site-packages" in line and ".so" in line for line in maps.splitlines())


@pytest.mark.parametrize("launch", ["console script", "python -m consolidate"])
def test_ctrl_c_while_the_cli_starts_exits_130_without_a_traceback(tmp_path: Path, launch: str) -> None:
    case = make_case(tmp_path)
    program = _console_script() if launch == "console script" else [sys.executable, "-m", "consolidate"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [*program, "plan"], cwd=case, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not _importing_libraries(process.pid) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr
    assert process.returncode == 130, stderr


# --- dangerous outputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "collision"),
    [
        (".", "is the mapping's folder"),
        ("legacy", "is the root 'legacy'"),
        ("legacy/db", "is the source folder 'legacy/db'"),
        ("legacy/db/canonical", "is inside the source folder 'legacy/db' and holds"),
        ("..", "contains the mapping's folder"),
    ],
)
def test_apply_refuses_an_output_that_holds_or_is_held_by_the_sources(
    tmp_path: Path, output: str, collision: str
) -> None:
    case = make_case(tmp_path / "case", output=output)
    (case / "legacy/db/canonical").mkdir(exist_ok=True)
    (case / "legacy/db/canonical/README.md").write_text("the team's notes, not consolidate's\n")
    before = snapshot(tmp_path)
    result = consolidate(case, "apply", "--force")
    assert result.returncode == 2, result.stderr
    assert collision in result.stderr and "choose another output" in result.stderr
    assert snapshot(tmp_path) == before


def test_an_output_inside_a_source_folder_holding_only_what_consolidate_wrote_is_written_and_stays_current(
    tmp_path: Path,
) -> None:
    # `init` drafts `sources: [.]` for migrations at the root, with the output below it: the scan leaves the
    # lock's own files out, so the second run reads the same legacy tree.
    case = make_case(tmp_path / "case", output="legacy/db/canonical")
    assert consolidate(case, "apply").returncode == 0
    assert (case / "legacy/db/canonical/versions").is_dir()
    check = consolidate(case, "apply", "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_apply_refuses_an_output_that_is_a_repository_root(tmp_path: Path) -> None:
    case = make_case(tmp_path / "case")
    (tmp_path / "repo/.git").mkdir(parents=True)
    before = snapshot(tmp_path)
    result = consolidate(case, "apply", "--force", "--out", str(tmp_path / "repo"))
    assert result.returncode == 2 and "is a repository root" in result.stderr
    assert snapshot(tmp_path) == before


def test_apply_refuses_an_output_that_contains_a_repository(tmp_path: Path) -> None:
    case = make_case(tmp_path / "case")
    (tmp_path / "work/checkout").mkdir(parents=True)
    (tmp_path / "work/checkout/.git").write_text("gitdir: /elsewhere\n")  # a worktree or a submodule
    result = consolidate(case, "apply", "--out", str(tmp_path / "work"))
    assert result.returncode == 2 and "contains the repository" in result.stderr
    assert not (tmp_path / "work/versions").exists()


def test_apply_writes_an_output_inside_a_repository(tmp_path: Path) -> None:
    case = make_case(tmp_path, output="build/deploy/migrations")
    (case / ".git").mkdir()
    result = consolidate(case, "apply")
    assert result.returncode == 0, result.stderr
    assert (case / "build/deploy/migrations/versions/001_init.sql").is_file()


# --- bytes the tool cannot read as text -----------------------------------------------------------------------


def test_apply_refuses_a_file_that_is_not_utf8_at_its_line_and_column_and_writes_nothing(tmp_path: Path) -> None:
    case = make_case(tmp_path, sql=b"CREATE TABLE a (id int);\n-- caf\xe9\n")
    result = consolidate(case, "apply")
    assert result.returncode == 2, result.stderr
    assert "legacy/db/001_init.sql:2:7" in result.stderr and "encoding" in result.stderr
    assert not (case / "out").exists()


def test_apply_refuses_a_nul_byte_at_its_line_and_column(tmp_path: Path) -> None:
    case = make_case(tmp_path, sql=b"CREATE TABLE a (id int);\n\x00\n")
    result = consolidate(case, "apply")
    assert result.returncode == 2 and "legacy/db/001_init.sql:2:1" in result.stderr
    assert "NUL" in result.stderr and not (case / "out").exists()


def test_a_declared_encoding_is_decoded_and_written_as_utf8(tmp_path: Path) -> None:
    case = make_case(tmp_path, sql=b"CREATE TABLE a (id int);\n-- caf\xe9\n")
    mapping = case / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace("sources: [db]", "sources: [{path: db, encoding: latin-1}]"))
    assert consolidate(case, "apply").returncode == 0
    assert "-- café" in (case / "out/versions/001_init.sql").read_text(encoding="utf-8")


# --- every entry of a source folder is read, or said why not ----------------------------------------------------


def test_plan_names_an_editor_lock_file_it_did_not_read(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    (case / "legacy/db/.#001_init.sql").symlink_to("user@host.1234")  # how emacs writes its lock
    result = consolidate(case, "plan")
    assert result.returncode == 0, result.stderr
    assert "legacy/db/.#001_init.sql: warning: " in result.stderr and "lock file" in result.stderr


def test_plan_stops_at_a_named_pipe_where_a_migration_should_be_instead_of_blocking(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    os.mkfifo(case / "legacy/db/002_next.sql")
    result = consolidate(case, "plan")
    assert result.returncode == 2 and "legacy/db/002_next.sql" in result.stderr and "named pipe" in result.stderr


def test_an_output_that_is_a_mount_point_is_one_line_exit_1_and_left_as_it_was(
    tmp_path: Path, tiny_filesystem: Path
) -> None:
    case = make_case(tmp_path / "case", output=str(tiny_filesystem))
    result = consolidate(case, "apply")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "cannot replace the output folder" in result.stderr
    assert list(tiny_filesystem.iterdir()) == [] and hidden_leftovers(tmp_path) == []


# --- permissions: read by someone root is not (issue 13, promise 8) ----------------------------------------------


@pytest.fixture(scope="module")
def stranger() -> Iterator[Stranger]:
    with another_user() as user:
        yield user


@pytest.fixture
def theirs(stranger: Stranger) -> Iterator[Path]:
    """A folder the other user owns, for its case."""
    with stranger.folder() as folder:
        yield folder


def headlines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("  hint: ")]


def test_an_unreadable_legacy_file_is_listed_with_every_other_problem_in_one_run(
    theirs: Path, stranger: Stranger
) -> None:
    case = make_case(theirs)
    (case / "legacy/db/001_init.sql").chmod(0)
    (case / "legacy/db/002_next.sql").write_text("CREATE TABLE b (id int);\n")  # neither mapped nor excluded
    with (case / "mapping.yaml").open("a") as mapping:
        mapping.write("  - {version: 2, name: gone, sources: [db/003_gone.sql]}\n")  # line 7: no such file
    result = stranger.run(case, "plan")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    # One line each, located from the mapping's folder; the unreadable file is not also called missing.
    assert sorted(headlines(result.stderr)) == [
        "legacy/db/001_init.sql: error: cannot read the file: Permission denied",
        "legacy/db/002_next.sql: error: neither mapped nor excluded",
        "mapping.yaml:7: error: 'legacy/db/003_gone.sql' does not exist below its source folder",
    ]
    assert "chmod a+r" in result.stderr


def test_a_source_folder_that_cannot_be_listed_is_one_line_and_its_files_are_not_called_missing(
    theirs: Path, stranger: Stranger
) -> None:
    case = make_case(theirs)
    (case / "legacy/db").chmod(0o300)  # may be entered, not listed
    result = stranger.run(case, "plan")
    assert result.returncode == 2, result.stderr
    assert headlines(result.stderr) == ["legacy/db: error: cannot list the folder: Permission denied"]


def test_apply_refuses_a_read_only_output_folder_and_writes_nothing(theirs: Path, stranger: Stranger) -> None:
    case = make_case(theirs)
    (case / "out").mkdir(mode=0o555)
    result = stranger.run(case, "apply")
    assert result.returncode == 2, result.stdout + result.stderr
    headline, hint = result.stderr.splitlines()
    assert headline == f"{case / 'out'}: error: the output folder is not writable: its files would be replaced; " + (
        "nothing was written"
    )
    assert hint.startswith(f"  hint: make it writable (chmod u+w {case / 'out'})")
    assert list((case / "out").iterdir()) == [] and hidden_leftovers(case) == []


def test_apply_refuses_an_output_whose_parent_is_not_writable_in_one_line(theirs: Path, stranger: Stranger) -> None:
    case = make_case(theirs, output="shelf/out")
    (case / "shelf").mkdir(mode=0o555)
    result = stranger.run(case, "apply")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (headline,) = headlines(result.stderr)
    assert headline.startswith(f"{case / 'shelf'}: error: the folder is not writable: the new tree is built here")
    assert list((case / "shelf").iterdir()) == []


def test_a_read_only_output_folder_is_refused_even_for_root(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    (case / "out").mkdir(mode=0o555)  # root could write; the mode says not to
    result = consolidate(case, "apply")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "out: error: the output folder is not writable" in result.stderr
    assert list((case / "out").iterdir()) == []


def test_a_read_only_folder_inside_the_output_is_refused_when_a_file_in_it_would_change(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    assert consolidate(case, "apply").returncode == 0
    (case / "out/versions").chmod(0o555)
    (case / "legacy/db/001_init.sql").write_text("CREATE TABLE a (id bigint);\n")
    before = snapshot(case / "out")
    result = consolidate(case, "apply")
    assert result.returncode == 2 and "out/versions: error: the folder is not writable" in result.stderr
    assert snapshot(case / "out") == before


def test_an_up_to_date_tree_in_a_read_only_output_needs_no_write_and_passes(tmp_path: Path) -> None:
    case = make_case(tmp_path)
    assert consolidate(case, "apply").returncode == 0
    (case / "out").chmod(0o555)
    result = consolidate(case, "apply")
    assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
