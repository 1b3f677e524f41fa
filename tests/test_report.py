"""CONSOLIDATION.md: every tick, number and command follows from a fact, and each falls when its fact does.

The facts are computed in consolidate/core/report_facts.py and laid out by consolidate/render/report.py; the
tests check both, mostly through the facts.

The reference case (mapping.yaml, legacy_fixtures/) is planned once and "applied" in memory: its tree comes from
render_tree, its lock records that tree's checksums and the legacy files read, as apply records them.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shlex
from collections.abc import Mapping as Lookup
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consolidate.core.report_facts import Check, ReportFacts, draw, removal, report_facts, shown
from consolidate.layout import (
    LEGACY_MARKER,
    LOCK_NAME,
    REPORT_NAME,
    RUNNER_NAME,
    STUB_MARKER,
    VERIFICATION_NAME,
    down_path,
    version_path,
)
from consolidate.model import (
    Diagnostic,
    Direction,
    Exclusion,
    FileName,
    Group,
    LegacyFile,
    Location,
    Lock,
    LockEntry,
    Mapping,
    Plan,
    ScanResult,
    Scheme,
)
from consolidate.pipeline import Planned, planned
from consolidate.render.environment import environment
from consolidate.render.report import render_report
from consolidate.render.tree import render_tree
from tests.planning import mapping as small_mapping
from tests.planning import scan_of

REPO = Path(__file__).resolve().parent.parent
Tree = dict[str, bytes]


# --- vocabulary -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference() -> Planned:
    return planned(REPO / "mapping.yaml", jobs=1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def applied(done: Planned, date: str = "2024-05-01") -> tuple[Tree, Lock]:
    """The tree apply writes (versions/ and down/) and the lock it records, built in memory."""
    plan, scan = done.plan, done.scan
    rendered = render_tree(environment(), plan, scan, done.parsed)
    tree = {path: text.encode("utf-8") for path, text in rendered.items()}
    return tree, lock_for(plan, scan, tree, date)


def lock_for(plan: Plan, scan: ScanResult, tree: Lookup[str, bytes], date: str = "2024-05-01") -> Lock:
    sources = [
        LockEntry(path, legacy.sha256, target.target.version)
        for target in plan.targets
        for source in target.sources
        for path in (source.path, source.down)
        if path is not None and (legacy := scan.file(path)) is not None
    ]
    return Lock(
        tool_version="test",
        mapping_sha256="0" * 64,
        date=date,
        sources=tuple(sorted(sources, key=lambda entry: entry.path)),
        outputs=tuple(LockEntry(path, sha(data)) for path, data in sorted(tree.items())),
    )


def facts_of(
    done: Planned,
    tree: Lookup[str, bytes] | None = None,
    lock: Lock | None = None,
    verification: Lookup[str, Any] | None = None,
    plan: Plan | None = None,
    scan: ScanResult | None = None,
) -> ReportFacts:
    applied_tree, applied_lock = applied(done)
    files = dict(applied_tree if tree is None else tree)
    if verification is not None:
        files[VERIFICATION_NAME] = json.dumps(verification).encode("utf-8")
    return report_facts(plan or done.plan, scan or done.scan, lock or applied_lock, files)


def proof_of(tree: Lookup[str, bytes], **found: Any) -> dict[str, Any]:
    """verification.json as verify writes it for these very files (versions/ and down/), with what it `found`."""
    outputs = {path: sha(data) for path, data in tree.items() if path.startswith(("versions/", "down/"))}
    return {"proven": True, "server_version": "15.8", "equivalent": True, "outputs": outputs} | found


def check(facts: ReportFacts, claim: str) -> Check:
    (found,) = [item for item in facts.checks if item.claim.startswith(claim)]
    return found


def text_of(facts: ReportFacts) -> str:
    return render_report(environment(), facts)


def label(done: Planned, version: int) -> str:
    return done.plan.targets[version - 1].target.label(done.plan.mapping.width)


def version_file(done: Planned, version: int) -> str:
    return version_path(label(done, version))


def down_file(done: Planned, version: int) -> str:
    return down_path(label(done, version))


def stub(name: str) -> bytes:
    return f"{STUB_MARKER}\n-- {name}: no rollback\n".encode()


def legacy_down(name: str) -> bytes:
    return f"{LEGACY_MARKER}\n-- {name}: carried\nDROP TABLE x;\n".encode()


def commanded(commands: tuple[str, ...]) -> list[tuple[bool, str]]:
    """(whole folder?, path) for each `git rm` command."""
    parsed = [shlex.split(command) for command in commands]
    return [("-r" in words, words[-1]) for words in parsed]


# --- the checklist ---------------------------------------------------------------------------------------------


def test_a_freshly_applied_tree_ticks_what_its_facts_support(reference: Planned) -> None:
    facts = facts_of(reference)
    assert check(facts, "All").done and check(facts, "Numbered").done and check(facts, "Every legacy").done
    assert check(facts, "No unresolved").done and check(facts, "No ordering").done and check(facts, "No syntax").done
    assert not check(facts, "Rollback").done and not check(facts, "Verified").done
    assert not check(facts, "Runner").done


def test_the_migrations_box_counts_the_planned_migrations(reference: Planned) -> None:
    count = len(reference.plan.targets)
    box = check(facts_of(reference), "All")
    assert box.claim.startswith(f"All {count} migrations present")
    assert f"{count} of {count} present, {count} match the lock" in box.evidence


def test_a_version_file_missing_from_the_tree_unticks_the_migrations_box(reference: Planned) -> None:
    tree, _ = applied(reference)
    del tree[version_file(reference, 3)]
    box = check(facts_of(reference, tree=tree), "All")
    assert not box.done
    assert f"missing: `{version_file(reference, 3)}`" in box.evidence


def test_a_version_file_edited_since_apply_unticks_the_migrations_box(reference: Planned) -> None:
    tree, _ = applied(reference)
    tree[version_file(reference, 2)] += b"-- edited by hand\n"
    facts = facts_of(reference, tree=tree)
    assert not check(facts, "All").done
    assert f"differ from the lock: `{version_file(reference, 2)}`" in check(facts, "All").evidence


def test_a_tree_that_differs_from_the_lock_is_out_of_date(reference: Planned) -> None:
    tree, _ = applied(reference)
    tree[version_file(reference, 2)] += b"-- edited by hand\n"
    facts = facts_of(reference, tree=tree)
    assert facts.status.startswith("Out of date: 1 difference")
    assert f"`{version_file(reference, 2)}` differs from the checksum in the lock" in facts.drift


def test_a_gap_in_the_numbering_unticks_the_numbering_box(reference: Planned) -> None:
    tree, _ = applied(reference)
    del tree[version_file(reference, 5)]
    box = check(facts_of(reference, tree=tree), "Numbered")
    assert (box.done, box.evidence) == (False, "missing 005")


def test_a_file_in_versions_that_the_lock_does_not_know_is_reported(reference: Planned) -> None:
    tree, lock = applied(reference)
    tree["versions/005_extra.sql"] = b"SELECT 1;\n"
    facts = facts_of(reference, tree=tree, lock=lock)
    assert "`versions/005_extra.sql` is not in the lock" in facts.drift
    assert not check(facts, "Numbered").done


def test_a_legacy_file_changed_since_the_lock_was_written_is_out_of_date(reference: Planned) -> None:
    tree, lock = applied(reference)
    first = lock.sources[0]
    lock = replace(lock, sources=(replace(first, sha256="f" * 64), *lock.sources[1:]))
    facts = facts_of(reference, tree=tree, lock=lock)
    assert not check(facts, "Legacy files unchanged").done
    assert f"`{shown(reference.plan.mapping, first.path)}` changed since the lock was written" in facts.drift


def test_rollbacks_are_ticked_only_when_every_down_file_is_carried_from_legacy(reference: Planned) -> None:
    tree, _ = applied(reference)
    count = len(reference.plan.targets)
    every = tree | {down_file(reference, n): legacy_down(label(reference, n)) for n in range(1, count + 1)}
    box = check(facts_of(reference, tree=every, lock=lock_for(reference.plan, reference.scan, every)), "Rollback")
    assert (box.done, box.evidence) == (True, f"{count} of {count} carried from legacy, 0 stubs")


def test_the_rollback_box_counts_legacy_downs_and_stubs(reference: Planned) -> None:
    count = len(reference.plan.targets)
    legacy = sum(1 for target in reference.plan.targets if target.has_down)
    box = check(facts_of(reference), "Rollback")
    assert (box.done, box.evidence) == (False, f"{legacy} of {count} carried from legacy, {count - legacy} stubs")


def test_a_stub_in_place_of_a_legacy_down_counts_as_a_stub(reference: Planned) -> None:
    covered = next(target.target.version for target in reference.plan.targets if target.has_down)
    tree, _ = applied(reference)
    tree[down_file(reference, covered)] = stub(label(reference, covered))
    facts = facts_of(reference, tree=tree, lock=lock_for(reference.plan, reference.scan, tree))
    stubs = [item.label for item in facts.missing_rollbacks]
    assert label(reference, covered) in stubs
    assert check(facts, "Rollback").evidence.endswith(f"{len(stubs)} stubs")


def test_without_verification_json_the_tree_is_not_verified(reference: Planned) -> None:
    facts = facts_of(reference)
    assert facts.status == "Consolidated, not verified on a database"
    assert check(facts, "Verified").evidence == "not verified on a database — run `consolidate verify`"


def test_a_verification_that_proved_nothing_leaves_the_box_unticked(reference: Planned) -> None:
    facts = facts_of(reference, verification=proof_of(applied(reference)[0], proven=False, equivalent=False))
    assert not check(facts, "Verified").done
    assert facts.status.startswith("Consolidated, NOT PROVEN on PostgreSQL 15.8: the schemas differ")


def test_a_proven_verification_ticks_the_box_and_names_the_server(reference: Planned) -> None:
    facts = facts_of(reference, verification=proof_of(applied(reference)[0]))
    assert check(facts, "Verified").done
    assert facts.status == "Consolidated and verified on PostgreSQL 15.8"
    assert not any("consolidate verify" in step for step in facts.next_steps)


def test_a_proof_does_not_carry_over_to_a_tree_that_changed_since(reference: Planned) -> None:
    tree, _ = applied(reference)
    proof = proof_of(tree)
    tree[version_file(reference, 1)] += b"-- edited\n"
    facts = facts_of(reference, tree=tree, verification=proof)
    assert not check(facts, "Verified").done
    assert facts.status.startswith("Out of date")


def test_without_migrate_py_the_runner_is_absent_and_its_commands_wait_for_it(reference: Planned) -> None:
    facts = facts_of(reference)
    text = text_of(facts)
    assert not check(facts, "Runner").done
    assert f"There is no runner yet: `{facts.runner}` does not exist" in text
    assert "- [x] Runner" not in text
    assert all(example.available == ("migrate" not in example.command) for example in facts.examples)
    assert "### Roll back the last two migrations (once the runner exists)" in text


def test_with_migrate_py_in_the_tree_the_runner_is_present(reference: Planned) -> None:
    tree, lock = applied(reference)
    facts = facts_of(reference, tree=tree | {RUNNER_NAME: b"print('runner')\n"}, lock=lock)
    assert check(facts, "Runner").done
    assert all(example.available for example in facts.examples)


def test_an_unresolved_conflict_unticks_its_box_and_blocks_the_status(reference: Planned) -> None:
    plan = reference.plan
    unresolved = replace(plan, conflicts=tuple(replace(conflict, resolution=None) for conflict in plan.conflicts))
    facts = facts_of(reference, plan=unresolved)
    assert not check(facts, "No unresolved").done
    assert facts.status.startswith("Not consolidated: the plan has")
    assert "**Unresolved**" in text_of(facts)


def test_ordering_and_syntax_errors_untick_their_boxes(reference: Planned) -> None:
    where = Location("legacy_fixtures/x.sql", 3)
    broken = replace(
        reference.plan,
        ordering_errors=(Diagnostic("plan.ordering", "table t is referenced before it is created", where),),
        syntax_errors=(Diagnostic("parse.syntax", "syntax error at or near ')'", where),),
    )
    facts = facts_of(reference, plan=broken)
    assert not check(facts, "No ordering").done
    assert not check(facts, "No syntax").done
    assert "first at legacy_fixtures/x.sql:3" in check(facts, "No syntax").evidence


def test_an_error_finding_such_as_a_resolution_dependent_unticks_the_ordering_box(reference: Planned) -> None:
    where = Location("legacy_fixtures/x.sql", 7)
    error = Diagnostic("plan.resolution-dependent", "uses status of table robots, which only …", where)
    facts = facts_of(reference, plan=replace(reference.plan, findings=(*reference.plan.findings, error)))
    assert not check(facts, "No ordering").done
    assert "first at legacy_fixtures/x.sql:7" in check(facts, "No ordering").evidence


def test_an_unaccounted_legacy_file_unticks_the_coverage_box(reference: Planned) -> None:
    stray = LegacyFile("deploy/migrations/stray.sql", FileName(Scheme.UNNUMBERED, Direction.UP, None, "stray"), "", "")
    scan = replace(reference.scan, files=(*reference.scan.files, stray))
    facts = facts_of(reference, scan=scan)
    assert not check(facts, "Every legacy").done
    assert facts.legacy.unaccounted == 1
    assert "`legacy_fixtures/deploy/migrations/stray.sql`" in check(facts, "Every legacy").evidence


def test_the_duplicates_box_counts_the_plans_duplicates(reference: Planned) -> None:
    facts = facts_of(reference)
    assert check(facts, f"{len(reference.plan.duplicates)} duplicate definitions removed").done


# --- the header, the sections ---------------------------------------------------------------------------------


def test_the_date_comes_from_the_lock(reference: Planned) -> None:
    tree, lock = applied(reference, date="1999-12-31")
    assert "- **Date:** 1999-12-31\n" in text_of(facts_of(reference, tree=tree, lock=lock))


def test_the_header_counts_locations_and_legacy_files(reference: Planned) -> None:
    facts = facts_of(reference)
    assert facts.locations == len(reference.plan.mapping.sources)
    assert facts.legacy.total == len(reference.scan.files)
    assert facts.legacy.down == len(reference.scan.downs)
    assert facts.legacy.excluded == len(reference.plan.excluded)


def test_groups_produce_one_table_each(reference: Planned) -> None:
    tables = facts_of(reference).tables
    groups = reference.plan.mapping.groups
    assert [table.title for table in tables] == [group.title for group in groups]
    assert [[row.version for row in table.rows] for table in tables] == [
        list(range(group.first, group.last + 1)) for group in groups
    ]


def test_versions_outside_every_group_go_to_an_other_table(reference: Planned) -> None:
    mapping = replace(reference.plan.mapping, groups=(Group("First", 1, 2),))
    tables = facts_of(reference, plan=replace(reference.plan, mapping=mapping)).tables
    assert [table.title for table in tables] == ["First", "Other"]
    assert [row.version for row in tables[1].rows] == list(range(3, len(reference.plan.targets) + 1))


def test_a_mapping_without_groups_has_one_table(reference: Planned) -> None:
    mapping = replace(reference.plan.mapping, groups=())
    tables = facts_of(reference, plan=replace(reference.plan, mapping=mapping)).tables
    assert len(tables) == 1 and len(tables[0].rows) == len(reference.plan.targets)


def test_a_keep_first_resolution_shows_as_a_statement_left_out(reference: Planned) -> None:
    mapping = reference.plan.mapping
    (conflict,) = reference.plan.conflicts
    holder = next(
        t for t in reference.plan.targets if any(shown(mapping, s.path) == conflict.second.path for s in t.sources)
    )
    rows = [row for table in facts_of(reference).tables for row in table.rows]
    assert [(row.version, row.left_out) for row in rows if row.left_out] == [(holder.target.version, 1)]


def test_clashing_numbers_are_listed_with_their_canonical_versions(reference: Planned) -> None:
    mapping, scan = reference.plan.mapping, reference.scan
    clashes = facts_of(reference).clashes
    for clash in clashes:
        for file in clash.files:
            path = file.path.removeprefix(f"{mapping.root}/")
            target = mapping.target_of(path)
            assert target is not None and file.destination == target.label(mapping.width)
            legacy = scan.file(path)
            assert legacy is not None and legacy.name.version == clash.number
    numbers = [f.name.version for f in scan.files if f.direction is Direction.UP and f.name.version is not None]
    assert {clash.number for clash in clashes} == {number for number in numbers if numbers.count(number) > 1}


def test_duplicates_name_the_removed_and_the_kept_statement(reference: Planned) -> None:
    text = text_of(facts_of(reference))
    for duplicate in reference.plan.duplicates:
        assert f"- `{duplicate.removed.location}` → kept at `{duplicate.kept.location}`" in text


def test_conflicts_carry_their_decision_and_what_the_second_definition_loses(reference: Planned) -> None:
    (note,) = facts_of(reference).conflicts
    (conflict,) = reference.plan.conflicts
    assert conflict.resolution is not None
    assert (note.decision, note.lost_columns) == (conflict.resolution.decision.value, conflict.lost_columns)
    assert "The second definition would lose: columns `" in text_of(facts_of(reference))


def test_missing_rollbacks_name_the_sources_without_a_down_script(reference: Planned) -> None:
    facts = facts_of(reference)
    mapping = reference.plan.mapping
    for note in facts.missing_rollbacks:
        target = next(t for t in reference.plan.targets if t.target.label(mapping.width) == note.label)
        assert note.without_down == tuple(shown(mapping, s.path) for s in target.sources if s.down is None)
        assert note.unused_downs == tuple(shown(mapping, s.down) for s in target.sources if s.down is not None)


def test_the_before_listing_marks_excluded_files(reference: Planned) -> None:
    lines = [line for listing in facts_of(reference).before for line in listing.lines]
    for exclusion in reference.plan.excluded:
        name = posixpath.basename(exclusion.path)
        assert any(name in line and line.endswith("# excluded") for line in lines)


def test_the_after_listing_marks_each_down_file_legacy_or_stub(reference: Planned) -> None:
    _, downs = facts_of(reference).after
    for target in reference.plan.targets:
        name = posixpath.basename(down_path(target.target.label(reference.plan.mapping.width)))
        expected = "legacy" if target.has_down else "stub"
        assert any(name in line and line.endswith(f"# {expected}") for line in downs.lines)


# --- removal --------------------------------------------------------------------------------------------------


def test_removal_never_includes_excluded_files(reference: Planned) -> None:
    facts = facts_of(reference)
    mapping = reference.plan.mapping
    for whole, path in commanded(facts.removal.commands):
        for exclusion in mapping.excludes:
            excluded = shown(mapping, exclusion.path)
            assert excluded != path and not (whole and excluded.startswith(path + "/"))


def test_removal_takes_whole_folders_when_every_file_in_them_is_replaced(reference: Planned) -> None:
    commands = commanded(facts_of(reference).removal.commands)
    root = reference.plan.mapping.root
    assert (True, f"{root}/src/casare_rpa/infrastructure/queue/migrations") in commands
    assert (True, f"{root}/deploy/migrations/versions") in commands  # its parent holds an excluded file


def test_a_folder_holding_the_output_is_never_removed_whole(reference: Planned) -> None:
    root = reference.plan.mapping.root
    folder = f"{root}/src/casare_rpa/infrastructure/queue/migrations"
    mapping = replace(reference.plan.mapping, output=f"{folder}/canonical")
    result = removal(mapping, reference.scan, {})
    assert (True, folder) not in commanded(result.commands)
    assert (False, f"{folder}/001_create_job_queue.sql") in commanded(result.commands)


def test_a_legacy_file_at_the_path_of_a_canonical_file_stays(reference: Planned) -> None:
    mapping = replace(reference.plan.mapping, output=f"{reference.plan.mapping.root}/deploy/migrations")
    tree, _ = applied(reference)
    result = removal(mapping, reference.scan, tree)
    canonical = f"{mapping.root}/deploy/migrations/versions/001_initial_schema.sql"
    assert result.overwritten == (canonical,)
    assert all(canonical != path and not canonical.startswith(path + "/") for _, path in commanded(result.commands))


FOLDERS = ("db", "db/old", "queue", "queue/deep/er", "misc")
OUTPUTS = ("out", "legacy/db", "legacy/db/old", "legacy/queue/deep", "legacy", ".")


@st.composite
def trees(draw_: st.DrawFn) -> tuple[Mapping, ScanResult, Tree]:
    """A small legacy tree: some files mapped (some with down scripts), some excluded; an output somewhere."""
    names = draw_(st.lists(st.tuples(st.sampled_from(FOLDERS), st.integers(1, 4)), unique=True, max_size=10))
    ups = sorted(f"{folder}/{number:03d}_f.sql" for folder, number in names)
    excluded = draw_(st.sets(st.sampled_from(ups))) if ups else set()
    with_down = draw_(st.sets(st.sampled_from(ups))) if ups else set()
    downs = [(up, up.replace(".sql", "_down.sql")) for up in sorted(with_down)]
    mapped = [[up] for up in ups if up not in excluded]
    mapping = replace(
        small_mapping(mapped),
        sources=("db", "queue", "misc"),
        output=draw_(st.sampled_from(OUTPUTS)),
        excludes=tuple(Exclusion(path, "kept on purpose", Location("mapping.yaml")) for path in sorted(excluded)),
    )
    scan = scan_of([*ups, *(down for _, down in downs)], downs)
    tree = {"versions/001_f.sql": b"", "db/001_f.sql": b"", "down/001_t1_down.sql": b""}
    return mapping, scan, tree


def covered(path: str, whole: bool, files: list[str]) -> list[str]:
    return [file for file in files if file == path or (whole and file.startswith(path + "/"))]


@given(trees())
def test_removal_removes_each_replaced_file_once_and_nothing_else(case: tuple[Mapping, ScanResult, Tree]) -> None:
    mapping, scan, tree = case
    result = removal(mapping, scan, tree)
    files = [shown(mapping, file.path) for file in scan.files]
    removed = [file for whole, path in commanded(result.commands) for file in covered(path, whole, files)]
    mapped = {source for target in mapping.targets for source in target.sources}
    replaced = {shown(mapping, path) for path in mapped} | {shown(mapping, d) for u, d in scan.downs if u in mapped}
    assert sorted(removed) == sorted(replaced - set(result.overwritten))
    assert len(removed) == result.files


@given(trees())
def test_removal_never_takes_a_folder_that_holds_or_lies_in_the_output(case: tuple[Mapping, ScanResult, Tree]) -> None:
    mapping, scan, tree = case
    output = posixpath.normpath(mapping.output)
    for whole, path in commanded(removal(mapping, scan, tree).commands):
        if whole:
            assert output != path and not output.startswith(path + "/") and not path.startswith(output + "/")
            assert path != "."


# --- the last proof: the report mirrors verification.json -----------------------------------------------------

FAILED_PROOF = Path(__file__).parent / "golden" / "failed_proof"  # verification.json in, CONSOLIDATION.md out
PROOF_SECTION = "## Proof on PostgreSQL"


def failed_proof(tree: Lookup[str, bytes]) -> dict[str, Any]:
    """The golden failed proof of the reference case (two root causes in each replay, a wrong and a failing
    rollback), recorded for these very files."""
    document = json.loads((FAILED_PROOF / "verification.json").read_text())
    return proof_of(tree) | document


def failure(path: str, line: int, sqlstate: str, message: str, cause: str = "") -> dict[str, Any]:
    """A failure as verify records it; `cause` (file:line) makes it a consequence, as postgres/consequences.py
    words it."""
    hint = f"a consequence of the failure at {cause}, whose statement would have created it: fix that one first"
    return {
        "code": f"replay.{sqlstate}",
        "path": path,
        "line": line,
        "column": None,
        "message": f"{sqlstate}: {message}",
        "hint": hint if cause else "",
    }


def rollback(version: int, label_: str, result: str, *detail: str) -> dict[str, Any]:
    return {"version": version, "label": label_, "replay": "ok", "rollback": result, "detail": list(detail)}


def every_rollback_legacy(done: Planned) -> Tree:
    tree, _ = applied(done)
    count = len(done.plan.targets)
    return tree | {down_file(done, n): legacy_down(label(done, n)) for n in range(1, count + 1)}


def section(text: str) -> str:
    start = text.index(PROOF_SECTION)
    return text[start : text.index("\n## ", start + 1)]


def test_after_a_failed_proof_the_status_states_the_verdict_and_what_failed(reference: Planned) -> None:
    tree, _ = applied(reference)
    facts = facts_of(reference, verification=failed_proof(tree))
    assert facts.status == (
        "Consolidated, NOT PROVEN on PostgreSQL 15.8: 4 failing legacy statements, 2 failing canonical statements, "
        "the schemas differ (2 differences), 1 wrong rollback, 1 failing rollback (see *Proof on PostgreSQL*)"
    )
    assert "records NOT PROVEN on PostgreSQL 15.8: 4 failing legacy statements" in check(facts, "Verified").evidence


def test_after_a_failed_proof_the_report_counts_failures_and_rollbacks_by_result(reference: Planned) -> None:
    tree, _ = applied(reference)
    assert facts_of(reference, verification=failed_proof(tree)).proof.counts == (
        "Failing legacy statements: 4",
        "Failing canonical statements: 2",
        "Schemas equivalent: no (2 differences)",
        "Rollbacks: 0 verified, 1 wrong, 1 failing, 9 stub, 0 not proven",
        "Stand-ins for extensions the server lacks: pgcrypto",
    )


def test_root_causes_are_the_failures_that_follow_from_no_other(reference: Planned) -> None:
    tree, _ = applied(reference)
    failures = [
        failure("a.sql", 1, "42601", 'syntax error at or near "timestamp"'),
        failure("a.sql", 5, "42P01", 'relation "t" does not exist', cause="a.sql:1"),
        failure("b.sql", 2, "22P02", "invalid input syntax for type bigint"),
    ]
    causes = facts_of(reference, verification=proof_of(tree, proven=False, legacy_failures=failures)).proof.causes
    assert [(cause.location, cause.message, cause.consequences) for cause in causes] == [
        ("a.sql:1", '42601: syntax error at or near "timestamp"', "1 consequence"),
        ("b.sql:2", "22P02: invalid input syntax for type bigint", ""),
    ]


def test_a_consequence_of_a_consequence_counts_under_the_first_cause(reference: Planned) -> None:
    tree, _ = applied(reference)
    failures = [
        failure("a.sql", 1, "42703", 'column "missing" does not exist'),
        failure("a.sql", 2, "42P01", 'relation "t" does not exist', cause="a.sql:1"),
        failure("a.sql", 3, "42P01", 'relation "u" does not exist', cause="a.sql:2"),
    ]
    causes = facts_of(reference, verification=proof_of(tree, proven=False, legacy_failures=failures)).proof.causes
    assert [(cause.location, cause.consequences) for cause in causes] == [("a.sql:1", "2 consequences")]


def test_root_causes_verify_recorded_are_shown_as_recorded(reference: Planned) -> None:
    tree, _ = applied(reference)
    recorded = [
        {"location": "legacy/a.sql:19", "sqlstate": "42883", "message": "function f() does not exist", "hint": "h"},
        {"path": "legacy/b.sql", "line": 3, "sqlstate": "0A000", "message": "m", "hint": "", "consequences": [{}, {}]},
    ]
    document = proof_of(tree, proven=False, root_causes=recorded, legacy_failures=[failure("x.sql", 1, "42601", "x")])
    causes = facts_of(reference, verification=document).proof.causes
    assert [(cause.location, cause.message, cause.consequences) for cause in causes] == [
        ("legacy/a.sql:19", "42883: function f() does not exist", ""),
        ("legacy/b.sql:3", "0A000: m", "2 consequences"),
    ]


def test_a_rollback_the_proof_found_wrong_is_not_ticked(reference: Planned) -> None:
    tree = every_rollback_legacy(reference)
    document = proof_of(tree, proven=False, versions=[rollback(3, label(reference, 3), "wrong", "table x: only in A")])
    box = check(facts_of(reference, tree=tree, verification=document), "Rollback")
    assert not box.done
    assert box.evidence.endswith(f"the last proof found `{label(reference, 3)}` wrong")


def test_rollbacks_the_proof_verified_keep_the_box_ticked_and_say_so(reference: Planned) -> None:
    tree = every_rollback_legacy(reference)
    versions = [rollback(n, label(reference, n), "verified") for n in range(1, len(reference.plan.targets) + 1)]
    box = check(facts_of(reference, tree=tree, verification=proof_of(tree, versions=versions)), "Rollback")
    assert box.done and box.evidence.endswith(f"the last proof: {len(versions)} verified")


def test_a_disputed_rollback_stays_disputed_while_its_down_file_is_unchanged(reference: Planned) -> None:
    tree = every_rollback_legacy(reference)
    document = proof_of(tree, proven=False, versions=[rollback(3, label(reference, 3), "failing", "42P01: …")])
    tree[version_file(reference, 1)] += b"-- edited since the proof\n"
    facts = facts_of(reference, tree=tree, verification=document)
    assert not check(facts, "Rollback").done
    assert [item.label for item in facts.proof.disputed] == [label(reference, 3)]


def test_a_rollback_rewritten_since_the_proof_is_no_longer_disputed(reference: Planned) -> None:
    tree = every_rollback_legacy(reference)
    document = proof_of(tree, proven=False, versions=[rollback(3, label(reference, 3), "failing", "42P01: …")])
    tree[down_file(reference, 3)] += b"-- fixed by hand\n"
    facts = facts_of(reference, tree=tree, verification=document)
    assert check(facts, "Rollback").done
    assert facts.proof.disputed == ()


def test_the_mapping_table_shows_what_the_proof_found_for_each_rollback(reference: Planned) -> None:
    tree, _ = applied(reference)
    facts = facts_of(reference, verification=failed_proof(tree))
    rows = {row.label: row.proof for table in facts.tables for row in table.rows}
    assert (rows[label(reference, 3)], rows[label(reference, 8)]) == ("wrong", "failing")
    assert rows[label(reference, 1)] == ""  # a stub: the column says so already
    assert "| legacy; last proof: wrong |" in text_of(facts)


def test_a_statement_postgresql_rejected_as_a_syntax_error_unticks_the_syntax_box(reference: Planned) -> None:
    tree, _ = applied(reference)
    box = check(facts_of(reference, verification=failed_proof(tree)), "No syntax errors")
    assert not box.done
    assert box.evidence.endswith(
        "but PostgreSQL 15.8 rejected 2 statements as syntax errors (42601) in the last proof, first at "
        "`legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/016_rbac_tenancy.sql:12:5`"
    )


def test_a_proof_of_other_files_says_so_and_vouches_for_nothing(reference: Planned) -> None:
    tree, _ = applied(reference)
    document = proof_of(tree)
    tree[version_file(reference, 2)] += b"-- edited\n"
    lock = lock_for(reference.plan, reference.scan, tree)  # the lock agrees: only the proof is stale
    facts = facts_of(reference, tree=tree, lock=lock, verification=document)
    assert not check(facts, "Verified").done
    assert facts.status == "Consolidated, not verified: the last proof was of other files (run `consolidate verify`)"
    assert f"1 file differ since: `{version_file(reference, 2)}`" in facts.proof.caveat


def test_a_failed_proof_asks_to_fix_its_root_causes_and_to_regenerate_the_rollbacks_it_disputes(
    reference: Planned,
) -> None:
    tree, _ = applied(reference)
    steps = facts_of(reference, verification=failed_proof(tree)).next_steps
    assert steps[0].startswith("Fix the root causes the last proof found (see *Proof on PostgreSQL*)")
    regenerate = next(step for step in steps if "--generate-down" in step)
    assert f"`{label(reference, 3)}`" in regenerate and f"`{label(reference, 8)}`" in regenerate


def test_verification_json_that_is_not_a_record_is_reported_not_trusted(reference: Planned) -> None:
    tree, _ = applied(reference)
    facts = facts_of(reference, tree=tree | {VERIFICATION_NAME: b"[1, 2]\n"})
    assert not check(facts, "Verified").done
    assert facts.proof.headline.startswith(f"`{facts.verification}` is not a record `consolidate verify` wrote")


def test_without_verification_json_the_section_says_there_is_no_proof_yet(reference: Planned) -> None:
    text = text_of(facts_of(reference))
    assert f"No proof yet: `{facts_of(reference).verification}` does not exist." in section(text)
    assert "verification.json sha256" not in text


def test_the_report_ends_with_the_checksum_of_the_verification_json_it_was_built_from(reference: Planned) -> None:
    tree, _ = applied(reference)
    data = json.dumps(failed_proof(tree)).encode("utf-8")
    text = text_of(facts_of(reference, tree=tree | {VERIFICATION_NAME: data}))
    assert text.endswith(f"<!-- consolidate: built from verification.json sha256 {sha(data)} -->\n")


def test_the_report_after_a_failed_proof_matches_the_golden_text(reference: Planned) -> None:
    """Regenerate after a deliberate change: `UPDATE_GOLDEN=1 pytest tests/test_report.py -k golden`, then read the
    diff. The checksum line is masked: it follows the tree's bytes, which other goldens pin."""
    tree, _ = applied(reference)
    data = json.dumps(failed_proof(tree), indent=2, sort_keys=True).encode("utf-8")
    text = text_of(facts_of(reference, tree=tree | {VERIFICATION_NAME: data}))
    text = text.replace(sha(data), "<sha256 of verification.json>")
    golden = FAILED_PROOF / REPORT_NAME
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


