"""The atomic tree writer: the output holds the old tree or the new one, even when killed at any moment."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consolidate.errors import ConsolidateError
from consolidate.io.atomic import OLD_PREFIX, TEMP_PREFIX, recover, write_tree

WORKER = Path(__file__).with_name("atomic_worker.py")

# A snapshot of a folder: every entry below it by relative path; a file is its bytes, a symlink its target
# (a str), a folder None. Folders are in it so that a left-over or a missing folder shows.
Snapshot = dict[str, bytes | str | None]


def snapshot(root: Path) -> Snapshot | None:
    """Everything under `root`, ignoring nothing; None when `root` does not exist."""
    if not os.path.lexists(root):
        return None
    found: Snapshot = {}
    for folder, folders, names in os.walk(root):  # lists linked folders among `folders`, never enters them
        for name in folders + names:
            path = Path(folder, name)
            relative = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[relative] = os.readlink(path)
            elif path.is_dir():
                found[relative] = None
            else:
                found[relative] = path.read_bytes()
    return found


def expected(files: Mapping[str, bytes], links: Mapping[str, str] | None = None) -> Snapshot:
    """The snapshot of a folder holding exactly these files and links, and the folders above them."""
    entries: Snapshot = {**files, **(links or {})}
    for path in list(entries):
        parts = path.split("/")
        for depth in range(1, len(parts)):
            entries["/".join(parts[:depth])] = None
    return entries


def make(root: Path, files: Mapping[str, bytes], links: Mapping[str, str] | None = None) -> None:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    for path, target in (links or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(target)


def leftovers(output: Path) -> list[str]:
    return sorted(name for name in os.listdir(output.parent) if name.startswith((TEMP_PREFIX, OLD_PREFIX)))


@pytest.fixture
def output(tmp_path: Path) -> Path:
    return tmp_path / "db"


# --- what gets written -------------------------------------------------------------------------------------


def test_a_new_output_folder_is_created_with_exactly_the_files(output: Path) -> None:
    files = {"versions/001_a.sql": b"CREATE TABLE a ();\n", "down/001_a_down.sql": b"DROP TABLE a;\n", "x": b""}
    write_tree(output, files)
    assert snapshot(output) == expected(files)
    assert leftovers(output) == []


def test_missing_folders_above_a_new_output_are_created(tmp_path: Path) -> None:
    output = tmp_path / "build/canonical/db"
    write_tree(output, {"versions/001_a.sql": b"a"})
    assert snapshot(output) == expected({"versions/001_a.sql": b"a"})


def test_written_files_replace_the_current_contents(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"old\n", "versions/002_b.sql": b"kept\n"})
    write_tree(output, {"versions/001_a.sql": b"new\n"})
    assert snapshot(output) == expected({"versions/001_a.sql": b"new\n", "versions/002_b.sql": b"kept\n"})


def test_removed_files_are_gone_and_so_are_the_folders_they_emptied(output: Path) -> None:
    make(output, {"versions/deep/001_a.sql": b"a", "versions/002_b.sql": b"b", "down/001_a_down.sql": b"c"})
    write_tree(output, {}, ["versions/deep/001_a.sql", "down/001_a_down.sql"])
    assert snapshot(output) == expected({"versions/002_b.sql": b"b"})


def test_removing_a_folder_path_removes_everything_below_it(output: Path) -> None:
    make(output, {"old/a/1.sql": b"1", "old/2.sql": b"2", "keep.sql": b"k"})
    write_tree(output, {}, ["old"])
    assert snapshot(output) == expected({"keep.sql": b"k"})


def test_the_output_folder_itself_stays_when_every_file_is_removed(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"a"})
    write_tree(output, {}, ["versions/001_a.sql"])
    assert snapshot(output) == {}


def test_folders_that_were_already_empty_are_kept(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"a"})
    (output / "empty/inner").mkdir(parents=True)
    write_tree(output, {}, ["versions/001_a.sql"])
    assert snapshot(output) == {"empty": None, "empty/inner": None}


def test_foreign_files_and_hidden_files_survive_a_write(output: Path) -> None:
    foreign = {"setup_db.sql": b"CREATE ROLE app;\n", "notes/README.txt": b"hi\n", ".keep": b""}
    make(output, {**foreign, "versions/001_a.sql": b"a"})
    write_tree(output, {"versions/001_a.sql": b"b", "CONSOLIDATION.md": b"# report\n"})
    assert snapshot(output) == expected({**foreign, "versions/001_a.sql": b"b", "CONSOLIDATION.md": b"# report\n"})


def test_symlinks_are_kept_as_symlinks(output: Path) -> None:
    links = {"latest.sql": "versions/001_a.sql", "shared": "../elsewhere", "dangling.sql": "missing.sql"}
    make(output, {"versions/001_a.sql": b"a"}, links)
    write_tree(output, {"versions/002_b.sql": b"b"})
    assert snapshot(output) == expected({"versions/001_a.sql": b"a", "versions/002_b.sql": b"b"}, links)


def test_a_symlink_where_a_file_is_written_is_replaced_by_the_file(output: Path) -> None:
    (output.parent / "target.sql").write_bytes(b"outside")
    make(output, {}, {"001_a.sql": "../target.sql"})
    write_tree(output, {"001_a.sql": b"inside"})
    assert snapshot(output) == {"001_a.sql": b"inside"}
    assert (output.parent / "target.sql").read_bytes() == b"outside"


def test_file_and_folder_modes_are_kept(output: Path) -> None:
    make(output, {"run.sh": b"#!/bin/sh\n", "versions/001_a.sql": b"a", "locked/x.sql": b"x"})
    os.chmod(output / "run.sh", 0o750)
    os.chmod(output / "versions/001_a.sql", 0o600)
    os.chmod(output / "locked", 0o555)
    os.chmod(output, 0o705)
    write_tree(output, {"versions/001_a.sql": b"b"})
    modes = {path: stat.S_IMODE(os.stat(output / path).st_mode) for path in ["run.sh", "versions/001_a.sql", "locked"]}
    assert modes == {"run.sh": 0o750, "versions/001_a.sql": 0o600, "locked": 0o555}
    assert stat.S_IMODE(os.stat(output).st_mode) == 0o705


def test_nothing_is_touched_when_nothing_would_change(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"a", "setup_db.sql": b"s"})
    inode = os.stat(output / "versions/001_a.sql").st_ino
    long_ago = 1_000_000_000 * 10**9  # any entry created or renamed beside or inside would move these to now
    for folder in (output.parent, output, output / "versions"):
        os.utime(folder, ns=(long_ago, long_ago))
    write_tree(output, {"versions/001_a.sql": b"a"}, ["versions/002_gone.sql"])
    mtimes = {os.stat(folder).st_mtime_ns for folder in (output.parent, output, output / "versions")}
    assert mtimes == {long_ago}
    assert os.stat(output / "versions/001_a.sql").st_ino == inode


def test_nothing_is_created_for_an_empty_write_to_a_missing_output(output: Path) -> None:
    write_tree(output, {}, ["versions/001_a.sql"])
    assert os.listdir(output.parent) == []


# --- refusals ----------------------------------------------------------------------------------------------


def error_codes(error: pytest.ExceptionInfo[ConsolidateError]) -> list[str]:
    return [diagnostic.code for diagnostic in error.value.diagnostics]


def test_a_symlinked_output_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    make(real, {"versions/001_a.sql": b"a"})
    (tmp_path / "db").symlink_to(real)
    with pytest.raises(ConsolidateError) as error:
        write_tree(tmp_path / "db", {"versions/001_a.sql": b"b"})
    assert error_codes(error) == ["write.output-symlink"]
    assert (real / "versions/001_a.sql").read_bytes() == b"a"


def test_writing_below_a_linked_folder_is_refused(output: Path, tmp_path: Path) -> None:
    make(tmp_path / "elsewhere", {"001_a.sql": b"a"})
    make(output, {}, {"versions": "../elsewhere"})
    with pytest.raises(ConsolidateError) as error:
        write_tree(output, {"versions/001_a.sql": b"b", "versions/002_b.sql": b"c"})
    assert error_codes(error) == ["write.path-conflict", "write.path-conflict"]
    assert snapshot(tmp_path / "elsewhere") == {"001_a.sql": b"a"}


def test_a_folder_where_a_file_is_written_is_refused(output: Path) -> None:
    make(output, {"CONSOLIDATION.md/x": b"x"})
    with pytest.raises(ConsolidateError) as error:
        write_tree(output, {"CONSOLIDATION.md": b"# report\n"})
    assert error_codes(error) == ["write.path-conflict"]


@pytest.mark.parametrize("path", ["/etc/passwd", "../escape.sql", "versions/../../escape.sql", ""])
def test_paths_outside_the_output_are_rejected(output: Path, path: str) -> None:
    with pytest.raises(AssertionError):
        write_tree(output, {path: b"x"})
    assert leftovers(output) == []


# --- recover -----------------------------------------------------------------------------------------------


def test_recover_restores_a_lone_old_folder_when_the_output_is_missing(output: Path) -> None:
    old = output.parent / f"{OLD_PREFIX}db-0123abcd"
    make(old, {"versions/001_a.sql": b"a"})
    recover(output)
    assert snapshot(output) == expected({"versions/001_a.sql": b"a"})
    assert leftovers(output) == []


def test_recover_deletes_stale_temporary_folders(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"a"})
    for suffix in ["0123abcd", "ffffffff"]:
        make(output.parent / f"{TEMP_PREFIX}db-{suffix}", {"versions/001_a.sql": b"half"})
    recover(output)
    assert leftovers(output) == []
    assert snapshot(output) == expected({"versions/001_a.sql": b"a"})


def test_recover_deletes_an_old_folder_once_the_switch_happened(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"new"})
    make(output.parent / f"{OLD_PREFIX}db-0123abcd", {"versions/001_a.sql": b"old"})
    recover(output)
    assert leftovers(output) == []
    assert snapshot(output) == expected({"versions/001_a.sql": b"new"})


def test_recover_prefers_the_old_tree_over_an_unfinished_build(output: Path) -> None:
    make(output.parent / f"{OLD_PREFIX}db-0123abcd", {"versions/001_a.sql": b"old"})
    make(output.parent / f"{TEMP_PREFIX}db-0123abcd", {"versions/001_a.sql": b"new"})
    recover(output)
    assert snapshot(output) == expected({"versions/001_a.sql": b"old"})
    assert leftovers(output) == []


def test_recover_leaves_the_folders_of_other_outputs_alone(output: Path) -> None:
    others = [f"{TEMP_PREFIX}db-old-0123abcd", f"{OLD_PREFIX}db-2-0123abcd", f"{TEMP_PREFIX}db-0123abcd-x"]
    for name in others:
        make(output.parent / name, {"x.sql": b"x"})
    recover(output)
    assert not output.exists()
    assert leftovers(output) == sorted(others)


def test_recover_refuses_to_guess_between_two_old_trees(output: Path) -> None:
    for suffix in ["0123abcd", "ffffffff"]:
        make(output.parent / f"{OLD_PREFIX}db-{suffix}", {"x.sql": suffix.encode()})
    with pytest.raises(ConsolidateError) as error:
        recover(output)
    assert error_codes(error) == ["write.recover-ambiguous"]
    assert len(leftovers(output)) == 2


def test_recover_does_nothing_when_nothing_was_left(output: Path) -> None:
    make(output, {"versions/001_a.sql": b"a"})
    recover(output)
    recover(output.parent / "never-created")
    assert snapshot(output) == expected({"versions/001_a.sql": b"a"})
    assert os.listdir(output.parent) == ["db"]


# --- the result is the model's -----------------------------------------------------------------------------

FOLDERS = ["", "a", "b", "a/c"]
NAMES = ["x.sql", "y.sql", "z.txt"]  # never a folder's name, so no file ever stands where a folder must be
ALL_PATHS = [f"{folder}/{name}".lstrip("/") for folder in FOLDERS for name in NAMES]
contents = st.binary(max_size=20)
trees = st.dictionaries(st.sampled_from(ALL_PATHS), contents, max_size=len(ALL_PATHS))


def model(current: Mapping[str, bytes], files: Mapping[str, bytes], remove: Iterable[str]) -> Snapshot:
    """What the output should hold: the current files minus those removed (or below a removed folder), then `files`."""
    gone = set(remove)
    kept = {path: data for path, data in current.items() if not any(path.startswith(g + "/") for g in gone)}
    return expected({path: data for path, data in kept.items() if path not in gone} | dict(files))


@settings(max_examples=40, deadline=None)
@given(current=trees, files=trees, remove=st.sets(st.sampled_from(ALL_PATHS + FOLDERS[1:])))
def test_the_output_holds_the_current_files_minus_removed_with_written_files_over(
    current: dict[str, bytes], files: dict[str, bytes], remove: set[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "out"
        output.mkdir()
        make(output, current)
        write_tree(output, files, remove)
        assert snapshot(output) == model(current, files, remove)
        assert leftovers(output) == []


# --- killed at any moment ----------------------------------------------------------------------------------

KILL_FOLDERS = ["versions", "down", "extra/one", "extra/two", "old"]
FOREIGN = {"setup_db.sql": b"CREATE ROLE app;\n", "notes/README.txt": b"not ours\n"}
FOREIGN_LINKS = {"latest.sql": "versions/000_file.sql"}


def text(tree: str, number: int) -> str:
    size = random.Random(f"{tree}{number}").randrange(2000, 4000)
    return (f"-- tree {tree}, file {number}\n" + f"SELECT {number};\n" * size)[:size]


def tree_a() -> dict[str, bytes]:
    paths = {f"{KILL_FOLDERS[n % 5]}/{n:03d}_file.sql": n for n in range(200)}
    return {path: text("A", n).encode() for path, n in paths.items()}


def change_to_b(a: Mapping[str, bytes]) -> tuple[dict[str, str], list[str]]:
    """Rewrite most files, remove the whole of old/ and a third of versions/, add a new folder and files."""
    remove = [path for path in a if path.startswith("old/") or (path.startswith("versions/") and number(path) % 3 == 0)]
    files = {path: text("B", number(path)) for path in a if path not in remove and number(path) % 4}
    files |= {f"added/{n:03d}_new.sql": text("B", n) for n in range(200, 240)}
    return files, remove


def number(path: str) -> int:
    return int(Path(path).name[:3])


def run_worker(output: Path, spec: Path, delay: float | None) -> int:
    """Run the worker; SIGKILL it after `delay` seconds (None: let it finish); its return code."""
    process = subprocess.Popen([sys.executable, str(WORKER), str(output), str(spec)], stderr=subprocess.PIPE)
    if delay is not None:
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
    _, errors = process.communicate()
    assert process.returncode in (0, -signal.SIGKILL), errors.decode()
    return process.returncode


def reset(output: Path, pristine: Path) -> None:
    """Put tree A back by hard-linking a pristine copy: cheap, and safe since the writer only replaces files.

    (Were a file ever changed in place, the pristine copy would change with it and no longer match tree A.)
    """
    shutil.rmtree(output, ignore_errors=True)
    shutil.copytree(pristine, output, symlinks=True, copy_function=os.link)


def spread_fractions(count: int, span: float) -> list[float]:
    """Random numbers in [0, span), one in each of `count` equal slices, shuffled: no part of the run is missed."""
    draw = random.Random(7)
    fractions = [(slot + draw.random()) * span / count for slot in range(count)]
    draw.shuffle(fractions)
    return fractions


def mixture(state: Snapshot | None, a: Snapshot, b: Snapshot) -> str:
    """Which paths keep `state` from being tree A, and which from being tree B."""
    if state is None:
        return "the output is missing"
    differ = [sorted(p for p in state.keys() | tree.keys() if state.get(p, 0) != tree.get(p, 0)) for tree in (a, b)]
    return f"neither tree: differs from A at {differ[0][:5]}..., from B at {differ[1][:5]}..."


def timed_run(output: Path, pristine: Path, spec: Path) -> float:
    reset(output, pristine)
    started = time.monotonic()
    run_worker(output, spec, None)
    return time.monotonic() - started


@pytest.mark.parametrize(("fallback", "trials"), [(False, 50), (True, 20)], ids=["exchange", "two-renames"])
def test_a_write_killed_at_any_moment_leaves_the_old_tree_or_the_new_one(
    tmp_path: Path, fallback: bool, trials: int
) -> None:
    output = tmp_path / "db"
    a = tree_a()
    files, remove = change_to_b(a)
    b = {path: data for path, data in a.items() if path not in remove} | {p: t.encode() for p, t in files.items()}
    tree_a_state = expected({**a, **FOREIGN}, FOREIGN_LINKS)
    tree_b_state = expected({**b, **FOREIGN}, FOREIGN_LINKS)
    pristine = tmp_path / "pristine"
    make(pristine, {**a, **FOREIGN}, FOREIGN_LINKS)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"files": files, "remove": remove, "fallback": fallback}), encoding="utf-8")

    runtimes = [timed_run(output, pristine, spec)]
    assert snapshot(output) == tree_b_state
    endings = {"A": 0, "B": 0}
    for trial, fraction in enumerate(spread_fractions(trials, 1.2)):
        if trial and trial % 10 == 0:  # disk speed drifts (other work, writeback): measure again now and then
            runtimes.append(timed_run(output, pristine, spec))
        reset(output, pristine)
        run_worker(output, spec, fraction * max(runtimes))
        killed = snapshot(output)
        # Only the fallback has a window with no output at all; an old folder then waits beside it.
        if not (fallback and killed is None and leftovers(output)):
            assert killed in (tree_a_state, tree_b_state), mixture(killed, tree_a_state, tree_b_state)
        recover(output)
        recovered = snapshot(output)
        assert recovered in (tree_a_state, tree_b_state), mixture(recovered, tree_a_state, tree_b_state)
        assert killed is None or recovered == killed
        assert leftovers(output) == []
        endings["A" if recovered == tree_a_state else "B"] += 1
    assert endings["A"] >= 1 and endings["B"] >= 1, (endings, runtimes)
