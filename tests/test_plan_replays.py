"""Issue 10's acceptance property: a clean plan means the canonical tree runs on PostgreSQL.

For generated legacy trees (tests/legacy_trees.py: renames, SET SCHEMA, multi-object drops, CASCADE, missing
final semicolons, tables and functions defined again), the test runs the pipeline the CLI runs (load the mapping
→ scan → parse → plan), adds a resolution for each conflict the plan reports and plans again, and when the plan
is clean renders the canonical tree and replays both trees on the PostgreSQL service with the project's replay:

* legacy: every mapped file in mapping order, as `consolidate verify` replays them: one `psql -f` per file, each
  statement committed on its own, a failing one skipped. This is the legacy the plan's rules are written for (a
  duplicate or conflicting CREATE fails or is skipped alone, the rest of its file runs). With one transaction per
  file instead, a file holding a duplicate CREATE rolls back whole in the legacy replay, while the canonical tree
  drops only the duplicate and keeps the rest: the two then differ by design, not by a gap in the plan;
* canonical: every version in order, one transaction per version (as `consolidate migrate` runs them).

The comparison. A canonical failure *matches* when the legacy statement it comes from (found by its text in its
source's part of the version) failed in the legacy replay with the same SQLSTATE. Failures are read in replay
order, and the first one decides: it must match. From a matching failure on, the trees have diverged for a
reason the plan cannot see (a statement that fails in both; a version rolls back all of its sources while the
legacy replay rolled back one file), so later failures are not compared. A canonical failure before it that
matches nothing — including one in SQL the tree generates (merge-columns) or at a statement joined to its
neighbour — is a counterexample: the plan called clean a tree that fails where the legacy tree did not.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import event as hypothesis_event

from consolidate import pipeline
from consolidate.db.replay import replay_files
from consolidate.db.server import Server, scratch_database
from consolidate.layout import version_path
from consolidate.model import PlannedTarget, Statement
from consolidate.postgres.consequences import link
from consolidate.postgres.failures import Failure
from consolidate.render.environment import environment
from consolidate.render.tree import render_tree
from consolidate.verify import legacy_files
from tests.legacy_trees import File, Tree, trees

pytestmark = pytest.mark.db


def mapping_text(tree: Tree, resolutions: dict[str, str]) -> str:
    """The mapping of a tree (docs/mapping.md): its migrations in order, and a resolution per conflict."""
    lines = ["version: 1", "root: legacy", "output: out", "sources:"]
    lines += [f"  - {folder}" for folder in sorted({path.split("/")[0] for path in tree.paths()})]
    lines.append("migrations:")
    for version, paths in enumerate(tree.migrations(), start=1):
        lines += [f"  - version: {version}", f"    name: m{version}", "    sources:"]
        lines += [f"      - {path}" for path in paths]
    if resolutions:
        lines.append("resolutions:")
    for thing, decision in resolutions.items():
        lines += [f'  - object: "{thing}"', f"    decision: {decision}", "    reason: chosen by the property test"]
    return "\n".join(lines) + "\n"


def resolutions_for(tree: Tree, done: pipeline.Planned, chosen: dict[str, str]) -> dict[str, str]:
    """`chosen` and one decision per object still in conflict, from the tree's decisions in turn (merge-columns
    applies to tables only)."""
    chosen = dict(chosen)
    for conflict in done.plan.unresolved:
        decision = tree.decision(len(chosen))
        chosen.setdefault(str(conflict.object), decision if conflict.object.kind == "table" else "keep-first")
    return chosen


def resolved_plan(tree: Tree, folder: Path) -> pipeline.Planned:
    """Plan as `consolidate plan` does, resolving conflicts as they show (a resolution may uncover another)."""
    tree.write(folder / "legacy")
    mapping = folder / "mapping.yaml"
    mapping.write_text(mapping_text(tree, {}), encoding="utf-8")
    done = pipeline.planned(mapping)
    chosen: dict[str, str] = {}
    for _ in range(3):
        if not done.plan.unresolved:
            break
        chosen = resolutions_for(tree, done, chosen)
        mapping.write_text(mapping_text(tree, chosen), encoding="utf-8")
        done = pipeline.planned(mapping)
    note(mapping.read_text(encoding="utf-8"))
    return done


def clean_plan(tree: Tree, folder: Path) -> pipeline.Planned | None:
    """The resolved plan of a tree when it is clean, else None."""
    done = resolved_plan(tree, folder)
    if not done.plan.clean:
        hypothesis_event(f"plan not clean: {sorted({error.code for error in done.plan.errors})}")
        return None
    return done


def canonical_versions(done: pipeline.Planned) -> list[tuple[str, str, PlannedTarget]]:
    """The canonical tree rendered in memory: (path, text, target) per version, in order."""
    rendered = render_tree(environment(None), done.plan, done.scan, done.parsed)
    paths = [(version_path(t.target.label(done.plan.mapping.width)), t) for t in done.plan.targets]
    return [(path, rendered[path], t) for path, t in paths]


def replay_canonical(url: str, versions: list[tuple[str, str, PlannedTarget]]) -> tuple[Failure, ...]:
    """Each version in its own transaction, in order, on one database; causes linked across versions (as verify)."""
    failures: list[Failure] = []
    rolled_back: dict[str, tuple[tuple[int, str], ...]] = {}
    for path, text, _ in versions:
        replayed = replay_files(url, [(path, text)], per_file_transaction=True)
        failures += replayed.failures
        rolled_back |= replayed.rolled_back
    order = {path: index for index, (path, _, _) in enumerate(versions)}
    return link(failures, (), order, rolled_back)


@dataclass(frozen=True)
class Origin:
    """Where a kept legacy statement landed in its version: lines first..last of the canonical file."""

    statement: Statement
    first: int
    last: int


def _code(statement: Statement) -> str:
    # Generated statements carry no comments: the code is the text without the white space around it.
    return statement.text.strip()


def origins(text: str, target: PlannedTarget) -> list[Origin]:
    """Every kept statement of a version, found in order in the version's text (rendering copies them verbatim)."""
    found, cursor = [], 0
    for source in target.sources:
        for statement in source.statements:
            code = _code(statement)
            at = text.find(code, cursor)
            if at < 0:
                continue
            first = text.count("\n", 0, at) + 1
            found.append(Origin(statement, first, first + code.count("\n")))
            cursor = at + len(code)
    return found


