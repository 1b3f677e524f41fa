"""CREATE OR REPLACE that PostgreSQL refuses (core/replacements.py): every refusal claimed is one PostgreSQL gives,
and every replacement left alone is one it accepts — checked on the server, not only by reading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from consolidate.core.replacements import refused_replacement
from consolidate.db.server import Server, scratch_database
from tests.clitools import run

TABLE = "CREATE TABLE t (a int, b int, c int);\n"
VIEW = "CREATE VIEW v AS SELECT a, b FROM t;\n"
FUNCTION = "CREATE FUNCTION f(d int) RETURNS int LANGUAGE sql AS $$ SELECT d $$;\n"
ROWS = "CREATE FUNCTION g() RETURNS TABLE (x int) LANGUAGE sql AS $$ SELECT 1 $$;\n"

CASES = [
    # (earlier, later, the SQLSTATE PostgreSQL gives, or None when it accepts the replacement)
    (VIEW, "CREATE OR REPLACE VIEW v AS SELECT a, c FROM t;", "42P16"),
    (VIEW, "CREATE OR REPLACE VIEW v AS SELECT a FROM t;", "42P16"),
    (VIEW, "CREATE OR REPLACE VIEW v AS SELECT a, b, c FROM t;", None),
    (VIEW, "CREATE OR REPLACE VIEW v AS SELECT a, b::int FROM t WHERE a > 0;", None),
    (VIEW, "CREATE OR REPLACE VIEW v (a, b) AS SELECT a, c FROM t;", None),
    (FUNCTION, "CREATE OR REPLACE FUNCTION f(d int) RETURNS bigint LANGUAGE sql AS $$ SELECT d $$;", "42P13"),
    (FUNCTION, "CREATE OR REPLACE FUNCTION f(e int) RETURNS int LANGUAGE sql AS $$ SELECT e $$;", "42P13"),
    (FUNCTION, "CREATE OR REPLACE FUNCTION f(d integer) RETURNS integer LANGUAGE sql AS $$ SELECT 2 $$;", None),
    (ROWS, "CREATE OR REPLACE FUNCTION g() RETURNS TABLE (x int, y int) LANGUAGE sql AS $$ SELECT 1, 2 $$;", "42P13"),
    (ROWS, "CREATE OR REPLACE FUNCTION g() RETURNS TABLE (x int) LANGUAGE sql AS $$ SELECT 2 $$;", None),
]


@pytest.mark.parametrize(("earlier", "later", "sqlstate"), CASES)
def test_the_refusal_is_read_from_the_two_definitions(earlier: str, later: str, sqlstate: str | None) -> None:
    found = refused_replacement(earlier, later)
    assert (found[:5] if found else None) == sqlstate


def test_nothing_is_claimed_where_the_text_cannot_tell() -> None:
    assert (
        refused_replacement("CREATE VIEW v AS SELECT * FROM t;", "CREATE OR REPLACE VIEW v AS SELECT a FROM t;") is None
    )
    returns_qualified = "CREATE FUNCTION h() RETURNS public.t LANGUAGE sql AS $$ SELECT * FROM t $$;"
    returns_bare = "CREATE OR REPLACE FUNCTION h() RETURNS t LANGUAGE sql AS $$ SELECT * FROM t $$;"
    assert refused_replacement(returns_qualified, returns_bare) is None


@pytest.fixture
def database(service_server: Server) -> Iterator[str]:
    with scratch_database(service_server, "replacements") as url:
        yield url


@pytest.mark.db
@pytest.mark.parametrize(("earlier", "later", "sqlstate"), CASES)
def test_postgresql_gives_exactly_the_verdict_read(
    database: str, earlier: str, later: str, sqlstate: str | None
) -> None:
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(TABLE + earlier)
        try:
            connection.execute(later)
        except psycopg.Error as error:
            assert error.sqlstate == sqlstate
        else:
            assert sqlstate is None


def test_plan_warns_where_postgresql_refuses_the_later_definition(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "001_view.sql").write_text(TABLE + VIEW)
    (tmp_path / "db" / "002_view.sql").write_text("CREATE OR REPLACE VIEW v AS SELECT a, c FROM t;\n")
    run("init", cwd=tmp_path)
    result = run("plan", cwd=tmp_path)
    assert "PostgreSQL refuses this CREATE OR REPLACE of view v" in result.output + result.stderr
    assert "42P16: cannot change name of view column 'b' to 'c'" in result.output + result.stderr
