"""kill -9 of a real `consolidate apply` at random moments leaves the old tree or the new one, never a mix.

tests/test_atomic.py hammers the writer itself (50+ trials over a large tree); this runs the whole command,
so nothing apply does before or after the switch (lock, report, recovery) can break the guarantee either.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clitools import copy_reference_case, snapshot

TRIALS = 12
OUTPUT = Path("build/deploy/migrations")


def _apply(case: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1764720000"}
    command = [sys.executable, "-m", "consolidate", "apply", "--force"]
    return subprocess.Popen(command, cwd=case, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _trees(case: Path) -> tuple[dict[str, bytes], dict[str, bytes], float]:
    assert _apply(case).wait() == 0
    old = snapshot(case / OUTPUT)
    mapping = case / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace("description: ", "description: Renamed "))
    shutil.copytree(case / OUTPUT, case / "pristine")
    started = time.perf_counter()
    assert _apply(case).wait() == 0
    runtime = time.perf_counter() - started
    return old, snapshot(case / OUTPUT), runtime


@pytest.mark.slow
def test_apply_killed_at_random_moments_leaves_the_old_tree_or_the_new_one(tmp_path: Path) -> None:
    case = copy_reference_case(tmp_path)
    old, new, runtime = _trees(case)
    assert old != new
    seen = {"old": 0, "new": 0}
    rng = random.Random(20261124)
    # Most of apply is parsing; draw delays over the whole run, denser towards its end where the write is.
    delays = sorted(runtime * rng.uniform(0.3, 1.15) for _ in range(TRIALS))
    # Under load a run can take longer than the measured one: when no kill came late enough to find the new tree,
    # later ones follow, each later than the last, so that both sides of the switch are seen.
    extra = [runtime * (1.2 + 0.3 * step) for step in range(TRIALS)]
    for delay in delays + extra:
        if delay in extra and seen["new"]:
            break
        shutil.rmtree(case / OUTPUT)
        shutil.copytree(case / "pristine", case / OUTPUT)
        process = _apply(case)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        found = snapshot(case / OUTPUT)
        assert found in (old, new), sorted(set(found.items()) ^ set(old.items()))[:3]
        seen["old" if found == old else "new"] += 1
    assert seen["old"] and seen["new"], seen
