"""Scan legacy files: name, checksum, decoded text, encoding findings, and down files paired to up files.

Pure: works on the bytes io read. It never raises, whatever the bytes or names, so that one broken file
is a finding next to all the others rather than the end of the run.
"""

from __future__ import annotations

import codecs
import hashlib
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from consolidate.core.comments import has_content
from consolidate.core.lines import Lines, endings, first_change
from consolidate.core.naming import VersionKey, is_repeatable, parse_name, version_identity
from consolidate.core.sections import sections
from consolidate.model import (
    Diagnostic,
    Direction,
    LegacyFile,
    Location,
    RawFile,
    ScanResult,
    Scheme,
    Severity,
)

_BOM = b"\xef\xbb\xbf"
_VERSIONED_BY_NAME = frozenset({Scheme.NUMBERED, Scheme.TIMESTAMP, Scheme.GOLANG})

# What a down file pairs on: its folder plus what its scheme says identifies the migration.
PairKey = tuple[object, ...]


# Findings that leave a file's text unknown: the plan must not be built on a guess (callers refuse them, exit 2).
UNREADABLE = frozenset({"scan.encoding", "scan.nul"})


def scan(raw_files: Iterable[RawFile], encodings: Mapping[str, str] | None = None) -> ScanResult:
    """Decode, checksum and pair every raw file; findings for encodings, empty files and orphan downs.

    `encodings` maps source folders to the codec their files are written in (the mapping's `encoding`); a file
    is decoded with its deepest folder's, else as UTF-8. Bytes the codec cannot decode and NUL characters are
    errors (codes in UNREADABLE) at their line and column; the text then holds U+FFFD, for the other findings.
    """
    first_by_path: dict[str, RawFile] = {}
    for raw in raw_files:
        first_by_path.setdefault(raw.path, raw)  # io never repeats a path; if a caller does, the first wins
    raws = sorted(first_by_path.values(), key=lambda raw: raw.path)
    decoded = [_decode(raw, _encoding_of(raw.path, encodings or {})) for raw in raws]
    decoded = [split for legacy, file_findings in decoded for split in _split_sections(legacy, file_findings)]
    files = tuple(legacy for legacy, _ in decoded)
    downs, pairing_findings = _pair(files)
    findings = [finding for _, file_findings in decoded for finding in file_findings]
    findings += pairing_findings
    findings += _same_versions(files)
    return ScanResult(files, downs, tuple(sorted(findings, key=_finding_order)))


def _encoding_of(path: str, encodings: Mapping[str, str]) -> str:
    folders = [folder for folder in encodings if folder == "." or path.startswith(folder.rstrip("/") + "/")]
    return encodings[max(folders, key=len)] if folders else "utf-8"


def _decode(raw: RawFile, encoding: str) -> tuple[LegacyFile, list[Diagnostic]]:
    data = raw.data
    codec = _codec(encoding)
    # The checksum is of the bytes as they are, mark included: a BOM added or removed is a change of the file.
    has_bom = codec == "utf-8" and data.startswith(_BOM)
    body = data[len(_BOM) :] if has_bom else data
    try:
        text, bad = body.decode(codec), None
    except UnicodeDecodeError as error:
        text, bad = body.decode(codec, errors="replace"), error
    legacy = LegacyFile(
        path=raw.path,
        name=parse_name(raw.path),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        has_bom=has_bom,
        has_crlf="\r\n" in text,
        is_utf8=bad is None and codec == "utf-8",
    )
    findings = list(_text_findings(raw.path, text, has_bom))
    if is_repeatable(raw.path):
        findings.append(_repeatable(raw.path))
    if bad is not None:
        findings.append(_undecodable(raw.path, body, bad, encoding))
    if (nul := text.find("\x00")) >= 0:
        findings.append(_nul(raw.path, text, nul))
    return legacy, findings


def _repeatable(path: str) -> Diagnostic:
    message = "Flyway repeatable migration: Flyway runs it after every versioned one, and again whenever it changes"
    hint = (
        "map it after the versioned files (`consolidate init` drafts it there); the canonical tree runs it once, "
        "in its place: a later change to it is a new migration"
    )
    return Diagnostic("scan.repeatable", message, Location(path), hint, Severity.INFO)


