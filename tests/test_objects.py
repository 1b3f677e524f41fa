"""What a statement does: its target, the tables it needs, its columns and side effects (core/objects.py).

Inputs are real parse trees, built the way statements.py builds them: sqlglot's tree (``exp.Command`` when it
fell back, None when it failed) and, for PostgreSQL, pglast's node.
"""

from __future__ import annotations

import logging

import pglast.parser
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from consolidate.core.objects import describe, identifiers
from consolidate.model import Action, Column, Facts, ObjectRef

# sqlglot logs a warning for every statement it can only keep as exp.Command: expected here, and noisy.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def sqlglot_tree(sql: str, dialect: str = "postgres") -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None


def pglast_node(sql: str) -> object | None:
    try:
        raws = pglast.parser.parse_sql(sql)
    except pglast.parser.ParseError:
        return None
    return raws[0].stmt if raws else None


def facts(sql: str) -> Facts:
    """What statements.py passes for a PostgreSQL statement: both trees."""
    return describe(sqlglot_tree(sql), pglast_node(sql), sql)


def table(name: str, schema: str = "public") -> ObjectRef:
    return ObjectRef("table", schema, name)


def target_of(sql: str) -> ObjectRef | None:
    return facts(sql).target


# --- targets and names --------------------------------------------------------------------------------------


def test_create_table_targets_the_table() -> None:
    result = facts("CREATE TABLE robots (id int)")
    assert (result.action, result.target, result.if_not_exists) == (Action.CREATE, table("robots"), False)


def test_create_table_if_not_exists_is_flagged() -> None:
    assert facts("CREATE TABLE IF NOT EXISTS robots (id int)").if_not_exists


def test_unquoted_names_are_lower_cased_and_quoted_names_kept() -> None:
    assert [target_of("CREATE TABLE App.Robots (id int)"), target_of('CREATE TABLE "App"."Robots" (id int)')] == [
        table("robots", "app"),
        table("Robots", "App"),
    ]


def test_schema_less_kinds_have_no_schema() -> None:
    targets = [
        target_of('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'),
        target_of("CREATE SCHEMA IF NOT EXISTS app"),
        target_of("CREATE ROLE app_user LOGIN"),
        target_of("CREATE PUBLICATION everything FOR ALL TABLES"),
    ]
    assert targets == [
        ObjectRef("extension", None, "uuid-ossp"),
        ObjectRef("schema", None, "app"),
        ObjectRef("role", None, "app_user"),
        ObjectRef("publication", None, "everything"),
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("CREATE TYPE mood AS ENUM ('happy', 'sad')", ObjectRef("type", "public", "mood")),
        ("CREATE TYPE app.pair AS (a int, b text)", ObjectRef("type", "app", "pair")),
        ("CREATE TYPE span AS RANGE (subtype = int)", ObjectRef("type", "public", "span")),
        ("CREATE DOMAIN email AS text CHECK (VALUE ~ '@')", ObjectRef("domain", "public", "email")),
        ("CREATE SEQUENCE IF NOT EXISTS counter START 1", ObjectRef("sequence", "public", "counter")),
        ("CREATE MATERIALIZED VIEW totals AS SELECT 1", ObjectRef("materialized view", "public", "totals")),
    ],
)
def test_created_object_has_its_kind_and_schema(sql: str, expected: ObjectRef) -> None:
    assert target_of(sql) == expected


def test_create_or_replace_is_a_replace() -> None:
    assert facts("CREATE OR REPLACE VIEW v AS SELECT 1").action == Action.REPLACE


def test_index_lives_in_its_table_schema_and_names_the_table() -> None:
    result = facts("CREATE UNIQUE INDEX IF NOT EXISTS robots_name ON app.robots (lower(name))")
    assert (result.target, result.target.table if result.target else None, result.references) == (
        ObjectRef("index", "app", "robots_name"),
        "app.robots",
        (table("robots", "app"),),
    )


def test_unnamed_index_gets_the_name_postgresql_would_give_it() -> None:
    names = [target_of("CREATE INDEX ON robots (owner_id, name)"), target_of("CREATE INDEX ON robots (lower(name))")]
    assert [ref.name if ref else None for ref in names] == ["robots_owner_id_name_idx", "robots_lower_idx"]


