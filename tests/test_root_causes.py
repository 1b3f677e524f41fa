"""Root causes: every failure of both replays under the one thing a person fixes (pure: failures made by hand)."""

from __future__ import annotations

from consolidate.model import Location, ObjectRef
from consolidate.postgres.consequences import link
from consolidate.postgres.failures import Cause, Failure, Skip, role_hint
from consolidate.postgres.root_causes import CANONICAL, LEGACY, SKIPPED, root_causes

ROLE = 'role "app_user" does not exist'


def failure(path: str, line: int, sqlstate: str, message: str, statement: str = "", **more: object) -> Failure:
    return Failure(path, line, None, sqlstate, message, statement=statement, **more)  # type: ignore[arg-type]


def consequence(of: Failure, path: str, line: int) -> Failure:
    return failure(path, line, "42P01", 'relation "t" does not exist', cause=Cause(of.location))


def to_legacy(location: Location) -> Location | None:
    """versions/001.sql's line n is db/a.sql's line n - 10 (its header)."""
    return Location("db/a.sql", (location.line or 0) - 10) if location.path == "versions/001.sql" else None


def test_a_failure_that_follows_from_another_is_counted_under_it() -> None:
    cause = failure("db/a.sql", 2, "42P17", "functions in index predicate must be marked IMMUTABLE")
    (root,) = root_causes([cause, consequence(cause, "db/b.sql", 1), consequence(cause, "db/b.sql", 2)], [])
    assert (root.location, root.sqlstate, len(root.consequences), root.failures) == (cause.location, "42P17", 2, 3)


def test_a_chain_of_consequences_ends_at_its_first_cause() -> None:
    first = failure("db/a.sql", 1, "42601", 'syntax error at or near "timestamp"')
    second = consequence(first, "db/a.sql", 5)
    third = consequence(second, "db/b.sql", 1)
    (root,) = root_causes([first, second, third], [])
    assert (root.location.line, [f.location for f in root.consequences]) == (1, [second.location, third.location])


def test_one_missing_role_at_many_statements_is_one_cause_that_they_repeat() -> None:
    grants = [failure("db/a.sql", line, "42704", ROLE) for line in (7, 8, 9)]
    (root,) = root_causes(grants, [])
    assert (root.location.line, [place.line for place in root.repeats], root.failures) == (7, [8, 9], 3)


def test_every_create_extension_of_one_the_server_lacks_is_one_cause() -> None:
    missing = 'extension "pgmq" is not available'
    creates = [failure(path, 1, "0A000", missing, extension="pgmq") for path in ("db/a.sql", "db/b.sql")]
    (root,) = root_causes(creates, [])
    assert (root.location.path, root.repeats) == ("db/a.sql", (Location("db/b.sql", 1),))


def test_a_statement_failing_in_both_replays_is_one_cause_met_by_both() -> None:
    legacy = failure("db/a.sql", 2, "42P17", "functions in index predicate must be marked IMMUTABLE")
    canonical = failure("versions/001.sql", 12, "42P17", "functions in index predicate must be marked IMMUTABLE")
    (root,) = root_causes([legacy], [canonical], to_legacy)
    assert (root.location, root.replays, root.canonical) == (legacy.location, (LEGACY, CANONICAL), canonical.location)
    assert root.repeats == () and root.failures == 2


def test_a_failure_only_the_canonical_replay_met_is_shown_at_its_legacy_line() -> None:
    canonical = failure("versions/001.sql", 15, "42703", 'column "x" does not exist')
    (root,) = root_causes([], [canonical], to_legacy)
    assert (root.location, root.replays) == (Location("db/a.sql", 5), (CANONICAL,))


def test_a_skipped_create_table_is_the_root_of_what_fails_on_the_table() -> None:
    skip = Cause(Location("db/b.sql", 3), skipped="robots")
    caused = [failure("db/b.sql", line, "42703", 'column "ip" does not exist', cause=skip) for line in (9, 12)]
    (root,) = root_causes(caused, [])
    assert (root.location, root.sqlstate, root.skipped, len(root.consequences)) == (skip.location, SKIPPED, "robots", 2)


def test_causes_come_in_the_order_their_first_failure_was_met() -> None:
    found = root_causes(
        [failure("db/a.sql", 1, "42601", "syntax error"), failure("db/b.sql", 1, "42704", ROLE)],
        [failure("versions/001.sql", 30, "42P17", "functions in index predicate must be marked IMMUTABLE")],
        to_legacy,
    )
    assert [(cause.location.path, cause.location.line) for cause in found] == [
        ("db/a.sql", 1),
        ("db/b.sql", 1),
        ("db/a.sql", 20),
    ]


# --- linking: what a failure is a consequence of -------------------------------------------------------------