def _codec(encoding: str) -> str:
    """The codec's canonical name ("latin-1" → "iso8859-1"); the mapping checked that it exists."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return "utf-8"


def _undecodable(path: str, body: bytes, error: UnicodeDecodeError, encoding: str) -> Diagnostic:
    before = body[: error.start].decode(error.encoding, errors="replace")
    shown = "UTF-8" if _codec(encoding) == "utf-8" else encoding
    return Diagnostic(
        "scan.encoding",
        f"byte 0x{body[error.start]:02x} is not valid {shown}: the file's text cannot be read",
        _position(path, before),
        "declare the encoding of its source folder in the mapping (sources: [{path: <folder>, encoding: "
        "latin-1}], or cp1252, utf-16, …), or convert the file to UTF-8",
    )


def _nul(path: str, text: str, offset: int) -> Diagnostic:
    return Diagnostic(
        "scan.nul",
        "the file holds a NUL byte: PostgreSQL cannot take a NUL byte in SQL text",
        _position(path, text[:offset]),
        "remove it; a NUL in every other byte means the file is UTF-16: declare 'encoding: utf-16' for its folder",
    )


def _position(path: str, before: str) -> Location:
    """The line and column (characters, from 1) of what follows `before`, the text preceding it."""
    return Lines(before).location(path, len(before))


# The down half of a file holding both directions: `<path>#down` (it has no file of its own).
SECTION_DOWN = "#down"


def _split_sections(legacy: LegacyFile, findings: list[Diagnostic]) -> Iterator[tuple[LegacyFile, list[Diagnostic]]]:
    """An annotated file (goose, sql-migrate, dbmate) as its Up half and, when it has one, its Down half, which
    pairs with the up file like a down file beside it would. Both keep the file's checksum: they are its bytes."""
    found = sections(legacy.text) if legacy.direction is Direction.UP else None
    if found is None:
        yield legacy, findings
        return
    where = Location(legacy.path, found.up_line)
    rollback = f"its Down section (line {found.down_line}) its rollback" if found.down else "it has no Down section"
    note = f"{found.tool} file: its Up section is the migration, {rollback}"
    findings = [*findings, Diagnostic("scan.sections", note, where, severity=Severity.INFO)]
    if found.no_transaction:
        message = f"{found.tool} is told to run this file outside a transaction"
        hint = "consolidate decides per statement: only statements PostgreSQL refuses in a transaction run alone"
        findings.append(Diagnostic("scan.no-transaction", message, where, hint, Severity.INFO))
    if found.substitutes_environment:
        findings.append(
            _warning(
                "scan.envsub",
                "goose replaces ${VAR} in this file with environment variables when it runs it",
                where,
                "consolidate reads the file as written: replace the variables by their values, or keep them out",
            )
        )
    yield replace(legacy, text=found.up), findings
    if found.down is not None:
        down = replace(legacy.name, direction=Direction.DOWN)
        yield replace(legacy, path=legacy.path + SECTION_DOWN, name=down, text=found.down), []


def _text_findings(path: str, text: str, has_bom: bool) -> Iterator[Diagnostic]:
    if has_bom:
        yield _warning(
            "scan.bom",
            "file starts with a UTF-8 byte order mark",
            Location(path, 1),
            "the mark is left out of the consolidated file; save the file without BOM",
        )
    if (line_endings := _line_endings(path, text)) is not None:
        yield line_endings
    if not has_content(text):
        yield _warning("scan.empty", "file holds no SQL: it is empty or only whitespace and comments", Location(path))


def _line_endings(path: str, text: str) -> Diagnostic | None:
    """What the file's line ends are, unless they are all LF: at the first one for a file with one kind, where the
    kind first changes for a mixed file. Lines are numbered the same way in any case (core/lines.py)."""
    found = endings(text)
    if found.kind is None:
        return None
    at = first_change(text) if found.mixed else text.find("\r")
    message = f"file has {found.kind} line endings; they are kept as they are"
    return Diagnostic("scan.line-endings", message, Location(path, Lines(text).line(at or 0)), severity=Severity.INFO)