def test_trigger_identity_includes_its_table() -> None:
    on_robots = target_of("CREATE TRIGGER touch BEFORE UPDATE ON robots FOR EACH ROW EXECUTE FUNCTION touch()")
    on_owners = target_of("CREATE TRIGGER touch BEFORE UPDATE ON owners FOR EACH ROW EXECUTE FUNCTION touch()")
    assert on_robots is not None and on_owners is not None
    assert (on_robots.table, on_robots.table_key, on_robots == on_owners) == ("robots", "public.robots", False)


def test_policy_identity_includes_its_table() -> None:
    policy = target_of("CREATE POLICY owner_only ON app.robots USING (owner = current_user)")
    assert policy == ObjectRef("policy", "app", "owner_only", table="app.robots", table_key="app.robots")


def test_rule_identity_includes_its_table() -> None:
    rule = target_of("CREATE OR REPLACE RULE keep AS ON DELETE TO robots DO INSTEAD NOTHING")
    assert rule == ObjectRef("rule", "public", "keep", table="robots", table_key="public.robots")


# --- functions ----------------------------------------------------------------------------------------------


def test_function_identity_ignores_argument_names_and_type_spelling() -> None:
    first = target_of("CREATE FUNCTION claim_job(q text, n int) RETURNS void LANGUAGE sql AS $$ SELECT $$")
    second = target_of("CREATE FUNCTION claim_job(queue text, how_many int4) RETURNS void AS 'SELECT' LANGUAGE sql")
    assert first == second == ObjectRef("function", "public", "claim_job(text, integer)")


def test_function_without_arguments_has_empty_parentheses() -> None:
    sql = "CREATE OR REPLACE FUNCTION update_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN END $$"
    assert (facts(sql).action, target_of(sql)) == (
        Action.REPLACE,
        ObjectRef("function", "public", "update_updated_at()"),
    )


def test_out_parameters_are_not_part_of_a_function_identity() -> None:
    sql = "CREATE FUNCTION stats(IN since date, OUT total bigint, INOUT page int) RETURNS record AS 'x' LANGUAGE sql"
    assert target_of(sql) == ObjectRef("function", "public", "stats(date, integer)")


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("int8", "bigint"),
        ("varchar(20)", "character varying"),
        ("character varying", "character varying"),
        ("timestamptz", "timestamp with time zone"),
        ("timestamp(3) with time zone", "timestamp with time zone"),
        ("bool", "boolean"),
        ("float8", "double precision"),
        ("double precision", "double precision"),
        ("text[]", "text[]"),
        ("public.mood", "mood"),
        ("app.mood", "app.mood"),
    ],
)
def test_function_argument_types_are_normalised(written: str, normalised: str) -> None:
    sql = f"CREATE FUNCTION f(x {written}) RETURNS void AS 'SELECT' LANGUAGE sql"
    assert target_of(sql) == ObjectRef("function", "public", f"f({normalised})")


SPELLINGS = {
    "integer": ["int", "int4", "integer", "INTEGER", "pg_catalog.int4"],
    "bigint": ["bigint", "int8", "BIGINT"],
    "character varying": ["varchar", "varchar(80)", "character varying", "CHARACTER VARYING(3)"],
    "timestamp with time zone": ["timestamptz", "timestamp with time zone", "TIMESTAMPTZ(6)"],
}


@given(
    st.lists(st.sampled_from(sorted(SPELLINGS)), max_size=4).flatmap(
        lambda types: st.tuples(
            st.just(types),
            st.tuples(*(st.sampled_from(SPELLINGS[name]) for name in types)),
            st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), min_size=len(types), max_size=len(types)),
        )
    )
)
def test_any_spelling_of_the_same_signature_names_the_same_function(
    case: tuple[list[str], tuple[str, ...], list[str]],
) -> None:
    types, spellings, names = case
    arguments = ", ".join(f"a_{name} {spelling}" for name, spelling in zip(names, spellings, strict=True))
    sql = f"CREATE FUNCTION f({arguments}) RETURNS void AS 'SELECT' LANGUAGE sql"
    assert target_of(sql) == ObjectRef("function", "public", f"f({', '.join(types)})")


