"""Roles a replay creates: set aside between the replays of a run, dropped once its scratch databases are gone.

Roles belong to the whole server, not to the scratch database a replay runs in (issue 13, 7). A tree that creates
one (CREATE ROLE, or a DO block that runs it) used to leave it behind: the canonical replay then failed with 42710
where the legacy replay had created it, and so did the next verify on a lent server (--database-url).

A run knows the names its trees create (core/plan.py `created_roles`) and which of them exist when it starts: those
are never touched. After a replay, each of the names that exists now and did not then was created by that replay:
`set_aside` renames it to a fresh name (``consolidate_role_<pid>_<hex>``), so that the next replay creates the role
anew, while the objects of the earlier replay's databases keep their privileges and owners (a catalog holds a
role's oid, not its name). When the run ends, after its scratch databases are dropped and nothing depends on its
roles any more, every role set aside is dropped, and so is every named role that exists and did not at the start.

Known limitations: a role that SQL built at run time creates (``EXECUTE format('CREATE ROLE %I', …)``) is not
named and stays. Two runs replaying trees that create the same role on one server at the same time may take each
other's; one of them fails with 42710 meanwhile anyway.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from consolidate.db.server import CONNECT_TIMEOUT, RoleLeftBehind, Server, database_name
from consolidate.db.urls import connect_failure, endpoint, error_text
from consolidate.errors import ConsolidateError
from consolidate.model import Location

_EXISTING = "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)"


class ReplayRoles:
    """The roles named by a run's trees: which existed at its start, and which its replays created."""

    def __init__(self, server: Server, names: Iterable[str], existing: Iterable[str]) -> None:
        self.server = server
        self.names = tuple(dict.fromkeys(names))
        self.existing = frozenset(existing)  # at the start: never the run's to rename or drop
        self.aside: dict[str, str] = {}  # name set aside → the role's name when a replay created it

    def created(self) -> tuple[str, ...]:
        """The named roles that exist now and did not at the start: what the last replay created."""
        if not self.names:
            return ()
        with _admin(self.server, "cannot read the roles") as connection:
            return tuple(name for name in _existing(connection, self.names) if name not in self.existing)

    def set_aside(self) -> tuple[str, ...]:
        """Rename the roles the last replay created, so that the next one creates them again; those names."""
        created = self.created()
        if not created:
            return ()
        with _admin(self.server, "cannot set a replay's roles aside") as connection:
            for name in created:
                hidden = database_name("role")  # the scratch databases' naming: unique, ours by its pid
                connection.execute(
                    sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(hidden))
                )
                self.aside[hidden] = name
        return created

    def drop(self) -> None:
        """Drop every role set aside and every role the last replay created; one still in use stays, with a
        RoleLeftBehind warning."""
        leftover = {name: name for name in self.created()}
        with _admin(self.server, "cannot drop a replay's roles") as connection:
            for role, created_as in (self.aside | leftover).items():
                try:
                    connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
                except psycopg.errors.DependentObjectsStillExist as error:
                    shown = role if role == created_as else f"{created_as} (renamed {role})"
                    warnings.warn(RoleLeftBehind(f"role {shown} was left in place: {error_text(error)}"), stacklevel=2)
        self.aside.clear()


@contextmanager
def replay_roles(server: Server, names: Iterable[str]) -> Iterator[ReplayRoles]:
    """The roles among `names` that the block's replays create, for the block; dropped when it ends (enter it
    before the scratch databases, so that it ends after them)."""
    names = tuple(names)
    existing: tuple[str, ...] = ()
    if names:
        with _admin(server, "cannot read the roles") as connection:
            existing = _existing(connection, names)
    roles = ReplayRoles(server, names, existing)
    try:
        yield roles
    finally:
        if names:
            roles.drop()


def _existing(connection: psycopg.Connection[TupleRow], names: tuple[str, ...]) -> tuple[str, ...]:
    found = {str(row[0]) for row in connection.execute(_EXISTING, [list(names)]).fetchall()}
    return tuple(name for name in names if name in found)


@contextmanager
def _admin(server: Server, what: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """A connection to the server's maintenance database; a database error becomes one that names no password."""
    try:
        connection = psycopg.connect(server.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as error:
        raise connect_failure("db.role", server.url, error) from None
    with connection:
        try:
            yield connection
        except psycopg.Error as error:
            message = f"{what}: {error_text(error, server.url)}"
            raise ConsolidateError.at("db.role", message, Location(endpoint(server.url))) from None
