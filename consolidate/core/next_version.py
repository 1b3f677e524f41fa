"""`consolidate new NAME`: the next migration of the canonical tree, numbered and padded as the tree numbers its
versions, and the text of its two files.

A migration added after the consolidation is numbered past its last version, so it is the team's own: apply,
report and verify leave it alone (`render.tree.later_migrations`), the lock does not list it, and `migrate`
runs it like any other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from consolidate.layout import STUB_MARKER, UpFile, down_path, label, version_path
from consolidate.model import Diagnostic, Location

_NOT_NAME = re.compile(r"[^a-z0-9]+")
MAX_NAME = 80  # a file name stays readable (and within every filesystem's limit)


def clean_name(name: str) -> str:
    """`name` as a version's name: lower case, every run of other characters one underscore (`Add Name!` →
    `add_name`); empty when nothing is left."""
    return _NOT_NAME.sub("_", name.lower()).strip("_")


def name_problem(name: str, where: str) -> Diagnostic | None:
    """Why `name` cannot name a migration, located at `where` (the tree); None when it can."""
    cleaned = clean_name(name)
    if cleaned and len(cleaned) <= MAX_NAME:
        return None
    what = "has no letter or digit" if not cleaned else f"is longer than {MAX_NAME} characters"
    return Diagnostic(
        "new.bad-name",
        f"the migration name {name!r} {what}",
        Location(where),
        hint="name what the migration does, e.g. `consolidate new add_user_email`",
    )


def name_taken(existing: Iterable[UpFile], name: str) -> UpFile | None:
    """The migration already named `name` (once cleaned), if any: two migrations of one name are one too many,
    as the mapping refuses two targets of one name."""
    wanted = clean_name(name)
    return next((item for item in existing if item.name == wanted), None)


def next_label(existing: Iterable[UpFile], last_consolidated: int, width: int, name: str) -> str:
    """The label of the migration after every one of `existing` and the consolidation's `last_consolidated`,
    zero-padded like the highest-numbered file of versions/ (else to the mapping's `width`)."""
    files = sorted(existing, key=lambda item: item.number)
    highest = files[-1] if files else None
    padding = len(highest.version) if highest is not None else width
    version = max(highest.number if highest is not None else 0, last_consolidated) + 1
    return label(version, clean_name(name), padding)


def up_text(version_label: str) -> str:
    """A new up script: a title and what to write; nothing that runs."""
    return (
        f"-- {version_label}\n"
        "-- Written after the consolidation: consolidate apply, report and verify leave this file alone,\n"
        "-- and `consolidate migrate up` runs it. Write the migration below.\n\n"
    )


def down_text(version_label: str) -> str:
    """A new rollback: the stub `migrate down` refuses, until the user replaces it (its first line too)."""
    return (
        f"{STUB_MARKER}\n"
        f"-- {version_label}: no rollback yet; this script refuses to run.\n"
        f"-- Replace this whole file (this first line too) with the SQL that undoes {version_path(version_label)}.\n\n"
        f"DO $$ BEGIN RAISE EXCEPTION 'consolidate: no rollback for {version_label}; write "
        f"{down_path(version_label)}'; END $$;\n"
    )
