"""The migration runner: apply, roll back and check a canonical tree on a database (`consolidate migrate`)."""

from consolidate.runner.runner import Applied, Entry, Report, State, down, status, up, verify

__all__ = ["Applied", "Entry", "Report", "State", "down", "status", "up", "verify"]
