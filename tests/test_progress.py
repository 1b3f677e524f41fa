"""Progress on long steps (issue 17 #3): the library tells its stages to a watcher; the CLI draws them on a
terminal only."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from consolidate.cli.progress import shown
from consolidate.steps import stage, watched
from consolidate.verify import ServerOptions
from consolidate.verify import verify as verify_tree
from tests.clitools import copy_reference_case, run


@dataclass
class Recorder:
    """Every stage as (what, total, steps taken)."""

    stages: list[list[object]] = field(default_factory=list)
    open: list[list[object]] = field(default_factory=list)

    def begin(self, what: str, total: int) -> None:
        self.open.append([what, total, 0])

    def advance(self) -> None:
        self.open[-1][2] += 1  # type: ignore[operator]

    def end(self) -> None:
        self.stages.append(self.open.pop())


def test_a_stage_nobody_watches_costs_nothing_and_says_nothing() -> None:
    with stage("parsing", 3) as advance:
        advance()  # no watcher: nothing to tell, nothing raised


def test_plan_tells_its_parse_file_by_file(tmp_path: Path) -> None:
    copy_reference_case(tmp_path)
    recorder = Recorder()
    with watched(recorder):
        assert run("plan", cwd=tmp_path).exit_code == 0
    (parsing,) = [item for item in recorder.stages if item[0] == "parsing"]
    assert parsing[1] == parsing[2] and parsing[1] > 10  # type: ignore[operator]


def test_verify_tells_both_replays_and_every_rollback_it_checks(tmp_path: Path, service_url: str) -> None:
    copy_reference_case(tmp_path)
    assert run("apply", cwd=tmp_path).exit_code == 0
    recorder = Recorder()
    with watched(recorder):
        verify_tree(tmp_path / "mapping.yaml", ServerOptions(database_url=service_url))
    assert all(total == taken for _, total, taken in recorder.stages)  # every stage ran to its end
    named = [str(what) for what, _, _ in recorder.stages]
    assert "replaying the legacy tree" in named and "proving rollbacks" in named
    canonical = [item for item in recorder.stages if str(item[0]).startswith("replaying the canonical tree")]
    assert canonical[0][1] == 11  # one step per version, each rollback tried in place as it goes


def test_bars_are_drawn_on_a_terminal_only_and_never_with_json() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    piped = Console(file=io.StringIO(), force_terminal=False)
    assert (shown(terminal, False), shown(terminal, True), shown(piped, False)) == (True, False, False)


def test_a_piped_plan_prints_no_bar(tmp_path: Path) -> None:
    copy_reference_case(tmp_path)
    result = run("plan", cwd=tmp_path)
    assert "parsing" not in result.stderr
