"""The output's writer lock outlives no holder: the kernel drops a flock when its process dies, however it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from consolidate.io.output_lock import Waiting, holding

HOLD = """
import sys
from pathlib import Path
from consolidate.io.output_lock import Waiting, holding
with holding(Path(sys.argv[1]), "a writer killed with -9", Waiting(0)):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_writer_killed_with_9_leaves_its_lock_free_at_once(tmp_path: Path) -> None:
    output = tmp_path / "migrations"
    root = str(Path(__file__).parent.parent)
    command = [sys.executable, "-c", HOLD, str(output)]
    writer = subprocess.Popen(command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "held\n"
    writer.send_signal(signal.SIGKILL)
    writer.communicate()
    with holding(output, "the next writer", Waiting(0)):
        pass