def test_procedure_is_its_own_kind() -> None:
    assert target_of("CREATE PROCEDURE archive(days int) LANGUAGE sql AS $$ SELECT 1 $$") == ObjectRef(
        "procedure", "public", "archive(integer)"
    )


def test_drop_function_names_the_same_signature_as_its_create() -> None:
    created = target_of("CREATE FUNCTION app.f(a int4, b varchar) RETURNS int AS 'SELECT 1' LANGUAGE sql")
    assert target_of("DROP FUNCTION IF EXISTS app.f(integer, character varying)") == created


def test_alter_function_targets_its_signature() -> None:
    result = facts("ALTER FUNCTION f(int) OWNER TO admin")
    assert (result.action, result.target) == (Action.ALTER, ObjectRef("function", "public", "f(integer)"))


def test_function_identity_in_another_dialect_comes_from_sqlglot() -> None:
    sql = "CREATE FUNCTION f(a INT, b VARCHAR(10)) RETURNS INT RETURN 1"
    assert describe(sqlglot_tree(sql, "mysql"), None, sql, "mysql").target == ObjectRef(
        "function", "public", "f(integer, character varying)"
    )


# --- references ---------------------------------------------------------------------------------------------


def test_foreign_keys_are_references() -> None:
    sql = (
        "CREATE TABLE robots (id int, owner_id int REFERENCES owners(id),"
        " model_id int, FOREIGN KEY (model_id) REFERENCES catalog.models (id))"
    )
    assert facts(sql).references == (table("models", "catalog"), table("owners"))


def test_self_foreign_key_is_not_a_reference() -> None:
    sql = "CREATE TABLE robots (id int PRIMARY KEY, parent_id int REFERENCES robots(id))"
    assert facts(sql).references == ()


def test_create_table_partition_of_references_its_parent() -> None:
    sql = "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    result = facts(sql)
    assert (result.target, result.references) == (table("events_2024"), (table("events"),))


def test_create_table_inherits_references_its_parent() -> None:
    assert facts("CREATE TABLE child (x int) INHERITS (parent)").references == (table("parent"),)


def test_create_table_as_references_the_tables_it_reads() -> None:
    sql = "CREATE TABLE snapshot AS SELECT * FROM robots JOIN owners ON robots.owner_id = owners.id"
    assert facts(sql).references == (table("owners"), table("robots"))


def test_cte_names_are_not_references() -> None:
    sql = "CREATE VIEW active AS WITH recent AS (SELECT * FROM events) SELECT * FROM recent JOIN robots USING (id)"
    assert facts(sql).references == (table("events"), table("robots"))


def test_system_catalogs_are_not_references() -> None:
    sql = "SELECT * FROM pg_catalog.pg_class, information_schema.tables, pg_type, robots"
    assert facts(sql).references == (table("robots"),)


def test_functions_in_from_are_not_references() -> None:
    assert facts("SELECT * FROM generate_series(1, 3) AS g, robots").references == (table("robots"),)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("INSERT INTO robots (name) SELECT name FROM staging", ("robots", "staging")),
        ("UPDATE robots SET owner = o.id FROM owners o WHERE o.name = robots.name", ("owners", "robots")),
        ("DELETE FROM robots USING owners WHERE owners.id = robots.owner_id", ("owners", "robots")),
        ("TRUNCATE robots", ("robots",)),
        ("MERGE INTO robots r USING staging s ON r.id = s.id WHEN MATCHED THEN DELETE", ("robots", "staging")),
    ],
)
def test_data_statements_reference_the_tables_they_touch(sql: str, expected: tuple[str, ...]) -> None:
    result = facts(sql)
    assert (result.action, result.target, result.references) == (
        Action.OTHER,
        None,
        tuple(table(name) for name in expected),
    )


