"""What `consolidate plan` shows: the plan section by section, as data the table printer renders (stdout), and
its problems, as located lines (stderr)."""

from __future__ import annotations

from consolidate.cli.tables import Section
from consolidate.core.patches import shown
from consolidate.core.plan_json import down_status
from consolidate.layout import number
from consolidate.model import Diagnostic, Plan, Severity, Statement


def _at(statement: Statement) -> str:
    return f"{statement.path}:{statement.line}"


def _mapping(plan: Plan) -> Section:
    width = plan.mapping.width
    rows = tuple(
        (
            number(target.target.version, width),
            target.target.name,
            "\n".join(source.path for source in target.sources),
            str(target.kept),
            str(target.removed),
        )
        for target in plan.targets
    )
    return Section("Mapping", ("version", "name", "sources", "kept", "removed"), rows)


def _duplicates(plan: Plan) -> Section:
    rows = tuple(
        (str(d.removed.target), _at(d.removed), _at(d.kept)) for d in plan.duplicates if d.removed.target is not None
    )
    return Section(f"Duplicates removed ({len(rows)})", ("object", "removed", "identical copy kept at"), rows)


def _conflicts(plan: Plan) -> Section:
    rows = tuple(
        (
            str(c.object),
            _at(c.first),
            _at(c.second),
            c.detail,
            f"{c.resolution.decision.value}: {c.resolution.reason}" if c.resolution else "UNRESOLVED",
        )
        for c in plan.conflicts
    )
    return Section(
        f"Conflicting definitions ({len(rows)})", ("object", "first", "second", "what happens", "resolution"), rows
    )


def _redefinitions(plan: Plan) -> Section:
    rows = tuple((str(r.object), _at(r.earlier), _at(r.later)) for r in plan.redefinitions)
    return Section(f"Redefinitions, the later one wins ({len(rows)})", ("object", "earlier", "later (wins)"), rows)


def _accepted(plan: Plan) -> Section:
    rows = tuple(
        (str(d.location), f"{d.code}: {d.message}", next(a.reason for a in plan.mapping.accepted if a.covers(d)))
        for d in plan.accepted
    )
    return Section(f"Accepted by the mapping ({len(rows)})", ("where", "what", "reason"), rows)


def _decisions(plan: Plan) -> Section:
    rows = tuple(
        (patch.verb, f"{shown(plan.mapping, patch)}:{patch.line}", " ".join(patch.reason.split()))
        for patch in plan.mapping.patches
    )
    return Section(
        f"Legacy statements patched or dropped by the mapping ({len(rows)})", ("what", "where", "reason"), rows
    )


def _excluded(plan: Plan) -> Section:
    rows = tuple((item.path, item.reason) for item in plan.excluded)
    return Section(f"Excluded files ({len(rows)})", ("path", "reason"), rows)


def _rollbacks(plan: Plan) -> Section:
    width = plan.mapping.width
    rows = tuple(
        (
            target.target.label(width),
            down_status(target),
            "\n".join(source.down or f"(none for {source.path.rsplit('/', 1)[-1]})" for source in target.sources),
        )
        for target in plan.targets
    )
    return Section("Rollback coverage", ("version", "down", "legacy down scripts"), rows)


def plan_sections(plan: Plan) -> list[Section]:
    return [
        _mapping(plan),
        _duplicates(plan),
        _conflicts(plan),
        _redefinitions(plan),
        _accepted(plan),
        _decisions(plan),
        _excluded(plan),
        _rollbacks(plan),
    ]


def plan_problems(plan: Plan) -> tuple[Diagnostic, ...]:
    """What stderr gets: the plan's errors (syntax, ordering, unresolved conflicts, error findings, less what the
    mapping accepts, which the tables show), then its warnings and notes. The tables on stdout are the plan."""
    notes = tuple(finding for finding in plan.findings if finding.severity is not Severity.ERROR)
    return plan.errors + notes


def plan_summary(plan: Plan) -> str:
    sources = sum(len(target.sources) for target in plan.targets)
    kept = sum(target.kept for target in plan.targets)
    resolved = len(plan.conflicts) - len(plan.unresolved)
    status = "clean" if plan.clean else f"{len(plan.errors)} error(s)"
    return (
        f"{sources} legacy files -> {len(plan.targets)} migrations; {plan.statements} statements, {kept} kept, "
        f"{len(plan.duplicates)} duplicates removed, {len(plan.conflicts)} conflicts ({resolved} resolved), "
        f"{plan.fallbacks} carried verbatim (sqlglot fall-back). Plan is {status}."
    )
