"""Which statements PostgreSQL refuses inside a transaction block: one rule for the replay and the runner."""

from __future__ import annotations

from collections.abc import Sequence

# (first word, second word) of statements that error with 25001 inside a transaction block.
OUTSIDE_PAIRS = frozenset(
    {
        ("CREATE", "DATABASE"),
        ("DROP", "DATABASE"),
        ("CREATE", "TABLESPACE"),
        ("DROP", "TABLESPACE"),
        ("ALTER", "SYSTEM"),
        ("CREATE", "SUBSCRIPTION"),
        ("ALTER", "SUBSCRIPTION"),
        ("DROP", "SUBSCRIPTION"),
        ("DISCARD", "ALL"),
    }
)


# Every first word `cannot_run_in_transaction` can say yes to: a statement starting otherwise needs no look.
FIRST_WORDS = frozenset(first for first, _ in OUTSIDE_PAIRS) | {"VACUUM", "CLUSTER", "CREATE", "DROP", "REINDEX"}


def cannot_run_in_transaction(words: Sequence[str]) -> bool:
    """Whether a statement, given its first words in upper case, cannot run inside a transaction block."""
    words = list(words)
    first, second = [*words, "", ""][:2]
    if (first, second) in OUTSIDE_PAIRS or first == "VACUUM" or words == ["CLUSTER"]:
        return True
    if first in ("CREATE", "DROP") and "INDEX" in words[1:3]:
        index = words.index("INDEX")
        return words[index + 1 : index + 2] == ["CONCURRENTLY"]
    if first == "REINDEX":
        return "CONCURRENTLY" in words or second in ("DATABASE", "SYSTEM")
    return first == "ALTER" and second == "DATABASE" and "TABLESPACE" in words
