"""What `consolidate verify` prints: the verdict first, then each root cause once, then what else was proven.

A person acts on root causes, not on the hundreds of failures that follow from them (issue 14): each is printed
once, at the legacy file:line to fix, with PostgreSQL's SQLSTATE, message and the hint, how many statements
repeat it or only follow from it, and a few of those. The equivalence diff is listed only when both replays ran
clean (otherwise it is what the failures left behind), and capped. `--verbose` lists everything; `--json` and
verification.json always hold every failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from rich.console import Console

from consolidate.diagnostics import Location
from consolidate.postgres.failures import Failure
from consolidate.postgres.root_causes import CANONICAL, LEGACY, RootCause
from consolidate.verify import Verification, VersionResult

MAX_DIFFERENCES = 20  # equivalence lines shown without --verbose
MAX_DETAIL = 5  # lines of one rollback's detail shown without --verbose
MAX_DECISIONS = 5  # the mapping's patch and drop decisions listed without --verbose
MAX_PLACES = 3  # places of a repeated error named on its line


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def print_verification(console: Console, stderr: Console, result: Verification, verbose: bool = False) -> None:
    """The verification on `console` (stdout); its root causes, the located diagnostics, on `stderr`."""
    head, causes, tail = _parts(result, verbose)
    for part, where in ((head, console), (causes, stderr), (tail, console)):
        for line in part:
            _say(where, line)


def verification_lines(result: Verification, verbose: bool = False) -> list[str]:
    """The text `verify` prints, line by line, in the order a terminal shows it."""
    head, causes, tail = _parts(result, verbose)
    return head + causes + tail


def _parts(result: Verification, verbose: bool) -> tuple[list[str], list[str], list[str]]:
    """The verdict and replays; the root causes (diagnostics); what else was proven."""
    head = [verdict(result), f"server: {result.server}"]
    if result.stand_ins:
        head.append(f"stand-ins (core PostgreSQL playing the extension's part): {', '.join(result.stand_ins)}")
    head += _replays(result)
    examples = None if verbose else _examples(len(result.causes))
    canonical = {id(failure) for failure in result.canonical_failures}
    hinted: set[str] = set()  # a hint said once (every skipped CREATE TABLE has the same) is not said again
    causes = [line for cause in result.causes for line in _cause(cause, examples, canonical, hinted)]
    tail = [f"expected difference (recorded resolution): {line}" for line in result.expected]
    decided = result.decided if verbose or len(result.decided) <= MAX_DECISIONS + 1 else result.decided[:MAX_DECISIONS]
    tail += [f"expected difference (decision in the mapping): {line}" for line in decided]
    if len(decided) < len(result.decided):
        tail.append(f"  and {len(result.decided) - len(decided)} more decisions in the mapping (--verbose)")
    tail += _equivalence(result, verbose)
    tail += _rollbacks(result.versions, verbose)
    return head, causes, tail


def verdict(result: Verification) -> str:
    """The first line: PROVEN, or NOT PROVEN with what stands in the way."""
    if result.proven:
        return "PROVEN"
    failing = len(result.legacy_failures) + len(result.canonical_failures)
    reasons = []
    if failing:
        reasons.append(f"{_count(len(result.causes), 'root cause')} of {_count(failing, 'failing statement')}")
    if result.canonical_not_run:
        reasons.append("the canonical tree was not replayed")
    elif result.diff is not None and not result.diff.equivalent:
        reasons.append("legacy and canonical differ")
    rollbacks = Counter(version.rollback for version in result.versions)
    reasons += [f"{_count(rollbacks[state], 'rollback')} {state}" for state in ("wrong", "failing") if rollbacks[state]]
    if rollbacks["skipped"]:
        reasons.append(f"{_count(rollbacks['skipped'], 'rollback')} not proven (--rollbacks none)")
    return "NOT PROVEN: " + "; ".join(reasons) if reasons else "NOT PROVEN"


def _replays(result: Verification) -> list[str]:
    def state(failures: Sequence[Failure]) -> str:
        return f"{_count(len(failures), 'failing statement')}" if failures else "clean"

    canonical = f"not run: {result.canonical_not_run}" if result.canonical_not_run else state(result.canonical_failures)
    return [f"legacy replay: {state(result.legacy_failures)}", f"canonical replay: {canonical}"]


def _examples(causes: int) -> int:
    """How many consequences to show under each root cause, so that the whole fits on a screen."""
    return 3 if causes <= 5 else 1 if causes <= 10 else 0


def _cause(cause: RootCause, examples: int | None, canonical: set[int], hinted: set[str]) -> Iterator[str]:
    """A root cause: its headline at the legacy file:line, its hint, where else it shows, what follows from it."""
    message = f"{cause.sqlstate}: {_flat(cause.message)}" if cause.sqlstate else _flat(cause.message)
    yield f"{cause.location}: error: {message}"
    if cause.detail:
        yield f"  detail: {_flat(cause.detail)}"
    if cause.hint and cause.hint not in hinted:
        hinted.add(cause.hint)
        yield f"  hint: {cause.hint}"
    if cause.canonical is not None:
        only = " only" if cause.replays == (CANONICAL,) else ""
        yield f"  in the canonical replay{only} at {cause.canonical}"
    if cause.repeats:
        yield f"  the same error at {_count(len(cause.repeats), 'more statement')}: {_places(cause.repeats, examples)}"
    if cause.consequences:
        yield from _consequences(cause, examples, canonical)


def _consequences(cause: RootCause, examples: int | None, canonical: set[int]) -> Iterator[str]:
    counts = Counter(CANONICAL if id(failure) in canonical else LEGACY for failure in cause.consequences)
    where = " and ".join(f"{counts[replay]} in the {replay} replay" for replay in (LEGACY, CANONICAL))
    split = f" ({where})" if len(counts) > 1 else ""
    if examples == 0:
        yield f"  {_count(len(cause.consequences), 'consequence')}{split} (--verbose lists them)"
        return
    yield f"  {_count(len(cause.consequences), 'consequence')}{split}, failing only because of it:"
    shown = cause.consequences if examples is None else cause.consequences[:examples]
    for failure in shown:
        legacy = f" (legacy {failure.source})" if failure.source is not None else ""
        yield f"    {failure.location}{legacy}: {failure.sqlstate}: {_flat(failure.message)}"
    if len(shown) < len(cause.consequences):
        yield f"    and {len(cause.consequences) - len(shown)} more (--verbose lists them)"


def _equivalence(result: Verification, verbose: bool) -> list[str]:
    diff = result.diff
    if diff is None:
        return []
    if diff.equivalent:
        return ["equivalence: legacy and canonical schemas, domains and table rows are identical"]
    differences = diff.objects()
    if (result.legacy_failures or result.canonical_failures) and not verbose:
        return [
            f"equivalence: NOT equivalent: {_count(len(differences), 'difference')}, left by the failures above "
            "(--verbose lists them)"
        ]
    shown = differences if verbose else differences[:MAX_DIFFERENCES]
    lines = [f"equivalence: NOT equivalent: {_count(len(differences), 'difference')}"]
    lines += [f"  {line}" for line in shown]
    if len(shown) < len(differences):
        lines.append(f"  and {len(differences) - len(shown)} more (--verbose)")
    if verbose and diff.forward:
        lines.append("  SQL turning the legacy database into the canonical one:")
        lines.append("    " + diff.forward.strip().replace("\n", "\n    "))
    return lines


def _rollbacks(versions: Sequence[VersionResult], verbose: bool) -> list[str]:
    """One line per rollback found wrong or failing (all of them with --verbose), its detail one item a line;
    then the counts."""
    lines = []
    for version in versions:
        if not verbose and version.rollback not in ("wrong", "failing"):
            continue
        carried = " (carried from the last proof: nothing it depends on changed)" if version.carried else ""
        lines.append(f"rollback {version.label}: {version.rollback}{carried}")
        shown = version.detail if verbose else version.detail[:MAX_DETAIL]
        lines += [f"  {line}" for line in shown]
        if len(shown) < len(version.detail):
            lines.append(f"  and {len(version.detail) - len(shown)} more (--verbose)")
    counts = Counter(version.rollback for version in versions)
    if counts:
        states = ("verified", "wrong", "failing", "stub", "skipped", "not proven")
        told = [f"{counts[state]} {state}" for state in states if counts[state]]
        note = " (their up script failed)" if counts["not proven"] else ""
        kept = sum(1 for version in versions if version.carried)
        note += f"; {kept} carried from the last proof (--rollbacks all proves every one again)" if kept else ""
        lines.append(f"rollbacks: {', '.join(told)}{note}")
    return lines


def _places(places: Sequence[Location], examples: int | None) -> str:
    limit = len(places) if examples is None else MAX_PLACES
    named = ", ".join(str(place) for place in places[:limit])
    return named + (f" and {len(places) - limit} more" if len(places) > limit else "")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