def test_alter_table_references_the_altered_table() -> None:
    result = facts("ALTER TABLE app.robots ADD COLUMN serial_no text")
    assert (result.action, result.target, result.references) == (
        Action.ALTER,
        table("robots", "app"),
        (table("robots", "app"),),
    )


def test_alter_table_add_constraint_foreign_key_references_the_other_table() -> None:
    sql = "ALTER TABLE robots ADD CONSTRAINT robots_owner_fk FOREIGN KEY (owner_id) REFERENCES owners(id)"
    assert facts(sql).references == (table("owners"), table("robots"))


def test_alter_table_enable_row_level_security_targets_the_table() -> None:
    # sqlglot keeps this one as exp.Command: the facts come from pglast's node.
    sql = "ALTER TABLE robots ENABLE ROW LEVEL SECURITY"
    assert isinstance(sqlglot_tree(sql), exp.Command)
    assert (facts(sql).action, facts(sql).target) == (Action.ALTER, table("robots"))


def test_attach_partition_references_the_partition() -> None:
    sql = "ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')"
    assert facts(sql).references == (table("events"), table("events_2025"))


def test_the_new_name_of_a_rename_is_not_a_reference() -> None:
    assert facts("ALTER TABLE robots RENAME TO machines").references == (table("robots"),)


def test_a_dropped_constraint_is_not_a_reference() -> None:
    sql = "ALTER TABLE robots DROP CONSTRAINT IF EXISTS robots_name_key, DROP COLUMN legacy"
    assert facts(sql).references == (table("robots"),)


def test_select_into_creates_its_table() -> None:
    result = facts("SELECT * INTO archive FROM robots")
    assert (result.action, result.target, result.references) == (Action.CREATE, table("archive"), (table("robots"),))


def test_index_trigger_and_policy_reference_their_table() -> None:
    statements = [
        "CREATE INDEX robots_name ON robots (name)",
        "CREATE TRIGGER touch BEFORE UPDATE ON robots FOR EACH ROW EXECUTE FUNCTION touch()",
        "CREATE POLICY mine ON robots USING (true)",
    ]
    assert [facts(sql).references for sql in statements] == [(table("robots"),)] * 3


def test_policy_references_the_tables_its_condition_reads() -> None:
    sql = "CREATE POLICY members ON robots USING (team_id IN (SELECT team_id FROM memberships))"
    assert facts(sql).references == (table("memberships"), table("robots"))


@pytest.mark.parametrize(
    "sql",
    [
        "GRANT SELECT ON robots TO reader",
        "GRANT SELECT, UPDATE ON TABLE robots, app.owners TO writer",
        "COMMENT ON TABLE robots IS 'machines'",
        "COMMENT ON COLUMN robots.name IS 'what it answers to'",
    ],
)
def test_grant_and_comment_reference_the_table(sql: str) -> None:
    assert table("robots") in facts(sql).references


def test_grant_on_a_schema_or_function_references_no_table() -> None:
    statements = ["GRANT USAGE ON SCHEMA app TO reader", "GRANT EXECUTE ON FUNCTION f(int) TO x"]
    assert [facts(sql).references for sql in statements] == [(), ()]


def test_publication_references_its_tables() -> None:
    assert facts("CREATE PUBLICATION feed FOR TABLE robots, app.owners").references == (
        table("owners", "app"),
        table("robots"),
    )


# --- columns and side effects -------------------------------------------------------------------------------


def test_create_table_lists_its_columns() -> None:
    result = facts("CREATE TABLE robots (id bigint PRIMARY KEY, name varchar(40) NOT NULL, tags text[])")
    assert result.columns == (
        Column("id", "bigint primary key"),
        Column("name", "character varying(40) not null"),
        Column("tags", "text[]"),
    )


def test_timestamptz_and_timestamp_with_time_zone_compare_equal() -> None:
    short = facts("CREATE TABLE t (at TIMESTAMPTZ NOT NULL)").columns
    long = facts("create table t (at timestamp with time zone not null)").columns
    assert short == long


def test_different_column_definitions_compare_different() -> None:
    assert facts("CREATE TABLE t (a int NOT NULL)").columns != facts("CREATE TABLE t (a int)").columns


