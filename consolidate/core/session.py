"""Session settings a legacy file leaves behind.

Each legacy file ran in a session of its own (`psql -f`, one per file), so a `SET search_path` or `SET ROLE` in
one never reached the next. When two files become one canonical version, it would: the version must reset what
the first file set before the second runs. Only session-level settings count: `SET LOCAL` ends with its
transaction, and `set_config(…, true)` likewise.

Pure: statement texts in, RESET statements out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from consolidate.core.comments import code_start

_SET = re.compile(
    r"SET\s+(?:SESSION\s+(?!AUTHORIZATION\b))?(?!LOCAL\b)"
    r"(?P<name>ROLE\b|SESSION\s+AUTHORIZATION\b|TIME\s+ZONE\b|[A-Za-z_][\w.]*|\"[^\"]+\")",
    re.IGNORECASE,
)
_SET_CONFIG = re.compile(r"set_config\s*\(\s*'(?P<name>[\w.]+)'\s*,.*?,\s*false\s*\)", re.IGNORECASE | re.DOTALL)
# SET TRANSACTION and SET CONSTRAINTS act on the current transaction only.
_TRANSACTION_ONLY = frozenset({"transaction", "constraints"})


def resets(statements: Iterable[str]) -> tuple[str, ...]:
    """The RESET statements undoing the session-level settings `statements` (top-level statement texts) make,
    in the order they are first set."""
    found: dict[str, None] = {}
    for text in statements:
        body = text[code_start(text) :]
        setting = _SET.match(body)
        if setting is not None:
            name = " ".join(setting["name"].split())
            if name.lower() not in _TRANSACTION_ONLY:
                found.setdefault(f"RESET {name.upper() if ' ' in name or name.lower() == 'role' else name}", None)
        elif body[:6].upper() == "SELECT":
            for call in _SET_CONFIG.finditer(body):
                found.setdefault(f"RESET {call['name']}", None)
    return tuple(f"{reset};" for reset in found)
