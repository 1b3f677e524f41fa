"""Migration tools' own history tables, which legacy SQL sometimes reads or writes though no migration creates them.

The tool created its table before the first migration ran, so a replay of the legacy files needs it too: the
draft declares it as provided and creates it in the mapping's prelude, with the tool's own column layout.
`schema_migrations` belongs to golang-migrate, or to dbmate when the files carry dbmate's `-- migrate:up`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consolidate.core.created_tables import created_tables
from consolidate.model import LegacyFile


@dataclass(frozen=True)
class HistoryTable:
    """A migration tool's history table, as the tool creates it on PostgreSQL."""

    tool: str
    name: str
    definition: str  # the CREATE TABLE statements, with the tool's columns, keys and indexes

    @property
    def provided(self) -> str:
        return f"table {self.name}"


# Column layouts as each tool creates them on PostgreSQL (golang-migrate database/postgres, dbmate's postgres
# driver, diesel_migrations' setup, Flyway's createMetaDataTable.sql).
GOLANG_MIGRATE = HistoryTable(
    "golang-migrate",
    "schema_migrations",
    "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);\n",
)
DBMATE = HistoryTable(
    "dbmate", "schema_migrations", "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);\n"
)
DIESEL = HistoryTable(
    "diesel",
    "__diesel_schema_migrations",
    "CREATE TABLE __diesel_schema_migrations (\n"
    "    version varchar(50) PRIMARY KEY NOT NULL,\n"
    "    run_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP\n"
    ");\n",
)
FLYWAY = HistoryTable(
    "Flyway",
    "flyway_schema_history",
    "CREATE TABLE flyway_schema_history (\n"
    "    installed_rank integer NOT NULL,\n"
    "    version varchar(50),\n"
    "    description varchar(200) NOT NULL,\n"
    "    type varchar(20) NOT NULL,\n"
    "    script varchar(1000) NOT NULL,\n"
    "    checksum integer,\n"
    "    installed_by varchar(100) NOT NULL,\n"
    "    installed_on timestamp NOT NULL DEFAULT now(),\n"
    "    execution_time integer NOT NULL,\n"
    "    success boolean NOT NULL,\n"
    "    CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank)\n"
    ");\n"
    "CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success);\n",
)

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
# Dropping a table only if it exists needs nothing to exist first.
_DROP_IF_EXISTS = re.compile(r"\bDROP\s+TABLE\s+IF\s+EXISTS\b[^;]*", re.IGNORECASE)
_DBMATE_MARKER = re.compile(r"^--\s*migrate:up\b", re.MULTILINE)


def history_tables(files: Sequence[LegacyFile]) -> tuple[HistoryTable, ...]:
    """The tools' history tables the files use in their code while none of them creates it."""
    code = [_code(item.text) for item in files]
    created = frozenset().union(*(created_tables(text) for text in code))
    dbmate = any(_DBMATE_MARKER.search(item.text) for item in files)
    candidates = (DIESEL, FLYWAY, DBMATE if dbmate else GOLANG_MIGRATE)
    return tuple(table for table in candidates if table.name not in created and _mentioned(table.name, code))


def prelude_text(tables: Iterable[HistoryTable]) -> str:
    """A prelude (docs/mapping.md) that creates the tables before any migration, as each tool did."""
    parts = [
        "-- Drafted by `consolidate init`: what existed before the first legacy migration ran.\n",
        "-- The legacy SQL uses these migration tools' history tables; each tool created its own.\n",
    ]
    for table in tables:
        parts.append(f"\n-- {table.tool}'s history table\n{table.definition}")
    return "".join(parts)


def _code(text: str) -> str:
    return _DROP_IF_EXISTS.sub(" ", _COMMENTS.sub(" ", text))


def _mentioned(name: str, code: Iterable[str]) -> bool:
    word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
    return any(word.search(text) for text in code)