def test_what_fails_for_lack_of_an_extension_no_server_has_follows_from_its_create_extension() -> None:
    create = failure("db/q.sql", 1, "0A000", 'extension "pgmq" is not available', "CREATE EXTENSION pgmq;")
    call = failure("db/q.sql", 2, "3F000", 'schema "pgmq" does not exist', "SELECT pgmq.create('jobs');")
    function = failure("db/q.sql", 3, "42883", "function pgmq.send(unknown) does not exist", "SELECT pgmq.send('j');")
    linked = link([create, call, function], (), {"db/q.sql": 0})
    assert [f.cause for f in linked] == [None, Cause(create.location), Cause(create.location)]
    assert "would have created extension pgmq (which provides pgmq.send)" in linked[2].hint


def test_a_known_function_of_a_failed_extension_is_its_consequence_not_a_guess() -> None:
    create = failure("db/a.sql", 1, "0A000", 'extension "uuid-ossp" is not available', 'CREATE EXTENSION "uuid-ossp";')
    guess = "uuid_generate_v4() comes from the extension uuid-ossp: is its CREATE EXTENSION missing or later?"
    call = failure("db/a.sql", 2, "42883", "function uuid_generate_v4() does not exist", "SELECT 1;", hint=guess)
    (_, linked) = link([create, call], (), {"db/a.sql": 0})
    assert linked.cause == Cause(create.location) and "missing or later" not in linked.hint


def test_a_use_of_a_name_a_failed_rename_would_have_given_follows_from_the_rename() -> None:
    rename = failure("db/a.sql", 4, "42P01", 'relation "old" does not exist', "ALTER TABLE old RENAME TO new;")
    use = failure("db/a.sql", 5, "42P01", 'relation "new" does not exist', "INSERT INTO new VALUES (1);")
    assert link([rename, use], (), {"db/a.sql": 0})[1].cause == Cause(rename.location)


def test_a_removed_duplicate_of_a_rolled_back_versions_statement_is_named_with_the_cause() -> None:
    first = failure("versions/001.sql", 20, "42P17", "functions in index predicate must be marked IMMUTABLE")
    call = failure("versions/002.sql", 14, "42883", "function uuid_generate_v4() does not exist", "SELECT 1;")
    rolled_back = {"versions/001.sql": ((12, 'CREATE EXTENSION "uuid-ossp";'), (20, "CREATE INDEX i ON t (a);"))}
    removed = {"versions/002.sql": [(ObjectRef("extension", None, "uuid-ossp"), "its own was removed as a duplicate")]}
    order = {"versions/001.sql": 1, "versions/002.sql": 2}
    linked = link([first, call], (), order, rolled_back, removed)[1]
    assert linked.cause == Cause(first.location)
    assert "rolled back whole, and with it extension uuid-ossp" in linked.hint
    assert "its own was removed as a duplicate" in linked.hint


def test_a_grant_to_a_missing_role_is_not_blamed_on_a_skipped_create_table() -> None:
    skip = Skip("robots", "db/b.sql", 1)
    grant = failure(
        "db/b.sql", 9, "42704", 'role "casare_user" does not exist', "GRANT SELECT ON robots TO casare_user;"
    )
    assert link([grant], [skip], {"db/b.sql": 0})[0].cause is None


def test_a_non_immutable_index_predicate_is_not_blamed_on_a_skipped_create_table() -> None:
    skip = Skip("robots", "db/b.sql", 1)
    index = failure(
        "db/b.sql",
        9,
        "42P17",
        "functions in index predicate must be marked IMMUTABLE",
        "CREATE INDEX i ON robots (id) WHERE now() > '2020-01-01';",
    )
    assert link([index], [skip], {"db/b.sql": 0})[0].cause is None


def test_a_view_redefined_with_other_columns_is_not_blamed_on_a_skipped_create_table() -> None:
    skip = Skip("robots", "db/b.sql", 1)
    view = failure(
        "db/b.sql",
        9,
        "42P16",
        'cannot change name of view column "calendar_name" to "sla_threshold"',
        "CREATE OR REPLACE VIEW robot_status AS SELECT sla_threshold FROM robots;",
    )
    assert link([view], [skip], {"db/b.sql": 0})[0].cause is None


def test_a_missing_column_of_a_table_whose_create_was_skipped_follows_from_the_skip() -> None:
    skip = Skip("robots", "db/b.sql", 1)
    index = failure("db/b.sql", 9, "42703", 'column "ip" does not exist', "CREATE INDEX i ON robots (ip);")
    assert link([index], [skip], {"db/b.sql": 0})[0].cause == Cause(Location("db/b.sql", 1), skipped="robots")


def test_a_missing_role_is_explained_for_verify_and_for_a_deploy_alike() -> None:
    hint = role_hint("42704", 'role "casare_user" does not exist')
    assert "prelude" in hint and "before `migrate up`" in hint
    assert role_hint("42704", 'type "mood" does not exist') == ""