def test_a_comment_beside_a_column_does_not_change_its_definition() -> None:
    plain = facts("CREATE TABLE t (a int NOT NULL)").columns
    commented = facts("CREATE TABLE t (\n  a int NOT NULL -- the answer\n)").columns
    assert plain == commented


def test_table_constraints_keep_their_names() -> None:
    named = facts("CREATE TABLE t (a int, CONSTRAINT t_a_key UNIQUE (a))").constraints
    renamed = facts("CREATE TABLE t (a int, CONSTRAINT t_a_unique UNIQUE (a))").constraints
    assert (named, named == renamed) == (("constraint t_a_key unique (a)",), False)


def test_serial_and_identity_columns_also_create_their_sequence() -> None:
    sql = "CREATE TABLE app.robots (id bigserial PRIMARY KEY, n int GENERATED ALWAYS AS IDENTITY, name text)"
    assert facts(sql).also_creates == (
        ObjectRef("sequence", "app", "robots_id_seq"),
        ObjectRef("sequence", "app", "robots_n_seq"),
    )


def test_adding_a_serial_column_also_creates_its_sequence() -> None:
    assert facts("ALTER TABLE robots ADD COLUMN seq serial").also_creates == (
        ObjectRef("sequence", "public", "robots_seq_seq"),
    )


def test_long_sequence_names_are_trimmed_as_postgresql_does() -> None:
    name = "t" * 60
    created = facts(f"CREATE TABLE {name} (id serial)").also_creates
    assert [ref.name for ref in created] == [f"{'t' * 56}_id_seq"]


def test_create_schema_with_elements_creates_them_in_that_schema() -> None:
    result = facts("CREATE SCHEMA inventory CREATE TABLE items (id serial) CREATE VIEW stock AS SELECT 1")
    assert result.also_creates == (
        table("items", "inventory"),
        ObjectRef("sequence", "inventory", "items_id_seq"),
        ObjectRef("view", "inventory", "stock"),
    )


# --- drops --------------------------------------------------------------------------------------------------


def test_drop_table_if_exists_cascade() -> None:
    result = facts("DROP TABLE IF EXISTS robots CASCADE")
    assert (result.action, result.target, result.if_not_exists, result.cascade) == (
        Action.DROP,
        table("robots"),
        True,
        True,
    )


def test_drop_without_if_exists_or_cascade() -> None:
    result = facts("DROP TYPE mood")
    assert (result.target, result.if_not_exists, result.cascade) == (ObjectRef("type", "public", "mood"), False, False)


def test_drop_of_several_objects_drops_each_of_them() -> None:
    result = facts("DROP VIEW a, b, c")
    assert (result.target, result.also_drops) == (
        ObjectRef("view", "public", "a"),
        (ObjectRef("view", "public", "b"), ObjectRef("view", "public", "c")),
    )


def test_drop_index_of_several_indexes_drops_each_of_them_through_either_parser() -> None:
    assert facts("DROP INDEX a, s.b").also_drops == (ObjectRef("index", "s", "b"),)
    assert facts("DROP INDEX IF EXISTS a, b CASCADE").also_drops == (ObjectRef("index", "public", "b"),)


@pytest.mark.parametrize(
    ("sql", "old", "new"),
    [
        ("ALTER TABLE a RENAME TO b", ObjectRef("table", "public", "a"), ObjectRef("table", "public", "b")),
        ("ALTER TABLE s.a RENAME TO b", ObjectRef("table", "s", "a"), ObjectRef("table", "s", "b")),
        ("ALTER VIEW v RENAME TO w", ObjectRef("view", "public", "v"), ObjectRef("view", "public", "w")),
        ("ALTER INDEX i RENAME TO j", ObjectRef("index", "public", "i"), ObjectRef("index", "public", "j")),
        ("ALTER SEQUENCE q RENAME TO r", ObjectRef("sequence", "public", "q"), ObjectRef("sequence", "public", "r")),
        ("ALTER TYPE e RENAME TO f", ObjectRef("type", "public", "e"), ObjectRef("type", "public", "f")),
        ("ALTER SCHEMA s RENAME TO t", ObjectRef("schema", None, "s"), ObjectRef("schema", None, "t")),
        (
            "ALTER FUNCTION f(int) RENAME TO g",
            ObjectRef("function", "public", "f(integer)"),
            ObjectRef("function", "public", "g(integer)"),
        ),
        ("ALTER TABLE a SET SCHEMA s", ObjectRef("table", "public", "a"), ObjectRef("table", "s", "a")),
        ("ALTER TYPE e SET SCHEMA s", ObjectRef("type", "public", "e"), ObjectRef("type", "s", "e")),
    ],
)
def test_a_rename_or_set_schema_says_what_the_object_is_called_afterwards(
    sql: str, old: ObjectRef, new: ObjectRef
) -> None:
    result = facts(sql)
    assert (result.action, result.target, result.renamed_to) == (Action.ALTER, old, new)


