"""The last proof as the report reads it: verification.json (written by `consolidate verify`) as frozen facts, and
how far it speaks for the tree as it is. Pure: the file's bytes and the tree in, a Proof out.

Rules (docs/commands.md, `consolidate report`):

- A proof *applies* to the tree when the files it recorded (``outputs``: path → sha256) are exactly the tree's
  versions/ and down/ files, each with that checksum. Otherwise it is a proof of other files and vouches for
  nothing, whatever its verdict.
- A rollback the proof found ``wrong`` or ``failing`` stays *disputed* while its down file keeps the checksum the
  proof recorded, even when other files changed since: a stale proof can still warn, never vouch.
- Root causes are the document's ``root_causes`` when it has them; otherwise the failures that are not the
  consequence of another (consolidate/postgres/consequences.py writes "a consequence of the failure at
  <file>:<line>" into a consequence's hint), each with the number of failures that follow from it, directly or
  through another consequence.

Anything missing or of the wrong type in the document reads as absent: a hand-edited or older verification.json
gives a report that says less, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as Lookup
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consolidate.layout import DOWNS, VERSIONS, down_path

# What consolidate/postgres/consequences.py writes into a consequence's hint, before the cause's file:line (core
# cannot import postgres: the text is the contract, and tests/test_report_proof.py reads a real verify's output).
_CONSEQUENCE = re.compile(r"a consequence of the failure at (?P<path>.+?):(?P<line>\d+)(?=[,:;]|\s|$)")
_SQLSTATE = re.compile(r"^(?P<state>[0-9A-Z]{5}): ")
ROLLBACK_RESULTS = ("verified", "wrong", "failing", "stub", "not proven")  # as verify records them, in this order
SKIPPED = "skipped"  # `verify --rollbacks none`: counted only when it occurs
DISPUTED = frozenset({"wrong", "failing"})  # a rollback the proof contradicts
SYNTAX_ERROR = "42601"


class State(StrEnum):
    ABSENT = "absent"  # no verification.json: verify never ran (or its file was removed)
    UNREADABLE = "unreadable"  # not a JSON object
    RECORDED = "recorded"


@dataclass(frozen=True)
class RootCause:
    """A failure that follows from no other: what to fix first."""

    location: str  # file:line[:column], as verify showed it
    sqlstate: str  # "" when the document does not say
    message: str  # its first line, without the SQLSTATE
    hint: str
    consequences: int  # failures that follow from it
    replay: str = ""  # legacy | canonical | legacy and canonical; "" when the document does not say


@dataclass(frozen=True)
class RollbackResult:
    version: int
    label: str
    result: str  # one of ROLLBACK_RESULTS
    detail: tuple[str, ...]


@dataclass(frozen=True)
class Proof:
    """What the last verify found, and whether it applies to the tree (see the module's rules)."""

    state: State
    sha256: str = ""  # of verification.json's bytes: the report carries it, so a new proof makes it stale
    proven: bool = False  # the verdict the document records
    applies: bool = False
    changed: tuple[str, ...] = ()  # tree files the proof did not prove as they are (sorted)
    date: str = ""
    server_version: str = ""
    stand_ins: tuple[str, ...] = ()
    legacy_failures: int = 0
    canonical_failures: int = 0
    equivalent: bool = False
    differences: int = 0  # beyond the expected ones
    rollbacks: tuple[RollbackResult, ...] = ()
    root_causes: tuple[RootCause, ...] = ()
    disputed: tuple[RollbackResult, ...] = ()  # wrong or failing, their down file unchanged since
    rejected: tuple[str, ...] = ()  # where PostgreSQL rejected a statement as a syntax error (42601), both replays
    setup: str = ""  # verify's hash of what its databases depended on besides the files (server, stand-ins, prelude)

    @property
    def vouches(self) -> bool:
        """Proven, and of these very files."""
        return self.proven and self.applies

    def count(self, result: str) -> int:
        return sum(1 for item in self.rollbacks if item.result == result)


def read_proof(data: bytes | None, tree: Lookup[str, bytes]) -> Proof:
    """The proof recorded in verification.json (`data`; None when there is none) for the tree (relative paths)."""
    if data is None:
        return Proof(State.ABSENT)
    digest = hashlib.sha256(data).hexdigest()
    try:
        document = json.loads(data)
    except ValueError:
        return Proof(State.UNREADABLE, digest)
    if not isinstance(document, dict):
        return Proof(State.UNREADABLE, digest)
    outputs = _outputs(document.get("outputs"))
    changed = _changed(outputs, tree)
    rollbacks = tuple(_rollbacks(document.get("versions")))
    legacy, canonical = _failures(document, "legacy_failures"), _failures(document, "canonical_failures")
    return Proof(
        state=State.RECORDED,
        sha256=digest,
        proven=document.get("proven") is True,
        applies=bool(outputs) and not changed,
        changed=changed,
        date=_text(document.get("date")),
        server_version=_text(document.get("server_version")),
        stand_ins=tuple(_text(item) for item in _list(document.get("stand_ins"))),
        legacy_failures=len(legacy),
        canonical_failures=len(canonical),
        equivalent=document.get("equivalent") is True,
        differences=len(_list(document.get("differences"))),
        rollbacks=rollbacks,
        root_causes=_root_causes(document.get("root_causes"), legacy, canonical),
        disputed=tuple(item for item in rollbacks if item.result in DISPUTED and _unchanged(item, outputs, tree)),
        rejected=tuple(_where(item) for item in (*legacy, *canonical) if _sqlstate(item) == SYNTAX_ERROR),
        setup=_text(document.get("setup")),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _outputs(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {path: digest for path, digest in value.items() if isinstance(path, str) and isinstance(digest, str)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _changed(outputs: Lookup[str, str], tree: Lookup[str, bytes]) -> tuple[str, ...]:
    """The tree's versions/ and down/ files the proof did not see as they are, and the files it saw that are gone."""
    migrations = {path for path in tree if path.startswith((f"{VERSIONS}/", f"{DOWNS}/"))}
    differing = {path for path in migrations if outputs.get(path) != _sha256(tree[path])}
    return tuple(sorted(differing | (set(outputs) - set(tree))))


def _unchanged(item: RollbackResult, outputs: Lookup[str, str], tree: Lookup[str, bytes]) -> bool:
    path = down_path(item.label)
    return path in tree and outputs.get(path) == _sha256(tree[path])


def _rollbacks(value: object) -> Iterable[RollbackResult]:
    for item in _list(value):
        if not isinstance(item, dict) or item.get("rollback") not in (*ROLLBACK_RESULTS, SKIPPED):
            continue
        version = item.get("version")
        yield RollbackResult(
            version if isinstance(version, int) else 0,
            _text(item.get("label")),
            str(item["rollback"]),
            tuple(_text(line) for line in _list(item.get("detail"))),
        )


def _failures(document: Lookup[str, Any], key: str) -> list[dict[str, Any]]:
    return [item for item in _list(document.get(key)) if isinstance(item, dict)]


# --- root causes ----------------------------------------------------------------------------------------------


def _root_causes(
    given: object, legacy: Sequence[dict[str, Any]], canonical: Sequence[dict[str, Any]]
) -> tuple[RootCause, ...]:
    """verify's own `root_causes` when recorded; else derived from each replay's failures."""
    if isinstance(given, list):
        return tuple(cause for cause in (_given(item) for item in given) if cause is not None)
    return (*_derived(legacy, "legacy"), *_derived(canonical, "canonical"))


def _given(item: object) -> RootCause | None:
    """A root cause as verify records it. Its location is `location` ("file:line") or `path` and `line`; its
    consequences a count or the list of them."""
    if not isinstance(item, dict):
        return None
    location = _text(item.get("location")) or _where(item)
    consequences = item.get("consequences")
    count = len(consequences) if isinstance(consequences, list) else consequences
    sqlstate, message = _message(_text(item.get("message")))
    return RootCause(
        location=location,
        sqlstate=_text(item.get("sqlstate")) or sqlstate,
        message=message,
        hint=_text(item.get("hint")),
        consequences=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        replay=_replays(item.get("replays")) or _text(item.get("replay")) or _text(item.get("tree")),
    )


def _replays(given: object) -> str:
    """verify's `replays` (["legacy", "canonical"]) as words: a cause both replays share is one cause."""
    return " and ".join(name for name in given if isinstance(name, str)) if isinstance(given, list) else ""


def _where(failure: Lookup[str, Any]) -> str:
    text = _text(failure.get("path"))
    for key in ("line", "column"):
        value = failure.get(key)
        if not isinstance(value, int):
            break
        text += f":{value}"
    return text


def _message(text: str) -> tuple[str, str]:
    """(SQLSTATE, message) of a failure's message: "42601: syntax error …", then detail and context lines."""
    first = text.split("\n", 1)[0]
    found = _SQLSTATE.match(first)
    return (found["state"], first[found.end() :]) if found else ("", first)


def _sqlstate(failure: Lookup[str, Any]) -> str:
    """A failure's SQLSTATE: its code is `replay.<sqlstate>` (verify's Failure.diagnostic)."""
    code = _text(failure.get("code"))
    return code.removeprefix("replay.") if code.startswith("replay.") else _message(_text(failure.get("message")))[0]


def _cause_of(failure: Lookup[str, Any]) -> tuple[str, int] | None:
    found = _CONSEQUENCE.search(_text(failure.get("hint")))
    return (found["path"], int(found["line"])) if found else None


def _derived(failures: Sequence[dict[str, Any]], replay: str) -> list[RootCause]:
    """The failures that follow from no other, in replay order, each with how many follow from it."""
    at: dict[tuple[str, int], int] = {}
    for index, failure in enumerate(failures):
        line = failure.get("line")
        at.setdefault((_text(failure.get("path")), line if isinstance(line, int) else 0), index)
    parent = {index: at.get(cause) for index, failure in enumerate(failures) if (cause := _cause_of(failure))}
    ends = [_root(index, parent) for index in range(len(failures))]
    counts = Counter(end for index, end in enumerate(ends) if end != index)
    return [_cause(failures[index], counts[index], replay) for index, end in enumerate(ends) if end == index]


def _root(index: int, parent: Lookup[int, int | None]) -> int:
    """The failure a failure follows from in the end; itself when its recorded cause is not among the failures
    (then it is shown as a root cause: nothing is lost) or the causes go round."""
    seen = {index}
    current = index
    while (cause := parent.get(current)) is not None and cause not in seen:
        seen.add(cause)
        current = cause
    return current if parent.get(current) is None else index


def _cause(failure: Lookup[str, Any], consequences: int, replay: str) -> RootCause:
    sqlstate, message = _message(_text(failure.get("message")))
    return RootCause(_where(failure), sqlstate, message, _text(failure.get("hint")), consequences, replay)
