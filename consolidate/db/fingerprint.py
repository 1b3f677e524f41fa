"""A database state as a map from each object to a hash of its definition, read on an open connection.

The rollback proof needs to know whether a down script put the database back where the version found it. Comparing
two databases with db/diff.py takes a copy of the database per version and two whole inspections per proof, which
grows with the square of the tree (issue 16). A fingerprint is read in three round trips on the connection that ran
the script, inside the transaction that is then rolled back, so no copy is made.

A fingerprint is a filter, never the verdict on its own: it is built to be at least as strict as `compare` (see
sql/fingerprint.sql), so equal fingerprints mean compare would find no difference, and any difference sends the
caller to compare, which names it. Rows are hashed whole, every column included (stricter than compare, which
leaves out the columns two replays fill differently); a table whose heap is empty is known to hold no rows without
reading it, which keeps the read short for trees that carry little data.
"""

from __future__ import annotations

from collections import defaultdict
from importlib.resources import files
from typing import Any

import psycopg
from psycopg import sql

from consolidate.db.diff import ROW_TEXT_SETTINGS

Fingerprint = dict[str, str]

_CATALOG = (files("consolidate.db") / "sql" / "fingerprint.sql").read_text(encoding="utf-8")

# Row text and deparsed definitions depend on these settings: each fingerprint reads under compare's, whatever a
# script SET, for its transaction only. With only pg_catalog on the search path, every deparsed name is written
# with its schema.
_SETTINGS = "; ".join(f"set local {setting}" for setting in (*ROW_TEXT_SETTINGS, "search_path = pg_catalog"))

_FILLED = """
select quote_ident(n.nspname) || '.' || quote_ident(c.relname)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'm') and c.relispopulated and c.relpersistence <> 't'
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and not exists (
        select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e'
    )
    and pg_relation_size(c.oid) > 0
order by 1
"""


def fingerprint(connection: psycopg.Connection[Any]) -> Fingerprint:
    """The state of the database `connection` is on, as its open transaction (if any) sees it."""
    with connection.transaction(force_rollback=True):
        connection.execute(_SETTINGS)
        found: defaultdict[str, list[str]] = defaultdict(list)
        for key, digest in connection.execute(_CATALOG).fetchall():
            found[key].append(digest)
        tables = [name for (name,) in connection.execute(_FILLED).fetchall()]
        if tables:
            for key, digest in connection.execute(_rows_query(tables)).fetchall():
                found[key].append(digest)
    return {key: ",".join(sorted(digests)) for key, digests in found.items()}


def _rows_query(tables: list[str]) -> sql.Composed:
    """Per table holding rows: its count and a hash of its sorted row hashes, in one statement."""
    parts = [
        sql.SQL(
            "select {key}, count(*)::text || ' ' || md5(string_agg(md5(t::text), '' order by md5(t::text))) "
            "from {table} as t having count(*) > 0"
        ).format(key=sql.Literal(f"rows {name}"), table=sql.SQL(name))
        for name in tables
    ]
    return sql.SQL(" union all ").join(parts)


def differing(a: Fingerprint, b: Fingerprint) -> tuple[str, ...]:
    """The objects whose definitions differ between two fingerprints, or that only one of them holds."""
    return tuple(sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key)))
