"""The migration runner: apply, roll back and check a canonical tree on a database (`consolidate migrate`)."""

from consolidate.runner.runner import (
    Applied,
    Entry,
    Progress,
    Report,
    State,
    baseline,
    down,
    reset,
    status,
    up,
    verify,
)
from consolidate.runner.tracking import Limits

__all__ = [
    "Applied",
    "Entry",
    "Limits",
    "Progress",
    "Report",
    "State",
    "baseline",
    "down",
    "reset",
    "status",
    "up",
    "verify",
]
