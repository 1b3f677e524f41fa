"""`verify` diagnoses everything in one run (issue 14): no dead end, each root cause once, on real PostgreSQL.

Every tree here is written by the test into its own folder; the service's scratch databases carry the pid.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clitools import run

VERIFICATION = "deploy/migrations/verification.json"
NO_ROLE = "consolidate_test_role_nobody_creates"  # on a shared server: a name no test creates


def tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    assert run("init", cwd=root).exit_code == 0
    return root


def verify(root: Path, service_url: str, *options: str) -> tuple[int, list[str]]:
    result = run("verify", "--database-url", service_url, *options, cwd=root)
    # The verdict on stdout, the root causes (problems) on stderr: `output` holds both, in the order printed.
    return result.exit_code, result.output.splitlines()


def document(root: Path, service_url: str) -> dict[str, list[dict[str, object]]]:
    result = run("verify", "--database-url", service_url, "--json", cwd=root)
    assert result.exit_code == 1, result.output
    loaded: dict[str, list[dict[str, object]]] = json.loads(result.stdout)
    return loaded


def places(failures: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    """Each failure at its legacy file:line (a canonical one at its statement's), with its SQLSTATE."""
    shown = []
    for failure in failures:
        at = failure["source"] if isinstance(failure["source"], dict) else failure
        shown.append((at["path"], at["line"], failure["sqlstate"]))
    return shown


# --- no dead end -------------------------------------------------------------------------------------------------

RETURNS_TIMESTAMP = (
    "CREATE TABLE logs (id int, at timestamptz);\n"
    "CREATE FUNCTION recent_logs() RETURNS TABLE (\n"
    "    id int,\n"
    "    timestamp timestamptz\n"
    ") LANGUAGE sql AS $$ SELECT id, at FROM logs $$;\n"
)


def test_a_legacy_syntax_error_is_diagnosed_at_its_file_line_though_the_tree_cannot_be_written(
    tmp_path: Path, service_url: str
) -> None:
    root = tree(tmp_path, {"db/001_logs.sql": RETURNS_TIMESTAMP, "db/002_use.sql": "SELECT * FROM recent_logs();\n"})
    assert run("apply", cwd=root).exit_code == 1  # the plan's syntax error: nothing is written
    code, lines = verify(root, service_url)
    assert code == 1
    assert 'db/001_logs.sql:4:5: error: 42601: syntax error at or near "timestamp"' in lines
    hint = lines[lines.index('db/001_logs.sql:4:5: error: 42601: syntax error at or near "timestamp"') + 1]
    assert hint.startswith("  hint: correct the statement with a `patch` decision in the mapping, or leave it out")
    assert "  1 consequence, failing only because of it:" in lines
    assert "    db/002_use.sql:1:15: 42883: function recent_logs() does not exist" in lines
    assert lines[3].startswith("canonical replay: not run: the plan has 1 error, so `consolidate apply` cannot")
    found = document(root, service_url)
    assert places(found["legacy_failures"]) == [("db/001_logs.sql", 4, "42601"), ("db/002_use.sql", 1, "42883")]
    assert not (root / VERIFICATION).exists()  # no tree to record it beside


def test_an_extension_no_server_has_fails_at_its_create_extension_and_what_needs_it_follows_from_it(
    tmp_path: Path, service_url: str
) -> None:
    root = tree(
        tmp_path,
        {
            "db/001_queue.sql": "CREATE TABLE jobs (id int);\nCREATE EXTENSION IF NOT EXISTS pgmq;\n",
            "db/002_send.sql": "SELECT pgmq.create('jobs');\n",
        },
    )
    assert run("apply", cwd=root).exit_code == 0
    code, lines = verify(root, service_url)
    assert code == 1
    assert 'db/001_queue.sql:2: error: 0A000: extension "pgmq" is not available' in lines
    assert (
        "  2 consequences (1 in the legacy replay and 1 in the canonical replay), failing only because of it:" in lines
    )
    found = document(root, service_url)
    assert places(found["legacy_failures"]) == [("db/001_queue.sql", 2, "0A000"), ("db/002_send.sql", 1, "3F000")]
    assert places(found["canonical_failures"]) == places(found["legacy_failures"])
    (cause,) = found["root_causes"]
    assert (cause["path"], cause["line"], cause["consequences"], cause["failures"]) == ("db/001_queue.sql", 2, 2, 4)


def test_a_plan_with_errors_still_replays_the_legacy_tree_and_says_why_the_canonical_was_not(
    tmp_path: Path, service_url: str
) -> None:
    root = tree(
        tmp_path,
        {
            "a/001_t.sql": "CREATE TABLE t (id int);\n",
            "b/002_t.sql": "CREATE TABLE IF NOT EXISTS t (id int, name text);\nCREATE INDEX t_name ON t (name);\n",
        },
    )
    code, lines = verify(root, service_url)  # the conflict is unresolved: apply cannot write the tree
    assert code == 1
    assert lines[0] == "NOT PROVEN: 1 root cause of 1 failing statement; the canonical tree was not replayed"
    assert lines[3].startswith("canonical replay: not run: the plan has 1 error")
    assert lines[4] == 'b/002_t.sql:1: error: 42P07: relation "t" already exists, skipping: what follows meets an ' + (
        "earlier definition of it"
    )
    assert '    b/002_t.sql:2: 42703: column "name" does not exist' in lines
    assert places(document(root, service_url)["legacy_failures"]) == [("b/002_t.sql", 2, "42703")]


# --- output a person can act on -----------------------------------------------------------------------------------

FIFTY = {
    "db/001_queue.sql": "CREATE EXTENSION IF NOT EXISTS pgmq;\n",
    "db/002_items.sql": "CREATE TABLE items (id int PRIMARY KEY, price numeric DEFAULT 'abc'::numeric);\n",
    "db/003_sends.sql": "".join(f"SELECT pgmq.send('jobs', '{{\"n\": {n}}}'::jsonb);\n" for n in range(20)),
    "db/004_fill.sql": "".join(f"INSERT INTO items VALUES ({n}, {n});\n" for n in range(20)),
    "db/005_grants.sql": "CREATE TABLE reports (id int);\n" + f"GRANT SELECT (id) ON reports TO {NO_ROLE};\n" * 20,
    "db/006_events.sql": "CREATE TABLE events (at timestamptz);\nCREATE INDEX e ON events (at) WHERE at > now();\n",
}
CAUSES = [
    'db/001_queue.sql:1: error: 0A000: extension "pgmq" is not available',
    'db/002_items.sql:1:63: error: 22P02: invalid input syntax for type numeric: "abc"',
    f'db/005_grants.sql:2: error: 42704: role "{NO_ROLE}" does not exist',
    "db/006_events.sql:2: error: 42P17: functions in index predicate must be marked IMMUTABLE",
]


def test_fifty_failing_statements_from_four_causes_fit_on_one_screen_each_cause_once(
    tmp_path: Path, service_url: str
) -> None:
    root = tree(tmp_path, FIFTY)
    assert run("apply", cwd=root).exit_code == 0
    code, lines = verify(root, service_url)
    found = document(root, service_url)
    assert code == 1 and len(found["legacy_failures"]) >= 50 and len(lines) <= 60
    assert lines[0] == "NOT PROVEN: 4 root causes of 126 failing statements; legacy and canonical differ"
    assert [line for line in lines if ": error: " in line] == CAUSES
    counted = [line.strip() for line in lines if "consequences (" in line]
    assert (
        counted
        == ["40 consequences (20 in the legacy replay and 20 in the canonical replay), failing only because of it:"] * 2
    )
    assert (
        "  the same error at 19 more statements: db/005_grants.sql:3, db/005_grants.sql:4, db/005_grants.sql:5 "
        + ("and 16 more")
        in lines
    )
    total = len(found["legacy_failures"]) + len(found["canonical_failures"])
    assert sum(int(str(cause["failures"])) for cause in found["root_causes"]) == total == 126


def test_verbose_lists_every_consequence(tmp_path: Path, service_url: str) -> None:
    root = tree(tmp_path, FIFTY)
    assert run("apply", cwd=root).exit_code == 0
    _, lines = verify(root, service_url, "--verbose")
    sends = [line for line in lines if line.startswith("    db/003_sends.sql:")]
    canonical = [line for line in lines if "(legacy db/003_sends.sql:" in line]
    assert (len(sends), len(canonical)) == (20, 20)


# --- cause tracing ---------------------------------------------------------------------------------------------------


def test_a_failure_whose_create_extension_was_removed_as_a_duplicate_of_a_rolled_back_one_names_both(
    tmp_path: Path, service_url: str
) -> None:
    root = tree(
        tmp_path,
        {
            "a/001_init.sql": 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\n'
            "CREATE TABLE jobs (at timestamptz);\nCREATE INDEX j ON jobs (at) WHERE at > now();\n",
            "b/002_users.sql": 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp";\n'
            "CREATE TABLE users (id uuid DEFAULT uuid_generate_v4());\n",
        },
    )
    assert run("apply", cwd=root).exit_code == 0
    found = document(root, service_url)
    (users,) = [f for f in found["canonical_failures"] if f["sqlstate"] == "42883"]
    hint = str(users["hint"])
    assert "versions/001_init.sql" in hint and "rolled back whole, and with it extension uuid-ossp" in hint
    assert "(b/002_users.sql:1) was removed as a duplicate of a/001_init.sql:1" in hint
    assert "missing or later" not in hint
    assert places([users]) == [("b/002_users.sql", 2, "42883")]


# --- rollbacks ------------------------------------------------------------------------------------------------------


def test_each_failure_of_a_rollback_is_a_line_of_its_own(tmp_path: Path, service_url: str) -> None:
    root = tree(
        tmp_path,
        {
            "db/001_t.sql": "CREATE TABLE t (id int);\n",
            "db/001_t_down.sql": "DROP TABLE gone_one;\nDROP TABLE gone_two;\nDROP TABLE t;\n",
        },
    )
    assert run("apply", cwd=root).exit_code == 0
    code, lines = verify(root, service_url)
    at = lines.index("rollback 001_t: failing")
    assert code == 1 and [line.split(": ", 1)[1] for line in lines[at + 1 : at + 3]] == [
        '42P01: table "gone_one" does not exist',
        '42P01: table "gone_two" does not exist',
    ]
    assert lines[at + 3] == "rollbacks: 1 failing"


@pytest.mark.parametrize("verbose", [False, True])
def test_a_proven_tree_says_so_first_and_counts_its_rollbacks(tmp_path: Path, service_url: str, verbose: bool) -> None:
    root = tree(tmp_path, {"db/001_t.sql": "CREATE TABLE t (id int);\n", "db/001_t_down.sql": "DROP TABLE t;\n"})
    assert run("apply", cwd=root).exit_code == 0
    code, lines = verify(root, service_url, *(["--verbose"] if verbose else []))
    assert (code, lines[0], lines[-1]) == (0, "PROVEN", "rollbacks: 1 verified")
    assert ("rollback 001_t: verified" in lines) is verbose


def test_a_consequence_in_a_patched_file_names_its_cause_at_the_legacy_line(tmp_path: Path, service_url: str) -> None:
    # The dropped statement spans four lines and the replayed text holds one in its place: every later line moves.
    root = tree(
        tmp_path,
        {
            "db/001_views.sql": "CREATE TABLE t (id int);\nCREATE TABLE broken (\n  id int,\n  id int\n);\n"
            "CREATE VIEW v AS SELECT missing FROM t;\nCREATE VIEW w AS SELECT * FROM v;\n"
        },
    )
    with (root / "mapping.yaml").open("a") as mapping:
        mapping.write("patches:\n  - {file: db/001_views.sql, line: 2, drop: true, reason: fails everywhere}\n")
    run("apply", cwd=root)
    result = run("verify", "--database-url", service_url, "--json", cwd=root)
    document = json.loads(result.stdout)
    cause, consequence = document["legacy_failures"]
    assert (cause["line"], consequence["line"]) == (6, 7)
    assert consequence["cause"]["line"] == 6 and "db/001_views.sql:6" in consequence["hint"]
    assert [root_cause["line"] for root_cause in document["root_causes"]] == [6]
