"""The plan's rules: order-aware duplicates, conflicts and their resolutions, ordering, rollback coverage."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.equivalence import same_definition
from consolidate.core.plan import build_plan
from consolidate.core.plan_json import down_status
from consolidate.model import Action, Decision, ObjectRef, Plan, Statement
from tests.planning import Item, function, mapping, parsed_file, scan_of, stmt, table, trigger

CREATE, REPLACE, ALTER, DROP = Action.CREATE, Action.REPLACE, Action.ALTER, Action.DROP


def plan_of(
    *files: list[Item],
    resolutions: Sequence[tuple[str, str]] = (),
    provided: Sequence[str] = (),
    targets: list[list[str]] | None = None,
    downs: Sequence[tuple[str, str]] = (),
    down_text: str = "DROP TABLE t;\n",
) -> Plan:
    paths = [f"f{n}.sql" for n in range(len(files))]
    parsed = {path: parsed_file(path, items) for path, items in zip(paths, files, strict=True)}
    layout = targets if targets is not None else [[path] for path in paths]
    scan = scan_of(paths, downs, down_text)
    result, problems = build_plan(mapping(layout, resolutions, provided), scan, parsed)
    assert not problems, problems
    return result


def kept_fingerprints(plan: Plan) -> list[str]:
    return [s.fingerprint for t in plan.targets for source in t.sources for s in source.statements]


def test_an_identical_later_definition_is_dropped_and_points_at_the_kept_copy() -> None:
    fn = function("touch()")
    plan = plan_of([stmt("a", REPLACE, fn)], [stmt("a", REPLACE, fn)])
    assert len(plan.duplicates) == 1
    duplicate = plan.duplicates[0]
    assert (duplicate.removed.path, duplicate.kept.path, duplicate.target) == ("f1.sql", "f0.sql", 2)
    assert kept_fingerprints(plan) == ["a"]


def test_an_identical_definition_after_an_alter_of_its_object_is_kept() -> None:
    t = table("robots")
    plan = plan_of(
        [stmt("a", CREATE, t, if_not_exists=True)], [stmt("b", ALTER, t)], [stmt("a", CREATE, t, if_not_exists=True)]
    )
    assert plan.duplicates == ()
    assert kept_fingerprints(plan) == ["a", "b", "a"]


def test_a_trigger_is_not_deduplicated_across_a_drop_of_its_table() -> None:
    trg = trigger("trg", "robots")
    plan = plan_of(
        [stmt("t", CREATE, table("robots")), stmt("g", CREATE, trg)],
        [stmt("d", DROP, table("robots")), stmt("t", CREATE, table("robots")), stmt("g", CREATE, trg)],
    )
    assert plan.duplicates == ()


def test_nothing_is_deduplicated_across_a_drop_cascade() -> None:
    fn = function("touch()")
    plan = plan_of([stmt("a", REPLACE, fn)], [stmt("x", DROP, table("other"), cascade=True)], [stmt("a", REPLACE, fn)])
    assert plan.duplicates == ()


def test_a_do_block_that_mentions_an_object_blocks_its_deduplication() -> None:
    fn = function("touch()")
    plan = plan_of([stmt("a", REPLACE, fn)], [stmt("do", mentions=("touch",))], [stmt("a", REPLACE, fn)])
    assert plan.duplicates == ()


def test_repeated_data_statements_are_never_dropped() -> None:
    plan = plan_of(
        [stmt("t", CREATE, table("roles")), stmt("ins", references=[table("roles")])],
        [stmt("ins", references=[table("roles")])],
    )
    assert plan.duplicates == ()
    assert kept_fingerprints(plan) == ["t", "ins", "ins"]


def test_a_different_create_if_not_exists_is_a_conflict_naming_the_lost_columns() -> None:
    first = stmt("v1", CREATE, table("robots"), columns=("id", "name"), if_not_exists=True)
    second = stmt("v2", CREATE, table("robots"), columns=("id", "hostname", "status"), if_not_exists=True)
    plan = plan_of([first], [second])
    (conflict,) = plan.conflicts
    assert conflict.lost_columns == ("hostname", "status")
    assert "skipped (IF NOT EXISTS)" in conflict.detail and "f0.sql:1" in conflict.detail
    assert not plan.clean
    assert plan.errors[-1].code == "plan.unresolved-conflict"


def test_keep_first_resolves_the_conflict_and_leaves_the_second_definition_out() -> None:
    first = stmt("v1", CREATE, table("robots"), columns=("id",), if_not_exists=True)
    second = stmt("v2", CREATE, table("robots"), columns=("id", "extra"), if_not_exists=True)
    plan = plan_of([first], [second], resolutions=[("table robots", "keep-first")])
    assert plan.clean
    assert plan.conflicts[0].resolution is not None
    assert plan.conflicts[0].resolution.decision is Decision.KEEP_FIRST
    assert kept_fingerprints(plan) == ["v1"]


def test_merge_columns_keeps_the_second_definition_for_the_renderer() -> None:
    first = stmt("v1", CREATE, table("robots"), columns=("id",), if_not_exists=True)
    second = stmt("v2", CREATE, table("robots"), columns=("id", "extra"), if_not_exists=True)
    plan = plan_of([first], [second], resolutions=[("table public.robots", "merge-columns")])
    assert plan.clean
    assert kept_fingerprints(plan) == ["v1", "v2"]


def test_a_resolution_for_an_object_without_conflict_is_bad_input() -> None:
    paths = {"f0.sql": parsed_file("f0.sql", [stmt("a", CREATE, table("robots"))])}
    _, problems = build_plan(mapping([["f0.sql"]], [("table ghosts", "keep-first")]), scan_of(["f0.sql"]), paths)
    (problem,) = problems
    assert problem.code == "mapping.unused-resolution"
    assert problem.location.line == 100
    assert "table ghosts" in problem.message


def test_merge_columns_on_a_function_is_bad_input() -> None:
    fn = function("f()")
    files = {
        "f0.sql": parsed_file("f0.sql", [stmt("a", CREATE, fn)]),
        "f1.sql": parsed_file("f1.sql", [stmt("b", CREATE, fn)]),
    }
    _, problems = build_plan(
        mapping([["f0.sql"], ["f1.sql"]], [("function f()", "merge-columns")]), scan_of(list(files)), files
    )
    assert [problem.code for problem in problems] == ["mapping.bad-decision"]


def test_create_or_replace_with_another_body_is_a_redefinition_and_both_are_kept() -> None:
    fn = function("claim_job(text)")
    plan = plan_of([stmt("body1", REPLACE, fn)], [stmt("body2", REPLACE, fn)])
    assert plan.conflicts == ()
    (redefinition,) = plan.redefinitions
    assert (redefinition.earlier.fingerprint, redefinition.later.fingerprint) == ("body1", "body2")
    assert kept_fingerprints(plan) == ["body1", "body2"]


def test_a_reference_to_a_table_created_later_is_an_ordering_error_naming_where() -> None:
    plan = plan_of(
        [stmt("fk", CREATE, table("keys"), references=[table("robots")])], [stmt("r", CREATE, table("robots"))]
    )
    (error,) = plan.ordering_errors
    assert str(error.location) == "f0.sql:1"
    assert "created (at f1.sql:1)" in error.message


def test_a_reference_to_a_table_nobody_creates_is_an_ordering_error() -> None:
    plan = plan_of([stmt("fk", CREATE, table("keys"), references=[table("users", "auth")])])
    (error,) = plan.ordering_errors
    assert "table auth.users is referenced but no mapped source creates it" in error.message


def test_a_table_the_platform_provides_may_be_referenced() -> None:
    plan = plan_of(
        [stmt("fk", CREATE, table("keys"), references=[table("users", "auth")])], provided=["table auth.users"]
    )
    assert plan.ordering_errors == ()


def test_a_self_reference_is_not_an_ordering_error() -> None:
    plan = plan_of([stmt("tree", CREATE, table("nodes"), references=[table("nodes")])])
    assert plan.clean


def test_rollback_coverage_is_legacy_partial_or_missing() -> None:
    plan = plan_of(
        [stmt("a")],
        [stmt("b")],
        [stmt("c")],
        targets=[["f0.sql", "f1.sql"], ["f2.sql"]],
        downs=[("f0.sql", "f0_down.sql")],
    )
    assert [down_status(target) for target in plan.targets] == ["partial", "missing"]
    assert plan.targets[0].sources[0].down == "f0_down.sql"


def test_a_down_file_without_sql_counts_as_no_rollback() -> None:
    # An empty placeholder would let `migrate down` forget the version while its objects stay.
    plan = plan_of([stmt("a")], downs=[("f0.sql", "f0_down.sql")], down_text="-- nothing to undo\n")
    assert (down_status(plan.targets[0]), plan.targets[0].sources[0].down) == ("missing", None)


# --- properties ------------------------------------------------------------------------------------------------

OBJECTS = [table("a"), table("b"), function("f()"), trigger("g", "a")]
actions = st.sampled_from([CREATE, REPLACE, ALTER, DROP, Action.OTHER])


@st.composite
def sequences(draw: st.DrawFn) -> list[list[Item]]:
    """Files of create/replace/alter/drop statements over a few objects with few distinct bodies."""
    files = []
    for _ in range(draw(st.integers(1, 5))):
        items = []
        for _ in range(draw(st.integers(0, 6))):
            action = draw(actions)
            target = draw(st.sampled_from(OBJECTS)) if action is not Action.OTHER else None
            items.append(stmt(draw(st.sampled_from("xyz")), action, target, cascade=draw(st.booleans())))
        files.append(items)
    return files


def one_definition(first: Statement, second: Statement) -> bool:
    return first.fingerprint == second.fingerprint or same_definition(first.text, second.text)


def _events(plan: Plan) -> list[tuple[str, int]]:
    return [(s.path, s.index) for t in plan.targets for source in t.sources for s in source.statements]


@given(sequences())
def test_dedup_never_drops_a_statement_whose_object_changed_in_between(files: list[list[Item]]) -> None:
    plan = plan_of(*files)
    order = [(f"f{n}.sql", i, item) for n, items in enumerate(files) for i, item in enumerate(items)]
    position = {(path, index): p for p, (path, index, _) in enumerate(order)}
    for duplicate in plan.duplicates:
        start, end = (
            position[(duplicate.kept.path, duplicate.kept.index)],
            position[(duplicate.removed.path, duplicate.removed.index)],
        )
        assert one_definition(duplicate.kept, duplicate.removed)
        assert duplicate.kept.target == duplicate.removed.target
        between = [item for _, _, item in order[start + 1 : end]]
        target = duplicate.removed.target
        assert not any(i.facts.action is DROP and i.facts.cascade for i in between)
        assert not any(i.facts.target == target and i.facts.action in (ALTER, DROP) for i in between)
        # a different CREATE OR REPLACE in between would have become the definition to compare with
        replaced = [i for i in between if i.facts.target == target and i.facts.action is REPLACE]
        assert all(one_definition(i, duplicate.kept) for i in replaced)


@given(sequences())
def test_the_kept_sequence_is_the_legacy_sequence_minus_exactly_the_removed_duplicates(files: list[list[Item]]) -> None:
    plan = plan_of(*files)
    legacy = [(f"f{n}.sql", i) for n, items in enumerate(files) for i, _ in enumerate(items)]
    removed = {(d.removed.path, d.removed.index) for d in plan.duplicates}
    removed |= {(c.second.path, c.second.index) for c in plan.conflicts if c.resolution is not None}
    assert _events(plan) == [key for key in legacy if key not in removed]


@given(st.lists(st.integers(1, 4), min_size=1, max_size=8))
def test_renumbering_is_a_bijection_from_mapped_sources_to_targets(sizes: list[int]) -> None:
    layout = []
    counter = 0
    for size in sizes:
        layout.append([f"f{counter + k}.sql" for k in range(size)])
        counter += size
    paths = [path for group in layout for path in group]
    files = {path: parsed_file(path, [stmt(path)]) for path in paths}
    plan, _ = build_plan(mapping(layout), scan_of(paths), files)
    placed = [source.path for target in plan.targets for source in target.sources]
    assert sorted(placed) == sorted(paths) and len(placed) == len(set(placed))
    assert [target.target.version for target in plan.targets] == list(range(1, len(sizes) + 1))


def test_a_create_after_a_drop_of_the_same_object_is_neither_a_conflict_nor_a_duplicate() -> None:
    view = ObjectRef("view", "public", "fleet")
    plan = plan_of([stmt("v1", CREATE, view)], [stmt("d", DROP, view, if_not_exists=True), stmt("v2", CREATE, view)])
    assert (plan.conflicts, plan.duplicates) == ((), ())
    assert kept_fingerprints(plan) == ["v1", "d", "v2"]


def test_a_trigger_recreated_after_its_table_was_dropped_is_not_a_conflict() -> None:
    trg = trigger("trg", "robots")
    plan = plan_of(
        [stmt("t", CREATE, table("robots")), stmt("g1", CREATE, trg)],
        [stmt("d", DROP, table("robots")), stmt("t2", CREATE, table("robots")), stmt("g2", CREATE, trg)],
    )
    assert plan.conflicts == ()


def test_an_identical_create_after_a_change_is_kept_and_is_no_conflict() -> None:
    schema = ObjectRef("schema", None, "r")
    plan = plan_of(
        [stmt("s", CREATE, schema, if_not_exists=True)],
        [stmt("do", mentions=("r",))],
        [stmt("s", CREATE, schema, if_not_exists=True)],
    )
    assert (plan.conflicts, plan.duplicates) == ((), ())


def test_a_plain_create_of_an_existing_object_says_postgresql_rejects_it() -> None:
    plan = plan_of(
        [stmt("a", CREATE, table("t"), columns=("id",))], [stmt("b", CREATE, table("t"), columns=("id", "x"))]
    )
    assert "the second definition is rejected: the object already exists" in plan.conflicts[0].detail
