"""Whether a statement uses an enum value that `ALTER TYPE … ADD VALUE` added in the same transaction.

PostgreSQL refuses such a use with 55P04 ("unsafe use of new value") wherever it turns the literal into the enum
while the ALTER TYPE is uncommitted: casts, comparisons with a column of the type (WHERE, CHECK, a partial
index's WHERE, a view's query), INSERT and UPDATE values, column and parameter defaults, the body of a SQL
function (checked at CREATE) and a DO block (run at once). A PL/pgSQL function's body is not run at CREATE, so
it never counts; comparing the column as text (``m::text = 'x'``) does not either. Evidence comes from
PostgreSQL's own parse tree (pglast): `CERTAIN` when the literal meets the type or a column of it directly,
`LIKELY` when the statement only mentions the type or such a column next to the literal.

Known limitation: a column's type is read from CREATE TABLE and ALTER TABLE … ADD COLUMN / ALTER COLUMN … TYPE
by table name alone (schemas and domains over the enum are not followed), and a DO block's DECLARE defaults
are not read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from pglast.parser import ParseError, parse_plpgsql_json, parse_sql_json

from consolidate.core.comments import code_start

_ADD_VALUE = re.compile(r"\bADD\s+VALUE\b", re.IGNORECASE)
_PLPGSQL_WRAP = "CREATE FUNCTION consolidate_do() RETURNS void LANGUAGE plpgsql AS $consolidate_do${}$consolidate_do$"


class Strength(IntEnum):
    LIKELY = 1
    CERTAIN = 2


@dataclass(frozen=True)
class AddedValue:
    """An enum value `ALTER TYPE … ADD VALUE` adds: the type's name as written (schema first if given)."""

    type_names: tuple[str, ...]
    value: str

    @property
    def type_name(self) -> str:
        return ".".join(self.type_names)

    def is_type(self, names: Iterable[str]) -> bool:
        """Whether a type named `names` (as pglast gives them) may be this one: same name, and same schema
        when both name one (pg_catalog's types are never enums)."""
        written = tuple(names)
        if not written or written[-1] != self.type_names[-1] or written[0] == "pg_catalog":
            return False
        return len(written) == 1 or len(self.type_names) == 1 or written == self.type_names


@dataclass(frozen=True)
class Evidence:
    strength: Strength
    how: str  # what the statement does with the value, e.g. "compares column status with it"


@dataclass
class TypedColumns:
    """Columns of one enum type per table (bare lower-case names), and the column order of those tables."""

    typed: dict[str, set[str]] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)

    def of(self, table: str) -> set[str]:
        return self.typed.get(table, set())


def may_add_value(text: str) -> bool:
    """Whether the text may hold an `ALTER TYPE … ADD VALUE` (a cheap look before `added_value` parses)."""
    return _ADD_VALUE.search(text) is not None


def added_value(text: str) -> AddedValue | None:
    """The value an `ALTER TYPE … ADD VALUE` statement adds, or None for any other statement."""
    if not may_add_value(text):
        return None
    for kind, fields in _statements(text):
        if kind == "AlterEnumStmt" and fields.get("newVal") is not None and not fields.get("oldVal"):
            return AddedValue(tuple(_strings(fields.get("typeName", []))), fields["newVal"])
    return None


def typed_columns(added: AddedValue, texts: Iterable[str]) -> TypedColumns:
    """The columns of `added`'s type that the statements `texts` define (only those naming the type are read)."""
    columns = TypedColumns()
    bare = added.type_names[-1]
    for text in texts:
        if bare in text.lower():
            for kind, fields in _statements(text):
                _note_columns(columns, added, kind, fields)
    return columns


def enum_use(text: str, added: AddedValue, columns: TypedColumns) -> Evidence | None:
    """How strongly the statement `text` uses `added`'s value as a value of its type, and how; None if not."""
    if not added.value or added.value not in text or added_value(text) is not None:
        return None
    found = [_evidence(kind, fields, added, columns) for kind, fields in _statements(text)]
    return _strongest(found)


# --- parse trees --------------------------------------------------------------------------------------------------

# One step down a parse tree: the node's kind and fields, the field followed, and the position in a list.
Frame = tuple[str, dict[str, Any], str, int | None]


def _statements(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The statements of `text` as (kind, fields) of pglast's JSON tree; none when PostgreSQL cannot parse it."""
    try:
        tree = json.loads(parse_sql_json(text[code_start(text) :]))
    except ParseError:
        return []
    return [_node(raw["stmt"]) for raw in tree.get("stmts", []) if "stmt" in raw]


def _node(value: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = next(iter(value))
    return kind, value[kind]


def _is_node(value: object) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value))[:1].isupper()


def _walk(
    kind: str, fields: dict[str, Any], path: tuple[Frame, ...] = ()
) -> Iterator[tuple[str, dict[str, Any], tuple[Frame, ...]]]:
    """Every node below (and including) one, with the frames leading to it."""
    yield kind, fields, path
    for key, child in fields.items():
        items = child if isinstance(child, list) else [child]
        for index, item in enumerate(items):
            if _is_node(item):
                yield from _walk(*_node(item), (*path, (kind, fields, key, index)))
            elif isinstance(item, dict):  # an unwrapped struct: RangeVar in `relation`, TypeName, ...
                yield from _walk("", item, (*path, (kind, fields, key, index)))


