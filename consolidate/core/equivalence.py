"""Whether two statements define the same thing, read by PostgreSQL's own parser (pglast).

A statement's fingerprint (core/statements.py) tells identical statements apart from different ones, but it
sees `TIMESTAMPTZ` and `timestamp with time zone`, `int` and `integer`, `CREATE TABLE` and `CREATE TABLE IF
NOT EXISTS`, or a function's `LANGUAGE` clause before or after its body, as different. Real trees repeat
definitions with exactly such differences. When two fingerprints differ, the plan asks here: PostgreSQL's parse
trees, without positions, with type names unqualified, IF NOT EXISTS / OR REPLACE / CONCURRENTLY and the order
of a routine's options ignored and the spacing inside routine bodies folded, are compared.

Pure: texts in, a boolean out. Only asked for the few objects defined twice, so its cost does not count.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pglast import parser

# Keys that say where rather than what: location, stmt_location, arg_location, … and stmt_len.
_POSITION_KEYS = frozenset({"stmt_len"})
# CREATE ... IF NOT EXISTS and CREATE OR REPLACE: a repeat of an identical definition is a no-op either way.
# CREATE INDEX CONCURRENTLY builds the same index without blocking writes: how, not what.
_HOW_KEYS = frozenset({"if_not_exists", "replace", "concurrent"})


def same_definition(first: str, second: str) -> bool:
    """Whether two statement texts (comments allowed) are one definition written two ways."""
    a, b = _canonical(first), _canonical(second)
    return a is not None and a == b


@cache
def _canonical(text: str) -> str | None:
    try:
        tree = json.loads(parser.parse_sql_json(text))
    except (parser.ParseError, ValueError):
        return None
    statements = tree.get("stmts", [])
    if len(statements) != 1:
        return None
    return json.dumps(_normal(statements[0]), sort_keys=True)


def _normal(node: Any) -> Any:
    if isinstance(node, list):
        return [_normal(item) for item in node]
    if not isinstance(node, dict):
        return node
    normal = {key: _normal(value) for key, value in node.items() if not _ignored(key)}
    if "names" in normal and "typemod" in normal:  # a TypeName (the JSON names fields, not node types, here)
        normal = _unqualified(normal)
    if "CreateFunctionStmt" in normal:
        normal["CreateFunctionStmt"] = _routine(normal["CreateFunctionStmt"])
    return normal


def _ignored(key: str) -> bool:
    return key in _POSITION_KEYS or key in _HOW_KEYS or key == "location" or key.endswith("_location")


def _unqualified(type_name: dict[str, Any]) -> dict[str, Any]:
    """`pg_catalog.int4` as the grammar spells `integer`, `int4` as a user spells it: the same type."""
    names = type_name.get("names", [])
    if len(names) == 2 and names[0] == {"String": {"sval": "pg_catalog"}}:
        return {**type_name, "names": names[1:]}
    return type_name


def _routine(statement: dict[str, Any]) -> dict[str, Any]:
    """A routine's options in a fixed order, its body's spacing folded (indentation is not a change)."""
    options = [_folded_body(option) for option in statement.get("options", [])]
    return {**statement, "options": sorted(options, key=lambda option: json.dumps(option, sort_keys=True))}


def _folded_body(option: dict[str, Any]) -> dict[str, Any]:
    element = option.get("DefElem", {})
    if element.get("defname") != "as":
        return option
    return {"DefElem": {**element, "arg": _folded(element.get("arg"))}}


def _folded(node: Any) -> Any:
    """Every string of a routine's body with its runs of white space as one space."""
    if isinstance(node, list):
        return [_folded(item) for item in node]
    if isinstance(node, dict):
        return {key: " ".join(value.split()) if key == "sval" else _folded(value) for key, value in node.items()}
    return node
