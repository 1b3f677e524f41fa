"""consolidate.db.results_import: results' inspector imported quickly, reading the same catalog queries."""

from __future__ import annotations

import json
import subprocess
import sys

from consolidate.db.results_import import MISC, caller_package

READ = """
import json, sys
from pathlib import Path
import consolidate.db.diff
import results
from results.schemainspect.pg import obj
folder = Path(results.__path__[0]) / "schemainspect" / "pg" / "sql"
print(json.dumps({
    "same": obj.ALL_RELATIONS_QUERY == (folder / "relations.sql").read_text()
    and obj.EXTOIDS_QUERY == (folder / "extoids.sql").read_text(),
    "lookup": sys.modules["results.schemainspect.misc"].external_caller_package.__module__,
    "bound": results.schemainspect.misc is sys.modules["results.schemainspect.misc"],
}))
"""


def test_the_caller_package_is_the_calling_modules_package() -> None:
    assert caller_package() == __package__ == "tests"


def test_frames_of_misc_itself_are_passed_over() -> None:
    namespace = {"__name__": MISC, "__package__": "results.schemainspect", "caller_package": caller_package}
    exec("def resource_stream():\n    return caller_package()\n", namespace)
    assert namespace["resource_stream"]() == "tests"  # type: ignore[operator]


def test_importing_the_diff_reads_results_queries_through_the_quick_lookup() -> None:
    done = subprocess.run([sys.executable, "-c", READ], check=True, capture_output=True, text=True)
    assert json.loads(done.stdout) == {"same": True, "lookup": "consolidate.db.results_import", "bound": True}
