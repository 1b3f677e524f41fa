"""Which statements PostgreSQL refuses inside a transaction block: one rule for the plan, the replay and the runner.

Stdlib-only: the runner, which must start without the parsers (tests/test_layers.py), needs it too."""

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


# Before PostgreSQL 12, ALTER TYPE … ADD VALUE refused to run inside a transaction block.
ADD_VALUE_IN_TRANSACTION_SINCE = 120000


def cannot_run_in_transaction(words: Sequence[str], server_version: int | None = None) -> bool:
    """Whether a statement, given its first words in upper case, cannot run inside a transaction block (on a
    server of `server_version`, server_version_num; None: a current one)."""
    words = list(words)
    first, second = [*words, "", ""][:2]
    if (first, second) == ("ALTER", "TYPE") and server_version is not None:
        return server_version < ADD_VALUE_IN_TRANSACTION_SINCE and "ADD" in words and "VALUE" in words
    if (first, second) in OUTSIDE_PAIRS or first == "VACUUM" or words == ["CLUSTER"]:
        return True
    if first in ("CREATE", "DROP") and "INDEX" in words[1:3]:
        index = words.index("INDEX")
        return words[index + 1 : index + 2] == ["CONCURRENTLY"]
    if first == "REINDEX":
        return "CONCURRENTLY" in words or second in ("DATABASE", "SYSTEM")
    return first == "ALTER" and second == "DATABASE" and "TABLESPACE" in words


# A statement `cannot_run_in_transaction` or `is_control` says yes to holds at least one of these words (COPY:
# the executor's own reason to cut a script): a script without any of them, anywhere, comments and strings
# included, holds no such statement, and needs no look at its statements. ALL of DISCARD ALL is left out: too
# common a word, and DISCARD is there.
TELLING_WORDS = frozenset(
    {"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "START", "PREPARE", "COPY"}  # control (CONTROL_WORDS, below)
    | {"VACUUM", "CLUSTER", "REINDEX", "DISCARD", "CONCURRENTLY", "VALUE"}
    | {second for _, second in OUTSIDE_PAIRS if second != "ALL"}  # DATABASE, TABLESPACE, SYSTEM, SUBSCRIPTION
)


# Statements that open or end transactions themselves: a legacy file holding one runs statement by statement, as
# written; a version holding one is refused. Not SAVEPOINT, RELEASE and ROLLBACK TO: inside a version's
# transaction they work as the file meant them to, and outside a block (psql -f of a legacy file) PostgreSQL
# refuses them either way.
CONTROL_WORDS = frozenset({"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT"})


def is_control(words: Sequence[str]) -> bool:
    """Whether a statement, given its first words in upper case, opens or ends a transaction (BEGIN, COMMIT,
    ROLLBACK, START TRANSACTION, PREPARE TRANSACTION, ...); ``ROLLBACK [WORK] TO [SAVEPOINT] s`` does neither."""
    first, second = [*words, "", ""][:2]
    if first == "ROLLBACK" and "TO" in words[1:3]:
        return False
    return first in CONTROL_WORDS or (first, second) in (("START", "TRANSACTION"), ("PREPARE", "TRANSACTION"))
