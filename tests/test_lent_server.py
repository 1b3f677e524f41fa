"""A server lent to verify (--database-url) is not changed by its replays: the roles they create are gone after.

Issue 13, promise 7. Every test names its roles uniquely and looks only at those (and at the names the run's own
process would set roles aside under): other runs use the same server at the same time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from consolidate.db.replay_roles import replay_roles
from consolidate.db.server import Server, scratch_database
from consolidate.verify import ServerOptions
from consolidate.verify import verify as verify_tree
from tests.test_signals import consolidate as spawn

WAIT = 120  # seconds a command may take before the test gives up on it


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    pid: int


def consolidate(folder: Path, *args: str) -> Outcome:
    """`python -m consolidate ARGS` in `folder`, as a user runs it; the server comes from the arguments only."""
    with spawn(folder, *args) as process:
        stdout, stderr = process.communicate(timeout=WAIT)
    return Outcome(process.returncode, stdout, stderr, process.pid)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def legacy_tree(folder: Path, text: str) -> Path:
    """A one-file legacy tree, its mapping drafted and its canonical tree written, as the user would."""
    (folder / "db").mkdir()
    (folder / "db" / "001_init.sql").write_text(text)
    for command in ("init", "apply"):
        outcome = consolidate(folder, command)
        assert outcome.code == 0, outcome.stderr
    return folder / "mapping.yaml"


def granting(reader: str, writer: str) -> str:
    """A table with a role created by a plain statement and one created in a DO block, each granted to."""
    return (
        "CREATE TABLE t (id int);\n"
        f"CREATE ROLE {reader};\n"
        f"GRANT SELECT ON t TO {reader};\n"
        f"DO $$ BEGIN CREATE ROLE {writer}; END $$;\n"
        f"GRANT INSERT ON t TO {writer};\n"
    )


def roles_present(url: str, names: Iterable[str]) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(names)]).fetchall()
    return sorted(str(row[0]) for row in rows)


def roles_set_aside_by(url: str, pid: int) -> list[str]:
    """Roles process `pid` renamed between its replays and left (their names carry its pid)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"consolidate\\_role\\_{pid}\\_%"]
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_verify_twice_on_a_lent_server_gives_the_same_verdict_and_leaves_no_role(
    tmp_path: Path, service_url: str
) -> None:
    reader, writer = unique("app_reader"), unique("app_writer")
    mapping = legacy_tree(tmp_path, granting(reader, writer))
    first, second = (
        consolidate(tmp_path, "verify", "--mapping", str(mapping), "--database-url", service_url) for _ in range(2)
    )
    assert (first.code, second.code) == (0, 0), first.stdout + second.stdout
    assert first.stdout == second.stdout and "PROVEN" in first.stdout
    assert roles_present(service_url, [reader, writer]) == []
    assert roles_set_aside_by(service_url, first.pid) + roles_set_aside_by(service_url, second.pid) == []


def test_a_tree_that_creates_roles_is_proven_on_a_private_server_too(tmp_path: Path) -> None:
    mapping = legacy_tree(tmp_path, granting(unique("app_reader"), unique("app_writer")))
    outcome = consolidate(tmp_path, "verify", "--mapping", str(mapping))
    assert outcome.code == 0, outcome.stdout + outcome.stderr


def test_the_comparison_still_sees_a_grant_to_a_replays_role_that_only_one_tree_makes(
    tmp_path: Path, service_url: str
) -> None:
    reader = unique("app_reader")
    mapping = legacy_tree(
        tmp_path, f"CREATE TABLE t (id int);\nCREATE ROLE {reader};\nGRANT SELECT ON t TO {reader};\n"
    )
    version = next((tmp_path / "deploy" / "migrations" / "versions").glob("001_*.sql"))
    version.write_text(version.read_text().replace(f"GRANT SELECT ON t TO {reader};", ""))
    result = verify_tree(mapping, ServerOptions(database_url=service_url))
    assert result.diff is not None and any(reader in line for line in result.diff.objects()), result.diff
    assert roles_present(service_url, [reader]) == []