def _strings(items: list[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        if "String" in item:
            yield item["String"].get("sval", "")  # JSON leaves out empty strings


def _type_names(fields: dict[str, Any] | None) -> list[str]:
    return list(_strings(fields.get("names", []))) if fields else []


def _const(fields: dict[str, Any]) -> str | None:
    sval = fields.get("sval")
    return sval.get("sval") if isinstance(sval, dict) else None


def _note_columns(columns: TypedColumns, added: AddedValue, kind: str, fields: dict[str, Any]) -> None:
    table = (fields.get("relation") or {}).get("relname")
    if kind not in ("CreateStmt", "AlterTableStmt") or table is None:
        return
    for node_kind, node, path in _walk(kind, fields):
        name = node.get("colname") if node_kind == "ColumnDef" else None  # ALTER COLUMN … TYPE's has none
        if name is not None:
            if kind == "CreateStmt" and len(path) == 1:
                columns.order.setdefault(table, []).append(name)
            if added.is_type(_type_names(node.get("typeName"))):
                columns.typed.setdefault(table, set()).add(name)
        elif node_kind == "AlterTableCmd" and node.get("subtype") == "AT_AlterColumnType" and _new_type_is(node, added):
            columns.typed.setdefault(table, set()).add(node.get("name", ""))


def _new_type_is(command: dict[str, Any], added: AddedValue) -> bool:
    """Whether ALTER COLUMN … TYPE gives the column `added`'s type."""
    return added.is_type(_type_names((command.get("def") or {}).get("ColumnDef", {}).get("typeName")))


# --- evidence -----------------------------------------------------------------------------------------------------


def _strongest(found: Iterable[Evidence | None]) -> Evidence | None:
    present = [evidence for evidence in found if evidence is not None]
    return max(present, key=lambda evidence: evidence.strength) if present else None


def _evidence(kind: str, fields: dict[str, Any], added: AddedValue, columns: TypedColumns) -> Evidence | None:
    """The strongest evidence in one statement, its SQL function body and its DO block included."""
    nodes = list(_walk(kind, fields))
    scope = _scope(nodes, added, columns)
    found = [
        _judge(path, added, columns, scope)
        for node_kind, node, path in nodes
        if node_kind == "A_Const" and _const(node) == added.value
    ]
    if found and not any(found) and _mentions(nodes, added, scope):
        found.append(Evidence(Strength.LIKELY, f"has it next to {added.type_name} or a column of it"))
    found += _in_bodies(kind, fields, added, columns)
    return _strongest(found)


def _scope(
    nodes: list[tuple[str, dict[str, Any], tuple[Frame, ...]]], added: AddedValue, columns: TypedColumns
) -> set[str]:
    """The columns of the enum type the statement can see: of the tables it names, and those it defines."""
    scope: set[str] = set()
    for node_kind, node, _ in nodes:
        if "relname" in node:
            scope |= columns.of(node["relname"])
        elif node_kind == "ColumnDef" and added.is_type(_type_names(node.get("typeName"))):
            scope.add(node.get("colname", ""))
    return scope


def _mentions(nodes: list[tuple[str, dict[str, Any], tuple[Frame, ...]]], added: AddedValue, scope: set[str]) -> bool:
    for node_kind, node, _ in nodes:
        if node_kind == "ColumnRef" and _last_field(node) in scope:
            return True
        if "names" in node and "typemod" in node and added.is_type(_type_names(node)):
            return True
    return False


def _last_field(column_ref: dict[str, Any]) -> str | None:
    names = list(_strings(column_ref.get("fields", [])))
    return names[-1] if names else None


def _judge(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    """What the frames above one literal of the value say about its use."""
    if not path:
        return None
    for rule in _RULES:
        evidence = rule(path, added, columns, scope)
        if evidence is not None:
            return evidence
    return None


def _cast(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    kind, fields, key, _ = path[-1]
    if kind == "TypeCast" and key == "arg" and added.is_type(_type_names(fields.get("typeName"))):
        return Evidence(Strength.CERTAIN, f"casts it to {added.type_name}")
    return None


def _comparison(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    frames = path[:-1] if path[-1][0] == "List" else path  # `col IN ('a', 'b')`: the literal is in a list
    if not frames or frames[-1][0] != "A_Expr":
        return None
    _, fields, key, _ = frames[-1]
    other = fields.get("rexpr" if key == "lexpr" else "lexpr")
    if isinstance(other, dict) and "ColumnRef" in other and _last_field(other["ColumnRef"]) in scope:
        return Evidence(Strength.CERTAIN, f"compares column {_last_field(other['ColumnRef'])} with it")
    return None


def _assignment(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    """UPDATE … SET col = 'x' (ON CONFLICT DO UPDATE too), ALTER COLUMN col SET DEFAULT 'x'."""
    kind, fields, key, _ = path[-1]
    table = _table(path)
    if kind == "ResTarget" and key == "val" and fields.get("name") in columns.of(table or ""):
        return Evidence(Strength.CERTAIN, f"sets column {fields['name']} to it")
    if kind == "AlterTableCmd" and fields.get("subtype") == "AT_ColumnDefault" and fields.get("name") in scope:
        return Evidence(Strength.CERTAIN, f"makes it the default of column {fields['name']}")
    return None


def _default(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    """A default or check of a column (or a parameter) declared with the type."""
    for kind, fields, _, _ in reversed(path):
        if kind == "ColumnDef" and added.is_type(_type_names(fields.get("typeName"))):
            return Evidence(Strength.CERTAIN, f"uses it in the definition of column {fields['colname']}")
        if kind == "FunctionParameter" and added.is_type(_type_names(fields.get("argType"))):
            return Evidence(Strength.CERTAIN, f"makes it the default of parameter {fields.get('name') or '?'}")
    return None


def _inserted(path: tuple[Frame, ...], added: AddedValue, columns: TypedColumns, scope: set[str]) -> Evidence | None:
    """INSERT INTO t [(cols)] VALUES (…, 'x', …) or SELECT …, 'x', …: the column at the literal's position."""
    position = _insert_position(path)
    insert = next((fields for kind, fields, _, _ in path if kind == "InsertStmt"), None)
    if position is None or insert is None:
        return None
    table = insert.get("relation", {}).get("relname", "")
    named = [target["ResTarget"].get("name") for target in insert.get("cols", [])]
    order = named or columns.order.get(table, [])
    column = order[position] if position < len(order) else None
    if column is not None and column in columns.of(table):
        return Evidence(Strength.CERTAIN, f"inserts it into column {column}")
    return None


def _insert_position(path: tuple[Frame, ...]) -> int | None:
    """The literal's position in a VALUES row or a SELECT list directly under an INSERT."""
    if len(path) < 3 or path[-3][0] != "InsertStmt":
        return None
    (kind, _, key, index), (above, _, above_key, above_index) = path[-1], path[-2]
    if (kind, key, above, above_key) == ("List", "items", "SelectStmt", "valuesLists"):
        return index
    if (kind, above, above_key) == ("ResTarget", "SelectStmt", "targetList"):
        return above_index
    return None


def _table(path: tuple[Frame, ...]) -> str | None:
    """The table of the nearest INSERT or UPDATE above the frames."""
    for kind, fields, _, _ in reversed(path):
        if kind in ("InsertStmt", "UpdateStmt"):
            relname: str | None = fields.get("relation", {}).get("relname")
            return relname
    return None


_RULES = (_cast, _comparison, _assignment, _inserted, _default)


# --- bodies run or checked at once -------------------------------------------------------------------------------


def _in_bodies(kind: str, fields: dict[str, Any], added: AddedValue, columns: TypedColumns) -> list[Evidence | None]:
    """Evidence inside a DO block (run at once) or a SQL function's body (analysed at CREATE)."""
    body = _body(fields)
    if body is None or added.value not in body:
        return []
    if kind == "DoStmt" and _language(fields) == "plpgsql":
        queries = _plpgsql_queries(body)
        how = "in a DO block, which runs at once"
    elif kind == "CreateFunctionStmt" and _language(fields) == "sql":
        queries = [body]
        how = "in a SQL function's body, which PostgreSQL checks at CREATE"
    else:
        return []
    found = _strongest(enum_use(query, added, columns) for query in queries)
    return [Evidence(found.strength, f"{found.how} {how}")] if found else []


def _options(fields: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for option in fields.get("args", []) + fields.get("options", []):
        if "DefElem" in option:
            yield option["DefElem"].get("defname", ""), option["DefElem"].get("arg")


def _language(fields: dict[str, Any]) -> str:
    for name, arg in _options(fields):
        if name == "language" and isinstance(arg, dict) and "String" in arg:
            return str(arg["String"].get("sval", "")).lower()
    return "plpgsql"  # a DO block's default language


def _body(fields: dict[str, Any]) -> str | None:
    for name, arg in _options(fields):
        if name == "as" and isinstance(arg, dict):
            strings = list(_strings(arg["List"].get("items", []))) if "List" in arg else list(_strings([arg]))
            return strings[0] if strings else None
    return None


def _plpgsql_queries(body: str) -> list[str]:
    """The SQL a PL/pgSQL body runs: its statements, and its expressions as SELECTs."""
    try:
        tree = json.loads(parse_plpgsql_json(_PLPGSQL_WRAP.format(body)))
    except ParseError:
        return []
    return [_as_statement(expr) for expr in _exprs(tree)]


def _exprs(value: object) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        for item in value:
            yield from _exprs(item)
    elif isinstance(value, dict):
        if "PLpgSQL_expr" in value:
            yield value["PLpgSQL_expr"]
        else:
            for child in value.values():
                yield from _exprs(child)


def _as_statement(expr: Mapping[str, Any]) -> str:
    query = str(expr.get("query", ""))
    return query if expr.get("parseMode", 0) == 0 else f"SELECT {query}"