def origin_of(failure: Failure, placed: list[Origin]) -> Statement | None:
    """The legacy statement a canonical failure comes from: by line, else the first whose code it holds."""
    by_line = [origin.statement for origin in placed if origin.first <= failure.line <= origin.last]
    held = [origin.statement for origin in placed if _code(origin.statement) in failure.statement]
    return next(iter(by_line or held), None)


def matches(statement: Statement | None, sqlstate: str, legacy: tuple[Failure, ...]) -> bool:
    """Whether the legacy replay failed at this statement with this SQLSTATE."""
    if statement is None:
        return False
    last = statement.line + _code(statement).count("\n")
    return any(f.path == statement.path and f.sqlstate == sqlstate and statement.line <= f.line <= last for f in legacy)


def new_failures(
    canonical: tuple[Failure, ...], legacy: tuple[Failure, ...], versions: list[tuple[str, str, PlannedTarget]]
) -> list[str]:
    """The canonical failures before the first one that matches a legacy failure, described (see the docstring)."""
    placed = {path: origins(text, target) for path, text, target in versions}
    found = []
    for failure in canonical:
        statement = origin_of(failure, placed[failure.path])
        if matches(statement, failure.sqlstate, legacy):
            break
        where = f"{statement.path}:{statement.line}" if statement is not None else "no legacy statement"
        found.append(f"{failure.path}:{failure.line} ({where}) {failure.sqlstate}: {failure.message} {failure.hint}")
    return found