def test_renaming_a_column_renames_no_object() -> None:
    result = facts("ALTER TABLE a RENAME COLUMN x TO y")
    assert (result.target, result.renamed_to) == (ObjectRef("table", "public", "a"), None)


def test_drop_trigger_names_the_same_trigger_as_its_create() -> None:
    created = target_of("CREATE TRIGGER touch BEFORE UPDATE ON app.robots FOR EACH ROW EXECUTE FUNCTION t()")
    assert target_of("DROP TRIGGER IF EXISTS touch ON app.robots") == created


def test_drop_index_names_the_same_index_as_its_create() -> None:
    assert target_of("DROP INDEX app.robots_name") == target_of("CREATE INDEX robots_name ON app.robots (name)")


# --- DO blocks and opaque statements ------------------------------------------------------------------------


def test_do_block_creating_a_type_if_missing_lists_it_in_also_creates() -> None:
    sql = """DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'mood') THEN
        CREATE TYPE mood AS ENUM ('happy', 'sad');
    END IF;
END
$$"""
    result = facts(sql)
    assert (result.action, result.target, result.also_creates) == (
        Action.OTHER,
        None,
        (ObjectRef("type", "public", "mood"),),
    )


def test_do_block_with_an_exception_handler_lists_what_it_creates() -> None:
    sql = "DO $$ BEGIN CREATE TABLE robots (id serial); EXCEPTION WHEN duplicate_table THEN NULL; END $$"
    assert facts(sql).also_creates == (ObjectRef("sequence", "public", "robots_id_seq"), table("robots"))


def test_do_block_executing_a_literal_lists_what_it_creates() -> None:
    sql = "DO $$ BEGIN EXECUTE 'CREATE INDEX robots_name ON robots (name)'; END $$"
    assert [ref.name for ref in facts(sql).also_creates] == ["robots_name"]


def test_do_block_executing_built_sql_lists_nothing() -> None:
    sql = "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int)', 'robots'); END $$"
    assert facts(sql).also_creates == ()


def test_do_block_mentions_the_identifiers_in_its_body() -> None:
    mentions = facts("DO $$ BEGIN UPDATE Robots SET name = 'x'; END $$").mentions
    assert {"robots", "name", "update"} <= set(mentions)


def test_do_block_in_another_language_creates_nothing_known() -> None:
    sql = "DO LANGUAGE plpython3u $$ plpy.execute('CREATE TABLE robots (id int)') $$"
    result = facts(sql)
    assert (result.also_creates, "robots" in result.mentions) == ((), True)


def test_statement_nobody_models_is_opaque() -> None:
    result = facts("CALL archive_robots(30)")
    assert (result.action, result.target, result.mentions) == (Action.OTHER, None, ("archive_robots", "call"))


def test_modelled_statements_mention_nothing() -> None:
    statements = ["CREATE TABLE robots (id int)", "SET search_path = app", "SELECT 1", "INSERT INTO t VALUES (1)"]
    assert [facts(sql).mentions for sql in statements] == [()] * 4


def test_identifiers_fold_unquoted_names_and_keep_quoted_ones() -> None:
    assert identifiers("UPDATE \"Robots\" SET Name = 'x'") == ("Robots", "name", "set", "update", "x")


# --- other dialects and missing trees -----------------------------------------------------------------------


