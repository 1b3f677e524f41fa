"""A prelude: the SQL file that sets up what the platform provides before any migration runs (mapping `prelude:`).

Real trees assume objects they never create: the application role their GRANTs name, Supabase's ``anon`` and
``authenticated`` roles, its ``auth`` schema and ``auth.users`` table, a publication. The prelude creates them, so
that the plan knows they exist (`Prelude.provided`) and verify can create them in every scratch database.

Roles live in the whole server, not in one database: a replay must not create them with the prelude's own
statements (nobody would drop them), so they are listed apart (`Prelude.roles`) for the caller to create and
drop. Every other statement that changes the server beyond one database — role attributes and memberships,
databases, tablespaces, server settings — is never run in a scratch database either (`Prelude.server_wide`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.enums import ObjectType
from pglast.parser import ParseError

from consolidate.core.plan import created_roles
from consolidate.core.statements import parse_file
from consolidate.model import Action, Diagnostic, Statement

# Statements whose whole effect is on the server's shared catalogs (pg_authid, pg_database, pg_tablespace, ...).
_SERVER_WIDE_NODES = (
    ast.CreateRoleStmt,
    ast.AlterRoleStmt,
    ast.AlterRoleSetStmt,
    ast.DropRoleStmt,
    ast.GrantRoleStmt,
    ast.CreatedbStmt,
    ast.AlterDatabaseStmt,
    ast.AlterDatabaseSetStmt,
    ast.AlterDatabaseRefreshCollStmt,
    ast.DropdbStmt,
    ast.CreateTableSpaceStmt,
    ast.AlterTableSpaceOptionsStmt,
    ast.DropTableSpaceStmt,
    ast.AlterSystemStmt,
)
# Objects of the shared catalogs that otherwise per-database statements (GRANT, COMMENT, RENAME, ...) can name.
_SERVER_WIDE_OBJECTS = frozenset(
    {ObjectType.OBJECT_ROLE, ObjectType.OBJECT_DATABASE, ObjectType.OBJECT_TABLESPACE, ObjectType.OBJECT_PARAMETER_ACL}
)
# Where those statements keep the kind of object they act on.
_OBJECT_KIND = {
    ast.GrantStmt: "objtype",
    ast.CommentStmt: "objtype",
    ast.SecLabelStmt: "objtype",
    ast.RenameStmt: "renameType",
    ast.AlterOwnerStmt: "objectType",
}
_CREATING = (Action.CREATE, Action.REPLACE)


@dataclass(frozen=True)
class Prelude:
    """A prelude file read and split: its roles, the statements a scratch database runs, and what it provides."""

    path: str  # as shown to the user
    roles: tuple[str, ...]  # created by CREATE ROLE / USER / GROUP (or a DO block): lower case unless quoted
    statements: tuple[Statement, ...]  # run in every scratch database, in file order
    server_wide: tuple[Statement, ...]  # CREATE ROLE and the rest of what acts beyond one database: never run
    provided: tuple[str, ...]  # spelled like mapping `provided` entries: "table auth.users", "role anon"
    errors: tuple[Diagnostic, ...]  # syntax errors, at file:line:column


def read_prelude(path: str, text: str) -> Prelude:
    """Split a prelude's text (PostgreSQL) into roles, statements for a scratch database and provided objects."""
    parsed = parse_file(path, text)
    wide = [_is_server_wide(statement) for statement in parsed.statements]
    kept = tuple(statement for statement, out in zip(parsed.statements, wide, strict=True) if not out)
    # A DO block's roles too: created beforehand with the others, they are already there when the block runs in
    # the scratch database (the usual block checks first), instead of being created by it and never dropped.
    roles = created_roles(parsed.statements)
    return Prelude(
        path=path,
        roles=roles,
        statements=kept,
        server_wide=tuple(statement for statement, out in zip(parsed.statements, wide, strict=True) if out),
        provided=_provided(roles, kept),
        errors=parsed.errors,
    )


def replay_text(prelude: Prelude) -> str:
    """The prelude's text with every server-wide statement blanked out: what a scratch database runs.

    A blanked statement keeps its line breaks and its length, so PostgreSQL's errors in the statements that
    remain point at their line and column in the prelude file.
    """
    kept = {statement.index for statement in prelude.statements}
    every = sorted((*prelude.statements, *prelude.server_wide), key=lambda statement: statement.index)
    return "".join(statement.text if statement.index in kept else _blank(statement.text) for statement in every)


def _blank(text: str) -> str:
    return "".join(character if character == "\n" else " " for character in text)


def _node(statement: Statement) -> ast.Node | None:
    """PostgreSQL's tree of one statement; None when it does not parse (its syntax error is reported already)."""
    try:
        raws = parse_sql(statement.text)
    except ParseError:
        return None
    node = raws[0].stmt if len(raws) == 1 else None
    return node if isinstance(node, ast.Node) else None


def _is_server_wide(statement: Statement) -> bool:
    node = _node(statement)
    if node is None:
        return False
    if isinstance(node, _SERVER_WIDE_NODES):
        return True
    attribute = _OBJECT_KIND.get(type(node))
    return attribute is not None and getattr(node, attribute, None) in _SERVER_WIDE_OBJECTS


def _provided(roles: Iterable[str], statements: Iterable[Statement]) -> tuple[str, ...]:
    """What exists once the prelude ran in a scratch database: its roles, then what its statements create.

    A server-wide statement other than CREATE ROLE never runs there, so what it creates is not provided.
    """
    found = [f"role {name}" for name in roles]
    for statement in statements:
        facts = statement.facts
        if facts.action in _CREATING and facts.target is not None:
            found.append(str(facts.target))
        found += [str(ref) for ref in facts.also_creates]
    return tuple(dict.fromkeys(found))
