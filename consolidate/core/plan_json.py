"""The plan as a stable JSON document (`consolidate plan --json`); docs/commands.md documents its shape.

Bump FORMAT when a key changes meaning or disappears; adding keys is compatible.
"""

from __future__ import annotations

from typing import Any

from consolidate.core.patches import shown
from consolidate.model import Conflict, Duplicate, Patch, Plan, PlannedTarget, Redefinition, Statement

FORMAT = 1


def _at(statement: Statement) -> dict[str, Any]:
    return {"path": statement.path, "line": statement.line}


def down_status(target: PlannedTarget) -> str:
    """`legacy` when every source has a down script, `partial` when some do, `missing` when none do."""
    downs = [source.down for source in target.sources]
    if all(downs):
        return "legacy"
    return "partial" if any(downs) else "missing"


def _target(target: PlannedTarget, width: int) -> dict[str, Any]:
    return {
        "version": target.target.version,
        "label": target.target.label(width),
        "name": target.target.name,
        "description": target.target.description,
        "sources": [
            {
                "path": source.path,
                "sha256": source.sha256,
                "kept": len(source.statements),
                "removed": len(source.removed),
                "down": source.down,
            }
            for source in target.sources
        ],
        "kept": target.kept,
        "removed": target.removed,
        "down": down_status(target),
    }


def _duplicate(duplicate: Duplicate) -> dict[str, Any]:
    target = duplicate.removed.target
    return {
        "object": str(target) if target else None,
        "version": duplicate.target,
        "removed": _at(duplicate.removed),
        "kept": _at(duplicate.kept),
    }


def _conflict(conflict: Conflict) -> dict[str, Any]:
    resolution = conflict.resolution
    return {
        "object": str(conflict.object),
        "first": _at(conflict.first),
        "second": _at(conflict.second),
        "detail": conflict.detail,
        "lost_columns": list(conflict.lost_columns),
        "lost_constraints": list(conflict.lost_constraints),
        "resolution": None
        if resolution is None
        else {"decision": resolution.decision.value, "reason": resolution.reason},
    }


def _redefinition(item: Redefinition) -> dict[str, Any]:
    return {"object": str(item.object), "earlier": _at(item.earlier), "later": _at(item.later)}


def _decision(plan: Plan, patch: Patch) -> dict[str, Any]:
    return {
        "decision": "drop" if patch.sql is None else "patch",
        "path": shown(plan.mapping, patch),
        "line": patch.line,
        "sql": patch.sql,
        "reason": patch.reason,
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    """Every fact the plan holds, as plain JSON-ready data."""
    mapping = plan.mapping
    return {
        "format": FORMAT,
        "mapping": mapping.path,
        "root": mapping.root,
        "output": mapping.output,
        "clean": plan.clean,
        "summary": {
            "sources": sum(len(target.sources) for target in plan.targets),
            "targets": len(plan.targets),
            "statements": plan.statements,
            "kept": sum(target.kept for target in plan.targets),
            "duplicates": len(plan.duplicates),
            "conflicts": len(plan.conflicts),
            "unresolved_conflicts": len(plan.unresolved),
            "redefinitions": len(plan.redefinitions),
            "ordering_errors": len(plan.ordering_errors),
            "syntax_errors": len(plan.syntax_errors),
            "fallbacks": plan.fallbacks,
        },
        "targets": [_target(target, mapping.width) for target in plan.targets],
        "duplicates": [_duplicate(duplicate) for duplicate in plan.duplicates],
        "conflicts": [_conflict(conflict) for conflict in plan.conflicts],
        "redefinitions": [_redefinition(item) for item in plan.redefinitions],
        "errors": [diagnostic.to_dict() for diagnostic in plan.errors],
        "accepted": [diagnostic.to_dict() for diagnostic in plan.accepted],
        "findings": [diagnostic.to_dict() for diagnostic in plan.findings],
        "excluded": [{"path": item.path, "reason": item.reason} for item in plan.excluded],
        "decisions": [_decision(plan, patch) for patch in plan.mapping.patches],
    }
