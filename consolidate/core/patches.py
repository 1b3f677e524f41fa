"""Decisions on broken legacy statements (the mapping's `patches`): the legacy files as the team fixed them.

A decision names a statement by its file and the line of its first token, as the splitter (core/statements.py)
finds it; it covers every statement that starts on that line (almost always one). `patch_sources` gives each file
that has decisions as if it held the replacement: the replacement's statements stand where the legacy ones stood,
a dropped statement is gone, and a comment line of ours in its place says what was decided and why. Planning, the
canonical tree and verify's legacy replay all read that one text (`patched_text`), so the legacy tree verify
replays is the one that was planned, and the canonical tree carries each decision with its provenance.

Lines stay the legacy file's: statements and chunks after a decision keep theirs, and a replacement's statements
are at the line of the statement they replace, so a finding points at a line a user can open. `legacy_line` maps
a line of the patched text (what a replay ran) back the same way. The decision is located by its line only: an
edit of the legacy file that moves the statement makes the plan fail here, which is the signal to look again.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as Lookup
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from consolidate.core.comments import code_end, code_start
from consolidate.core.lines import BREAK
from consolidate.core.statements import parse_file
from consolidate.model import Chunk, Diagnostic, Mapping, ParsedFile, Patch, Statement

_Position = tuple[int, int]  # (line, column), both from 1
_NEWLINES = ("\n", "\r")


def shown(mapping: Mapping, patch: Patch) -> str:
    """The decision's legacy file as the plan shows it: below the mapping's folder (as `pipeline.display_path`)."""
    return PurePosixPath(mapping.root, patch.file).as_posix()


def describe(patch: Patch, path: str) -> str:
    """One line naming a decision: `patched legacy/db/003_events.sql:19 — <reason>`."""
    return f"{patch.verb} {path}:{patch.line} — {' '.join(patch.reason.split())}"


def patched_text(parsed: ParsedFile) -> str:
    """The text of a (possibly patched) file: what a replay of it runs."""
    return "".join(chunk.text for chunk in parsed.chunks)


def patch_sources(
    mapping: Mapping, parsed: Lookup[str, ParsedFile]
) -> tuple[dict[str, ParsedFile], tuple[Diagnostic, ...]]:
    """Every parsed source (keyed as in the mapping) with the mapping's decisions applied; and the decisions that
    cannot apply (no statement starts at their line, a replacement that does not parse), as bad input (exit 2)."""
    result = dict(parsed)
    problems: list[Diagnostic] = []
    by_file: dict[str, list[Patch]] = {}
    for patch in mapping.patches:
        by_file.setdefault(patch.file, []).append(patch)
    for path, patches in by_file.items():
        patched, found = _patch_file(parsed[path], patches, mapping.dialect)
        result[path] = patched
        problems += found
    return result, tuple(sorted(problems, key=lambda problem: problem.location))


@dataclass(frozen=True)
class _Decided:
    """A decision ready to apply: the statements it covers (by index) and its replacement, parsed."""

    patch: Patch
    covered: tuple[int, ...]
    replacement: ParsedFile | None  # None: dropped


def _patch_file(parsed: ParsedFile, patches: Iterable[Patch], dialect: str) -> tuple[ParsedFile, list[Diagnostic]]:
    starts: dict[int, list[int]] = {}
    for statement in parsed.statements:
        starts.setdefault(statement.line, []).append(statement.index)
    decided: list[_Decided] = []
    problems: list[Diagnostic] = []
    for patch in patches:
        covered = starts.get(patch.line)
        if covered is None:
            problems.append(_no_statement(parsed.path, patch, sorted(starts)))
            continue
        replacement = parse_file(parsed.path, _terminated(patch.sql), dialect) if patch.sql is not None else None
        problem = _unusable(parsed.path, patch, replacement)
        if problem is not None:
            problems.append(problem)
            continue
        decided.append(_Decided(patch, tuple(covered), replacement))
    if problems:
        return parsed, problems
    return _applied(parsed, {decision.covered[0]: decision for decision in decided}), []


def _no_statement(path: str, patch: Patch, starts: list[int]) -> Diagnostic:
    """The decision's line holds no statement start: name the nearest starts around it."""
    at = bisect.bisect_left(starts, patch.line)
    near = [str(line) for line in starts[max(at - 1, 0) : at + 1]]
    lines = " and ".join(near)
    hint = (
        f"statements start at line{'s' if len(near) > 1 else ''} {lines} nearby: give the line of the statement's "
        "first word, as `consolidate plan` shows it (an edit of the file moves its statements)"
        if near
        else "the file holds no statement to patch"
    )
    message = f"no statement starts at {path}:{patch.line}"
    return Diagnostic("mapping.patch-no-statement", message, patch.location, hint)


def _terminated(sql: str) -> str:
    """The replacement as it stands in the file: its last statement ends with `;` (else the next legacy statement
    would run on from it) and nothing after it can comment out what follows on the same line."""
    text = sql.strip()
    end = code_end(text)
    if end and text[end - 1] != ";":
        text = f"{text[:end]};{text[end:]}"
    return text if text.endswith(";") else text + "\n"


