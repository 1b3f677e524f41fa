"""`apply --check` and `report --check` agree with the runner: a tree `migrate up` would refuse, or a file the lock
does not know inside the consolidated range, fails the check with the file named; an edited lock is called edited.

Migrations numbered after the consolidation's last version are the team's own and stay out of it (test_apply).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consolidate.errors import ConsolidateError
from consolidate.runner.runner import read_tree
from tests.clitools import copy_reference_case, run, snapshot

OUTPUT = Path("build/deploy/migrations")
EPOCH = "1764720000"


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    copy_reference_case(tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    return tmp_path


def write(case: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (case / OUTPUT / name).write_text(text)


def runner_refuses(case: Path) -> bool:
    try:
        read_tree(case / OUTPUT)
    except ConsolidateError:
        return True
    return False


def test_two_later_migrations_sharing_a_number_fail_both_checks_naming_the_second(case: Path) -> None:
    write(case, {"versions/012_audit.sql": "SELECT 1;\n", "versions/012_extra.sql": "SELECT 2;\n"})
    assert runner_refuses(case)
    checked, reported = run("apply", "--check", cwd=case), run("report", "--check", cwd=case)
    assert (checked.exit_code, reported.exit_code) == (1, 1)
    assert "versions/012_extra.sql" in checked.output and "012_audit.sql" in checked.output
    assert "versions/012_extra.sql" in reported.output


def test_a_file_name_the_runner_cannot_read_fails_the_check_naming_it(case: Path) -> None:
    write(case, {"versions/12a_extra.sql": "SELECT 1;\n"})
    assert runner_refuses(case)
    checked = run("apply", "--check", cwd=case)
    assert checked.exit_code == 1 and "versions/12a_extra.sql" in checked.output


def test_a_hand_written_file_inside_the_consolidated_range_fails_the_check_naming_it(case: Path) -> None:
    write(case, {"versions/005_extra.sql": "SELECT 1;\n"})
    checked = run("apply", "--check", cwd=case)
    assert checked.exit_code == 1 and "versions/005_extra.sql" in checked.output


def test_an_unknown_down_script_inside_the_consolidated_range_fails_the_check(case: Path) -> None:
    # The runner would not refuse it, but nobody wrote it for the consolidation: a rollback nobody checked.
    write(case, {"down/004_extra_down.sql": "DROP TABLE x;\n"})
    checked = run("apply", "--check", cwd=case)
    assert checked.exit_code == 1 and "down/004_extra_down.sql" in checked.output


def test_a_later_migration_with_its_own_number_still_passes_the_check(case: Path) -> None:
    write(case, {"versions/012_audit.sql": "SELECT 1;\n", "down/012_audit_down.sql": "SELECT 1;\n"})
    assert not runner_refuses(case)
    assert run("apply", "--check", cwd=case).exit_code == 0


def edit_lock(case: Path) -> None:
    """Change one output's checksum by hand, as the issue's user did."""
    lock = case / OUTPUT / "consolidation.lock"
    document = json.loads(lock.read_text())
    document["outputs"][0]["sha256"] = "0" * 64
    lock.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def test_an_edited_lock_fails_apply_check_as_edited(case: Path) -> None:
    edit_lock(case)
    checked = run("apply", "--check", cwd=case)
    assert checked.exit_code == 1
    assert "consolidation.lock" in checked.output and "edited" in checked.output


def test_an_edited_lock_fails_report_check_as_edited(case: Path) -> None:
    edit_lock(case)
    reported = run("report", "--check", cwd=case)
    assert reported.exit_code == 1 and "edited" in reported.output


def test_apply_refuses_to_replace_an_edited_lock_and_writes_nothing(case: Path) -> None:
    edit_lock(case)
    before = snapshot(case / OUTPUT)
    result = run("apply", cwd=case)
    assert result.exit_code == 2
    assert "consolidation.lock" in result.stderr and "edited" in result.stderr and "--force" in result.stderr
    assert snapshot(case / OUTPUT) == before


def test_report_refuses_to_rewrite_an_edited_lock(case: Path) -> None:
    edit_lock(case)
    before = snapshot(case / OUTPUT)
    result = run("report", cwd=case)
    assert result.exit_code == 2 and "edited" in result.stderr
    assert snapshot(case / OUTPUT) == before


def test_apply_force_replaces_an_edited_lock_and_says_so(case: Path) -> None:
    edit_lock(case)
    result = run("apply", "--force", cwd=case)
    assert result.exit_code == 0 and "edited" in result.stderr
    assert run("apply", "--check", cwd=case).exit_code == 0


def test_a_lock_only_reformatted_is_not_edited(case: Path) -> None:
    lock = case / OUTPUT / "consolidation.lock"
    lock.write_text(json.dumps(json.loads(lock.read_text()), indent=4, sort_keys=False) + "\n")
    result = run("apply", cwd=case)
    assert result.exit_code == 0, result.output
