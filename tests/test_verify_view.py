"""What `verify` prints, from a verification made by hand: the verdict first, the equivalence diff in its place."""

from __future__ import annotations

from dataclasses import replace

from consolidate.cli.verify_view import MAX_DECISIONS, MAX_DIFFERENCES, verification_lines
from consolidate.db.diff import SchemaDiff
from consolidate.postgres.failures import Failure
from consolidate.postgres.root_causes import root_causes
from consolidate.verify import Verification, VersionResult

DIFFERENCES = tuple(f'table "public"."t{n}": only in legacy' for n in range(30))
NOT_EQUIVALENT = SchemaDiff("drop table t0;", "", changed=DIFFERENCES)


def verification(failures: tuple[Failure, ...] = (), diff: SchemaDiff | None = NOT_EQUIVALENT) -> Verification:
    versions = (VersionResult(1, "001_t", "ok", "wrong", ("table t: only in after the rollback",)),)
    return Verification("PostgreSQL 15", "15", (), failures, (), diff, versions, causes=root_causes(failures, (), None))


def test_the_verdict_comes_first_with_what_stands_in_its_way() -> None:
    assert verification_lines(verification())[0] == "NOT PROVEN: legacy and canonical differ; 1 rollback wrong"


def test_with_both_replays_clean_the_differences_are_listed_up_to_a_limit() -> None:
    lines = verification_lines(verification())
    listed = [line for line in lines if line.startswith('  table "public"')]
    assert len(listed) == MAX_DIFFERENCES
    assert f"  and {30 - MAX_DIFFERENCES} more (--verbose)" in lines


def test_verbose_lists_every_difference_and_the_sql_between_them() -> None:
    lines = verification_lines(verification(), verbose=True)
    assert len([line for line in lines if line.startswith('  table "public"')]) == 30
    assert "    drop table t0;" in lines


def test_differences_a_failure_left_behind_are_counted_not_listed() -> None:
    failing = (Failure("db/a.sql", 1, None, "42601", "syntax error"),)
    lines = verification_lines(verification(failing))
    assert "equivalence: NOT equivalent: 30 differences, left by the failures above (--verbose lists them)" in lines
    assert not [line for line in lines if line.startswith('  table "public"')]


def test_a_wrong_rollback_has_its_line_and_its_differences_under_it() -> None:
    lines = verification_lines(verification())
    at = lines.index("rollback 001_t: wrong")
    assert lines[at + 1 : at + 3] == ["  table t: only in after the rollback", "rollbacks: 1 wrong"]


def test_many_decisions_in_the_mapping_are_listed_up_to_a_limit_then_counted() -> None:
    decided = tuple(f"dropped db/001_x.sql:{line} — fails everywhere" for line in range(1, 23))
    result = replace(verification(), decided=decided)
    lines = verification_lines(result)
    listed = [line for line in lines if line.startswith("expected difference (decision in the mapping): ")]
    assert len(listed) == MAX_DECISIONS and "  and 17 more decisions in the mapping (--verbose)" in lines
    assert len([line for line in verification_lines(result, verbose=True) if "decision in the mapping" in line]) == 22