def _pair_key(legacy: LegacyFile) -> PairKey:
    folder = posixpath.dirname(legacy.path)
    name = legacy.name
    if name.scheme in _VERSIONED_BY_NAME and name.version is not None:
        # One family: 010_x.sql pairs with 010_x_down.sql and with 010_x.down.sql alike.
        return (folder, "named", version_identity(name.version), name.name)
    if name.scheme is Scheme.FLYWAY and name.version is not None:
        return (folder, "flyway", version_identity(name.version))
    if name.scheme is Scheme.FOLDER:
        return (folder, "folder")
    if name.scheme is Scheme.SQITCH:  # deploy/x.sql pairs with revert/x.sql beside it
        return (posixpath.dirname(folder), "sqitch", name.name)
    return (folder, "unnumbered", name.name)


def _version_key(legacy: LegacyFile) -> PairKey | None:
    """The version alone, for when names disagree (010_sign_up.sql reads as feature "sign")."""
    name = legacy.name
    if name.scheme in _VERSIONED_BY_NAME and name.version is not None:
        return (posixpath.dirname(legacy.path), "version", version_identity(name.version))
    return None


def _up_index(files: tuple[LegacyFile, ...]) -> dict[PairKey, list[str]]:
    ups: dict[PairKey, list[str]] = defaultdict(list)
    for legacy in files:
        if legacy.direction is Direction.UP:
            for key in (_pair_key(legacy), _version_key(legacy)):
                if key is not None:
                    ups[key].append(legacy.path)
    return ups


def _up_of(down: LegacyFile, ups: dict[PairKey, list[str]]) -> str | None:
    exact = ups.get(_pair_key(down), [])
    if exact:
        return exact[0]  # files are sorted: the first up by path wins
    version = _version_key(down)
    by_version = ups.get(version, []) if version is not None else []
    return by_version[0] if len(by_version) == 1 else None


def _pair(files: tuple[LegacyFile, ...]) -> tuple[tuple[tuple[str, str], ...], list[Diagnostic]]:
    ups = _up_index(files)
    pairs: dict[str, str] = {}
    findings: list[Diagnostic] = []
    for legacy in files:
        if legacy.direction is Direction.DOWN:
            finding = _pair_down(legacy, _up_of(legacy, ups), pairs)
            findings += [finding] if finding is not None else []
    return tuple(sorted(pairs.items())), findings


def _pair_down(legacy: LegacyFile, up: str | None, pairs: dict[str, str]) -> Diagnostic | None:
    if up is None:
        return _warning(
            "scan.unpaired-down",
            "down file has no up file in the same folder",
            Location(legacy.path),
            "an up file with the same version and name must sit next to it; it is not used otherwise",
        )
    if up in pairs:
        return _warning(
            "scan.extra-down",
            f"{up} already has the down file {pairs[up]}; this one is not used",
            Location(legacy.path),
            "keep one down file per up file",
        )
    pairs[up] = legacy.path
    return None


def _same_versions(files: tuple[LegacyFile, ...]) -> list[Diagnostic]:
    claims: dict[tuple[str, VersionKey], list[LegacyFile]] = defaultdict(list)
    for legacy in files:
        if legacy.direction is Direction.UP and legacy.name.version is not None:
            claims[(_container(legacy), version_identity(legacy.name.version))].append(legacy)
    # golang-migrate, Flyway and dbmate refuse such a folder: an error, so the plan is not clean while it stands.
    return [
        Diagnostic(
            "scan.same-version",
            f"version {later.name.version} is also claimed by {group[0].path} in the same folder",
            Location(later.path),
            "renumber one of them (the legacy tool refuses two migrations with one version); or, if the "
            "order of their paths is the order they ran in, accept this finding in the mapping",
        )
        for group in claims.values()
        for later in group[1:]
    ]


def _container(legacy: LegacyFile) -> str:
    """The folder whose migrations share one version sequence."""
    folder = posixpath.dirname(legacy.path)
    # Folder-per-migration: the versions are those of the sibling migration folders.
    return posixpath.dirname(folder) if legacy.name.scheme is Scheme.FOLDER else folder


def _warning(code: str, message: str, location: Location, hint: str = "") -> Diagnostic:
    return Diagnostic(code, message, location, hint, Severity.WARNING)


def _finding_order(finding: Diagnostic) -> tuple[str, int, str]:
    return (finding.location.path, finding.location.line or 0, finding.code)