def test_a_role_that_existed_before_the_run_is_left_in_place(tmp_path: Path, service_url: str) -> None:
    existing = unique("app_existing")
    with psycopg.connect(service_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(existing)))
    try:
        mapping = legacy_tree(
            tmp_path,
            "CREATE TABLE t (id int);\n"
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{existing}') THEN\n"
            f"  CREATE ROLE {existing};\nEND IF; END $$;\n"
            f"GRANT SELECT ON t TO {existing};\n",
        )
        outcome = consolidate(tmp_path, "verify", "--mapping", str(mapping), "--database-url", service_url)
        assert outcome.code == 0, outcome.stdout + outcome.stderr
        assert roles_present(service_url, [existing]) == [existing]
    finally:
        with psycopg.connect(service_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(existing)))


def test_the_roles_of_a_failed_verification_are_dropped_too(tmp_path: Path, service_url: str) -> None:
    reader = unique("app_reader")
    mapping = legacy_tree(
        tmp_path, f"CREATE ROLE {reader};\nCREATE TABLE t (id int);\nGRANT SELECT ON t TO {reader};\nSELECT 1/0;\n"
    )
    outcome = consolidate(tmp_path, "verify", "--mapping", str(mapping), "--database-url", service_url)
    assert outcome.code == 1 and "22012" in outcome.stderr, outcome.stdout + outcome.stderr
    assert roles_present(service_url, [reader]) == []
    assert roles_set_aside_by(service_url, outcome.pid) == []


def create_role(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))


def test_a_role_the_trees_do_not_name_is_never_dropped_though_it_appeared_meanwhile(service_server: Server) -> None:
    ours, theirs = unique("app_ours"), unique("app_theirs")
    try:
        with replay_roles(service_server, [ours]):
            create_role(service_server.url, ours)  # as a replay would
            create_role(service_server.url, theirs)  # as another run on the same server would
        assert roles_present(service_server.url, [ours, theirs]) == [theirs]
    finally:
        with psycopg.connect(service_server.url, autocommit=True) as connection:
            for name in (ours, theirs):
                connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_role_set_aside_keeps_its_grants_and_frees_its_name_for_the_next_replay(service_server: Server) -> None:
    name = unique("app_reader")
    grants = (
        "SELECT grantee FROM information_schema.table_privileges WHERE table_name = 't' AND grantee <> current_user"
    )
    with replay_roles(service_server, [name]) as roles, scratch_database(service_server, "roles") as database:
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute(
                sql.SQL("CREATE ROLE {0}; CREATE TABLE t (); GRANT SELECT ON t TO {0}").format(sql.Identifier(name))
            )
            assert roles.set_aside() == (name,)
            grantees = [row[0] for row in connection.execute(grants).fetchall()]
        hidden = list(roles.aside)
        assert roles_present(service_server.url, [name]) == [] and grantees == hidden
        create_role(service_server.url, name)  # the next replay's CREATE ROLE: no 42710
    assert roles_present(service_server.url, [name, *hidden]) == []


MAPPING = """version: 1
dialect: postgres
root: .
output: deploy/migrations
sources: [db]
migrations:
  - version: 1
    name: init
    sources: [db/001_init.sql]
"""


@pytest.mark.parametrize(
    ("run", "what"), [("CREATE DATABASE", "CREATE DATABASE"), ("DROP DATABASE IF EXISTS", "DROP DATABASE")]
)
def test_a_do_block_that_would_change_the_lent_server_stops_verify_before_anything_runs(
    tmp_path: Path, service_url: str, run: str, what: str
) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_init.sql").write_text(
        f"CREATE TABLE t (id int);\nDO $$ BEGIN\n  EXECUTE '{run} app_db';\nEND $$;\n"
    )
    (tmp_path / "mapping.yaml").write_text(MAPPING)  # mapped on purpose: init drafts such a file as an exclusion
    assert consolidate(tmp_path, "apply").code == 0
    outcome = consolidate(tmp_path, "verify", "--mapping", "mapping.yaml", "--database-url", service_url)
    assert outcome.code == 2, outcome.stdout + outcome.stderr
    assert f"db/001_init.sql:2: error: {what} in this DO block would change the lent server" in outcome.stderr
