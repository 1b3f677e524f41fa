"""What `consolidate init` says after writing its draft: the plan on it, clean or the errors that remain and why."""

from __future__ import annotations

from collections import Counter

from consolidate.commands import InitResult
from consolidate.model import Diagnostic

SHOWN = 10  # a draft with hundreds of errors shows the first ones and a count; `plan` lists them all

# Why an error remains on a draft, and what settles it, by the code's family (the part before the dot) or code.
WHY = {
    "plan.ordering": "the drafted order (version number, then folder) runs a file before the one that creates "
    "what it uses: move one of the files to another version in the mapping, declare what the platform "
    "creates under provided: (or create it in the prelude), or, if you judge it false, accept: it with a reason",
    "plan.unresolved-conflict": "an object is created twice with different definitions: add a resolution "
    "(keep-first or merge-columns) saying which definition production has",
    "scan.same-version": "two files of one folder claim one version, which the tool refuses (golang-migrate, "
    "Flyway, dbmate): renumber one in the legacy tree, or exclude the one the tool never ran",
    "sql": "PostgreSQL rejects a statement of a legacy file (a syntax error, or text another tool fills in: a "
    "template, a psql variable): the legacy file fails as it is; correct it with a patch decision in the mapping "
    "(patches:, the legacy file stays as it is), leave the statement out with drop, or exclude the file",
    "mapping": "the draft does not account for a file the way plan requires: edit the mapping as the hint says",
}
OTHER = "see the hint `consolidate plan` prints with each"


def init_summary(result: InitResult) -> list[str]:
    """Lines for stdout: the plan's verdict on the draft, then, when errors remain, why and what to do."""
    if result.clean:
        return ["plan on the draft: clean"]
    errors = result.remaining
    lines = [f"plan on the draft: {len(errors)} error(s) remain", "why they remain, and what to do:"]
    counts = Counter(_family(error) for error in errors)
    lines += [f"  {family} ({count}): {WHY.get(family, OTHER)}" for family, count in counts.items()]
    lines.append(f"run `consolidate plan --mapping {result.mapping}` to see each with its hint")
    return lines


def init_remaining(result: InitResult) -> list[str]:
    """Lines for stderr: the first errors that remain, located (their hints come with `consolidate plan`)."""
    errors = result.remaining
    lines = [error.headline() for error in errors[:SHOWN]]
    if len(errors) > SHOWN:
        lines.append(f"  and {len(errors) - SHOWN} more")
    return lines


def _family(error: Diagnostic) -> str:
    if error.code in WHY:
        return error.code
    prefix = error.code.split(".", 1)[0]
    return prefix if prefix in WHY else error.code
