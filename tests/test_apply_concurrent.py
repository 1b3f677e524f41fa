"""Two writers of one output: real `consolidate apply` processes against the output's writer lock (issue 13 #4).

Two applies 50 ms apart both reported "wrote", and one's recovery deleted the other's live temporary folder. Here
the test itself holds the lock (through the code apply uses) while the applies start, so every run takes the same
path: each must wait, say whom for, and go once the lock is free. The signal to go on is the line each prints on
stderr when it starts waiting; nothing sleeps.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from consolidate.io.output_lock import Waiting, holding, lock_path
from tests.clitools import copy_reference_case, snapshot

OUTPUT = Path("build/deploy/migrations")
GOLDEN = Path(__file__).parent / "golden" / "reference"
HOLDER = "the test"
DEADLINE = 120.0  # seconds for a process to say something: generous, the machine is shared


@pytest.fixture
def case(tmp_path: Path) -> Path:
    return copy_reference_case(tmp_path)


def _apply(case: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764720000", "PYTHONPATH": str(Path(__file__).parent.parent)}
    command = [sys.executable, "-m", "consolidate", "apply", *args]
    return subprocess.Popen(command, cwd=case, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_error_line(process: subprocess.Popen[str]) -> str:
    """The first line `process` writes on stderr ("" when it ends without one), waiting at most DEADLINE."""
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], DEADLINE)
    assert ready, "no line on stderr in time"
    return process.stderr.readline()


def _waits_for_the_test(line: str) -> bool:
    return line.startswith(f"waiting for {HOLDER} (pid {os.getpid()}, started ") and str(OUTPUT.parent) in line


def test_two_applies_started_together_write_one_after_the_other_and_leave_one_whole_tree(case: Path) -> None:
    with holding(case / OUTPUT, HOLDER, Waiting(0)):
        first, second = _apply(case), _apply(case)
        lines = [_first_error_line(first), _first_error_line(second)]
        assert all(_waits_for_the_test(line) for line in lines), lines
    results = [process.communicate(timeout=DEADLINE) for process in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), results
    said = sorted(out.splitlines()[-1].split(":")[0] for out, _ in results)
    assert said == ["nothing to write", "wrote build/deploy/migrations; report"]
    assert snapshot(case / OUTPUT) == snapshot(GOLDEN)
    assert [path.name for path in (case / OUTPUT.parent).iterdir() if path.name.startswith(".consolidate-tmp")] == []


def test_recovery_leaves_a_live_writers_temporary_folder_alone(case: Path) -> None:
    live = case / OUTPUT.parent / f".consolidate-tmp-{OUTPUT.name}-0123abcd"
    with holding(case / OUTPUT, HOLDER, Waiting(0)):
        (live / "versions").mkdir(parents=True)
        (live / "versions/001_being_written.sql").write_text("-- half-built by the live writer\n")
        process = _apply(case)
        assert _waits_for_the_test(_first_error_line(process))
        assert (live / "versions/001_being_written.sql").is_file()
    # The writer is gone: what it left is now a leftover, which recovery clears under the lock.
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    assert not live.exists()


def test_an_apply_that_cannot_get_the_lock_in_time_names_its_holder_and_exits_1_writing_nothing(case: Path) -> None:
    with holding(case / OUTPUT, HOLDER, Waiting(0)):
        process = _apply(case, "--lock-wait", "0.5")
        out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 1, out + err
    assert f"{OUTPUT.parent}/.consolidate-lock-{OUTPUT.name}: error: {HOLDER} (pid {os.getpid()}" in err
    assert "--lock-wait" in err and "Traceback" not in err
    assert not (case / OUTPUT).exists()


def test_a_finished_apply_leaves_no_lock_file_beside_the_output(case: Path) -> None:
    with holding(case / OUTPUT, HOLDER, Waiting(0)):
        process = _apply(case)
        assert _waits_for_the_test(_first_error_line(process))
    _, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, err
    assert not lock_path(case / OUTPUT).exists()
    assert sorted(path.name for path in (case / OUTPUT.parent).iterdir()) == [OUTPUT.name]
