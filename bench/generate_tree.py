"""Write a synthetic legacy migration tree, and the mapping.yaml that consolidates it, for benchmarks and tests.

    python bench/generate_tree.py OUT_DIR --files N [--seed S]

OUT_DIR/legacy/ gets N ``.sql`` files (up files, rollback files and one excluded scratch file, all counted) over
six service folders that each number from 1 on their own, in four naming schemes: ``001_name.sql`` with
``001_name_down.sql`` for part of the files, golang-migrate ``000001_name.up.sql``/``.down.sql``, Flyway
``V1__name.sql`` and timestamps. The SQL is the PostgreSQL DDL real services write (typed columns, defaults,
foreign keys, CHECKs, partial indexes, plpgsql with ``$$`` bodies, triggers, views, RLS, seeds, DO blocks), with the
hazards consolidation exists for at realistic rates: a trigger helper repeated verbatim by every service
(duplicates), a CREATE TABLE IF NOT EXISTS of an existing table with other columns (conflicts, each resolved
keep-first in the mapping) and CREATE OR REPLACE redefinitions.

OUT_DIR/mapping.yaml maps the up files, in the order they were generated, onto targets 1..U. Every table is only
referenced after the file creating it, so `consolidate plan` on the mapping is clean (exit 0).
The same seed always writes the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "legacy"
OUTPUT = "deploy/migrations"
EXCLUDED = "services/core/db/migrations/dev_seed.sql"
MIN_LINES, MAX_LINES = 20, 80
HEADER_LINES = 3
SHORT_BLOCK, LONG_BLOCK = 11, 22  # most lines (with the blank line before) a short / any block takes
# What fills a migration after its main change: (action, longest block in lines, weight).
EXTRAS = (
    ("index", 3, 35), ("column", 3, 20), ("comment", 3, 10), ("do", 10, 10), ("view", 14, 10),
    ("counter", 20, 10), ("guard", 20, 5),
)  # fmt: skip
MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently, which would make distinct names collide


@dataclass(frozen=True)
class Folder:
    """One legacy migration folder: where it is, how it names files, how often an up file has a rollback."""

    path: str
    style: str  # numbered | golang | flyway | timestamp
    downs: float  # share of up files that get a rollback file
    domain: str  # prefix of the tables this service owns
    weight: int  # relative number of migrations the service writes
    schema: str | None = None


FOLDERS = (
    Folder("services/core/db/migrations", "numbered", 0.5, "core", 5),
    Folder("services/billing/migrations", "numbered", 0.3, "billing", 4),
    Folder("services/events/sql", "numbered", 0.0, "events", 3),
    Folder("services/queue/migrations", "golang", 1.0, "queue", 3),
    Folder("services/reports/db/migration", "flyway", 0.0, "reports", 2, schema="reporting"),
    Folder("deploy/supabase/migrations", "timestamp", 0.0, "auth", 2),
)

NOUNS = (
    "accounts", "users", "teams", "memberships", "projects", "settings", "api_keys", "sessions", "invitations",
    "roles", "permissions", "notifications", "feature_flags", "organizations", "invoices", "invoice_lines",
    "payments", "refunds", "subscriptions", "plans", "coupons", "tax_rates", "credit_notes", "payouts", "events",
    "webhooks", "deliveries", "subscribers", "channels", "messages", "attachments", "jobs", "job_runs", "schedules",
    "workers", "leases", "dead_letters", "reports", "snapshots", "exports", "dashboards", "widgets", "metrics",
    "identities", "devices", "tokens", "audit_entries", "robots", "workflows", "executions", "artifacts",
    "comments", "labels", "documents", "folders", "shares", "quotas", "usage_records", "alerts", "incidents",
    "regions", "warehouses", "shipments", "orders", "order_items", "products", "prices", "discounts", "reviews",
    "tickets", "sla_policies", "contacts", "addresses", "consents",
)  # fmt: skip

# (name, definition). Columns whose definition is NOT NULL without DEFAULT cannot be added to a filled table.
COLUMNS = (
    ("name", "TEXT NOT NULL"),
    ("title", "VARCHAR(200) NOT NULL"),
    ("description", "TEXT"),
    (
        "status",
        "TEXT NOT NULL DEFAULT 'pending'\n        CHECK (status IN ('pending', 'active', 'suspended', 'closed'))",
    ),
    ("amount", "NUMERIC(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0)"),
    ("currency", "CHAR(3) NOT NULL DEFAULT 'EUR'"),
    ("quantity", "INTEGER NOT NULL DEFAULT 1 CHECK (quantity > 0)"),
    ("priority", "SMALLINT NOT NULL DEFAULT 5 CHECK (priority BETWEEN 0 AND 10)"),
    ("metadata", "JSONB NOT NULL DEFAULT '{}'::jsonb"),
    ("tags", "TEXT[] NOT NULL DEFAULT '{}'"),
    ("is_active", "BOOLEAN NOT NULL DEFAULT TRUE"),
    ("email", "VARCHAR(320) CHECK (email ~* '^[^@]+@[^@]+$')"),
    ("external_ref", "VARCHAR(64) UNIQUE"),
    ("ip_address", "INET"),
    ("retry_count", "INTEGER NOT NULL DEFAULT 0"),
    ("scheduled_for", "DATE"),
    ("expires_at", "TIMESTAMPTZ"),
    ("duration", "INTERVAL"),
    ("payload", "JSONB"),
    ("score", "DOUBLE PRECISION"),
    ("sort_order", "INTEGER NOT NULL DEFAULT 0"),
    ("deleted_at", "TIMESTAMPTZ"),
)
ADDABLE = tuple(column for column in COLUMNS if "NOT NULL" not in column[1] or "DEFAULT" in column[1])

HELPER_NAME = "set_updated_at"
# Every service carries its own verbatim copy of this helper: consolidation must keep the first, drop the rest.
HELPER = """-- Keeps updated_at current on every UPDATE (shared helper, copied into each service).
CREATE OR REPLACE FUNCTION set_updated_at()
RETURNS TRIGGER
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;""".splitlines()


@dataclass
class Table:
    name: str  # as written in SQL: "billing_invoices" or "reporting.reports"
    key: str  # type of the key other tables reference: UUID, BIGINT, or TEXT (lookup tables: `code`)
    columns: list[str]
    domain: str
    tenant: bool = False
    updated_at: bool = False
    secured: bool = False  # row level security enabled
    indexed: set[str] = field(default_factory=set)
    file: int = 0  # the up file (1-based, generation order) that creates it

    @property
    def bare(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def key_column(self) -> str:
        return "code" if self.key == "TEXT" else "id"


@dataclass
class View:
    name: str
    lines: list[str]  # the select list, one expression a line
    source: str  # FROM … (and joins, group by) after the select list
    variant: int = 0


@dataclass
class Unit:
    """The up file being written: its statements as lines, and the rollback statements that undo them."""

    folder: Folder
    lines: list[str] = field(default_factory=list)
    undo: list[str] = field(default_factory=list)  # appended in creation order, written reversed

    def add(self, block: list[str], undo: str | None = None) -> None:
        if self.lines:
            self.lines.append("")
        self.lines += block
        if undo is not None:
            self.undo.append(undo)


@dataclass(frozen=True)
class Written:
    """One up file as generated: its path below root, the feature it implements, and its rollback (if any)."""

    folder: str
    path: str
    name: str
    description: str
    down: str | None


class _Generator:
    """The schema built so far, so that every statement only uses objects created before it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: list[Table] = []
        self.names: set[str] = set()
        self.features: set[str] = set()
        self.functions: dict[str, tuple[Table, Table, str, int]] = {}  # counters: (child, parent, fk, variant)
        self.views: list[View] = []
        self.links: list[tuple[Table, Table, str]] = []  # (child, parent, fk column)
        self.helper_in: set[str] = set()  # folders whose migrations already define the helper
        self.helper_copies = 0
        self.conflicts: list[str] = []  # tables re-created with other columns, as the plan prints them
        self.redefinitions = 0
        self.ups = 0

    # --- names ---------------------------------------------------------------------------------------------

    def unique(self, wanted: str) -> str:
        """A name no other object (of any kind) uses, within PostgreSQL's identifier length."""
        base = wanted[: MAX_IDENTIFIER - 6]
        name, counter = base, 1
        while name in self.names:
            counter += 1
            name = f"{base}_{counter}"
        self.names.add(name)
        return name

    def feature(self, wanted: str) -> str:
        name, counter = wanted[:80], 1
        while name in self.features:
            counter += 1
            name = f"{wanted[:80]}_{counter}"
        self.features.add(name)
        return name

    def pick(self, tables: list[Table] | None = None, domain: str | None = None) -> Table:
        # A service mostly touches its own, recent tables, as in real histories.
        pool = tables if tables is not None else self.tables
        own = [table for table in pool[-200:] if table.domain == domain]
        if own and self.rng.random() < 0.6:
            pool = own
        recent = pool[-40:]
        return self.rng.choice(recent if self.rng.random() < 0.7 else pool)

    # --- blocks --------------------------------------------------------------------------------------------

    def create_table(self, unit: Unit) -> tuple[Table, list[str]]:
        """A CREATE TABLE with a key, typed columns, foreign keys to earlier tables and CHECKs."""
        folder, rng = unit.folder, self.rng
        if len(self.tables) >= 3 and rng.random() < 0.08:
            return self._lookup_table(unit)
        bare = self.unique(f"{folder.domain}_{rng.choice(NOUNS)}")
        name = f"{folder.schema}.{bare}" if folder.schema else bare
        key = rng.choice(("UUID", "UUID", "BIGINT"))
        table = Table(name, key, ["id"], folder.domain, tenant=rng.random() < 0.4, updated_at=rng.random() < 0.7)
        table.file = self.ups
        body = [_key_column(key)]
        if table.tenant:
            body.append("tenant_id UUID NOT NULL")
            table.columns.append("tenant_id")
        body += self._foreign_keys(table)
        body += self._plain_columns(table, rng.randint(2, 7))
        body += self._timestamps(table)
        self.tables.append(table)
        return table, _create_table_lines(name, body, rng.random() < 0.6)

    def _lookup_table(self, unit: Unit) -> tuple[Table, list[str]]:
        bare = self.unique(f"{unit.folder.domain}_{self.rng.choice(NOUNS).rstrip('s')}_kinds")
        name = f"{unit.folder.schema}.{bare}" if unit.folder.schema else bare
        table = Table(name, "TEXT", ["code", "label", "sort_order", "is_active"], unit.folder.domain, file=self.ups)
        body = [
            "code TEXT PRIMARY KEY CHECK (code ~ '^[a-z_]+$')",
            "label TEXT NOT NULL",
            "sort_order INTEGER NOT NULL DEFAULT 0",
            "is_active BOOLEAN NOT NULL DEFAULT TRUE",
        ]
        self.tables.append(table)
        return table, _create_table_lines(name, body, True)

    def _foreign_keys(self, table: Table) -> list[str]:
        if not self.tables:
            return []
        lines = []
        for _ in range(self.rng.choice((0, 1, 1, 1, 2, 2, 3))):
            parent = self.pick()
            column = f"{_singular(parent.bare)}_{parent.key_column}"
            if column in table.columns:
                continue
            action = self.rng.choice(("ON DELETE CASCADE", "ON DELETE SET NULL", "ON DELETE RESTRICT", ""))
            required = "" if action == "ON DELETE SET NULL" else " NOT NULL"
            lines.append(f"{column} {parent.key}{required} REFERENCES {parent.name}({parent.key_column}) {action}")
            table.columns.append(column)
            self.links.append((table, parent, column))
        return [line.rstrip() for line in lines]

    def _plain_columns(self, table: Table, count: int) -> list[str]:
        lines = []
        for name, definition in self.rng.sample(COLUMNS, count):
            if name not in table.columns:
                lines.append(f"{name} {definition}")
                table.columns.append(name)
        return lines

    def _timestamps(self, table: Table) -> list[str]:
        lines = []
        if self.rng.random() < 0.3:
            lines += ["started_at TIMESTAMPTZ", "finished_at TIMESTAMPTZ"]
            table.columns += ["started_at", "finished_at"]
        lines.append("created_at TIMESTAMPTZ NOT NULL DEFAULT now()")
        table.columns.append("created_at")
        if table.updated_at:
            lines.append("updated_at TIMESTAMPTZ NOT NULL DEFAULT now()")
            table.columns.append("updated_at")
        if "finished_at" in table.columns:
            check = self.unique(f"{table.bare}_finished_after_started")
            lines.append(f"CONSTRAINT {check} CHECK (finished_at IS NULL OR finished_at >= started_at)")
        if table.tenant and "name" in table.columns:
            lines.append("UNIQUE (tenant_id, name)")
        return lines

    def index(self, unit: Unit, table: Table) -> bool:
        """A CREATE INDEX on a column not indexed yet, partial when the table soft-deletes; False if none is left."""
        free = [column for column in table.columns if column not in table.indexed and column not in ("id", "code")]
        if not free:
            return False
        column = self.rng.choice(free)
        table.indexed.add(column)
        name = self.unique(f"idx_{table.bare}_{column}")
        unique = "UNIQUE " if column in ("email", "external_ref") and self.rng.random() < 0.5 else ""
        line = f"CREATE {unique}INDEX IF NOT EXISTS {name} ON {table.name} ({column}"
        lines = [line + (" DESC)" if column.endswith("_at") else ")")]
        if "deleted_at" in table.columns and column != "deleted_at":
            lines.append("    WHERE deleted_at IS NULL")
        elif "status" in table.columns and column != "status" and self.rng.random() < 0.5:
            lines.append("    WHERE status IN ('pending', 'active')")
        lines[-1] += ";"
        unit.add(lines, f"DROP INDEX IF EXISTS {_schema_of(table)}{name};")
        return True

    def helper(self, unit: Unit, force: bool) -> bool:
        """Define the shared trigger helper when this service has not yet (or copied it once more)."""
        folder = unit.folder.path
        if folder in self.helper_in and not force and self.rng.random() >= 0.08:
            return False
        unit.add(list(HELPER))
        self.helper_in.add(folder)
        self.helper_copies += 1
        return True

    def updated_at_trigger(self, unit: Unit, table: Table) -> None:
        # The force makes sure even a tiny tree holds one duplicate helper; real trees have dozens.
        self.helper(unit, force=self.helper_copies == 1 and self.ups >= 6)
        name = self.unique(f"trg_{table.bare}_updated_at")
        block = [
            f"DROP TRIGGER IF EXISTS {name} ON {table.name};",
            f"CREATE TRIGGER {name}",
            f"    BEFORE UPDATE ON {table.name}",
            f"    FOR EACH ROW EXECUTE FUNCTION {HELPER_NAME}();",
        ]
        unit.add(block, f"DROP TRIGGER IF EXISTS {name} ON {table.name};")

    def guard(self, unit: Unit, table: Table) -> None:
        """A plpgsql trigger function with IF … END IF; and its trigger."""
        function = self.unique(f"{table.bare}_guard")
        qualified = f"{_schema_of(table)}{function}"
        state = "status = 'closed'" if "status" in table.columns else "id IS NULL"
        unit.add(
            [
                f"CREATE OR REPLACE FUNCTION {qualified}()",
                "RETURNS TRIGGER",
                "LANGUAGE plpgsql",
                "AS $$",
                "BEGIN",
                "    IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN",
                "        RAISE EXCEPTION 'the id of a % row cannot change', TG_TABLE_NAME;",
                "    END IF;",
                f"    IF TG_OP = 'DELETE' AND OLD.{state} THEN",
                "        RAISE EXCEPTION 'closed rows are kept for audit';",
                "    END IF;",
                "    RETURN COALESCE(NEW, OLD);",
                "END;",
                "$$;",
            ],
            f"DROP FUNCTION IF EXISTS {qualified}();",
        )
        trigger = self.unique(f"trg_{table.bare}_guard")
        unit.add(
            [
                f"CREATE TRIGGER {trigger}",
                f"    BEFORE UPDATE OR DELETE ON {table.name}",
                f"    FOR EACH ROW EXECUTE FUNCTION {qualified}();",
            ],
            f"DROP TRIGGER IF EXISTS {trigger} ON {table.name};",
        )

    def counter(self, unit: Unit) -> bool:
        """A plpgsql function counting a parent's children; False when no table references another yet."""
        if not self.links:
            return False
        child, parent, fk = self.rng.choice(self.links[-60:])
        name = self.unique(f"count_{child.bare}_per_{_singular(parent.bare)}")
        self.functions[name] = (child, parent, fk, 0)
        unit.add(self._counter_lines(name, 0), f"DROP FUNCTION IF EXISTS {name}({parent.key});")
        return True

    def _counter_lines(self, name: str, variant: int) -> list[str]:
        child, parent, fk, _ = self.functions[name]
        lines = [
            f"CREATE OR REPLACE FUNCTION {name}(p_{parent.key_column} {parent.key})",
            "RETURNS INTEGER",
            "LANGUAGE plpgsql",
            "STABLE",
            "AS $$",
            "DECLARE",
            "    v_count INTEGER;",
            "BEGIN",
            f"    SELECT count(*) INTO v_count FROM {child.name} WHERE {fk} = p_{parent.key_column};",
            "    IF v_count IS NULL THEN",
            "        v_count := 0;",
            "    END IF;",
        ]
        if variant:
            lines += [
                f"    IF v_count > {variant * 1000} THEN",
                f"        RAISE NOTICE '% has more than {variant * 1000} rows', p_{parent.key_column};",
                "    END IF;",
            ]
        return [*lines, "    RETURN v_count;", "END;", "$$;"]

    def view(self, unit: Unit) -> bool:
        """A view over a parent and its children (or one table); False when there is no table yet."""
        if not self.tables:
            return False
        if self.links and self.rng.random() < 0.7:
            child, parent, fk = self.rng.choice(self.links[-60:])
            label = next(c for c in ("name", "title", "label", "created_at", "code") if c in parent.columns)
            lines = [f"p.{parent.key_column}", f"p.{label}", "count(c.*) AS children", "max(c.created_at) AS latest"]
            source = f"FROM {parent.name} p\nLEFT JOIN {child.name} c ON c.{fk} = p.{parent.key_column}"
            source += f"\nGROUP BY p.{parent.key_column}, p.{label}"
            base = parent
        else:
            base = self.pick()
            lines = [column for column in base.columns[:4]]
            where = _recent(base)
            source = f"FROM {base.name}\nWHERE {where}"
        view = View(f"{_schema_of(base)}{self.unique(f'v_{base.bare}_overview')}", lines, source)
        self.views.append(view)
        unit.add(_view_lines(view), f"DROP VIEW IF EXISTS {view.name};")
        return True

    def add_column(self, unit: Unit, table: Table) -> str | None:
        free = [column for column in ADDABLE if column[0] not in table.columns]
        if not free:
            return None
        name, definition = self.rng.choice(free)
        table.columns.append(name)
        unit.add(
            [f"ALTER TABLE {table.name}", f"    ADD COLUMN IF NOT EXISTS {name} {definition.splitlines()[0]};"],
            f"ALTER TABLE {table.name} DROP COLUMN IF EXISTS {name};",
        )
        return name

    def comment(self, unit: Unit, table: Table) -> None:
        column = self.rng.choice(table.columns)
        unit.add(
            [
                f"COMMENT ON TABLE {table.name} IS 'Maintained by the {unit.folder.domain} service.';",
                f"COMMENT ON COLUMN {table.name}.{column} IS 'Set by the application, never by hand.';",
            ]
        )

    def seed(self, unit: Unit, table: Table) -> None:
        """Seed rows into a lookup table; other tables get no seeds (they have required foreign keys)."""
        codes = self.rng.sample(("draft", "open", "closed", "archived", "pending", "failed", "manual", "auto"), 4)
        rows = [f"    ('{code}', '{code.title()}', {position})" for position, code in enumerate(codes, 1)]
        unit.add(
            [
                f"INSERT INTO {table.name} (code, label, sort_order) VALUES",
                ",\n".join(rows),
                "ON CONFLICT (code) DO NOTHING;",
            ],
            f"DELETE FROM {table.name} WHERE code IN ({', '.join(repr(code) for code in codes)});",
        )

    def row_security(self, unit: Unit, table: Table) -> None:
        table.secured = True
        policy = self.unique(f"{table.bare}_tenant_isolation")
        unit.add(
            [
                f"ALTER TABLE {table.name} ENABLE ROW LEVEL SECURITY;",
                f"CREATE POLICY {policy} ON {table.name}",
                "    USING (tenant_id = current_setting('app.tenant_id', true)::uuid)",
                "    WITH CHECK (tenant_id = current_setting('app.tenant_id', true)::uuid);",
            ],
            f"DROP POLICY IF EXISTS {policy} ON {table.name};",
        )

    def do_block(self, unit: Unit, table: Table) -> None:
        """The idempotent-constraint idiom: a DO block that swallows duplicate_object."""
        column, check = ("created_at", "created_at > '2000-01-01'")
        if column not in table.columns:
            column, check = ("sort_order", "sort_order >= 0")
        constraint = self.unique(f"{table.bare}_{column}_sane")
        unit.add(
            [
                "DO $$",
                "BEGIN",
                f"    ALTER TABLE {table.name}",
                f"        ADD CONSTRAINT {constraint} CHECK ({check});",
                "EXCEPTION",
                "    WHEN duplicate_object THEN",
                "        RAISE NOTICE 'constraint already there';",
                "END",
                "$$;",
            ],
            f"ALTER TABLE {table.name} DROP CONSTRAINT IF EXISTS {constraint};",
        )

    def conflict(self, unit: Unit) -> bool:
        """Re-create an existing table IF NOT EXISTS with other columns: PostgreSQL would skip it silently."""
        candidates = [
            table
            for table in self.tables
            if table.key != "TEXT" and table.file < self.ups and _printed(table) not in self.conflicts
        ]
        if not candidates:
            return False
        table = self.pick(candidates)
        kept = [column for column in table.columns if column in ("id", "tenant_id", "created_at")]
        extra = [column for column in self.rng.sample(ADDABLE, 2) if column[0] not in table.columns]
        body = [_key_column(table.key)] + [f"{column} {_definition(column)}" for column in kept[1:]]
        body += [f"{name} {definition}" for name, definition in extra]
        comment = (
            f"-- Also created by another service; this copy adds {', '.join(name for name, _ in extra) or 'nothing'}"
        )
        unit.add([comment, *_create_table_lines(table.name, body, True)])
        self.conflicts.append(_printed(table))
        return True

    def redefine(self, unit: Unit) -> bool:
        """CREATE OR REPLACE an existing function or view with another body: the later one wins."""
        if self.functions and (not self.views or self.rng.random() < 0.6):
            name = self.rng.choice(sorted(self.functions))
            child, parent, fk, variant = self.functions[name]
            self.functions[name] = (child, parent, fk, variant + 1)
            unit.add(["-- Warn about unusually large parents.", *self._counter_lines(name, variant + 1)])
        elif self.views:
            view = self.rng.choice(self.views)
            view.variant += 1
            view.lines.append(f"now() AS generated_at_{view.variant}")
            unit.add(["-- Report generation time alongside.", *_view_lines(view)])
        else:
            return False
        self.redefinitions += 1
        return True


