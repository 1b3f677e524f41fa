"""Which objects exist at each point of the consolidated order, as PostgreSQL would have them.

Objects are tracked by the namespace PostgreSQL looks them up in: tables, views, materialized views, foreign
tables, sequences and indexes share one per schema (pg_class), types and domains another (pg_type), schemas
their own. The rules followed:

- ``ALTER … RENAME TO`` and ``SET SCHEMA`` move an object to its new name; the old name is gone. A table's indexes
  move with it to its new schema (PostgreSQL moves them), and keep their names on a rename.
- ``ALTER SCHEMA s RENAME TO t`` moves everything in s.
- ``DROP a, b, c`` drops each; dropping a table drops its indexes; ``CASCADE`` also drops what depends on the
  dropped relation (views and materialized views that select from it), transitively.
- ``SET search_path TO s, …`` in a source (each ran in its own session, and a canonical version resets it before
  the next source): an unqualified name is created in s, and looked up along the path.

Functions, triggers, policies and the like are not tracked here: an object PostgreSQL creates implicitly
(``t_pkey``, an extension's functions) would be reported missing, and a false error blocks a team.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from consolidate.model import Location, ObjectRef

Key = tuple[str, str | None, str]  # (namespace, schema or None, name)

_RELATIONS = frozenset({"table", "view", "materialized view", "foreign table", "sequence", "index"})
_TYPES = frozenset({"type", "domain"})
_CASCADED = frozenset({"view", "materialized view"})  # what DROP … CASCADE of a relation they read also drops
# Kinds whose absence PostgreSQL would report on ALTER or DROP and that nothing creates behind the plan's back;
# indexes are left out (a PRIMARY KEY or UNIQUE constraint creates one under a generated name).
CHECKED_KINDS = frozenset({"table", "view", "materialized view", "foreign table", "sequence", "type", "domain"})


def key_of(ref: ObjectRef) -> Key | None:
    """The namespace key PostgreSQL finds `ref` under, or None for kinds not tracked."""
    if ref.kind in _RELATIONS:
        return ("relation", ref.schema or "public", ref.name)
    if ref.kind in _TYPES:
        return ("type", ref.schema or "public", ref.name)
    if ref.kind == "schema":
        return ("schema", None, ref.name)
    return None


def shown(key: Key) -> str:
    """A key as the plan prints it: `s.name`, or `name` in public."""
    _, schema, name = key
    return name if schema in (None, "public") else f"{schema}.{name}"


@dataclass
class Namespace:
    """Mutable state of one walk: what exists, where it was created, and why what is gone went away."""

    present: dict[Key, Location | None] = field(default_factory=dict)  # None: provided by the platform
    gone: dict[Key, str] = field(default_factory=dict)  # e.g. "renamed to t2 at 003.sql:4"
    dependents: dict[Key, set[Key]] = field(default_factory=dict)  # relation → views on it, indexes of it
    owned: dict[Key, set[Key]] = field(default_factory=dict)  # table → its indexes (dropped without CASCADE)
    search_path: tuple[str, ...] = ()  # set by the current source (SET search_path); () is PostgreSQL's default

    def exists(self, key: Key) -> bool:
        """Whether `key` exists; an unqualified name (schema public) is also looked up along the search path."""
        if key in self.present or key == ("schema", None, "public"):
            return True
        namespace, schema, name = key
        return schema == "public" and any((namespace, other, name) in self.present for other in self.search_path)

    def placed(self, ref: ObjectRef, qualified: bool) -> ObjectRef:
        """Where PostgreSQL creates `ref`: an unqualified name goes to the first schema of the search path."""
        if qualified or ref.schema != "public" or not self.search_path or key_of(ref) is None:
            return ref
        return replace(ref, schema=self.search_path[0])

    def create(self, ref: ObjectRef, location: Location | None, uses: Iterable[ObjectRef] = ()) -> None:
        key = key_of(ref)
        if key is None:
            return
        self.present.setdefault(key, location)
        self.gone.pop(key, None)
        if ref.kind in _CASCADED:
            for used in uses:
                used_key = key_of(used)
                if used_key is not None and used_key != key:
                    self.dependents.setdefault(used_key, set()).add(key)
        if ref.kind == "index" and ref.table:
            table = ("relation", *_split(ref.table, ref.schema))
            self.owned.setdefault(table, set()).add(key)

    def drop(self, ref: ObjectRef, location: Location, cascade: bool) -> None:
        key = key_of(ref)
        if key is not None:
            self._remove(key, f"dropped at {location}", f"dropped at {location} (CASCADE from {shown(key)})", cascade)

    def _remove(self, key: Key, why: str, why_dependent: str, cascade: bool) -> None:
        self.present.pop(key, None)
        self.gone[key] = why
        for index in self.owned.pop(key, set()):
            self._remove(index, why, why_dependent, cascade=False)
        dependents = list(self.dependents.pop(key, set())) if cascade else []
        if key[0] == "schema" and cascade:
            dependents += [k for k in self.present if k[1] == key[2]]
        for dependent in dependents:
            if dependent in self.present:
                self._remove(dependent, why_dependent, why_dependent, cascade=True)

    def rename(self, ref: ObjectRef, new: ObjectRef, location: Location) -> None:
        """Move `ref` to `new` (RENAME TO, SET SCHEMA); a schema rename moves what the schema holds."""
        old_key, new_key = key_of(ref), key_of(new)
        if old_key is None or new_key is None or old_key == new_key:
            return
        if old_key[0] == "schema":
            for inner in [k for k in self.present if k[1] == old_key[2]]:
                self._move(inner, (inner[0], new_key[2], inner[2]), location)
        self._move(old_key, new_key, location)
        if old_key[1] != new_key[1]:  # SET SCHEMA: the table's indexes follow it into the new schema
            for index in self.owned.get(new_key, set()).copy():
                self._move(index, (index[0], new_key[1], index[2]), location)

    def _move(self, old: Key, new: Key, location: Location) -> None:
        if old not in self.present:
            return
        self.present[new] = self.present.pop(old)
        self.gone.pop(new, None)
        self.gone[old] = f"renamed to {shown(new)} at {location}"
        for table in (self.dependents, self.owned):
            if old in table:
                table[new] = table.pop(old)
            for members in table.values():
                if old in members:
                    members.discard(old)
                    members.add(new)


def _split(qualified: str, schema: str | None) -> tuple[str, str]:
    """A table's (schema, name) from `ref.table` ("s.t" or "t", in the index's schema when unqualified)."""
    table_schema, _, name = qualified.rpartition(".")
    return (table_schema or schema or "public", name)
