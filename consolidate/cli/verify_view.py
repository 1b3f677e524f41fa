"""What `consolidate verify` prints: the server, each replay's failures, the equivalence, each rollback."""

from __future__ import annotations

from rich.console import Console

from consolidate.verify import Verification


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def print_verification(console: Console, stderr: Console, result: Verification) -> None:
    """The verification on `console` (stdout); each failing statement, a located diagnostic, on `stderr`."""
    _say(console, f"server: {result.server}")
    if result.stand_ins:
        _say(console, f"stand-ins (core PostgreSQL playing the extension's part): {', '.join(result.stand_ins)}")
    for title, failures in (("legacy replay", result.legacy_failures), ("canonical replay", result.canonical_failures)):
        _say(console, f"{title}: {'clean' if not failures else f'{len(failures)} failing statement(s)'}")
        for failure in failures:
            for line in failure.diagnostic().lines():
                _say(stderr, line)
    for line in result.expected:
        _say(console, f"expected difference (recorded resolution): {line}")
    for line in result.decided:
        _say(console, f"expected difference (decision in the mapping): {line}")
    if result.diff is not None and result.diff.equivalent:
        _say(console, "equivalence: legacy and canonical schemas, domains and table rows are identical")
    elif result.diff is not None:
        _say(console, "equivalence: NOT equivalent")
        for line in result.diff.objects():
            _say(console, f"  {line}")
        if result.diff.forward:
            _say(console, "  SQL turning the legacy database into the canonical one:")
            _say(console, "    " + result.diff.forward.strip().replace("\n", "\n    "))
    for version in result.versions:
        detail = f" ({'; '.join(version.detail)})" if version.detail else ""
        _say(console, f"rollback {version.label}: {version.rollback}{detail}")
    _say(console, "PROVEN" if result.proven else "NOT PROVEN")
