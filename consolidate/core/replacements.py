"""CREATE OR REPLACE that PostgreSQL refuses: a redefinition the plan would otherwise call "the later one wins".

PostgreSQL replaces a view only when the new query keeps the old columns, by name and in order (it may add
columns at the end: 42P16), and a function only when its result and its input parameters' names stay (42P13).
Read from PostgreSQL's own parse trees (pglast). Where a name or a type cannot be told from the text alone (a
`*`, an expression PostgreSQL names `?column?`, a type named with and without its schema), nothing is claimed:
the replay decides.
"""

from __future__ import annotations

from typing import Any

from pglast import parse_sql
from pglast.ast import ColumnRef, CreateFunctionStmt, FuncCall, String, TypeCast, ViewStmt
from pglast.enums import FunctionParameterMode
from pglast.parser import ParseError
from pglast.stream import RawStream

_RESULT_MODES = frozenset({FunctionParameterMode.FUNC_PARAM_OUT, FunctionParameterMode.FUNC_PARAM_TABLE})
_INPUT_MODES = frozenset(
    {
        FunctionParameterMode.FUNC_PARAM_IN,
        FunctionParameterMode.FUNC_PARAM_DEFAULT,
        FunctionParameterMode.FUNC_PARAM_INOUT,
    }
)


def refused_replacement(earlier: str, later: str) -> str | None:
    """Why PostgreSQL refuses `later` (a CREATE OR REPLACE VIEW or FUNCTION) over `earlier`, with its SQLSTATE;
    None when it accepts it or the texts cannot tell."""
    old, new = _statement(earlier), _statement(later)
    if isinstance(old, ViewStmt) and isinstance(new, ViewStmt) and new.replace:
        return _view_refusal(_view_columns(old), _view_columns(new))
    if isinstance(old, CreateFunctionStmt) and isinstance(new, CreateFunctionStmt) and new.replace:
        return _function_refusal(old, new)
    return None


def _statement(text: str) -> Any:
    try:
        parsed = parse_sql(text)
    except ParseError:
        return None
    return parsed[0].stmt if len(parsed) == 1 else None


# --- views ----------------------------------------------------------------------------------------------------


def _view_columns(view: ViewStmt) -> list[str] | None:
    """The view's column names in order, or None when one cannot be told from the text."""
    query = view.query
    targets = getattr(query, "targetList", None)
    if not targets:
        return None
    names = [_column_name(target) for target in targets]
    for index, alias in enumerate(view.aliases or ()):
        if index < len(names) and isinstance(alias, String):
            names[index] = alias.sval
    return None if any(name is None for name in names) else [str(name) for name in names]


def _column_name(target: Any) -> str | None:
    """The name PostgreSQL gives a select-list entry, where the text alone tells it."""
    if target.name:
        return str(target.name)
    value = target.val
    while isinstance(value, TypeCast):  # `x::text` is still named x
        value = value.arg
    if isinstance(value, ColumnRef) and value.fields:
        last = value.fields[-1]
        return str(last.sval) if isinstance(last, String) else None  # a `*` cannot be told
    if isinstance(value, FuncCall) and value.funcname:
        return str(value.funcname[-1].sval)
    return None


def _view_refusal(old: list[str] | None, new: list[str] | None) -> str | None:
    if old is None or new is None:
        return None
    for before, after in zip(old, new, strict=False):
        if before != after:
            return f"42P16: cannot change name of view column {before!r} to {after!r}"
    if len(new) < len(old):
        return f"42P16: cannot drop columns from view ({', '.join(old[len(new) :])})"
    return None


# --- functions ------------------------------------------------------------------------------------------------


def _function_refusal(old: CreateFunctionStmt, new: CreateFunctionStmt) -> str | None:
    old_inputs, new_inputs = _inputs(old), _inputs(new)
    for before, after in zip(old_inputs, new_inputs, strict=False):
        if before and after and before != after:
            return f"42P13: cannot change name of input parameter {before!r} (to {after!r})"
    old_result, new_result = _result(old), _result(new)
    if old_result is None or new_result is None or old_result == new_result:
        return None
    if _unqualified(old_result) == _unqualified(new_result):
        return None  # a type named with and without its schema: the same type, or not, by search_path
    return "42P13: cannot change return type of existing function (its result type or output columns differ)"


def _inputs(function: CreateFunctionStmt) -> list[str]:
    return [p.name or "" for p in function.parameters or () if p.mode in _INPUT_MODES]


def _result(function: CreateFunctionStmt) -> str | None:
    """The function's result as text: its RETURNS type and its OUT/TABLE/INOUT columns (name and type)."""
    try:
        columns = [
            f"{p.name} {RawStream()(p.argType)}"
            for p in function.parameters or ()
            if p.mode in _RESULT_MODES or p.mode is FunctionParameterMode.FUNC_PARAM_INOUT
        ]
        returns = RawStream()(function.returnType) if function.returnType is not None else ""
    except Exception:  # pglast's printer lacks a node: nothing is claimed
        return None
    return "; ".join([returns, *columns])


def _unqualified(result: str) -> str:
    """The result text with every schema qualification but pg_catalog's taken off."""
    return " ".join(word.rpartition(".")[2] if "." in word else word for word in result.split())
