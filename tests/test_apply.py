"""`consolidate apply` and `consolidate report` on a copy of the reference case: golden output, idempotence,
--check, --dry-run, refusal to clobber, in-place mode.

Golden files live in tests/golden/reference/. After a deliberate change, regenerate them with
`UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_apply.py -k golden`, then read the diff line by line.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from consolidate.layout import written_by_consolidate
from consolidate.render.lock import lock_text, parse_lock
from tests.clitools import copy_reference_case, run, snapshot

GOLDEN = Path(__file__).parent / "golden" / "reference"
OUTPUT = Path("build/deploy/migrations")
EPOCH = "1764720000"  # 2025-12-03, the seed report's date: the golden report must not depend on today


@pytest.fixture
def case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return copy_reference_case(tmp_path)


def apply(case: Path, *args: str) -> tuple[int, str, str]:
    result = run("apply", *args, cwd=case)
    return result.exit_code, result.stdout, result.stderr


def test_the_applied_reference_case_matches_the_golden_tree(case: Path) -> None:
    code, _, _ = apply(case)
    assert code == 0
    written = snapshot(case / OUTPUT)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name, data in written.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_bytes(data)
    assert written == snapshot(GOLDEN)


def test_every_migration_file_apply_writes_carries_its_header_and_no_legacy_file_does() -> None:
    written = {path: data for path, data in snapshot(GOLDEN).items() if path.endswith(".sql")}
    legacy = snapshot(Path(__file__).parent.parent / "legacy_fixtures")
    assert len(written) == 22 and all(written_by_consolidate(data) for data in written.values())
    assert [path for path, data in legacy.items() if written_by_consolidate(data)] == []


def test_apply_writes_eleven_versions_their_downs_the_lock_and_the_report(case: Path) -> None:
    apply(case)
    files = sorted(snapshot(case / OUTPUT))
    assert next(f for f in files if f.startswith("versions/")) == "versions/001_initial_schema.sql"
    assert len([f for f in files if f.startswith("versions/")]) == 11
    assert len([f for f in files if f.startswith("down/")]) == 11
    assert {"consolidation.lock", "CONSOLIDATION.md"} <= set(files)


def test_a_second_apply_writes_nothing_and_says_so(case: Path) -> None:
    apply(case)
    before = {p: p.stat().st_mtime_ns for p in (case / OUTPUT).rglob("*")}
    code, out, _ = apply(case)
    assert code == 0 and "nothing to write" in out
    assert {p: p.stat().st_mtime_ns for p in (case / OUTPUT).rglob("*")} == before


def test_check_exits_0_when_current_and_1_after_a_fixture_is_edited(case: Path) -> None:
    apply(case)
    assert apply(case, "--check")[0] == 0
    source = case / "legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/012_dlq_table.sql"
    source.write_text(source.read_text() + "\nCOMMENT ON TABLE dead_letter_queue IS 'edited';\n")
    before = snapshot(case / OUTPUT)
    code, _, err = apply(case, "--check")
    assert code == 1 and "versions/008_dlq.sql" in err
    assert snapshot(case / OUTPUT) == before


def test_migrations_written_after_the_consolidation_are_left_alone(case: Path) -> None:
    apply(case)
    later = {
        "versions/012_audit.sql": b"CREATE TABLE audit (id int);\n",
        "down/012_audit_down.sql": b"DROP TABLE audit;\n",
    }
    for name, data in later.items():
        (case / OUTPUT / name).write_bytes(data)
    before = snapshot(case / OUTPUT)
    assert (apply(case, "--check")[0], run("report", "--check", cwd=case).exit_code) == (0, 0)
    code, out, _ = apply(case)
    assert (code, "nothing to write" in out, snapshot(case / OUTPUT)) == (0, True, before)
    assert "012_audit" not in (case / OUTPUT / "CONSOLIDATION.md").read_text()


def test_a_hand_written_file_inside_the_consolidated_range_is_still_refused(case: Path) -> None:
    apply(case)
    (case / OUTPUT / "versions/005_extra.sql").write_text("SELECT 1;\n")
    assert run("report", "--check", cwd=case).exit_code == 1


def test_check_exits_1_before_the_first_apply(case: Path) -> None:
    assert apply(case, "--check")[0] == 1
    assert not (case / OUTPUT).exists()


def test_the_lock_records_sources_outputs_and_resolutions(case: Path) -> None:
    apply(case)
    lock = json.loads((case / OUTPUT / "consolidation.lock").read_text())
    outputs = {entry["path"] for entry in lock["outputs"]}
    assert "versions/011_robot_logs.sql" in outputs and "CONSOLIDATION.md" in outputs
    assert {entry["target"] for entry in lock["sources"]} == set(range(1, 12))
    assert lock["resolutions"][0]["object"] == "table robots"
    assert lock["date"] == "2025-12-03"


def test_the_lock_date_stays_when_nothing_changed_and_moves_when_something_did(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(case)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 86400 * 10))
    apply(case)
    lock = case / OUTPUT / "consolidation.lock"
    assert json.loads(lock.read_text())["date"] == "2025-12-03"
    (case / "mapping.yaml").write_text((case / "mapping.yaml").read_text().replace("Robot logs", "Robot log rows"))
    apply(case)
    assert json.loads(lock.read_text())["date"] == "2025-12-13"


def test_dry_run_lists_changes_with_a_diff_and_writes_nothing(case: Path) -> None:
    apply(case)
    (case / "mapping.yaml").write_text((case / "mapping.yaml").read_text().replace("Robot logs", "Robot log rows"))
    before = snapshot(case / OUTPUT)
    code, out, _ = apply(case, "--dry-run")
    assert code == 0
    assert "changed   versions/011_robot_logs.sql" in out
    assert "+-- 011_robot_logs: Robot log rows" in out
    assert snapshot(case / OUTPUT) == before


def test_a_foreign_file_in_the_way_is_refused_with_exit_2_and_nothing_written(case: Path) -> None:
    foreign = case / OUTPUT / "versions/003_heartbeats.sql"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("-- hand-written\n")
    before = snapshot(case)
    code, _, err = apply(case)
    assert code == 2
    assert "build/deploy/migrations/versions/003_heartbeats.sql" in err and "--force" in err
    assert snapshot(case) == before


def test_force_overwrites_a_foreign_file(case: Path) -> None:
    foreign = case / OUTPUT / "versions/003_heartbeats.sql"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("-- hand-written\n")
    assert apply(case, "--force")[0] == 0
    assert foreign.read_text().startswith("-- 003_heartbeats")


def test_an_output_edited_by_hand_is_not_overwritten_without_force(case: Path) -> None:
    apply(case)
    edited = case / OUTPUT / "versions/008_dlq.sql"
    edited.write_text(edited.read_text() + "-- my fix\n")
    code, _, err = apply(case)
    assert code == 2 and "008_dlq.sql" in err
    assert edited.read_text().endswith("-- my fix\n")


def test_files_the_tree_does_not_produce_are_left_alone(case: Path) -> None:
    apply(case)
    notes = case / OUTPUT / "NOTES.txt"
    notes.write_text("ours, not consolidate's\n")
    (case / "mapping.yaml").write_text((case / "mapping.yaml").read_text().replace("Robot logs", "Robot log rows"))
    assert apply(case)[0] == 0
    assert notes.read_text() == "ours, not consolidate's\n"


def test_report_check_exits_0_right_after_apply_and_1_after_an_edit(case: Path) -> None:
    apply(case)
    assert run("report", "--check", cwd=case).exit_code == 0
    report = case / OUTPUT / "CONSOLIDATION.md"
    report.write_text(report.read_text().replace("- [ ]", "- [x]"))
    assert run("report", "--check", cwd=case).exit_code == 1
    assert run("report", cwd=case).exit_code == 0
    assert "- [ ] Verified on a database" in report.read_text()
    assert run("report", "--check", cwd=case).exit_code == 0
    assert apply(case, "--check")[0] == 0


def test_report_without_a_lock_exits_2_with_a_hint(case: Path) -> None:
    result = run("report", cwd=case)
    assert result.exit_code == 2 and "consolidate apply" in result.stderr


def test_apply_refuses_a_plan_with_errors_with_exit_1(case: Path) -> None:
    source = case / "legacy_fixtures/src/casare_rpa/infrastructure/database/migrations/012_dlq_table.sql"
    source.write_text("CREATE INDEX ix_ghost ON ghosts (id);\n" + source.read_text())
    code, _, err = apply(case)
    assert code == 1 and "table ghosts" in err
    assert not (case / OUTPUT).exists()


def test_apply_refuses_to_write_into_a_legacy_source_folder(case: Path) -> None:
    # Once "in-place mode": the swap of the output folder rebuilt the legacy folder apply reads (issue 12 #9).
    mapping = case / "mapping.yaml"
    mapping.write_text(
        mapping.read_text().replace("output: build/deploy/migrations", "output: legacy_fixtures/deploy/migrations")
    )
    before = snapshot(case / "legacy_fixtures")
    code, _, err = apply(case, "--force")
    assert code == 2 and "is the source folder 'legacy_fixtures/deploy/migrations'" in err
    assert snapshot(case / "legacy_fixtures") == before


def _merge_version_11_into_10(case: Path) -> None:
    mapping = case / "mapping.yaml"
    text = mapping.read_text()
    gone = "\n  - version: 11\n    name: robot_logs\n    description: Robot logs\n    sources:\n"
    assert gone in text
    mapping.write_text(text.replace(gone, "").replace("versions: [5, 11]", "versions: [5, 10]"))


def test_a_file_an_earlier_apply_wrote_and_the_mapping_no_longer_produces_is_removed_and_reported(
    case: Path,
) -> None:
    apply(case)
    _merge_version_11_into_10(case)
    code, out, _ = apply(case)
    assert code == 0
    assert "removed   versions/011_robot_logs.sql" in out and "removed   down/011_robot_logs_down.sql" in out
    assert "2 removed" in out
    assert [path for path in snapshot(case / OUTPUT) if "011_" in path] == []


def test_check_fails_on_a_file_an_earlier_apply_wrote_and_the_mapping_no_longer_produces(case: Path) -> None:
    apply(case)
    _merge_version_11_into_10(case)
    code, _, err = apply(case, "--check")
    assert code == 1
    assert "build/deploy/migrations/versions/011_robot_logs.sql (stale: apply removes it)" in err
    assert "build/deploy/migrations/down/011_robot_logs_down.sql (stale: apply removes it)" in err


# --- an output among the legacy sources (issue 13 #6) ----------------------------------------------------------

AMONG_SOURCES = Path("legacy_fixtures/deploy/migrations/canonical")  # inside the source folder deploy/migrations


def _output_among_the_sources(case: Path, output: Path = AMONG_SOURCES) -> Path:
    mapping = case / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace(f"output: {OUTPUT}", f"output: {output}"))
    return case / output


def test_plan_refuses_an_output_among_the_sources_whose_lock_was_lost_and_says_how_to_recover(case: Path) -> None:
    output = _output_among_the_sources(case)
    assert apply(case)[0] == 0
    (output / "consolidation.lock").unlink()
    result = run("plan", cwd=case)
    assert result.exit_code == 2
    assert f"{AMONG_SOURCES}: error: consolidation.lock is missing" in result.stderr
    assert f"git checkout -- {AMONG_SOURCES}/consolidation.lock" in result.stderr
    assert "neither mapped nor excluded" not in result.stderr


def test_apply_refuses_an_output_among_the_sources_whose_lock_was_lost_and_writes_nothing(case: Path) -> None:
    output = _output_among_the_sources(case)
    assert apply(case)[0] == 0
    (output / "consolidation.lock").unlink()
    before = snapshot(case)
    code, _, err = apply(case, "--force")
    assert code == 2 and "consolidation.lock is missing" in err
    assert snapshot(case) == before


def test_a_generated_file_the_lock_does_not_list_is_not_read_as_a_legacy_source(case: Path) -> None:
    # A lock restored from an older commit may not list a version written since: its header still says whose it is.
    output = _output_among_the_sources(case)
    assert apply(case)[0] == 0
    lock = parse_lock((output / "consolidation.lock").read_text(), "consolidation.lock")
    older = replace(lock, outputs=tuple(e for e in lock.outputs if e.path != "versions/011_robot_logs.sql"))
    (output / "consolidation.lock").write_text(lock_text(older))
    result = run("plan", cwd=case)
    assert result.exit_code == 0, result.stderr


def _written_in_place_by_an_earlier_version(case: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed's own layout, as apply wrote it before it refused an output that is a source folder (issue 12 #9):
    deploy/migrations is a legacy source and the output, so versions/001 replaced the legacy 001 (kept in the lock)."""
    output = _output_among_the_sources(case, Path("legacy_fixtures/deploy/migrations"))
    with monkeypatch.context() as patched:
        patched.setattr("consolidate.commands.check_output", lambda mapping, output: None)
        assert apply(case)[0] == 0
    assert (output / "versions/001_initial_schema.sql").read_text().startswith("-- 001_initial_schema:")
    return output


def test_a_tree_written_in_place_reads_the_legacy_file_it_overwrote_from_its_lock(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _written_in_place_by_an_earlier_version(case, monkeypatch)
    result = run("plan", cwd=case)
    assert result.exit_code == 0, result.stderr


def test_a_tree_written_in_place_that_lost_its_lock_is_refused_rather_than_read_as_legacy(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = _written_in_place_by_an_earlier_version(case, monkeypatch)
    (output / "consolidation.lock").unlink()
    result = run("plan", cwd=case)
    assert result.exit_code == 2
    assert "legacy_fixtures/deploy/migrations: error: consolidation.lock is missing" in result.stderr
    assert "neither mapped nor excluded" not in result.stderr