# --- rendering helpers -----------------------------------------------------------------------------------------


def _key_column(key: str) -> str:
    if key == "UUID":
        return "id UUID PRIMARY KEY DEFAULT gen_random_uuid()"
    return "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"


def _definition(column: str) -> str:
    return {"tenant_id": "UUID NOT NULL", "created_at": "TIMESTAMPTZ NOT NULL DEFAULT now()"}[column]


def _create_table_lines(name: str, body: list[str], if_not_exists: bool) -> list[str]:
    guard = "IF NOT EXISTS " if if_not_exists else ""
    inner = ",\n".join(f"    {line}" for line in body)
    return [f"CREATE TABLE {guard}{name} (", *inner.splitlines(), ");"]


def _view_lines(view: View) -> list[str]:
    select = ",\n".join(f"    {line}" for line in view.lines)
    return [f"CREATE OR REPLACE VIEW {view.name} AS", "SELECT", *select.splitlines(), *f"{view.source};".splitlines()]


def _recent(table: Table) -> str:
    """A filter a reporting view of the table would use."""
    if "deleted_at" in table.columns:
        return "deleted_at IS NULL"
    if "created_at" in table.columns:
        return "created_at > now() - interval '90 days'"
    return "is_active"


def _singular(noun: str) -> str:
    for plural, single in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("s", "")):
        if noun.endswith(plural):
            return noun[: -len(plural)] + single
    return noun


