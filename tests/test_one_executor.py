"""verify proves what migrate runs: the same tricky script replayed as a canonical version and applied by
`migrate up` ends the same way — applied, or refused at the same line with the same SQLSTATE — with the same
objects left behind, on both servers.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.errors import ConsolidateError
from consolidate.runner import up

pytestmark = pytest.mark.db

# name → a version's text; each exercises one rule of how a script is cut and run.
SCRIPTS = {
    "plain": "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);\n",
    "concurrent_index": "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\nCREATE TABLE u (b int);\n",
    "concurrent_index_failing": "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_x ON t (missing);\n",
    "unique_index_concurrently_failing": (
        "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);\nCREATE UNIQUE INDEX CONCURRENTLY t_a ON t (a);\n"
    ),
    "after_outside_failing": "CREATE TABLE t (a int);\nVACUUM t;\nCREATE TABLE u (b int);\nSELECT 1/0;\n",
    "enum_value_used": "CREATE TYPE e AS ENUM ('a');\nALTER TYPE e ADD VALUE 'b';\nSELECT 'b'::e;\n",
    "enum_value_then_outside": (
        "CREATE TYPE e AS ENUM ('a');\nALTER TYPE e ADD VALUE 'b';\nVACUUM;\nCREATE TABLE t (x e DEFAULT 'b');\n"
    ),
    "do_block_failing": "DO $$\nBEGIN\n  PERFORM 1;\n  RAISE EXCEPTION 'boom';\nEND\n$$;\n",
    "copy_from_stdin": "CREATE TABLE t (a int);\nCOPY t FROM STDIN;\n",
    "psql_meta_command": "CREATE TABLE t (a int);\n\\set ON_ERROR_STOP on\nCREATE TABLE u (b int);\n",
    "comments_only": "-- nothing to do here\n/* not even this */\n",
    "own_transaction": "BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n",
    "savepoint_in_the_version": "CREATE TABLE t (a int);\nSAVEPOINT s;\nCREATE TABLE u (b int);\nRELEASE s;\n",
    "rollback_to_savepoint": "SAVEPOINT s;\nCREATE TABLE t (a int);\nROLLBACK TO SAVEPOINT s;\n",
    "run_time_error": "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1 / 0);\n",
    "no_final_semicolon": "CREATE TABLE t (a int);\nCREATE TABLE u (b int)",
}

Outcome = tuple[tuple[int, str] | None, list[str]]  # (line, SQLSTATE) of the first failure, objects left


def objects(url: str) -> list[str]:
    """The tables, indexes and types of schema public, by name."""
    query = """SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
               UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype = 'e'
               ORDER BY 1"""
    with psycopg.connect(url) as connection:
        return [str(row[0]) for row in connection.execute(query)]


def verified(server: Server, name: str, text: str) -> Outcome:
    """The script replayed as verify replays a canonical version."""
    with scratch_database(server, f"executor_verify_{name}") as url:
        failures = replay_files(url, [(f"versions/001_{name}.sql", text)], per_file_transaction=True).failures
        first = (failures[0].line, failures[0].sqlstate) if failures else None
        return first, objects(url)


def applied(server: Server, name: str, text: str, root: Path) -> Outcome:
    """The script applied by `migrate up`."""
    (root / "versions").mkdir(parents=True)
    (root / "versions" / f"001_{name}.sql").write_text(text, encoding="utf-8")
    with scratch_database(server, f"executor_up_{name}") as url:
        try:
            up(root, url)
            first = None
        except ConsolidateError as error:
            diagnostic = error.diagnostics[0]
            code = diagnostic.code.removeprefix("migrate.")
            # migrate.<SQLSTATE> when the server refused it; a refusal of the runner's own has no SQLSTATE.
            first = (diagnostic.location.line or 0, code if re.fullmatch(r"[0-9A-Z]{5}", code) else "")
        return first, [name for name in objects(url) if name != "_migrations" and not name.startswith("_migrations")]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_verify_and_migrate_up_end_a_script_the_same_way(server: Server, name: str, tmp_path: Path) -> None:
    # After a failure verify goes on, to find every failing statement, where the runner stops: what is left
    # behind is compared when both applied the script.
    text = SCRIPTS[name]
    (up_failure, up_objects), (verify_failure, verify_objects) = (
        applied(server, name, text, tmp_path),
        verified(server, name, text),
    )
    assert (up_failure, up_objects if up_failure is None else []) == (
        verify_failure,
        verify_objects if verify_failure is None else [],
    )


def test_the_outcomes_differ_between_scripts_so_the_comparison_can_fail(server: Server, tmp_path: Path) -> None:
    outcomes = {str(verified(server, name, SCRIPTS[name])) for name in ("plain", "run_time_error", "comments_only")}
    assert len(outcomes) == 3