def _unusable(path: str, patch: Patch, replacement: ParsedFile | None) -> Diagnostic | None:
    """Why a replacement cannot stand in the file: it does not parse, or holds no statement."""
    if replacement is None:
        return None
    where = f"the replacement for {path}:{patch.line}"
    if replacement.errors:
        first = replacement.errors[0]
        message = f"{where} does not parse (its line {first.location.line}): {first.message}"
        hint = "correct the SQL under 'sql'; PostgreSQL's parser judges it, as it judges the legacy files"
        return Diagnostic("mapping.patch-bad-sql", message, patch.location, hint)
    if not replacement.statements:
        hint = "give the corrected statement under 'sql', or write 'drop: true' to leave the statement out"
        return Diagnostic("mapping.patch-bad-sql", f"{where} holds no statement", patch.location, hint)
    return None


def _applied(parsed: ParsedFile, decided: Lookup[int, _Decided]) -> ParsedFile:
    """The file with its decisions in place (`decided` by the index of the first statement each covers)."""
    skipped = {index for decision in decided.values() for index in decision.covered}
    positions = list(_positions(parsed.chunks))
    numbered = _numbered(parsed)
    chunks: list[Chunk] = []
    statements: list[Statement] = []
    gone: list[tuple[_Position, _Position]] = []  # where the legacy statements replaced or dropped were
    for at, chunk in enumerate(parsed.chunks):
        statement = numbered.get(at)
        if statement is None:
            chunks.append(chunk)
            continue
        decision = decided.get(statement.index)
        if decision is None and statement.index not in skipped:
            chunks.append(chunk)
            statements.append(replace(statement, index=len(statements)))
            continue
        if decision is None:
            continue  # a later statement on the decision's line: covered with the first
        last = at + len(decision.covered)
        gone.append((positions[at], positions[last]))
        following = parsed.chunks[last].text if last < len(parsed.chunks) else ""
        new_chunks, new_statements = _in_place(chunk, decision, following, len(statements), parsed.path)
        chunks += new_chunks
        statements += new_statements
    errors = tuple(error for error in parsed.errors if not _within(error, gone))
    fallbacks = sum(not statement.parsed for statement in statements)
    return replace(parsed, chunks=tuple(chunks), statements=tuple(statements), errors=errors, fallbacks=fallbacks)


def _numbered(parsed: ParsedFile) -> dict[int, Statement]:
    """Chunk position → the statement it holds."""
    at = [index for index, chunk in enumerate(parsed.chunks) if chunk.is_statement]
    return dict(zip(at, parsed.statements, strict=True))


def _positions(chunks: Iterable[Chunk]) -> Iterator[_Position]:
    """Where each chunk starts, then where the text ends: (line, column) of the legacy text."""
    line, column = 1, 1
    for chunk in chunks:
        yield line, column
        breaks = list(BREAK.finditer(chunk.text))
        line += len(breaks)
        column = len(chunk.text) - breaks[-1].end() + 1 if breaks else column + len(chunk.text)
    yield line, column


def _within(error: Diagnostic, spans: Iterable[tuple[_Position, _Position]]) -> bool:
    where = (error.location.line or 0, error.location.column or 1)
    return any(start <= where < end for start, end in spans)


def _in_place(
    chunk: Chunk, decision: _Decided, following: str, first_index: int, path: str
) -> tuple[list[Chunk], list[Statement]]:
    """What stands where the covered statements stood: our comment line, then the replacement's chunks."""
    patch = decision.patch
    lead = _own_line(chunk.text[: code_start(chunk.text)], chunk.offset)
    note = f"-- consolidate: {describe(patch, path)}"
    if decision.replacement is None:
        # The dropped statement's comments go with it, as a removed duplicate's do; the blank lines stay.
        blank = lead[: len(lead) - len(lead.lstrip())]
        text = _own_line(blank, chunk.offset) + note + ("" if following.startswith(_NEWLINES) else "\n")
        return [Chunk(text, chunk.offset, patch.line, is_statement=False, patched=True)], []
    chunks: list[Chunk] = []
    statements: list[Statement] = []
    prefix = f"{lead}{note}\n"
    replaced = iter(decision.replacement.statements)
    for piece in decision.replacement.chunks:
        text, prefix = prefix + piece.text, ""
        chunks.append(Chunk(text, chunk.offset, patch.line, piece.is_statement, patched=True))
        if piece.is_statement:
            statement = next(replaced)
            statements.append(replace(statement, index=first_index + len(statements), line=patch.line, text=text))
    return chunks, statements


def _own_line(lead: str, offset: int) -> str:
    """The text before a comment line of ours, so that the comment starts a line: mid-file, a line break ends it."""
    if not offset or lead.endswith(("\n", "\r")):
        return lead
    return lead.rstrip(" \t") + "\n"


def legacy_line(parsed: ParsedFile, line: int) -> int:
    """The legacy file's line for `line` of `patched_text(parsed)`, where a replay found a failure (a statement's
    first line, or a position in its code): a replacement's line is the replaced statement's; any other line moves
    back by what the replacements before it added."""
    found: tuple[Chunk, int] | None = None
    for chunk, (start, _) in zip(parsed.chunks, _positions(parsed.chunks), strict=False):
        if not chunk.is_statement:
            continue  # comments only: no failure is ever there
        # By the line its code starts on: a chunk starts where the statement before it ended, on that one's line.
        if start + len(BREAK.findall(chunk.text, 0, code_start(chunk.text))) > line:
            break
        found = chunk, start
    if found is None:
        return line
    chunk, start = found
    return chunk.line if chunk.patched else chunk.line + line - start
