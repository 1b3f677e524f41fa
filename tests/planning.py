"""A small vocabulary for plan tests: statements, files and mappings built by hand, no parser involved."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from consolidate.model import (
    Action,
    Column,
    Decision,
    Facts,
    FileName,
    LegacyFile,
    Location,
    Mapping,
    ObjectRef,
    ParsedFile,
    Resolution,
    ScanResult,
    Scheme,
    Statement,
    Target,
)
from consolidate.model import Direction as D


def table(name: str, schema: str = "public") -> ObjectRef:
    return ObjectRef("table", schema, name)


def function(signature: str) -> ObjectRef:
    return ObjectRef("function", "public", signature)


def trigger(name: str, on: str) -> ObjectRef:
    return ObjectRef("trigger", "public", name, table=on, table_key=f"public.{on}")


@dataclass(frozen=True)
class Item:
    """What a test says about one statement: its fingerprint and its facts."""

    fingerprint: str
    facts: Facts


def stmt(
    fingerprint: str,
    action: Action = Action.OTHER,
    target: ObjectRef | None = None,
    *,
    references: Sequence[ObjectRef] = (),
    columns: Sequence[str] = (),
    if_not_exists: bool = False,
    cascade: bool = False,
    mentions: Sequence[str] = (),
) -> Item:
    facts = Facts(
        action=action,
        target=target,
        if_not_exists=if_not_exists,
        cascade=cascade,
        references=tuple(references),
        columns=tuple(Column(name, "text") for name in columns),
        mentions=tuple(mentions),
    )
    return Item(fingerprint, facts)


def parsed_file(path: str, items: Sequence[Item]) -> ParsedFile:
    statements = tuple(
        Statement(
            path=path,
            index=index,
            line=index + 1,
            text=f"-- statement {index}\n",
            kind="Create",
            parsed=True,
            fingerprint=item.fingerprint,
            facts=item.facts,
        )
        for index, item in enumerate(items)
    )
    return ParsedFile(path, (), statements, (), 0)


def mapping(
    targets: Sequence[Sequence[str]],
    resolutions: Sequence[tuple[str, str]] = (),
    provided: Sequence[str] = (),
) -> Mapping:
    return Mapping(
        path="mapping.yaml",
        base=".",
        version=1,
        dialect="postgres",
        root="legacy",
        output="out",
        width=3,
        sources=("src",),
        groups=(),
        targets=tuple(
            Target(number, f"t{number}", "", tuple(sources), Location("mapping.yaml", number))
            for number, sources in enumerate(targets, start=1)
        ),
        excludes=(),
        resolutions=tuple(
            Resolution(obj, Decision(decision), "because", Location("mapping.yaml", 100 + n))
            for n, (obj, decision) in enumerate(resolutions)
        ),
        provided=tuple(provided),
    )


def scan_of(
    paths: Sequence[str], downs: Sequence[tuple[str, str]] = (), down_text: str = "DROP TABLE t;\n"
) -> ScanResult:
    """Up files (their text is not read: statements come parsed), and down files of `down_text`."""
    down_paths = {down for _, down in downs}
    ups = [
        LegacyFile(path, FileName(Scheme.UNNUMBERED, D.UP, None, path), "0" * 64, "")
        for path in paths
        if path not in down_paths
    ]
    down_files = [
        LegacyFile(down, FileName(Scheme.UNNUMBERED, D.DOWN, None, down), "0" * 64, down_text) for _, down in downs
    ]
    files = tuple(sorted(ups + down_files, key=lambda legacy: legacy.path))
    return ScanResult(files, tuple(sorted(downs)), ())
