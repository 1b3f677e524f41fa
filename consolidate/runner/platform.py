"""What the platform must provide before the tree's first version runs: the objects the mapping's prelude creates
(docs/mapping.md: roles, Supabase's `auth.users`, extensions a host installs), which verify set up in every scratch
database and a real database must already hold.

`migrate up --prelude FILE` checks them on a database where no version is recorded yet, before anything runs, and
names what is missing; it never creates them (that is the platform's job, or the team's, once).
"""

from __future__ import annotations

from pathlib import Path

from consolidate.diagnostics import Diagnostic, Location
from consolidate.errors import EXIT_FAIL, ConsolidateError
from consolidate.runner.tracking import Connection

# How each kind of provided object is found (`core.prelude.Prelude.provided` spells them "table auth.users").
_LOOKUPS = {
    "role": "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)",
    "schema": "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s)",
    "extension": "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = %s)",
    "table": "SELECT to_regclass(%s) IS NOT NULL",
    "view": "SELECT to_regclass(%s) IS NOT NULL",
    "materialized view": "SELECT to_regclass(%s) IS NOT NULL",
    "sequence": "SELECT to_regclass(%s) IS NOT NULL",
    "type": "SELECT to_regtype(%s) IS NOT NULL",
    "function": "SELECT to_regprocedure(%s) IS NOT NULL",
}


def missing_provided(connection: Connection, provided: tuple[str, ...]) -> list[str]:
    """The provided objects the database lacks; kinds with no lookup above are not checked."""
    absent = []
    for item in provided:
        kind = next((k for k in sorted(_LOOKUPS, key=len, reverse=True) if item.startswith(k + " ")), None)
        if kind is None:
            continue
        name = item[len(kind) + 1 :]
        row = connection.execute(_LOOKUPS[kind], [name]).fetchone()
        if not (row and row[0]):
            absent.append(item)
    return absent


def refuse_missing(connection: Connection, provided: tuple[str, ...], prelude_path: Path) -> None:
    """Refuse, before anything runs, a database lacking what the prelude provides, naming each missing object."""
    absent = missing_provided(connection, provided)
    if not absent:
        return
    where = Location(str(prelude_path))
    problems = [
        Diagnostic("migrate.platform-missing", f"the database lacks {item}, which the platform provides", where)
        for item in absent
    ]
    problems.append(
        Diagnostic(
            "migrate.platform",
            "the tree needs what its prelude provides before its first version: nothing was run or written",
            where,
            "create them as the platform does (the prelude shows how), or deploy on the platform that provides them",
        )
    )
    raise ConsolidateError(problems, EXIT_FAIL)