def replays(server: Server, done: pipeline.Planned) -> Iterator[str]:
    """Replay both trees on scratch databases (always dropped) and yield each canonical failure the legacy lacks."""
    versions = canonical_versions(done)
    for path, text, _ in versions:
        note(f"=== {path}\n{text}")
    with scratch_database(server, "property_legacy") as url:
        legacy = replay_files(url, legacy_files(done), per_file_transaction=False).failures
    with scratch_database(server, "property_canonical") as url:
        canonical = replay_canonical(url, versions)
    hypothesis_event(f"legacy replay {'fails' if legacy else 'clean'}, canonical {'fails' if canonical else 'clean'}")
    for failure in legacy[:1]:
        hypothesis_event(f"first legacy failure: {failure.sqlstate} {failure.statement.split('(')[0].strip()}")
    note("legacy failures:\n" + "\n".join(str(f.diagnostic()) for f in legacy))
    note("canonical failures:\n" + "\n".join(str(f.diagnostic()) for f in canonical))
    yield from new_failures(canonical, legacy, versions)


def check(server: Server, tree: Tree) -> None:
    """The property for one tree: when its plan is clean, no canonical failure comes before a matching one."""
    note(tree.describe())
    with tempfile.TemporaryDirectory(prefix="property-") as folder:
        done = clean_plan(tree, Path(folder))
        if done is not None:
            assert list(replays(server, done)) == []


@dataclass(frozen=True)
class Service:
    """The PostgreSQL service, shown in a falsifying example by name rather than with its list of extensions."""

    server: Server

    def __repr__(self) -> str:
        return "Service(DATABASE_URL)"


@pytest.fixture(scope="module")
def service(service_server: Server) -> Service:
    return Service(service_server)


def file(*statements: str, semicolon: bool = True) -> File:
    return File(statements, final_semicolon=semicolon)


def two_folders(first: File, second: File, decisions: tuple[str, ...] = ()) -> Tree:
    """One file in each of two folders, one migration each."""
    return Tree(((first,), (second,)), decisions=decisions)


# Regressions, each the smallest tree of one way a clean plan produced a canonical tree that fails (issue 10).
# A file without its final `;`, joined to the next source of its version: 42601 at the next source's first line.
JOINED = Tree(((file("CREATE TABLE t1 (a int)", semicolon=False),), (file("CREATE TABLE t2 (a int)"),)), cuts=(2,))
# RENAME TO not followed: t1 made again after t1 became t2 is taken as a second, conflicting t1; keep-first then
# leaves out the CREATE that the INSERT needs.
RENAMED_TABLE = two_folders(
    file("CREATE TABLE t1 (a int)"),
    file("ALTER TABLE t1 RENAME TO t2", "CREATE TABLE t1 (b int)", "INSERT INTO t1 (b) VALUES ('1')"),
)
# SET SCHEMA not followed, the same way: public.t1 moved to s1.t1, then public.t1 made again.
MOVED_TABLE = two_folders(
    file("CREATE SCHEMA s1", "CREATE TABLE t1 (a int)"),
    file("ALTER TABLE t1 SET SCHEMA s1", "CREATE TABLE t1 (b int)", "INSERT INTO t1 (b) VALUES ('1')"),
)
# ALTER INDEX … RENAME TO not followed: i1 made again after it became i2 is left out by keep-first.
RENAMED_INDEX = two_folders(
    file("CREATE TABLE t1 (a int, b int)", "CREATE INDEX i1 ON t1 (a)", "ALTER INDEX i1 RENAME TO i2"),
    file("CREATE INDEX i1 ON t1 (b)", "ALTER INDEX i1 RENAME TO i3"),
)
# DROP TABLE a, b counts only a: b made again with other columns is a false conflict, left out by keep-first.
DROPPED_TABLES = two_folders(
    file("CREATE TABLE t1 (a int)", "CREATE TABLE t2 (a int)", "DROP TABLE t1, t2"),
    file("CREATE TABLE t2 (b int)", "INSERT INTO t2 (b) VALUES ('1')"),
)
# … and b's index, which went with b, is still counted: the same CREATE INDEX again is removed as a duplicate.
DROPPED_TABLES_INDEX = two_folders(
    file("CREATE TABLE t1 (a int)", "CREATE TABLE t2 (a int)", "CREATE INDEX i1 ON t2 (a)", "DROP TABLE t1, t2"),
    file("CREATE TABLE t2 (a int)", "CREATE INDEX i1 ON t2 (a)", "ALTER INDEX i1 RENAME TO i2"),
)
# DROP INDEX a, b counts only a: b made again on another column is a false conflict, left out by keep-first.
DROPPED_INDEXES = two_folders(
    file(
        "CREATE TABLE t1 (a int, b int)", "CREATE INDEX i1 ON t1 (a)", "CREATE INDEX i2 ON t1 (a)", "DROP INDEX i1, i2"
    ),
    file("CREATE INDEX i2 ON t1 (b)", "ALTER INDEX i2 RENAME TO i3"),
)
# A view defined again with the same text is removed as a duplicate although the table its text names was renamed
# away and made again: the canonical view still reads the renamed table, which then cannot be dropped (2BP01).
VIEW_OF_RENAMED_TABLE = two_folders(
    file("CREATE TABLE t1 (a int)", "CREATE OR REPLACE VIEW v1 AS SELECT a FROM t1"),
    file(
        "ALTER TABLE t1 RENAME TO t2",
        "CREATE TABLE t1 (a int)",
        "CREATE OR REPLACE VIEW v1 AS SELECT a FROM t1",
        "DROP TABLE t2",
    ),
)