# --- text -----------------------------------------------------------------------------------------------------


def test_rendering_twice_gives_identical_text(reference: Planned) -> None:
    assert text_of(facts_of(reference)) == text_of(facts_of(reference))


def test_the_markdown_has_no_trailing_spaces_and_one_final_newline(reference: Planned) -> None:
    text = text_of(facts_of(reference))
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert [line for line in text.splitlines() if line != line.rstrip()] == []
    assert "\n\n\n" not in text


def test_the_report_and_the_lock_in_the_tree_do_not_change_the_report(reference: Planned) -> None:
    tree, lock = applied(reference)
    before = text_of(facts_of(reference, tree=tree, lock=lock))
    report = before.encode("utf-8")
    after_tree = tree | {REPORT_NAME: report, LOCK_NAME: b"{}\n"}
    after_lock = replace(lock, outputs=(*lock.outputs, LockEntry(REPORT_NAME, sha(report))))
    assert text_of(facts_of(reference, tree=after_tree, lock=after_lock)) == before


def test_every_tick_in_the_text_is_a_ticked_check(reference: Planned) -> None:
    facts = facts_of(reference)
    ticks = [line for line in text_of(facts).splitlines() if line.startswith("- [x] ")]
    assert len(ticks) == sum(item.done for item in facts.checks)


@given(st.lists(st.from_regex(r"[a-c]{1,2}(/[a-c]{1,2}){0,2}\.sql", fullmatch=True), unique=True))
def test_a_drawn_tree_shows_every_file_once(paths: list[str]) -> None:
    lines = draw(paths, {})
    folders = {path.rsplit("/", n)[0] for path in paths for n in range(1, path.count("/") + 1)}
    assert len(lines) == len(paths) + len(folders)
