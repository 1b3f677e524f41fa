"""The PostgreSQL grammar the toolkit reads SQL with (pglast's libpg_query), and whether it accepts a statement:
a syntax error on an older server for a statement this grammar accepts is newer syntax, not a broken statement."""

from __future__ import annotations

from pglast import parser

GRAMMAR_MAJOR: int = parser.get_postgresql_version()[0]


def accepts(text: str) -> bool:
    """Whether PostgreSQL GRAMMAR_MAJOR's parser accepts `text` (parsing only: names are not looked up)."""
    try:
        parser.parse_sql(text)
    except parser.ParseError:
        return False
    return True