# merge-columns adds the skipped definition's columns to the first table; a later statement written against the
# legacy table (which never had them) adds one of them again: 42701 in the canonical tree only.
MERGED_THEN_ADDED = two_folders(
    file("CREATE TABLE t1 (a int)"),
    file("CREATE TABLE IF NOT EXISTS t1 (a int, b int)", "ALTER TABLE t1 ADD COLUMN b int"),
    decisions=("merge-columns",),
)

# The same when the column was renamed there and back before the skipped definition (found by CI): the column
# the rename made is gone again, so merge-columns still adds it and the later ADD COLUMN fails.
MERGED_AFTER_RENAMED_THERE_AND_BACK = two_folders(
    file("CREATE TABLE t1 (a int)", "ALTER TABLE t1 RENAME COLUMN a TO b", "ALTER TABLE t1 RENAME COLUMN b TO a"),
    file("CREATE TABLE IF NOT EXISTS t1 (a int, b int)", "ALTER TABLE t1 ADD COLUMN b int"),
    decisions=("merge-columns",),
)

# Once renames are followed, the table made as t2 and renamed t1 is the one `CREATE TABLE IF NOT EXISTS t1`
# meets; merge-columns must then add the columns to t1, the name it has there, not t2, the name it was made with.
MERGED_AFTER_RENAME = two_folders(
    file("CREATE TABLE t2 (a int)", "ALTER TABLE t2 RENAME TO t1"),
    file("CREATE TABLE IF NOT EXISTS t1 (b int)"),
    decisions=("merge-columns",),
)

# The same after SET SCHEMA: the columns go to t1, which is s1.t1 by then.
MERGED_AFTER_MOVE = two_folders(
    file("CREATE SCHEMA s1", "CREATE TABLE t1 (a int)", "ALTER TABLE t1 SET SCHEMA s1"),
    file("CREATE TABLE IF NOT EXISTS s1.t1 (b int)"),
    decisions=("merge-columns",),
)

# An enum value added and used in one source: psql ran the file statement by statement and the use found the
# value committed; one transaction per version fails with 55P04. (A hazard finding that is only a warning for one
# source leaves the plan clean; with psql as the legacy tool, as verify replays it, the failure is new.)
ENUM_VALUE_USED_IN_ITS_FILE = two_folders(
    file("CREATE TYPE e1 AS ENUM ('x')", "CREATE TABLE t1 (a e1)"),
    file("ALTER TYPE e1 ADD VALUE 'y'", "INSERT INTO t1 (a) VALUES ('y')"),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees())
