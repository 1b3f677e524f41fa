"""Run by tests/test_atomic.py as a subprocess it kills: `recover`, then `write_tree` as a JSON spec says, under
the output's writer lock as apply runs them (a killed worker's lock dies with it).

Usage: atomic_worker.py OUTPUT SPEC, where SPEC is a JSON file {"files": {path: text}, "remove": [path],
"fallback": bool}; "fallback" makes the switch take the two-rename path, as on a system without renameat2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, not from the package

from consolidate.io import atomic
from consolidate.io.output_lock import Waiting, holding


def main(output: Path, spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    if spec.get("fallback", False):
        atomic._renameat2 = None
    files = {path: text.encode("utf-8") for path, text in spec["files"].items()}
    with holding(output, "atomic_worker.py", Waiting(0)):
        atomic.recover(output)
        atomic.write_tree(output, files, spec["remove"])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
