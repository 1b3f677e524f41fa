"""Object tracking: what exists at each statement, as PostgreSQL would have it (core/namespace.py, core/plan.py).

Every tree here is real SQL, parsed as `plan` parses it: one file per canonical version, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from consolidate.core.plan import build_plan
from consolidate.core.statements import parse_file
from consolidate.model import Plan, Severity
from tests.planning import mapping, scan_of


def plan_sql(*files: str, provided: Sequence[str] = (), resolutions: Sequence[tuple[str, str]] = ()) -> Plan:
    paths = [f"{number:03d}.sql" for number in range(1, len(files) + 1)]
    parsed = {path: parse_file(path, text) for path, text in zip(paths, files, strict=True)}
    plan, problems = build_plan(mapping([[p] for p in paths], resolutions, provided), scan_of(paths), parsed)
    assert problems == ()
    return plan


def ordering(plan: Plan) -> list[str]:
    return [f"{error.location}: {error.message}" for error in plan.ordering_errors]


def test_a_table_that_comes_into_being_by_a_rename_may_be_referenced() -> None:
    plan = plan_sql("CREATE TABLE a (id int);", "ALTER TABLE a RENAME TO b;", "INSERT INTO b VALUES (1);")
    assert ordering(plan) == []


def test_a_column_renamed_without_the_word_column_leaves_its_table_where_it_was() -> None:
    # ALTER TABLE t RENAME a TO b renames a column (crates.io writes it so): t keeps its name.
    plan = plan_sql("CREATE TABLE t (a int);\nALTER TABLE t RENAME a TO b;", "ALTER TABLE t ADD COLUMN c int;")
    assert ordering(plan) == []


def test_a_table_renamed_twice_is_found_under_its_last_name() -> None:
    plan = plan_sql(
        "CREATE TABLE a (id int);\nALTER TABLE a RENAME TO b;",
        "ALTER TABLE b RENAME TO c;",
        "CREATE INDEX ON c (id);\nCOMMENT ON TABLE c IS 'x';",
    )
    assert ordering(plan) == []


def test_a_reference_to_the_old_name_after_a_rename_is_an_ordering_error_naming_the_rename() -> None:
    plan = plan_sql("CREATE TABLE a (id int);", "ALTER TABLE a RENAME TO b;", "INSERT INTO a VALUES (1);")
    assert ordering(plan) == ["003.sql:1: table a is referenced after it was renamed to b at 002.sql:1"]


def test_a_table_moved_to_another_schema_is_found_there_and_not_in_public() -> None:
    plan = plan_sql(
        "CREATE SCHEMA s;\nCREATE TABLE a (id int);",
        "ALTER TABLE a SET SCHEMA s;",
        "INSERT INTO s.a VALUES (1);\nINSERT INTO a VALUES (2);",
    )
    assert ordering(plan) == ["003.sql:2: table a is referenced after it was renamed to s.a at 002.sql:1"]


def test_a_schema_rename_moves_the_tables_it_holds() -> None:
    plan = plan_sql("CREATE SCHEMA s;\nCREATE TABLE s.a (id int);", "ALTER SCHEMA s RENAME TO t;", "SELECT * FROM t.a;")
    assert ordering(plan) == []


def test_a_view_renamed_with_alter_table_is_found_under_its_new_name() -> None:
    plan = plan_sql(
        "CREATE TABLE a (id int);\nCREATE VIEW v AS SELECT id FROM a;", "ALTER TABLE v RENAME TO w;", "SELECT * FROM w;"
    )
    assert ordering(plan) == []


def test_every_table_of_a_multi_object_drop_is_gone() -> None:
    plan = plan_sql(
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);", "DROP TABLE a, b;", "INSERT INTO b VALUES (1);"
    )
    assert ordering(plan) == ["003.sql:1: table b is referenced after it was dropped at 002.sql:1"]


def test_an_index_dropped_as_the_second_of_a_multi_object_drop_may_be_created_again() -> None:
    plan = plan_sql(
        "CREATE TABLE t (a int, b int);\nCREATE INDEX i1 ON t (a);\nCREATE INDEX i2 ON t (b);",
        "DROP INDEX i1, i2;",
        "CREATE INDEX i2 ON t (a, b);",
    )
    assert (plan.conflicts, plan.duplicates, plan.clean) == ((), (), True)


def test_drop_cascade_drops_the_views_on_the_table_and_a_later_use_says_so() -> None:
    plan = plan_sql(
        "CREATE TABLE a (id int);\nCREATE VIEW v AS SELECT id FROM a;\nCREATE VIEW w AS SELECT id FROM v;",
        "DROP TABLE a CASCADE;",
        "SELECT * FROM w;",
    )
    assert ordering(plan) == ["003.sql:1: table w is referenced after it was dropped at 002.sql:1 (CASCADE from a)"]


def test_an_alter_of_a_table_nothing_created_is_an_ordering_error() -> None:
    plan = plan_sql("CREATE TABLE a (id int);", "ALTER TABLE missing ADD COLUMN x int;")
    assert ordering(plan) == ["002.sql:1: table missing is referenced but no mapped source creates it"]


def test_an_alter_if_exists_of_a_table_nothing_created_is_fine() -> None:
    assert ordering(plan_sql("ALTER TABLE IF EXISTS missing ADD COLUMN x int;")) == []


def test_an_alter_of_a_table_created_later_names_where() -> None:
    plan = plan_sql("ALTER TABLE a ADD COLUMN x int;", "CREATE TABLE a (id int);")
    assert ordering(plan) == ["001.sql:1: table a is referenced before it is created (at 002.sql:1)"]


def test_a_drop_without_if_exists_of_a_type_nothing_created_is_an_ordering_error() -> None:
    assert ordering(plan_sql("DROP TYPE mood;")) == [
        "001.sql:1: type mood is referenced but no mapped source creates it"
    ]


def test_an_alter_of_an_index_nothing_created_is_not_an_error_since_constraints_create_indexes() -> None:
    plan = plan_sql("CREATE TABLE a (id int PRIMARY KEY);", "ALTER INDEX a_pkey RENAME TO a_key;")
    assert ordering(plan) == []


def test_a_table_created_only_in_a_do_block_that_the_plan_cannot_read_is_a_warning_not_an_error() -> None:
    plan = plan_sql(
        "DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id int)', 'jobs'); END $$;",
        "INSERT INTO jobs VALUES (1);",
    )
    unsure = [f for f in plan.findings if f.code == "plan.ordering-unsure"]
    assert (ordering(plan), [(f.location.path, f.severity) for f in unsure]) == (
        [],
        [("002.sql", Severity.WARNING)],
    )


def test_a_provided_table_may_be_renamed_and_used_under_its_new_name() -> None:
    plan = plan_sql(
        "ALTER TABLE auth.users RENAME TO people;", "SELECT * FROM auth.people;", provided=["table auth.users"]
    )
    assert ordering(plan) == []


def test_a_trigger_follows_its_table_through_a_rename() -> None:
    plan = plan_sql(
        "CREATE TABLE a (id int);\nCREATE TRIGGER tr BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f();",
        "ALTER TABLE a RENAME TO b;\nCREATE TABLE a (id int);",
        "CREATE TRIGGER tr BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION f();",
    )
    assert (plan.duplicates, plan.conflicts) == ((), ())


# --- what a keep-first resolution leaves behind ----------------------------------------------------------------

SKIPPED_TWICE = (
    "CREATE TABLE robots (id int PRIMARY KEY, name text);",
    "CREATE TABLE IF NOT EXISTS robots (id int PRIMARY KEY, name text, status text, zone text);\n"
    "COMMENT ON COLUMN robots.status IS 'idle or busy';",
)


def dependents(plan: Plan) -> list[tuple[str, Severity]]:
    return [(str(f.location), f.severity) for f in plan.findings if f.code == "plan.resolution-dependent"]


def test_keep_first_makes_a_kept_comment_on_a_column_only_the_left_out_definition_had_an_error() -> None:
    plan = plan_sql(*SKIPPED_TWICE, resolutions=[("table robots", "keep-first")])
    assert (dependents(plan), plan.clean) == ([("002.sql:2", Severity.ERROR)], False)
    assert "uses status of table robots" in plan.errors[0].message


def test_a_table_dropped_with_another_in_one_drop_table_is_watched_no_more() -> None:
    first, second = SKIPPED_TWICE
    second = second.replace(
        "COMMENT",
        "CREATE TABLE other (id int);\nDROP TABLE other, robots;\nCREATE TABLE robots (status text);\nCOMMENT",
    )
    plan = plan_sql(first, second, resolutions=[("table robots", "keep-first")])
    assert dependents(plan) == []


def test_merge_columns_keeps_the_column_so_the_comment_is_fine() -> None:
    plan = plan_sql(*SKIPPED_TWICE, resolutions=[("table robots", "merge-columns")])
    assert (dependents(plan), plan.clean) == ([], True)


def test_a_column_added_back_by_alter_table_is_no_longer_missing() -> None:
    first, second = SKIPPED_TWICE
    second = second.replace("COMMENT", "ALTER TABLE robots ADD COLUMN status text;\nCOMMENT")
    plan = plan_sql(first, second, resolutions=[("table robots", "keep-first")])
    assert dependents(plan) == []


def test_an_index_on_a_missing_column_is_an_error_and_a_join_naming_it_only_a_warning() -> None:
    plan = plan_sql(
        *SKIPPED_TWICE[:1],
        SKIPPED_TWICE[1].replace("COMMENT ON COLUMN robots.status IS 'idle or busy';", "")
        + "\nCREATE TABLE zones (zone text);\nCREATE INDEX ON robots (zone);\n"
        + "SELECT * FROM robots JOIN zones USING (zone);",
        resolutions=[("table robots", "keep-first")],
    )
    assert dependents(plan) == [("002.sql:4", Severity.ERROR), ("002.sql:5", Severity.WARNING)]


def test_a_column_named_only_in_a_string_or_comment_is_not_a_use() -> None:
    first, second = SKIPPED_TWICE
    second = second.replace(
        "COMMENT ON COLUMN robots.status IS 'idle or busy';", "UPDATE robots SET name = 'status'; -- zone"
    )
    plan = plan_sql(first, second, resolutions=[("table robots", "keep-first")])
    assert dependents(plan) == []


def test_an_index_dropped_with_its_column_may_be_created_again_with_another_definition() -> None:
    plan = plan_sql(
        "CREATE TABLE downloads (id int, processed bool);\n"
        "CREATE UNIQUE INDEX downloads_open ON downloads (id) WHERE NOT processed;",
        "ALTER TABLE downloads DROP COLUMN id;",
        "CREATE INDEX IF NOT EXISTS downloads_open ON downloads (processed) WHERE NOT processed;",
    )
    assert (plan.conflicts, plan.clean) == ((), True)


def test_an_index_on_other_columns_survives_a_drop_column_and_a_different_redefinition_conflicts() -> None:
    plan = plan_sql(
        "CREATE TABLE downloads (id int, processed bool, at date);\nCREATE INDEX downloads_at ON downloads (at);",
        "ALTER TABLE downloads DROP COLUMN id;",
        "CREATE INDEX IF NOT EXISTS downloads_at ON downloads (processed);",
    )
    assert [str(conflict.object) for conflict in plan.conflicts] == ["index downloads_at on downloads"]


def test_create_index_concurrently_repeating_an_index_is_a_duplicate_not_a_conflict() -> None:
    plan = plan_sql(
        "CREATE TABLE v (ns int, at date);\nCREATE INDEX by_ns ON v (ns, at);",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS by_ns ON v (ns, at);",
    )
    assert (len(plan.duplicates), plan.conflicts) == (1, ())


def test_an_index_skipped_because_its_name_is_taken_does_not_count_as_the_same_index_twice() -> None:
    plan = plan_sql(
        "CREATE TABLE a (f int);\nCREATE TABLE b (f int);\nCREATE INDEX IF NOT EXISTS idx_a ON a (f);",
        "CREATE INDEX IF NOT EXISTS idx_a ON b (f);",
        "CREATE INDEX IF NOT EXISTS idx_b ON b (f);",
        resolutions=[("index idx_a", "keep-first")],
    )
    assert [f.code for f in plan.findings if f.code == "plan.same-index"] == []


def test_an_unqualified_table_created_under_a_search_path_lives_in_that_schema() -> None:
    plan = plan_sql(
        "CREATE SCHEMA app;\nSET search_path TO app, public;\n"
        "CREATE TABLE jobs (id int);\nINSERT INTO jobs VALUES (1);",
        "INSERT INTO app.jobs VALUES (2);\nINSERT INTO jobs VALUES (3);",
    )
    assert ordering(plan) == [
        "002.sql:2: table jobs is referenced where PostgreSQL does not find it: 001.sql:3 creates it under another"
        " search_path"
    ]


def test_a_search_path_ends_with_its_source() -> None:
    plan = plan_sql(
        "CREATE SCHEMA app;\nCREATE TABLE app.jobs (id int);",
        "SET search_path = app;\nSELECT * FROM jobs;",
        "SELECT * FROM jobs;",
    )
    assert ordering(plan) == ["003.sql:1: table jobs is referenced but no mapped source creates it"]


def test_an_index_name_taken_on_another_table_names_both_tables() -> None:
    plan = plan_sql(
        "CREATE TABLE teams (admin bool);\nCREATE TABLE channels (admin bool);\n"
        "CREATE INDEX IF NOT EXISTS idx_admin ON teams (admin);",
        "CREATE INDEX IF NOT EXISTS idx_admin ON channels (admin);",
    )
    assert [(str(c.object), c.detail) for c in plan.conflicts] == [
        (
            "index idx_admin on teams",
            "the second definition (on channels) is skipped (IF NOT EXISTS): the name is taken by the index on "
            "teams at 001.sql:3",
        )
    ]


def test_merge_columns_then_a_later_add_column_of_the_same_column_is_an_error() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);",
        "CREATE TABLE IF NOT EXISTS t1 (a int, b int);\nALTER TABLE t1 ADD COLUMN b int;\n"
        "ALTER TABLE t1 ADD COLUMN IF NOT EXISTS b int;",
        resolutions=[("table t1", "merge-columns")],
    )
    assert (dependents(plan), plan.clean) == ([("002.sql:2", Severity.ERROR)], False)
    assert "merge-columns already added" in plan.errors[0].message


def test_a_column_renamed_there_and_back_before_the_skipped_definition_is_still_lost() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);\nALTER TABLE t1 RENAME COLUMN a TO b;\nALTER TABLE t1 RENAME COLUMN b TO a;",
        "CREATE TABLE IF NOT EXISTS t1 (a int, b int);\nALTER TABLE t1 ADD COLUMN b int;",
        resolutions=[("table t1", "merge-columns")],
    )
    assert dependents(plan) == [("002.sql:2", Severity.ERROR)]


def test_a_column_dropped_before_the_skipped_definition_is_lost_again() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);\nALTER TABLE t1 ADD COLUMN b int;\nALTER TABLE t1 DROP COLUMN b;",
        "CREATE TABLE IF NOT EXISTS t1 (a int, b int);\nALTER TABLE t1 ADD COLUMN b int;",
        resolutions=[("table t1", "merge-columns")],
    )
    assert dependents(plan) == [("002.sql:2", Severity.ERROR)]


def test_a_view_repeated_after_its_table_was_renamed_away_is_kept_it_now_reads_the_new_table() -> None:
    view = "CREATE OR REPLACE VIEW v1 AS SELECT a FROM t1;"
    plan = plan_sql(
        f"CREATE TABLE t1 (a int);\n{view}", f"ALTER TABLE t1 RENAME TO t2;\nCREATE TABLE t1 (a int);\n{view}"
    )
    assert plan.duplicates == ()


def test_a_conflict_on_a_renamed_table_is_named_and_merged_under_its_new_name() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);\nALTER TABLE t1 RENAME TO t3;",
        "CREATE TABLE IF NOT EXISTS t3 (a int, c int);",
        resolutions=[("table t3", "merge-columns")],
    )
    assert [str(conflict.object) for conflict in plan.conflicts] == ["table t3"]


def test_the_same_plain_create_after_a_change_of_its_table_is_a_conflict_postgresql_rejects_it() -> None:
    policy = "CREATE POLICY p ON t USING (true);"
    plan = plan_sql(f"CREATE TABLE t (id int);\n{policy}", f"ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n{policy}")
    assert [(str(c.object), str(c.second.location)) for c in plan.conflicts] == [("policy p on t", "002.sql:2")]
    assert "rejected: the object already exists" in plan.conflicts[0].detail


def test_the_same_create_after_a_change_is_fine_when_it_says_if_not_exists_or_a_do_block_may_drop_it() -> None:
    index = "CREATE INDEX i ON t (id);"
    guarded = plan_sql(
        f"CREATE TABLE t (id int);\n{index}",
        f"ALTER TABLE t ADD COLUMN x int;\n{index.replace('INDEX', 'INDEX IF NOT EXISTS')}",
    )
    dynamic = plan_sql(
        f"CREATE TABLE t (id int);\n{index}",
        "ALTER TABLE t ADD COLUMN x int;\nDO $$ BEGIN EXECUTE 'DROP INDEX ' || 'i'; END $$;\n" + index,
    )
    assert (guarded.conflicts, dynamic.conflicts) == ((), ())


def test_merge_columns_then_a_rename_of_another_column_to_a_merged_name_is_an_error() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);",
        "CREATE TABLE IF NOT EXISTS t1 (a int, b int);\nALTER TABLE t1 RENAME COLUMN a TO b;",
        resolutions=[("table t1", "merge-columns")],
    )
    assert dependents(plan) == [("002.sql:2", Severity.ERROR)]


def test_a_keep_first_watch_follows_its_table_through_a_rename() -> None:
    first, second = SKIPPED_TWICE
    second = second.replace(
        "COMMENT ON COLUMN robots.status", "ALTER TABLE robots RENAME TO bots;\nCOMMENT ON COLUMN bots.status"
    )
    plan = plan_sql(first, second, resolutions=[("table robots", "keep-first")])
    assert dependents(plan) == [("002.sql:3", Severity.ERROR)]


def test_a_column_an_alter_table_added_before_the_skipped_definition_is_not_lost() -> None:
    plan = plan_sql(
        "CREATE TABLE t1 (a int);\nALTER TABLE t1 ADD COLUMN b int;",
        "CREATE TABLE IF NOT EXISTS t1 (a int, b int);\nCOMMENT ON COLUMN t1.b IS 'note';",
        resolutions=[("table t1", "keep-first")],
    )
    assert (dependents(plan), plan.clean) == ([], True)


def test_a_schema_renamed_away_and_made_again_holds_none_of_the_old_definitions() -> None:
    table = "CREATE TABLE s1.t1 (a int);"
    plan = plan_sql(
        f"CREATE SCHEMA s1;\n{table}\nALTER SCHEMA s1 RENAME TO s2;",
        f"CREATE SCHEMA s1;\n{table}\nINSERT INTO s1.t1 (a) VALUES (1);\nINSERT INTO s2.t1 (a) VALUES (1);",
    )
    assert (plan.duplicates, ordering(plan)) == ((), [])


def test_a_create_table_if_not_exists_of_a_watched_table_is_skipped_and_uses_none_of_its_columns() -> None:
    # Reduced from a tree the replay property found: t2 renamed t1 then t1 renamed t3 and t2 renamed t1: the last
    # CREATE TABLE IF NOT EXISTS t1 meets the watched table and PostgreSQL skips it whole.
    plan = plan_sql(
        "CREATE TABLE t1 (a int);\nCREATE TABLE t2 (a int);",
        "CREATE TABLE IF NOT EXISTS t2 (a int, b int);\nALTER TABLE t1 RENAME TO t3;\nALTER TABLE t2 RENAME TO t1;",
        "CREATE TABLE IF NOT EXISTS t1 (b int);",
        resolutions=[("table t2", "keep-first")],
    )
    assert dependents(plan) == []