@example(tree=JOINED)
@example(tree=RENAMED_TABLE)
@example(tree=MOVED_TABLE)
@example(tree=RENAMED_INDEX)
@example(tree=DROPPED_TABLES)
@example(tree=DROPPED_TABLES_INDEX)
@example(tree=DROPPED_INDEXES)
@example(tree=VIEW_OF_RENAMED_TABLE)
@example(tree=MERGED_THEN_ADDED)
@example(tree=MERGED_AFTER_RENAME)
@example(tree=MERGED_AFTER_MOVE)
@example(tree=MERGED_AFTER_RENAMED_THERE_AND_BACK)
@example(tree=ENUM_VALUE_USED_IN_ITS_FILE)
def test_a_clean_plan_replays_without_a_failure_the_legacy_tree_does_not_have(service: Service, tree: Tree) -> None:
    check(service.server, tree)


def check_errors(server: Server, tree: Tree) -> None:
    """The converse, for one tree: a plan error stands only when the legacy replay fails somewhere too."""
    note(tree.describe())
    with tempfile.TemporaryDirectory(prefix="property-") as folder:
        done = resolved_plan(tree, Path(folder))
        if done.plan.clean:
            return
        errors = [str(error) for error in done.plan.errors]
        note("plan errors:\n" + "\n".join(errors))
        with scratch_database(server, "property_legacy") as url:
            legacy = replay_files(url, legacy_files(done), per_file_transaction=False).failures
        hypothesis_event(f"plan not clean, legacy replay {'fails' if legacy else 'clean'}")
        assert legacy, f"the plan reports errors the legacy replay contradicts: {errors}"


# A rename the plan does not follow makes the renamed table "referenced but no mapped source creates it".
RENAMED_THEN_USED = two_folders(
    file("CREATE TABLE t1 (a int)", "ALTER TABLE t1 RENAME TO t2"), file("INSERT INTO t2 (a) VALUES ('1')")
)

# A column the table gained after its first definition (ADD COLUMN, RENAME COLUMN) is there when a skipped
# redefinition also lists it: a use of it is no "column only the left-out definition had".
ADDED_THEN_REDEFINED = two_folders(
    file("CREATE TABLE t1 (a int)", "ALTER TABLE t1 ADD COLUMN b int"),
    file("CREATE TABLE IF NOT EXISTS t1 (a int, b int)", "COMMENT ON COLUMN t1.b IS 'note'"),
)
RENAMED_THEN_REDEFINED = two_folders(
    file("CREATE TABLE t1 (a int)", "ALTER TABLE t1 RENAME COLUMN a TO b"),
    file("CREATE TABLE IF NOT EXISTS t1 (a int, b int)", "COMMENT ON COLUMN t1.b IS 'note'"),
)

# ALTER SCHEMA … RENAME TO takes the schema's tables along: s1 made anew holds a new s1.t1, not the renamed one.
SCHEMA_RENAMED_THEN_MADE_AGAIN = two_folders(
    file("CREATE SCHEMA s1", "CREATE TABLE s1.t1 (a int)", "ALTER SCHEMA s1 RENAME TO s2"),
    file("CREATE SCHEMA s1", "CREATE TABLE s1.t1 (a int)", "INSERT INTO s1.t1 (a) VALUES ('1')"),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees().map(lambda tree: replace(tree, decisions=("keep-first",))))
@example(tree=RENAMED_THEN_USED)
@example(tree=ADDED_THEN_REDEFINED)
@example(tree=RENAMED_THEN_REDEFINED)
@example(tree=SCHEMA_RENAMED_THEN_MADE_AGAIN)
def test_a_plan_reports_no_error_on_a_tree_whose_legacy_replay_is_clean(service: Service, tree: Tree) -> None:
    """Issue 10's second promise: no ordering error (nor any other) that PostgreSQL's legacy replay contradicts.

    The legacy replay is clean, so every statement found what it needed, and every conflict (resolved keep-first)
    was a CREATE PostgreSQL skipped: the canonical tree is the legacy tree less statements that did nothing.
    merge-columns is left out here: it changes the schema on purpose, and a finding about what that decision
    breaks is a true one even when the legacy tree ran.
    """
    check_errors(service.server, tree)
