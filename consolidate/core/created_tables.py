"""Which tables a SQL text creates, by name as written: a regular expression, no parser.

Its own module, stdlib-only: the runner asks it on a first `migrate up` (is this database one the legacy
migrations built?), and must not import the toolkit's parsers for it (docs/benchmarks.md, issue 16).
"""

from __future__ import annotations

import re

_CREATE_TABLE = re.compile(
    r"\bCREATE\s+(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"((?:\"[^\"]+\"|\w+)(?:\s*\.\s*(?:\"[^\"]+\"|\w+))?)",
    re.IGNORECASE,
)


def created_tables(text: str) -> frozenset[str]:
    """Tables a text creates, by name as written (lower case, quotes and a `public.` qualifier removed)."""
    names = (_table_name(match.group(1)) for match in _CREATE_TABLE.finditer(text))
    return frozenset(names)


def _table_name(written: str) -> str:
    parts = [part.strip().strip('"') for part in written.split(".")]
    if len(parts) == 2 and parts[0].lower() == "public":
        parts = parts[1:]
    return ".".join(parts).lower()