def _schema_of(table: Table) -> str:
    schema = table.name.rpartition(".")[0]
    return f"{schema}." if schema else ""


def _printed(table: Table) -> str:
    return f"table {table.name}"


# --- files -----------------------------------------------------------------------------------------------------


class _Tree:
    """Chooses what each migration does, names its files and writes them with their rollbacks."""

    def __init__(self, out: Path, seed: int) -> None:
        self.out = out
        self.gen = _Generator(seed)
        self.rng = self.gen.rng
        self.counts = dict.fromkeys((folder.path for folder in FOLDERS), 0)
        self.written: list[Written] = []
        self.schemas: set[str] = set()

    def folder(self, rollback_allowed: bool) -> Folder:
        choices = [folder for folder in FOLDERS if rollback_allowed or folder.downs < 1.0]
        return self.rng.choices(choices, weights=[folder.weight for folder in choices])[0]

    def up(self, remaining: int) -> int:
        """Write one up file (and maybe its rollback) within `remaining` files; returns how many were written."""
        folder = self.folder(rollback_allowed=remaining > 1)
        self.gen.ups += 1
        unit = Unit(folder)
        self._schema(unit)
        feature, description = self._main(unit)
        self._hazards(unit)
        self._extras(unit)
        rollback = remaining > 1 and self.rng.random() < folder.downs
        self._write(unit, feature, description, rollback)
        return 2 if rollback else 1

    def _schema(self, unit: Unit) -> None:
        schema = unit.folder.schema
        # Once per service: the planner (for now) reports an identical CREATE SCHEMA IF NOT EXISTS after a DO
        # block that names the schema as a conflict, and this tree must plan clean.
        if schema is not None and schema not in self.schemas:
            unit.add([f"CREATE SCHEMA IF NOT EXISTS {schema};"])
            self.schemas.add(schema)

    def _main(self, unit: Unit) -> tuple[str, str]:
        gen, domain = self.gen, unit.folder.domain
        roll = self.rng.random() if len(gen.tables) >= 2 else 0.0
        if roll < 0.62:
            table, lines = gen.create_table(unit)
            unit.add(
                [f"-- {table.bare.replace('_', ' ').capitalize()}.", *lines], f"DROP TABLE IF EXISTS {table.name};"
            )
            self._table_extras(unit, table)
            return f"create_{table.bare}", f"{domain}: create table {table.name}"
        table = gen.pick(domain=domain)
        if roll < 0.76 and (column := gen.add_column(unit, table)) is not None:
            gen.index(unit, table)
            return f"add_{column}_to_{table.bare}", f"{domain}: add {column} to {table.name}"
        if roll < 0.86 and gen.counter(unit):
            gen.guard(unit, table)
            return f"{table.bare}_rules", f"{domain}: business rules on {table.name}"
        if roll < 0.93 and gen.view(unit):
            return f"{table.bare}_reporting", f"{domain}: reporting views"
        if table.tenant and not table.secured:
            gen.row_security(unit, table)
            return f"secure_{table.bare}", f"{domain}: row level security on {table.name}"
        gen.do_block(unit, table)
        return f"harden_{table.bare}", f"{domain}: constraints on {table.name}"

    def _table_extras(self, unit: Unit, table: Table) -> None:
        gen = self.gen
        for _ in range(self.rng.randint(1, 3)):
            gen.index(unit, table)
        if table.updated_at:
            gen.updated_at_trigger(unit, table)
        if table.key == "TEXT":
            gen.seed(unit, table)
        if table.tenant and self.rng.random() < 0.5:
            gen.row_security(unit, table)
        if self.rng.random() < 0.3:
            gen.comment(unit, table)

    def _hazards(self, unit: Unit) -> None:
        gen = self.gen
        # One conflict early, so that even a tiny tree shows one; then about 1 file in 40. A file that is
        # already long passes its hazard on to the next one, so files stay within MAX_LINES.
        due = gen.ups >= 8 and not gen.conflicts
        if len(unit.lines) <= 50 and len(gen.tables) >= 3 and (due or self.rng.random() < 0.025):
            gen.conflict(unit)
        if len(unit.lines) <= 45 and self.rng.random() < 0.04:
            gen.redefine(unit)

    def _extras(self, unit: Unit) -> None:
        """Smaller statements on earlier tables until the file has its typical length, never beyond MAX_LINES."""
        gen, room = self.gen, MAX_LINES - HEADER_LINES
        target = self.rng.randint(MIN_LINES + 4, MAX_LINES) - HEADER_LINES
        while len(unit.lines) < target - 4 and room - len(unit.lines) > SHORT_BLOCK and gen.tables:
            short = room - len(unit.lines) <= LONG_BLOCK
            actions = [action for action in EXTRAS if not short or action[1] <= SHORT_BLOCK]
            action = self.rng.choices([name for name, _, _ in actions], weights=[w for _, _, w in actions])[0]
            self._extra(unit, action, gen.pick(domain=unit.folder.domain))

    def _extra(self, unit: Unit, action: str, table: Table) -> None:
        gen = self.gen
        done = True
        if action == "index":
            done = gen.index(unit, table)
        elif action == "column":
            done = gen.add_column(unit, table) is not None
        elif action == "do":
            gen.do_block(unit, table)
        elif action == "view":
            done = gen.view(unit)
        elif action == "counter":
            done = gen.counter(unit)
        elif action == "guard":
            gen.guard(unit, table)
        if action == "comment" or not done:
            gen.comment(unit, table)

    def _write(self, unit: Unit, feature: str, description: str, rollback: bool) -> None:
        folder = unit.folder
        self.counts[folder.path] += 1
        name = self.gen.feature(re.sub(r"[^a-z0-9_]+", "_", feature.lower()))
        up_name, down_name = _file_names(folder, self.counts[folder.path], name)
        header = [f"-- {description}", f"-- {folder.path}: migration {self.counts[folder.path]}", ""]
        assert len(header) == HEADER_LINES
        _write_text(self.out / folder.path / up_name, header + unit.lines)
        down = None
        if rollback:
            down = f"{folder.path}/{down_name}"
            _write_text(self.out / down, [f"-- Rollback of {up_name}", *reversed(unit.undo)])
        self.written.append(Written(folder.path, f"{folder.path}/{up_name}", name, description, down))


