"""What reaches beyond the database a migration runs in, read statically: DO blocks count as what they run."""

from __future__ import annotations

import pytest

from consolidate.core.objects import do_block_queries
from consolidate.core.plan import created_roles, lent_server_changes, server_wide_in_do
from consolidate.core.statements import parse_file
from consolidate.model import Statement


def statements(text: str) -> tuple[Statement, ...]:
    return parse_file("db/001_x.sql", text).statements


def test_a_do_block_runs_its_statements_and_literal_executes_in_the_order_written() -> None:
    block = "DO $$ BEGIN IF true THEN CREATE ROLE app; END IF; EXECUTE 'GRANT app TO web'; DROP ROLE old; END $$;"
    assert do_block_queries(block) == ("CREATE ROLE app", "GRANT app TO web", "DROP ROLE old")


def test_sql_a_do_block_builds_at_run_time_is_not_seen() -> None:
    assert do_block_queries("DO $$ BEGIN EXECUTE format('CREATE ROLE %I', 'app'); END $$;") == ()


def test_a_do_block_in_another_language_runs_nothing_that_is_read() -> None:
    assert do_block_queries("DO LANGUAGE plperl $$ spi_exec_query('CREATE ROLE app') $$;") == ()


@pytest.mark.parametrize(
    ("body", "acts"),
    [
        ("IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app; END IF;", ("CREATE ROLE",)),
        ("CREATE USER app; ALTER ROLE app SET work_mem = '1MB';", ("CREATE USER", "ALTER ROLE")),
        ("EXECUTE 'CREATE DATABASE shop';", ("CREATE DATABASE",)),
        ("INSERT INTO audit VALUES ('create role app');", ()),
        ("CREATE USER MAPPING FOR app SERVER remote;", ()),
    ],
)
def test_a_do_block_acts_on_the_server_as_the_statements_it_runs(body: str, acts: tuple[str, ...]) -> None:
    (block,) = statements(f"DO $$ BEGIN {body} END $$;\n")
    assert server_wide_in_do(block) == acts


def test_a_role_a_do_block_creates_is_named_like_one_created_plainly() -> None:
    found = statements('CREATE USER Reader;\nDO $$ BEGIN CREATE ROLE "Writer"; END $$;\nCREATE TABLE t (id int);\n')
    assert created_roles(found) == ("reader", "Writer")


def test_a_do_block_that_would_create_a_database_is_refused_on_a_lent_server_at_its_line() -> None:
    parsed = parse_file("db/001_x.sql", "CREATE TABLE t (id int);\nDO $$ BEGIN\n  CREATE DATABASE shop;\nEND $$;\n")
    refused = lent_server_changes([parsed])
    assert [(d.code, str(d.location), d.message.split(" would")[0]) for d in refused] == [
        ("replay.server-change", "db/001_x.sql:2", "CREATE DATABASE in this DO block")
    ]


def test_a_do_block_that_creates_a_role_is_not_refused_on_a_lent_server() -> None:
    parsed = parse_file("db/001_x.sql", "DO $$ BEGIN CREATE ROLE app; END $$;\n")
    assert lent_server_changes([parsed]) == []
