"""The verify benchmark's report (bench/verify_bench.py), on made-up timings: no database, no child process."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from bench.verify_bench import PHASES, TARGET_SECONDS, Row, Timing, phase_table, target_lines


def timing(scale: float, wall: float) -> Timing:
    """A run whose phase number i took `scale * (i + 1)` seconds."""
    phases = {name: scale * (index + 1) for index, name in enumerate(PHASES)}
    return Timing(phases, sum(phases.values()), "a server", "proven", 2, 4, 0.5, wall)


def cells(table: list[str], setup: str) -> dict[str, str]:
    """The cells of `setup`'s line, by column header."""
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    (line,) = [line for line in table[2:] if f"| {setup} |" in line]
    return dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True))


def test_the_phase_table_shows_the_median_run_of_each_phase_the_total_and_the_command_line() -> None:
    row = Row("fixtures", 11, "embedded", [timing(0.9, 90.0), timing(0.1, 20.0), timing(0.2, 30.0)])
    row.cli = [(19.0, 0), (7.0, 0), (8.0, 0)]
    shown = cells(phase_table([row]), "embedded")
    assert shown["server start s"] == "0.40"  # phase 2 of the median run, scale 0.2
    assert shown["rollback proof s"] == f"{0.2 * (PHASES.index('rollback proof') + 1):.2f}"
    assert shown["verify() s"] == f"{0.2 * sum(range(1, len(PHASES) + 1)):.2f}"
    assert shown["start-up s"] == f"{30.0 - 0.2 * sum(range(1, len(PHASES) + 1)):.2f}"
    assert shown["CLI wall s"] == "8.00"
    assert shown["result"] == "proven"


@given(st.floats(min_value=0.01, max_value=2 * TARGET_SECONDS))
@example(TARGET_SECONDS)
@example(TARGET_SECONDS + 0.001)
def test_the_target_is_met_exactly_when_the_embedded_fixtures_verify_within_it(seconds: float) -> None:
    phases = dict.fromkeys(PHASES, seconds / len(PHASES))
    run = Timing(phases, seconds, "embedded PostgreSQL", "proven", 2, wall=seconds + 1)
    (_, in_process) = target_lines([Row("fixtures", 11, "embedded", [run])])
    assert ("(met)" in in_process) == (seconds <= TARGET_SECONDS)
    assert f"{seconds:.2f} s" in in_process