def _file_names(folder: Folder, number: int, feature: str) -> tuple[str, str]:
    if folder.style == "golang":
        return f"{number:06d}_{feature}.up.sql", f"{number:06d}_{feature}.down.sql"
    if folder.style == "flyway":
        return f"V{number}__{feature}.sql", f"U{number}__{feature}.sql"
    if folder.style == "timestamp":
        stamp = (dt.datetime(2021, 3, 1, 9, 0, 0) + dt.timedelta(hours=7 * number)).strftime("%Y%m%d%H%M%S")
        return f"{stamp}_{feature}.sql", f"{stamp}_{feature}_down.sql"
    return f"{number:03d}_{feature}.sql", f"{number:03d}_{feature}_down.sql"


def _write_text(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _excluded(root: Path) -> None:
    _write_text(
        root / EXCLUDED,
        [
            "-- Local development data: never run in production.",
            "INSERT INTO core_accounts (id, name) VALUES (gen_random_uuid(), 'dev');",
        ],
    )


# --- mapping ---------------------------------------------------------------------------------------------------


def _mapping(written: list[Written], conflicts: list[str], excluded: bool) -> str:
    """mapping.yaml, written by hand so that a 10,000-entry file stays cheap to produce and easy to read."""
    width = max(3, len(str(len(written))))
    # A tiny tree may leave a service without migrations: a listed folder that does not exist is an error.
    used = {item.folder for item in written} | ({EXCLUDED.rpartition("/")[0]} if excluded else set())
    lines = [
        "# Generated by bench/generate_tree.py: every up file in generation order, one target each.",
        "version: 1",
        "dialect: postgres",
        f"root: {ROOT}",
        f"output: {OUTPUT}",
        f"width: {width}",
        "sources:",
        *(f"  - {folder.path}" for folder in FOLDERS if folder.path in used),
        "migrations:",
    ]
    for version, item in enumerate(written, 1):
        lines += [
            f"  - version: {version}",
            f"    name: {item.name}",
            f"    description: {json.dumps(item.description)}",
            f"    sources: [{item.path}]",
        ]
    if excluded:
        lines += ["exclude:", f"  - path: {EXCLUDED}", '    reason: "local development data, not a migration"']
    if conflicts:
        lines.append("resolutions:")
    for name in conflicts:
        reason = "the first definition is the one production has; the later copy was always skipped"
        lines += [f"  - object: {json.dumps(name)}", "    decision: keep-first", f"    reason: {json.dumps(reason)}"]
    return "\n".join(lines) + "\n"


def generate(out: Path, files: int, seed: int) -> Path:
    """Write a tree of `files` .sql files below out/legacy and its mapping; returns the mapping's path."""
    return _generate(out, files, seed)[0]


def _generate(out: Path, files: int, seed: int) -> tuple[Path, _Tree]:
    if files < 1:
        raise ValueError("files must be at least 1")
    tree = _Tree(out / ROOT, seed)
    remaining = files
    if files > 1:
        _excluded(out / ROOT)
        remaining -= 1
    while remaining > 0:
        remaining -= tree.up(remaining)
    mapping = out / "mapping.yaml"
    mapping.write_text(_mapping(tree.written, tree.gen.conflicts, files > 1), encoding="utf-8")
    return mapping, tree


def _summary(tree: _Tree) -> str:
    gen, downs = tree.gen, sum(item.down is not None for item in tree.written)
    return (
        f"{len(tree.written)} up files, {downs} rollback files; planted {max(0, gen.helper_copies - 1)} helper copies "
        f"(duplicates), {len(gen.conflicts)} conflicts (resolved keep-first), {gen.redefinitions} redefinitions"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out", type=Path, help="folder to write the tree and mapping.yaml into")
    parser.add_argument("--files", type=int, required=True, help="number of .sql files to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.files < 1:
        parser.error("--files must be at least 1")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    mapping, tree = _generate(args.out, args.files, args.seed)
    print(_summary(tree), file=sys.stderr)
    print(mapping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
