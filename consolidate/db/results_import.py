"""results (migra's maintained successor), imported without the 0.3 s its inspector's import costs as shipped.

`results.schemainspect.pg.obj` reads its 17 catalog queries when imported, each through
`results.schemainspect.misc.resource_text`, which finds the package to read from with `external_caller_package`:
`inspect.stack()`, then `inspect.getmodule` on every frame. Both read the source and scan `sys.modules` for every
frame of the (deep) import stack: 0.25-0.3 s of every `consolidate verify` (issue 16, docs/benchmarks.md "Issue 16:
verify against the psql floor"), for an answer the frames' globals hold. `install()` loads that one module first,
on its own, and gives it the same answer from the globals, before anything imports the rest of results.

Known limitation: when results.schemainspect is already imported, `install()` changes nothing (it is too late to
save anything, and nothing is re-read).
"""

from __future__ import annotations

import importlib.util
import sys
from types import FrameType, ModuleType

import results

MISC = "results.schemainspect.misc"


def caller_package(frame: FrameType | None = None) -> str:
    """The package of the innermost calling module other than misc itself: what
    `results.schemainspect.misc.external_caller_package` computes with inspect.stack(), read from the frames."""
    frame = frame or sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name is not None and name != MISC:
            return str(frame.f_globals.get("__package__") or name)
        frame = frame.f_back
    return MISC


def install() -> None:
    """Load results.schemainspect.misc ahead of its package, its caller lookup replaced (see the module's doc)."""
    if MISC in sys.modules or "results.schemainspect" in sys.modules:
        return
    path = results.__path__[0] + "/schemainspect/misc.py"
    spec = importlib.util.spec_from_file_location(MISC, path)
    if spec is None or spec.loader is None:  # a results laid out otherwise: imported as shipped, only slower
        return
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "external_caller_package", None)):
        return  # a results without the slow lookup: nothing to replace, and nothing registered
    setattr(module, "external_caller_package", caller_package)  # noqa: B010 (a module mypy cannot see into)
    sys.modules[MISC] = module


install()

# What consolidate uses of results, imported here, after install(), so that every importer gets the quick import.
from results.dbdiff import Changes, Migration, Statements  # noqa: E402
from results.dbdiff.util import differences  # noqa: E402
from results.schemainspect.pg.obj import PostgreSQL  # noqa: E402

# A module found in sys.modules is not bound to its package when imported again: dbdiff reads
# `schemainspect.misc.quoted_identifier` as an attribute of the package (its materialized views' indexes).
if not hasattr(sys.modules["results.schemainspect"], "misc"):
    setattr(sys.modules["results.schemainspect"], "misc", sys.modules[MISC])  # noqa: B010

__all__ = ["Changes", "Migration", "PostgreSQL", "Statements", "differences"]
