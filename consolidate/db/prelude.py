"""Set up a prelude (see consolidate/core/prelude.py) on a server: its roles for a block, its statements per database.

Roles belong to the whole server: `prelude_roles` creates the missing ones once, around every scratch database of a
run, and drops exactly those afterwards. `apply_prelude` then runs the rest of the prelude in one scratch database,
before the migrations replay there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager

from consolidate.core.prelude import Prelude, replay_text
from consolidate.db.replay import replay_files
from consolidate.db.server import Server, roles
from consolidate.postgres.failures import Failure


@contextmanager
def prelude_roles(server: Server, prelude: Prelude) -> Iterator[list[str]]:
    """The prelude's roles for the block: yields those that did not exist and were created; drops them after."""
    with roles(server, prelude.roles) as created:
        yield created


def apply_prelude(
    conninfo: str, prelude: Prelude, *, stand_ins: Mapping[str, Set[str]] | None = None
) -> tuple[Failure, ...]:
    """Run the prelude, its server-wide statements left out, in the database `conninfo` names; every failure.

    It runs as one transaction, as a canonical version does: after a failure none of it is left behind.
    Failures point at the prelude file's own lines. `stand_ins` is as for `replay_files`.
    """
    files = [(prelude.path, replay_text(prelude))]
    return replay_files(conninfo, files, per_file_transaction=True, stand_ins=stand_ins).failures
