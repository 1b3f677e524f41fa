"""`consolidate verify` on real servers: the service (--database-url) and a private one (no URL).

Each test works on a copy of the reference case; every scratch database must be gone afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from consolidate.db.installations import DebianLayout
from consolidate.verify import ServerOptions, droppable
from consolidate.verify import verify as verify_tree
from tests.clitools import copy_reference_case, run

DLQ = "legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/012_dlq_table.sql"
DLQ_DOWN = "legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/012_dlq_table_down.sql"
FIRST_SCHEMA = "legacy_fixtures/deploy/migrations/versions/001_initial_schema.sql"
HEALING = "legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/019_healing_events.sql"
REPORT = Path("build/deploy/migrations/CONSOLIDATION.md")
VERIFICATION = Path("build/deploy/migrations/verification.json")


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    return copy_reference_case(tmp_path)


def scratch_databases(service_url: str) -> list[str]:
    with psycopg.connect(service_url, autocommit=True) as connection:
        rows = connection.execute("select datname from pg_database where datname like 'consolidate\\_%'").fetchall()
    return [row[0] for row in rows]


def own_scratch_databases(service_url: str, pid: int) -> list[str]:
    """The scratch databases process `pid` left: others may use the server at the same time (names carry the pid)."""
    return [name for name in scratch_databases(service_url) if f"_{pid}_" in name]


def verify(case: Path, *args: str) -> tuple[int, str, dict[str, object]]:
    assert run("apply", cwd=case).exit_code == 0
    result = run("verify", *args, cwd=case)
    document = json.loads((case / VERIFICATION).read_text()) if (case / VERIFICATION).exists() else {}
    return result.exit_code, result.output, document


def test_the_reference_case_is_proven_on_the_service_and_the_report_says_so(case: Path, service_url: str) -> None:
    code, output, document = verify(case, "--database-url", service_url)
    assert code == 0, output
    assert document["proven"] is True and document["equivalent"] is True
    rollbacks = {v["label"]: v["rollback"] for v in document["versions"]}  # type: ignore[union-attr]
    assert rollbacks["003_heartbeats"] == rollbacks["008_dlq"] == "verified"
    assert list(rollbacks.values()).count("stub") == 9
    assert "- [x] Verified on a database" in (case / REPORT).read_text()
    assert run("report", "--check", cwd=case).exit_code == 0
    assert own_scratch_databases(service_url, os.getpid()) == []


def test_the_reference_case_is_proven_on_a_private_server_with_no_url(case: Path) -> None:
    code, output, document = verify(case)
    assert code == 0, output
    assert document["proven"] is True
    assert "PostgreSQL" in str(document["server"])


def test_a_wrong_legacy_down_script_is_reported_wrong_with_the_difference(case: Path, service_url: str) -> None:
    down = case / DLQ_DOWN
    down.write_text(down.read_text().replace("DROP FUNCTION IF EXISTS move_job_to_dlq(UUID, TEXT, JSONB);", ""))
    code, output, document = verify(case, "--database-url", service_url)
    assert code == 1
    (dlq,) = [v for v in document["versions"] if v["label"] == "008_dlq"]  # type: ignore[union-attr]
    assert dlq["rollback"] == "wrong"
    assert "move_job_to_dlq" in " ".join(dlq["detail"])
    assert "rollback 008_dlq: wrong" in output


def test_a_non_immutable_index_predicate_is_reported_at_its_file_and_line(case: Path, service_url: str) -> None:
    source = case / DLQ
    lines = source.read_text().splitlines(keepends=True)
    lines.append("\nCREATE INDEX ix_dlq_recent ON dead_letter_queue (failed_at) WHERE failed_at > now();\n")
    source.write_text("".join(lines))
    line = len(lines) + 1
    code, output, document = verify(case, "--database-url", service_url)
    assert code == 1
    (failure,) = document["legacy_failures"]  # type: ignore[misc]
    assert (failure["path"], failure["line"]) == (DLQ, line)
    assert failure["message"].startswith("42P17")
    assert "42P17" in output


def test_the_password_never_appears_in_the_output(case: Path) -> None:
    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres"  # nothing listens on port 1
    assert run("apply", cwd=case).exit_code == 0
    result = run("verify", "--database-url", url, cwd=case)
    assert result.exit_code == 2
    assert "s3cret-pw" not in result.output
    assert "127.0.0.1" in result.output


def test_verify_before_apply_exits_2_with_a_hint(case: Path, service_url: str) -> None:
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 2
    assert "consolidate apply" in result.output


def test_stand_ins_replace_an_extension_the_private_server_lacks(case: Path) -> None:
    # System binaries hidden (empty PATH, no Debian layout): the embedded server lacks pgcrypto, which the
    # fixtures create but never call, so an empty stand-in plays its part.
    assert run("apply", cwd=case).exit_code == 0
    nowhere = DebianLayout(case / "none", case / "none")
    result = verify_tree(case / "mapping.yaml", ServerOptions(search_path="", debian=nowhere))
    assert result.proven
    assert result.stand_ins == ("pgcrypto",)
    assert "embedded" in result.server


def test_no_stand_ins_makes_the_create_extension_fail_at_its_line_with_the_ways_out(case: Path) -> None:
    assert run("apply", cwd=case).exit_code == 0
    nowhere = DebianLayout(case / "none", case / "none")
    result = verify_tree(case / "mapping.yaml", ServerOptions(allow_stand_ins=False, search_path="", debian=nowhere))
    assert not result.proven
    first = result.causes[0]
    assert (first.location.path, first.location.line, first.sqlstate) == (FIRST_SCHEMA, 12, "0A000")
    assert "stand-ins are refused (--no-stand-ins)" in first.hint and "--postgres-bin" in first.hint


def test_a_role_and_a_table_the_prelude_provides_make_grants_and_references_replay(
    case: Path, service_url: str
) -> None:
    role = f"app_ro_{uuid.uuid4().hex[:8]}"
    (case / "prelude.sql").write_text(
        f"CREATE ROLE {role} NOLOGIN;\nCREATE SCHEMA auth;\nCREATE TABLE auth.users (id uuid PRIMARY KEY);\n"
    )
    mapping = case / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace("width: 3\n", "width: 3\nprelude: prelude.sql\n"))
    source = case / HEALING  # its version's rollback is a stub: nothing here to undo by hand
    source.write_text(
        source.read_text()
        + f"\nGRANT SELECT ON healing_events TO {role};\n"
        + "CREATE TABLE dlq_owners (user_id uuid REFERENCES auth.users (id));\n"
    )
    assert json.loads(run("plan", "--json", cwd=case).stdout)["clean"] is True
    code, output, document = verify(case, "--database-url", service_url)
    assert code == 0, output
    assert document["proven"] is True
    with psycopg.connect(service_url, autocommit=True) as connection:
        left = connection.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchall()
    assert left == []  # created for the run, dropped after it


def test_droppable_makes_drops_order_independent_and_leaves_other_sql_alone() -> None:
    sql = 'drop table "public"."a";\nalter table "public"."p" drop constraint "c";\ncreate index i on t (x);\n'
    assert droppable(sql) == (
        'drop table "public"."a" cascade;\n'
        'alter table "public"."p" drop constraint if exists "c";\n'
        "create index i on t (x);\n"
    )
    assert droppable('drop type "public"."t" cascade;') == 'drop type "public"."t" cascade;'
    column = 'alter table "public"."t" drop column "a";'
    assert droppable(column) == 'alter table "public"."t" drop column if exists "a" cascade;'


def test_generate_down_replaces_every_stub_with_a_proven_rollback(case: Path, service_url: str) -> None:
    result = run("apply", "--generate-down", "--database-url", service_url, cwd=case)
    assert result.exit_code == 0, result.output
    downs = sorted((case / "build/deploy/migrations/down").glob("*.sql"))
    assert len(downs) == 11 and not [d.name for d in downs if d.read_text().startswith("-- consolidate: stub")]
    document = json.loads((case / VERIFICATION).read_text())
    assert {v["rollback"] for v in document["versions"]} == {"verified"}
    again = run("apply", cwd=case)
    assert again.exit_code == 0 and "nothing to write" in again.stdout
    assert "- [x] Rollback scripts for every migration" in (case / REPORT).read_text()


def test_merge_columns_differences_are_expected_and_listed_as_such(case: Path, service_url: str) -> None:
    mapping = case / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace("decision: keep-first", "decision: merge-columns"))
    code, output, document = verify(case, "--database-url", service_url)
    assert code == 0, output
    (expected,) = document["expected_differences"]  # type: ignore[misc]
    assert expected == "table robots: columns capabilities, ip_address, last_seen, metadata added by merge-columns"
    assert "expected difference (recorded resolution)" in output


def test_a_legacy_syntax_error_is_one_diagnostic_at_its_file_line_and_column(case: Path, service_url: str) -> None:
    assert run("apply", cwd=case).exit_code == 0
    source = case / DLQ
    lines = source.read_text().splitlines(keepends=True)
    source.write_text("".join(lines) + "\nCREATE TABLE broken (id int,, note text);\n")
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 1
    (failure,) = json.loads((case / VERIFICATION).read_text())["legacy_failures"]
    assert (failure["path"], failure["line"], failure["column"]) == (DLQ, len(lines) + 2, 29)
    assert failure["message"].startswith("42601")


def test_a_reference_to_a_table_created_later_is_one_diagnostic_at_its_line(case: Path, service_url: str) -> None:
    assert run("apply", cwd=case).exit_code == 0
    source = case / DLQ  # version 008; robot_api_keys is created by version 010
    lines = source.read_text().splitlines(keepends=True)
    source.write_text("".join(lines) + "\nCREATE INDEX ix_early ON robot_api_keys (robot_id);\n")
    result = run("verify", "--database-url", service_url, cwd=case)
    assert result.exit_code == 1
    (failure,) = json.loads((case / VERIFICATION).read_text())["legacy_failures"]
    assert (failure["path"], failure["line"]) == (DLQ, len(lines) + 2)
    assert failure["message"].startswith('42P01: relation "robot_api_keys" does not exist')


@pytest.mark.parametrize("delay", [0.8, 1.6])
def test_an_interrupted_verify_leaves_no_scratch_database(case: Path, service_url: str, delay: float) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    assert run("apply", cwd=case).exit_code == 0
    command = [sys.executable, "-m", "consolidate", "verify", "--database-url", service_url]
    process = subprocess.Popen(command, cwd=case, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0 or b"PROVEN" in _  # interrupted, or it had already finished
    assert b"Traceback" not in err
    # Only this process's databases: others may be using the server at the same time (names carry the pid).
    assert own_scratch_databases(service_url, process.pid) == []


def test_a_called_function_without_stand_in_leaves_its_create_extension_failing_naming_the_call(case: Path) -> None:
    assert run("apply", cwd=case).exit_code == 0
    source = case / DLQ
    lines = source.read_text().splitlines(keepends=True)
    source.write_text("".join(lines) + "\nSELECT crypt('secret', gen_salt('bf'));\n")
    nowhere = DebianLayout(case / "none", case / "none")
    result = verify_tree(case / "mapping.yaml", ServerOptions(search_path="", debian=nowhere))
    (extension,) = [cause for cause in result.causes if cause.sqlstate == "0A000"]
    assert (extension.location.path, extension.location.line) == (FIRST_SCHEMA, 12)
    assert f"crypt() (called at {DLQ}:{len(lines) + 2}:8) has no honest stand-in" in extension.hint
    assert "pgcrypto is a contrib extension" in extension.hint
    (call,) = [f for f in result.legacy_failures if (f.path, f.line) == (DLQ, len(lines) + 2)]
    assert call.cause is not None and "extension pgcrypto" in call.hint


def problem(output: str, needle: str) -> tuple[str, str]:
    """The one printed problem whose first line holds `needle`: that line, and the hint line below it."""
    lines = output.splitlines()
    (at,) = [index for index, line in enumerate(lines) if needle in line]
    assert lines[at + 1].startswith("  hint: "), lines[at : at + 2]
    return lines[at], lines[at + 1]


def test_a_canonical_failure_caused_by_an_earlier_versions_rollback_is_its_consequence(
    tmp_path: Path, service_url: str
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "001_jobs.sql").write_text(
        "CREATE TABLE jobs (id int);\nCREATE INDEX j ON jobs (id) WHERE now() > '2020-01-01';\n"
    )
    (folder / "002_fill.sql").write_text("INSERT INTO jobs VALUES (1);\n")
    assert run("init", cwd=tmp_path).exit_code == 0 and run("apply", cwd=tmp_path).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=tmp_path)
    (head,) = [line for line in result.stderr.splitlines() if "error: 42P17" in line]
    assert result.exit_code == 1 and head.startswith("db/001_jobs.sql:2: ")
    assert "  1 consequence, failing only because of it:" in result.stderr
    assert '/versions/002_fill.sql:11:13 (legacy db/002_fill.sql:1:13): 42P01: relation "jobs" does not exist' in (
        result.stderr
    )
    (consequence,) = json.loads((tmp_path / "deploy/migrations/verification.json").read_text())["canonical_failures"][
        1:
    ]
    assert "versions/001_jobs.sql" in consequence["hint"] and "rolled back whole" in consequence["hint"]


def test_a_legacy_failure_at_a_statement_left_out_of_the_canonical_tree_says_so(
    tmp_path: Path, service_url: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    trigger = "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();\n"
    touch = "CREATE FUNCTION touch() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql;\n"
    (tmp_path / "a" / "001_t.sql").write_text("CREATE TABLE t (id int);\n" + touch + trigger)
    (tmp_path / "b" / "002_again.sql").write_text(trigger)  # psql failed here: the trigger exists
    assert run("init", cwd=tmp_path).exit_code == 0 and run("apply", cwd=tmp_path).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=tmp_path)
    head, hint = problem(result.stderr, "42710")
    assert head.startswith("b/002_again.sql:1") and "leaves this statement out: it repeats a/001_t.sql:3" in hint


def test_a_statement_that_would_change_a_lent_server_stops_verify_before_anything_runs(
    tmp_path: Path, service_url: str
) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_tuning.sql").write_text("CREATE TABLE t (id int);\nALTER SYSTEM SET work_mem = '77MB';\n")
    assert run("init", cwd=tmp_path).exit_code == 0 and run("apply", cwd=tmp_path).exit_code == 0
    result = run("verify", "--database-url", service_url, cwd=tmp_path)
    refused = "ALTER SYSTEM would change the lent server"
    assert (result.exit_code, "db/001_tuning.sql:2" in result.stderr, refused in result.stderr) == (2, 1, 1)
    with psycopg.connect(service_url) as connection:
        query = "SELECT count(*) FROM pg_file_settings WHERE setting = '77MB' AND sourcefile LIKE '%auto.conf'"
        row = connection.execute(query).fetchone()
    assert row == (0,)  # nothing reached postgresql.auto.conf


def test_a_generated_rollback_drops_a_column_generated_columns_are_computed_from(
    tmp_path: Path, service_url: str
) -> None:
    # dbdiff drops columns by name: `a` before `b`, which is computed from `a` (2BP01 without CASCADE).
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_t.sql").write_text("CREATE TABLE t (id int PRIMARY KEY);\n")
    (tmp_path / "db" / "002_doc.sql").write_text(
        "ALTER TABLE t ADD COLUMN a jsonb, ADD COLUMN b text GENERATED ALWAYS AS (a->>'x') STORED;\n"
    )
    assert run("init", cwd=tmp_path).exit_code == 0
    result = run("apply", "--generate-down", "--database-url", service_url, cwd=tmp_path)
    assert result.exit_code == 0, result.output
    versions = json.loads((tmp_path / "deploy/migrations/verification.json").read_text())["versions"]
    assert [item["rollback"] for item in versions] == ["verified", "verified"]