def test_without_trees_a_simple_create_is_read_from_its_tokens() -> None:
    sql = 'CREATE OR REPLACE TRANSIENT TABLE IF NOT EXISTS "App".Robots (id int)'
    result = describe(sqlglot_tree(sql, "snowflake"), None, sql, "snowflake")
    assert (result.action, result.target, result.if_not_exists) == (Action.REPLACE, table("robots", "App"), True)


def test_without_trees_a_function_is_not_guessed() -> None:
    result = describe(None, None, "CREATE FUNCTION f(a int) RETURNS int", "snowflake")
    assert (result.action, result.target, "f" in result.mentions) == (Action.OTHER, None, True)


def test_pglast_is_used_when_sqlglot_failed() -> None:
    sql = "CREATE TABLE t (a int REFERENCES x ON DELETE SET NULL (a))"  # sqlglot raises on the column list
    assert sqlglot_tree(sql) is None
    assert (facts(sql).target, facts(sql).references) == (table("t"), (table("x"),))


@given(st.text(max_size=80))
def test_describe_never_raises(text: str) -> None:
    assert isinstance(describe(None, None, text, "postgres"), Facts)


@given(st.text(alphabet=st.sampled_from(list("CREATE TABLE OR REPLACE IF NOT EXISTS ab.\"(;'$")), max_size=60))
def test_describe_never_raises_on_what_sqlglot_makes_of_odd_text(text: str) -> None:
    assert isinstance(describe(sqlglot_tree(text), pglast_node(text), text), Facts)


# --- both trees agree ---------------------------------------------------------------------------------------

AGREED = [
    "CREATE TABLE IF NOT EXISTS app.robots (id serial PRIMARY KEY, name varchar(40) NOT NULL DEFAULT 'r2',"
    " owner_id int REFERENCES owners (id) ON DELETE CASCADE, at timestamptz, CONSTRAINT uq UNIQUE (name),"
    " CHECK (id > 0))",
    "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    "CREATE TABLE child (x int) INHERITS (parent)",
    "CREATE TABLE copy (LIKE robots INCLUDING ALL)",
    "CREATE TABLE snapshot AS SELECT * FROM robots",
    "CREATE OR REPLACE VIEW v AS WITH c AS (SELECT * FROM x) SELECT * FROM c JOIN y USING (id)",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS totals AS SELECT count(*) FROM robots",
    "CREATE UNIQUE INDEX IF NOT EXISTS robots_name ON app.robots (name)",
    "CREATE INDEX ON robots (owner_id, name)",
    "CREATE SEQUENCE counter OWNED BY app.robots.id",
    "CREATE TRIGGER touch BEFORE UPDATE ON robots FOR EACH ROW EXECUTE FUNCTION touch()",
    "CREATE TYPE mood AS ENUM ('happy', 'sad')",
    "CREATE SCHEMA IF NOT EXISTS app",
    "ALTER TABLE robots ADD COLUMN serial_no bigserial",
    "ALTER TABLE robots ADD CONSTRAINT fk FOREIGN KEY (owner_id) REFERENCES owners (id)",
    "ALTER TABLE robots RENAME TO machines",
    "ALTER TABLE robots DROP CONSTRAINT IF EXISTS robots_name_key",
    "DROP TABLE IF EXISTS a, b CASCADE",
    "DROP TRIGGER IF EXISTS touch ON robots",
    "DROP MATERIALIZED VIEW totals",
    "INSERT INTO robots (name) SELECT name FROM staging",
    "WITH c AS (SELECT 1) SELECT * FROM c, robots",
    "GRANT SELECT ON robots TO reader",
    "COMMENT ON COLUMN app.robots.name IS 'x'",
    "SELECT * INTO archive FROM robots",
]


@pytest.mark.parametrize("sql", AGREED)
def test_sqlglot_and_pglast_describe_a_statement_alike(sql: str) -> None:
    tree = sqlglot_tree(sql)
    assert tree is not None and not isinstance(tree, exp.Command)
    assert describe(tree, None, sql) == describe(None, pglast_node(sql), sql)
