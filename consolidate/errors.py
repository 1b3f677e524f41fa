"""The one exception type for user mistakes, and the exit codes the CLI maps results to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from consolidate.diagnostics import Diagnostic, Location

EXIT_OK = 0  # success, or a check passed
EXIT_FAIL = 1  # a check found problems: plan errors, stale tree, failed verification
EXIT_USAGE = 2  # bad input or usage; nothing was written

MAX_SHOWN = 50  # a mapping with hundreds of problems prints the first ones and a count


class ConsolidateError(Exception):
    """A problem for the user: every finding with its location; the CLI prints them and exits with `exit_code`.

    Bad input exits 2 (the default); a check that found problems — a plan with errors stops `apply` — exits 1.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic], exit_code: int = EXIT_USAGE) -> None:
        self.diagnostics = tuple(diagnostics)
        self.exit_code = exit_code
        super().__init__(self.message())

    @classmethod
    def at(cls, code: str, message: str, location: Location, hint: str = "") -> ConsolidateError:
        return cls([Diagnostic(code, message, location, hint)])

    def message(self) -> str:
        """Every finding as compilers print it (`path:line: error: …`, its hint indented below), up to MAX_SHOWN."""
        return "\n".join(located_lines(self.diagnostics))

    def document(self) -> dict[str, Any]:
        """What a `--json` command prints on stdout when it fails: every finding, uncapped, and the exit code."""
        return {"ok": False, "exit_code": self.exit_code, "errors": [d.to_dict() for d in self.diagnostics]}


def located_lines(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """`diagnostics` as compilers print them (`path:line: error: …`, the hint indented below), up to MAX_SHOWN,
    then a count of the rest: what the CLI writes on stderr, for an error and for a check's findings alike."""
    lines = [line for diagnostic in diagnostics[:MAX_SHOWN] for line in diagnostic.lines()]
    hidden = len(diagnostics) - MAX_SHOWN
    if hidden > 0:
        lines.append(f"... and {hidden} more")
    return lines
