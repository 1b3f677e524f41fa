"""Whose history table a table is, judged by its columns: a table the runner did not create is never altered,
and the user is told which tool it looks like it belongs to.

Stdlib only: the runner starts without the rest of the toolkit. The layouts are the ones each tool creates on
PostgreSQL (the same knowledge as core/history.py, which creates them for replays of legacy trees).
"""

from __future__ import annotations

from collections.abc import Set

# The columns the first runner's table had: a table holding them is consolidate's own, whatever it lacks of the rest.
OWN_COLUMNS = frozenset({"id", "version", "name", "checksum", "applied_at"})

# Each tool's columns: a table with exactly these (or, where marked, at least these) is taken to be that tool's.
_LAYOUTS: tuple[tuple[str, frozenset[str], bool], ...] = (
    ("golang-migrate's schema_migrations", frozenset({"version", "dirty"}), False),
    ("dbmate's or Rails' schema_migrations", frozenset({"version"}), False),
    ("diesel's __diesel_schema_migrations", frozenset({"version", "run_on"}), False),
    ("Flyway's flyway_schema_history", frozenset({"installed_rank", "version", "script", "success"}), True),
    ("goose's goose_db_version", frozenset({"id", "version_id", "is_applied", "tstamp"}), False),
    ("Alembic's alembic_version", frozenset({"version_num"}), False),
    ("Prisma's _prisma_migrations", frozenset({"migration_name", "finished_at", "applied_steps_count"}), True),
    ("Knex's knex_migrations", frozenset({"id", "name", "batch", "migration_time"}), False),
    ("Laravel's migrations", frozenset({"id", "migration", "batch"}), False),
    ("Django's django_migrations", frozenset({"id", "app", "name", "applied"}), False),
    ("node-pg-migrate's pgmigrations", frozenset({"id", "name", "run_on"}), False),
    ("TypeORM's migrations", frozenset({"id", "timestamp", "name"}), False),
    ("Sequelize's SequelizeMeta", frozenset({"name"}), False),
    ("Sqitch's changes", frozenset({"change_id", "change", "project", "committed_at"}), True),
)


def is_own(columns: Set[str]) -> bool:
    """Whether a table with these columns is consolidate's history table (perhaps an older runner's)."""
    return columns >= OWN_COLUMNS


def looks_like(columns: Set[str]) -> str | None:
    """The tool whose history table has these columns, e.g. "golang-migrate's schema_migrations"; None if none."""
    for tool, layout, at_least in _LAYOUTS:
        if columns == layout or (at_least and layout <= columns):
            return tool
    return None
