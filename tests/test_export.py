"""`consolidate export`: what it refuses, what it replaces, and dbmate itself running an exported tree on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from consolidate.core.export_layouts import MARKER_NAME
from consolidate.db.diff import compare
from consolidate.db.server import Server, scratch_database
from consolidate.runner import up
from tests.canonical_trees import tree
from tests.clitools import copy_reference_case, run, snapshot

VERSIONS = {
    "001_users": "CREATE TABLE users (id int PRIMARY KEY, email text);\nINSERT INTO users VALUES (1, 'a@b');\n",
    # A function body holds semicolons; an index built CONCURRENTLY cannot run in a transaction block.
    "002_lookup": (
        "CREATE FUNCTION email_of(wanted int) RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN\n  RETURN (SELECT email FROM users WHERE id = wanted);\nEND;\n$$;\n"
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n"
        "COMMENT ON INDEX users_email IS 'by email';\n"
    ),
    "003_notes": "ALTER TABLE users ADD COLUMN note text;\n",  # after a cut version: still in order
}
DOWNS = {
    "001_users": "DROP TABLE users;\n",
    "002_lookup": "DROP INDEX CONCURRENTLY users_email;\nDROP FUNCTION email_of(int);\n",
    "003_notes": "ALTER TABLE users DROP COLUMN note;\n",
}


@pytest.fixture
def canonical(tmp_path: Path) -> Path:
    return tree(tmp_path / "tree", VERSIONS, DOWNS)


def export(canonical: Path, out: Path, layout: str = "dbmate") -> tuple[int, str]:
    result = run("export", "--format", layout, "--out", str(out), "--dir", str(canonical))
    return result.exit_code, result.output


def test_export_writes_the_layout_and_says_how_to_run_and_adopt(canonical: Path, tmp_path: Path) -> None:
    code, output = export(canonical, tmp_path / "out")
    assert code == 0
    assert sorted(snapshot(tmp_path / "out")) == [
        MARKER_NAME,
        "001_users.sql",
        "00200_lookup.sql",
        "00201_lookup.sql",
        "00202_lookup.sql",
        "003_notes.sql",
        "ADOPT.md",
    ]
    assert "dbmate --migrations-dir" in output
    assert "ADOPT.md says how" in output


def test_an_unknown_format_exits_2_and_writes_nothing(canonical: Path, tmp_path: Path) -> None:
    code, _ = export(canonical, tmp_path / "out", layout="liquibase")
    assert (code, (tmp_path / "out").exists()) == (2, False)


def test_a_missing_tree_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    code, output = export(tmp_path / "nowhere", tmp_path / "out")
    assert (code, (tmp_path / "out").exists()) == (2, False)
    assert "no versions/ folder here" in output


def test_a_folder_holding_other_files_is_refused_untouched(canonical: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, output = export(canonical, out)
    assert (code, snapshot(out)) == (2, {"notes.txt": b"mine\n"})
    assert "a previous export did not write (notes.txt)" in output


def test_a_previous_export_is_replaced_and_its_stale_files_removed(canonical: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(canonical, out, "golang-migrate")[0] == 0
    (canonical / "versions" / "002_lookup.sql").unlink()
    (canonical / "versions" / "003_notes.sql").unlink()
    assert export(canonical, out, "flyway")[0] == 0
    assert sorted(snapshot(out)) == [MARKER_NAME, "ADOPT.md", "U001__users.sql", "V001__users.sql"]


def test_a_previous_export_with_a_file_added_by_hand_is_refused_untouched(canonical: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert export(canonical, out)[0] == 0
    (out / "004_mine.sql").write_text("-- migrate:up\n")
    before = snapshot(out)
    assert export(canonical, out)[0] == 2
    assert snapshot(out) == before


def test_a_version_that_is_not_utf8_exits_2_naming_it(canonical: Path, tmp_path: Path) -> None:
    (canonical / "versions" / "004_latin.sql").write_bytes(b"COMMENT ON TABLE users IS 'caf\xe9';\n")
    code, output = export(canonical, tmp_path / "out")
    assert (code, (tmp_path / "out").exists()) == (2, False)
    assert "004_latin.sql: error: not UTF-8" in output


# --- dbmate itself -------------------------------------------------------------------------------------------------


@pytest.fixture
def databases(service_server: Server) -> Iterator[tuple[str, str]]:
    with (
        scratch_database(service_server, "export_migrate") as ours,
        scratch_database(service_server, "export_dbmate") as theirs,
    ):
        yield ours, theirs


def url_of(conninfo: str, scheme: str = "postgresql", query: str = "?sslmode=disable") -> str:
    """The conninfo as the URL dbmate takes (Sqitch: scheme "db:pg", no query)."""
    parts = conninfo_to_dict(conninfo)
    user = quote(str(parts.get("user", "postgres"))) + (
        f":{quote(str(parts['password']))}" if "password" in parts else ""
    )
    host = f"{parts.get('host', '127.0.0.1')}:{parts.get('port', 5432)}"
    return f"{scheme}://{user}@{host}/{parts['dbname']}{query}"


def run_dbmate(dbmate: Path, out: Path, url: str, *command: str) -> None:
    arguments = [str(dbmate), "--url", url, "--migrations-dir", str(out), "--no-dump-schema", *command]
    subprocess.run(arguments, check=True, capture_output=True, timeout=120)


def test_dbmate_runs_the_exported_tree_to_the_schema_migrate_up_builds(
    canonical: Path, tmp_path: Path, dbmate: Path, databases: tuple[str, str]
) -> None:
    ours, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out)[0] == 0
    up(canonical, ours)
    run_dbmate(dbmate, out, url_of(theirs), "migrate")
    difference = compare(ours, theirs, ignore_tables=["_migrations", "schema_migrations"])
    assert difference.objects() == ()
    assert difference.equivalent


def test_dbmate_rolls_the_exported_tree_all_the_way_back(
    canonical: Path, tmp_path: Path, dbmate: Path, databases: tuple[str, str]
) -> None:
    empty, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out)[0] == 0
    run_dbmate(dbmate, out, url_of(theirs), "migrate")
    for _ in range(5):  # one per exported file: 001 and 003 whole, 002 in three parts (before, at, after the index)
        run_dbmate(dbmate, out, url_of(theirs), "rollback")
    assert compare(empty, theirs, ignore_tables=["schema_migrations"]).equivalent


def test_dbmate_runs_the_shipped_reference_case_to_the_schema_migrate_up_builds(
    tmp_path: Path, dbmate: Path, databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = databases
    monkeypatch.delenv("DATABASE_URL", raising=False)
    copy_reference_case(tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    canonical = tmp_path / "build" / "deploy" / "migrations"
    assert export(canonical, tmp_path / "out")[0] == 0
    up(canonical, ours)
    run_dbmate(dbmate, tmp_path / "out", url_of(theirs), "migrate")
    assert compare(ours, theirs, ignore_tables=["_migrations", "schema_migrations"]).objects() == ()


# --- the other tools, as they send the files (their binaries are not installed here) ------------------------------


def send_each(url: str, files: list[Path]) -> None:
    """Each file as one simple-protocol query, as golang-migrate (lib/pq Exec) and diesel (batch_execute) send it:
    PostgreSQL runs a query of several statements as one transaction."""
    with psycopg.connect(url, autocommit=True) as connection:
        for path in files:
            connection.execute(path.read_bytes())


@pytest.mark.parametrize(("layout", "pattern"), [("golang-migrate", "*.up.sql"), ("diesel", "*/up.sql")])
def test_files_sent_one_query_each_build_the_schema_migrate_up_builds(
    canonical: Path, tmp_path: Path, databases: tuple[str, str], layout: str, pattern: str
) -> None:
    ours, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out, layout)[0] == 0
    up(canonical, ours)
    send_each(theirs, sorted(out.glob(pattern)))  # equal widths: name order is version order
    assert compare(ours, theirs, ignore_tables=["_migrations"]).objects() == ()


def test_sqitch_scripts_run_by_psql_in_plan_order_build_the_schema_migrate_up_builds(
    canonical: Path, tmp_path: Path, databases: tuple[str, str]
) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    ours, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out, "sqitch")[0] == 0
    up(canonical, ours)
    for line in (out / "sqitch.plan").read_text().splitlines()[3:]:  # as Sqitch runs a deploy script
        script = out / "deploy" / f"{line.split()[0]}.sql"
        subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", theirs, "-f", str(script)], check=True)
    assert compare(ours, theirs, ignore_tables=["_migrations"]).objects() == ()


def test_sqitch_itself_deploys_the_exported_project_and_reverts_it(
    canonical: Path, tmp_path: Path, databases: tuple[str, str]
) -> None:
    sqitch = shutil.which("sqitch")
    if sqitch is None:
        pytest.skip("sqitch is not installed (apt: sqitch libdbd-pg-perl)")
    ours, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out, "sqitch")[0] == 0
    up(canonical, ours)
    target = url_of(theirs, scheme="db:pg", query="")
    subprocess.run([sqitch, "deploy", target], cwd=out, check=True, capture_output=True, timeout=120)
    # Sqitch keeps its registry in the database it deploys to (schema sqitch): compare the application's schema.
    assert compare(ours, theirs, schemas=["public"], ignore_tables=["_migrations"]).objects() == ()
    subprocess.run([sqitch, "revert", "-y", target], cwd=out, check=True, capture_output=True, timeout=120)
    with psycopg.connect(theirs) as connection:
        assert connection.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone() == (0,)


def adopt_sql(out: Path) -> str:
    """The SQL block of the export's ADOPT.md."""
    guide = (out / "ADOPT.md").read_text()
    return guide.split("```sql\n", 1)[1].split("```", 1)[0]


def test_a_database_the_legacy_migrations_built_moves_onto_the_dbmate_export(
    canonical: Path, tmp_path: Path, dbmate: Path, databases: tuple[str, str]
) -> None:
    ours, theirs = databases
    out = tmp_path / "out"
    assert export(canonical, out)[0] == 0
    # The legacy migrations built `theirs` up to version 002; nothing recorded it in dbmate's history.
    for label in ("001_users", "002_lookup"):
        psql = [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            theirs,
            "-f",
            str(canonical / "versions" / f"{label}.sql"),
        ]
        subprocess.run(psql, check=True, capture_output=True)
    found = run("migrate", "adopt", "--dry-run", "--dir", str(canonical), "--database-url", theirs)
    assert "the database is at version 002_lookup" in found.output, found.output
    recorded = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "version=2", "-d", theirs, "-f", "-"],
        input=adopt_sql(out),
        text=True,
        capture_output=True,
    )
    assert recorded.returncode == 0, recorded.stderr
    run_dbmate(dbmate, out, url_of(theirs), "migrate")  # runs 003 only: 001 and 002 would fail if run again
    up(canonical, ours)
    assert compare(ours, theirs, ignore_tables=["_migrations", "schema_migrations"]).equivalent
