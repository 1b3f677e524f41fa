"""Rendering keeps the legacy text: the consolidated statements are the legacy ones minus exactly the removed
duplicates, in order, and a stub rollback refuses to run."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from consolidate.core.plan import build_plan
from consolidate.core.statements import parse_file
from consolidate.layout import GENERATED_MARKER, STUB_MARKER
from consolidate.render.environment import environment
from consolidate.render.tree import GENERATED_SQL, GeneratedDown, read_generated, render_tree
from tests.planning import mapping, scan_of

POOL = [
    "CREATE TABLE IF NOT EXISTS a (id int);",
    "CREATE TABLE IF NOT EXISTS a (id integer);",
    "CREATE TABLE IF NOT EXISTS b (id int, a_id int REFERENCES a (id));",
    "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;",
    "CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 2; $$ LANGUAGE sql;",
    "-- why: lookups by id\nCREATE INDEX IF NOT EXISTS ix_a ON a (id);",
    "ALTER TABLE a ADD COLUMN IF NOT EXISTS note text;",
    "DROP TABLE IF EXISTS b;",
    "INSERT INTO a (id) VALUES (1);",
    "CREATE EXTENSION IF NOT EXISTS pgcrypto;",
    "DO $$ BEGIN PERFORM 1; END $$;",
]

layouts = st.lists(
    st.lists(st.lists(st.sampled_from(POOL), max_size=6), min_size=1, max_size=3), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(layouts)
def test_consolidated_statements_are_the_legacy_ones_minus_exactly_the_removed_duplicates(
    layout: list[list[list[str]]],
) -> None:
    texts: dict[str, str] = {}
    targets = []
    for t, files in enumerate(layout):
        names = []
        for f, statements in enumerate(files):
            name = f"t{t}/f{f}.sql"
            texts[name] = "\n\n".join(statements) + "\n"
            names.append(name)
        targets.append(names)
    parsed = {name: parse_file(name, text) for name, text in texts.items()}
    plan, _ = build_plan(mapping(targets), scan_of(list(texts)), parsed)
    rendered = render_tree(environment(), plan, scan_of(list(texts)), parsed)

    removed = {(d.removed.path, d.removed.index) for d in plan.duplicates}
    legacy = [
        s.fingerprint for files in targets for n in files for s in parsed[n].statements if (n, s.index) not in removed
    ]
    consolidated = [
        s.fingerprint
        for target in plan.targets
        for s in parse_file("out.sql", rendered[f"versions/{target.target.label(3)}.sql"]).statements
    ]
    assert consolidated == legacy


def test_a_stub_rollback_raises_and_lists_what_the_up_script_creates() -> None:
    text = "CREATE TABLE a (id int);\nCREATE INDEX ix_a ON a (id);\n"
    parsed = {"f.sql": parse_file("f.sql", text)}
    plan, _ = build_plan(mapping([["f.sql"]]), scan_of(["f.sql"]), parsed)
    down = render_tree(environment(), plan, scan_of(["f.sql"]), parsed)["down/001_t1_down.sql"]
    assert down.startswith(STUB_MARKER)
    assert down.index("--   index ix_a on a") < down.index("--   table a")
    assert "RAISE EXCEPTION 'consolidate: no rollback for 001_t1" in down
    assert parse_file("down.sql", down).errors == ()


def test_a_generated_rollback_is_read_back_exactly_even_when_it_is_only_a_comment() -> None:
    text = "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n"
    parsed = {"f.sql": parse_file("f.sql", text)}
    plan, _ = build_plan(mapping([["f.sql"]]), scan_of(["f.sql"]), parsed)
    up = render_tree(environment(), plan, scan_of(["f.sql"]), parsed)["versions/001_t1.sql"]
    sha = hashlib.sha256(up.encode()).hexdigest()
    for sql in ('drop table "public"."a" cascade;', "-- nothing to undo"):
        generated = {"down/001_t1_down.sql": GeneratedDown(sha, sql)}
        down = render_tree(environment(), plan, scan_of(["f.sql"]), parsed, generated)["down/001_t1_down.sql"]
        assert down.startswith(GENERATED_MARKER)
        assert "INSERT at f.sql:2" in down  # what a schema difference cannot undo is said
        assert read_generated(down) == GeneratedDown(sha, sql)


def test_a_generated_rollback_claims_no_proof_it_cannot_know() -> None:
    """Written before verify runs, and proven by its checksum: its header can only say it is unproven when written,
    and where the proof's result is (issue 14: it said "then proven by `consolidate verify`" when verify found it
    failing)."""
    parsed = {"f.sql": parse_file("f.sql", "CREATE TABLE a (id int);\n")}
    plan, _ = build_plan(mapping([["f.sql"]]), scan_of(["f.sql"]), parsed)
    up = render_tree(environment(), plan, scan_of(["f.sql"]), parsed)["versions/001_t1.sql"]
    generated = {"down/001_t1_down.sql": GeneratedDown(hashlib.sha256(up.encode()).hexdigest(), "drop table a;")}
    down = render_tree(environment(), plan, scan_of(["f.sql"]), parsed, generated)["down/001_t1_down.sql"]
    header = down.split(GENERATED_SQL)[0]
    assert "proven by" not in header
    assert "-- Unproven when written: `consolidate verify` proves it" in header


def test_a_generated_rollback_for_another_up_script_is_not_used() -> None:
    parsed = {"f.sql": parse_file("f.sql", "CREATE TABLE a (id int);\n")}
    plan, _ = build_plan(mapping([["f.sql"]]), scan_of(["f.sql"]), parsed)
    stale = {"down/001_t1_down.sql": GeneratedDown("0" * 64, "drop table a;")}
    down = render_tree(environment(), plan, scan_of(["f.sql"]), parsed, stale)["down/001_t1_down.sql"]
    assert down.startswith(STUB_MARKER)
