"""One definition written two ways is a duplicate, not a conflict: PostgreSQL's parse trees decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consolidate.core.equivalence import same_definition
from tests.clitools import run

BODY = "BEGIN\n  NEW.at := now();\n  RETURN NEW;\nEND;"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CREATE TABLE t (at TIMESTAMPTZ);", "CREATE TABLE t (at timestamp with time zone);"),
        ("CREATE TABLE t (id int, ok bool);", "create table t (\n  id integer,\n  ok boolean\n);"),
        ("CREATE TABLE t (v varchar(10) DEFAULT now());", "CREATE TABLE t (v character varying(10) DEFAULT NOW());"),
        ("CREATE TABLE t (id int);", "CREATE TABLE IF NOT EXISTS t (id int);"),
        ("CREATE TABLE t (id int); -- the first", "/* the second */ CREATE TABLE t (id int)"),
        (
            f"CREATE FUNCTION f() RETURNS trigger AS $$\n{BODY}\n$$ LANGUAGE plpgsql;",
            f"create or replace function f() returns trigger language plpgsql as $body$\n    {BODY}\n$body$;",
        ),
        ("CREATE INDEX by_ns ON visits (ns, at);", "CREATE INDEX CONCURRENTLY IF NOT EXISTS by_ns ON visits (ns, at);"),
    ],
    ids=[
        "timestamptz",
        "int and bool",
        "varchar and now()",
        "if not exists",
        "comments",
        "routine options",
        "concurrently",
    ],
)
def test_one_definition_written_two_ways_is_the_same(first: str, second: str) -> None:
    assert same_definition(first, second) and same_definition(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("CREATE TABLE t (id int);", "CREATE TABLE t (id bigint);"),
        ("CREATE TABLE t (id int);", "CREATE TABLE t (id int, name text);"),
        ('CREATE TABLE t ("Id" int);', "CREATE TABLE t (id int);"),
        ("CREATE TABLE app.t (id int);", "CREATE TABLE t (id int);"),
        ("CREATE TABLE t (id int NOT NULL);", "CREATE TABLE t (id int);"),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql;",
        ),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql SECURITY DEFINER;",
        ),
        ("CREATE TABLE t (id int);", "CREATE TABLE t (id int"),  # PostgreSQL cannot read the second
    ],
    ids=["type", "column", "quoted name", "schema", "not null", "body", "option", "broken"],
)
def test_different_definitions_are_not_the_same(first: str, second: str) -> None:
    assert not same_definition(first, second)


def test_a_repeated_definition_spelled_differently_is_planned_as_a_duplicate(tmp_path: Path) -> None:
    for folder, text in {
        "a": "CREATE TABLE t (id int, at TIMESTAMPTZ DEFAULT now());\n",
        "b": "create table if not exists t (\n  id integer,\n  at timestamp with time zone default NOW()\n);\n",
    }.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "001_t.sql").write_text(text)
    assert run("init", cwd=tmp_path).exit_code == 0
    result = run("plan", "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output  # no unresolved conflict
    (duplicate,) = json.loads(result.stdout)["duplicates"]
    assert (duplicate["removed"]["path"], duplicate["kept"]["path"]) == ("b/001_t.sql", "a/001_t.sql")
