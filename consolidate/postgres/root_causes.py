"""The root causes of a verification's failures: what a person fixes, each once, with what follows from it.

A failure is a consequence when postgres/consequences.py linked it to a cause; following the links back gives
its root: a failure that follows from nothing, or a CREATE TABLE IF NOT EXISTS that PostgreSQL skipped. Roots
are then merged, so that each is said once:

* a legacy failure and the canonical failure of the same legacy statement (a canonical location is mapped back
  to the legacy file:line of its statement) with the same SQLSTATE are one cause, met by both replays;
* failures that name the same missing object ("role "app" does not exist" at thirty GRANTs), or the same
  extension the server lacks (at each file's CREATE EXTENSION), are one cause, at its first statement: the others
  repeat it (`repeats`), and creating the object (installing the extension) fixes them all.

Pure: failures in, root causes out, in the order their first failure was met (legacy replay first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from consolidate.model import Location
from consolidate.postgres.consequences import MISSING
from consolidate.postgres.failures import Cause, Failure

LEGACY = "legacy"
CANONICAL = "canonical"
SKIPPED = "42P07"  # duplicate_table: the notice of a CREATE TABLE IF NOT EXISTS PostgreSQL skipped
SKIP_HINT = (
    "the plan lists it as a conflict: a resolution (keep-first or merge-columns) says which definition production has"
)

ToLegacy = Callable[[Location], Location | None]


@dataclass(frozen=True)
class RootCause:
    """One thing to fix: where (the legacy file:line), what PostgreSQL said, and every failure it explains."""

    location: Location
    sqlstate: str
    message: str
    hint: str
    replays: tuple[str, ...]  # the replays whose failures it explains: "legacy", "canonical"
    canonical: Location | None  # where the canonical replay met it itself (a version's file:line), if it did
    repeats: tuple[Location, ...]  # the same error at other statements, by legacy file:line
    consequences: tuple[Failure, ...]  # the failures that only follow from it, legacy replay's first
    failures: int  # the failing statements it explains, in both replays: its own, its repeats, its consequences
    skipped: str = ""  # the table, when the cause is a CREATE TABLE IF NOT EXISTS PostgreSQL skipped
    detail: str = ""  # PostgreSQL's detail (which key, which row)


@dataclass
class _Group:
    own: list[tuple[str, Failure]] = field(default_factory=list)  # (replay, failure): failures that are the cause
    consequences: list[Failure] = field(default_factory=list)
    skip: tuple[Location, str] | None = None  # (legacy location, table) of a skipped CREATE TABLE
    replays: set[str] = field(default_factory=set)  # the replays whose failures it explains


def root_causes(
    legacy: Sequence[Failure], canonical: Sequence[Failure], to_legacy: ToLegacy | None = None
) -> tuple[RootCause, ...]:
    """Every failure of both replays under its root cause; `to_legacy` maps a canonical file:line to the legacy
    file:line of its statement (None where it has none)."""
    mapped = to_legacy or (lambda _: None)
    groups: dict[tuple[object, ...], _Group] = {}
    for replay, failures in ((LEGACY, legacy), (CANONICAL, canonical)):

        def where(location: Location, replay: str = replay) -> Location:
            return (mapped(location) if replay == CANONICAL else None) or location

        found = {(failure.path, failure.line): failure for failure in reversed(failures)}
        for failure in failures:
            root = _root(failure, found)
            if isinstance(root, Cause):
                at = where(root.location)
                group = groups.setdefault(("skip", at.path, at.line), _Group())
                group.skip = group.skip or (Location(at.path, at.line), root.skipped)
            else:
                group = groups.setdefault(_key(root, where(root.location)), _Group())
            group.replays.add(replay)
            if root is failure:
                group.own.append((replay, failure))
            else:
                group.consequences.append(failure)
    return tuple(_cause(group, mapped) for group in groups.values())


def _root(failure: Failure, found: dict[tuple[str, int], Failure]) -> Failure | Cause:
    """The failure `failure` follows from in the end, or the skipped CREATE TABLE it does."""
    seen = {id(failure)}
    while failure.cause is not None:
        if failure.cause.skipped:
            return failure.cause
        cause = found.get((failure.cause.location.path, failure.cause.location.line or 0))
        if cause is None or id(cause) in seen:
            return failure  # a cause that is not among the failures: this one is as far as it goes
        seen.add(id(cause))
        failure = cause
    return failure


def _key(root: Failure, at: Location) -> tuple[object, ...]:
    if root.extension is not None:  # every CREATE EXTENSION of one the server lacks: one cause, installing it
        return ("extension", root.extension)
    if root.sqlstate in MISSING:
        return ("missing", root.sqlstate, root.message)
    return ("failure", at.path, at.line, root.sqlstate)


def _cause(group: _Group, mapped: ToLegacy) -> RootCause:
    replays = tuple(replay for replay in (LEGACY, CANONICAL) if replay in group.replays)
    if group.skip is not None:
        at, table = group.skip
        hint = SKIP_HINT
        message = f'relation "{table}" already exists, skipping: what follows meets an earlier definition of it'
        consequences = tuple(group.consequences)
        return RootCause(at, SKIPPED, message, hint, replays, None, (), consequences, len(consequences), table)
    replay, first = group.own[0]
    at = (mapped(first.location) if replay == CANONICAL else None) or first.location
    canonical = next((failure.location for own, failure in group.own if own == CANONICAL), None)
    places = dict.fromkeys(
        (mapped(failure.location) if own == CANONICAL else None) or failure.location for own, failure in group.own
    )
    repeats = tuple(place for place in places if (place.path, place.line) != (at.path, at.line))
    hint = first.diagnostic().hint
    explained = len(group.own) + len(group.consequences)
    consequences = tuple(group.consequences)
    return RootCause(
        at, first.sqlstate, first.message, hint, replays, canonical, repeats, consequences, explained, "", first.detail
    )
