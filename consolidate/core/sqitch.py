"""Sqitch projects: the order of their changes, which sqitch.plan gives (the file names carry none).

Pure: the plan's text in, change names out. Format: one change per line, `name [dependencies] date planner
<email> # note`; blank lines, `#` comments, `%pragma` lines and `@tag` lines carry no change.
"""

from __future__ import annotations

import re

from consolidate.core.naming import normalise

PLAN_NAME = "sqitch.plan"
_CHANGE = re.compile(r"^\s*(?P<name>[^\s@#%\[][^\s\[]*)")


def plan_changes(text: str) -> list[str]:
    """The changes of a sqitch.plan in deployment order, as the scanner names them (normalised); a change
    reworked later (listed again) keeps its first place."""
    changes: list[str] = []
    for line in text.splitlines():
        found = _CHANGE.match(line)
        if found is not None and (name := normalise(found["name"])) not in changes:
            changes.append(name)
    return changes
