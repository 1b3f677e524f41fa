"""Split a legacy file into statements and parse it once: sqlglot for identity, PostgreSQL's parser for syntax.

The file is tokenized once with sqlglot; statements end at top-level semicolon tokens, so semicolons inside
strings, quoted identifiers, comments and dollar-quoted bodies never split anything. Every chunk is an exact
slice of the file (leading whitespace and comments belong to the statement that follows them), so joining
the chunks gives back the file byte for byte. psql meta-commands (core/meta_commands.py) are blanked before
anything reads the SQL: each is an error of its own, and one before a statement is a chunk of its own. For
PostgreSQL, pglast (PostgreSQL's own parser) judges syntax: sqlglot only tells what a statement is and whether
two statements are the same.
"""

from __future__ import annotations

import hashlib
import logging
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache

import sqlglot
from pglast import parser as pg
from sqlglot import exp
from sqlglot.dialects.dialect import NormalizationStrategy
from sqlglot.errors import TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.parser import Parser
from sqlglot.tokenizer_core import Token, TokenType

from consolidate.core.lines import BREAK, Lines
from consolidate.core.meta_commands import MetaCommand, blanked, meta_commands
from consolidate.core.objects import describe
from consolidate.model import Chunk, Diagnostic, Location, ParsedFile, Statement

# sqlglot logs a warning for every statement it can only keep as exp.Command; those are counted instead
# (ParsedFile.fallbacks) and shown once in the plan, not printed per statement.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_QUOTED = frozenset(
    {
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.NATIONAL_RAW_STRING,
        TokenType.RAW_STRING,
        TokenType.UNICODE_STRING,
    }
)
_VERBATIM = _QUOTED | {TokenType.HEREDOC_STRING}
_ROUTINE_STARTS = frozenset(
    {
        ("CREATE", "FUNCTION"),
        ("CREATE", "PROCEDURE"),
        ("CREATE", "OR", "REPLACE", "FUNCTION"),
        ("CREATE", "OR", "REPLACE", "PROCEDURE"),
    }
)
_META_HINT = "psql meta-command; not SQL"
# What a syntax error often really is in a real tree: text another tool replaces or reads before PostgreSQL.
_PLACEHOLDER_HINTS = (
    (
        re.compile(r"\{\{|\{%"),
        "a template placeholder: the file is a template another tool renders (Go templates, Jinja); "
        "write the rendered SQL, or exclude the file with a reason",
    ),
    (
        re.compile(r"\$\{"),
        "a placeholder ${…} another tool substitutes (Flyway placeholders, goose ENVSUB, envsubst); write its value",
    ),
    (
        re.compile(r":['\"]?[A-Za-z_]"),
        "a psql variable (:name, :'name'), substituted by psql -v; write its value",
    ),
)
_COPY_DATA = re.compile(r"\bCOPY\b[^;]*\bFROM\s+STDIN\b[^;]*;\s*\Z", re.IGNORECASE)
_COPY_HINT = (
    "the rows of a COPY … FROM stdin (psql's inline data, as pg_dump writes it) are not SQL: "
    "load them with INSERT, or keep the data out of the migration"
)
_LAZY = object()  # a statement PostgreSQL accepted, whose pglast tree is built only if describe needs it
_ROUTINE_WORDS = frozenset({"FUNCTION", "PROCEDURE", "ROUTINE", "AGGREGATE", "FUNCTIONS", "PROCEDURES"})
_TOKENIZE_MESSAGE = (
    "cannot split statements from here: unterminated quote, quoted identifier, comment or dollar-quoted body"
)


@dataclass(frozen=True, slots=True)
class _Span:
    """A chunk's range in the file and the tokens of its statement (without the terminating semicolon)."""

    start: int
    end: int  # exclusive; includes the terminating semicolon
    tokens: list[Token]
    body_end: int  # where the statement proper ends: its terminating semicolon, or `end`
    broken: bool = False  # the rest of a file sqlglot's tokenizer could not read
    meta: bool = False  # ends with a psql meta-command, the last thing before its statement's first token

    @property
    def is_statement(self) -> bool:
        return bool(self.tokens) or self.broken


@dataclass(frozen=True, slots=True)
class _Source:
    """One file being parsed, with what every step needs to know about it."""

    path: str
    written: str  # the file as written: chunks and statements are slices of it
    text: str  # what PostgreSQL reads: `written` with its psql meta-commands blanked (the same object without)
    dialect: str
    lines: Lines
    metas: tuple[MetaCommand, ...] = ()
    # One str object per slice: a chunk's text and its statement's text are then the same object, which pickle
    # sends once when parsed files come back from the worker processes.
    slices: dict[tuple[int, int], str] = field(default_factory=dict)

    def chunk(self, span: _Span) -> str:
        key = (span.start, span.end)
        found = self.slices.get(key)
        if found is None:
            found = self.slices[key] = self.written[span.start : span.end]
        return found

    def code(self, span: _Span) -> str:
        """The chunk as PostgreSQL reads it: what the parsers see."""
        return self.chunk(span) if self.text is self.written else self.text[span.start : span.end]

    def location(self, offset: int) -> Location:
        return self.lines.location(self.path, offset)


class _Nesting:
    """Follows a CREATE FUNCTION/PROCEDURE ... BEGIN ATOMIC body token by token, as psql does.

    Semicolons inside the ``BEGIN ... END`` body (PostgreSQL 14+) do not end the statement; CASE ... END
    nests inside it; BEGIN, CASE and END inside parentheses do not count.
    """

    __slots__ = ("blocks", "parens")

    def __init__(self) -> None:
        self.parens = 0
        self.blocks = 0

    def ends_statement(self, token: Token) -> bool:
        kind = token.token_type
        if kind is TokenType.SEMICOLON:
            return not self.parens and not self.blocks
        if kind is TokenType.L_PAREN:
            self.parens += 1
        elif kind is TokenType.R_PAREN:
            self.parens = max(self.parens - 1, 0)
        elif self.parens:
            pass
        elif kind is TokenType.BEGIN or (kind is TokenType.CASE and self.blocks):
            self.blocks += 1
        elif kind is TokenType.END and self.blocks:
            self.blocks -= 1
        return False


def split(text: str, dialect: str = "postgres") -> tuple[Chunk, ...]:
    """Cut a file's text into chunks whose concatenation is exactly the text.

    A psql meta-command line is a chunk of its own (``is_meta``) when it stands before a statement's first word;
    one inside a statement stays in that statement's chunk.
    """
    source = _source("", text, dialect)
    tokens, failed = _tokenize(source.text, dialect)
    return tuple(_chunk(source, span) for span in _spans(source, tokens, failed))


def parse_file(path: str, text: str, dialect: str = "postgres") -> ParsedFile:
    """Split a file into statements, parse each, and find every syntax error in it (PostgreSQL's judgement).

    Every psql meta-command is an error of its own at its line (``sql.meta-command``); the statements around it
    are read without it.
    """
    source = _source(path, text, dialect)
    tokens, failed = _tokenize(source.text, dialect)
    spans = _spans(source, tokens, failed)
    statement_spans = [span for span in spans if span.is_statement]
    nodes, syntax = _check(source, statement_spans)
    errors = [error for error in syntax if error is not None]
    errors += _tokenizer_errors(source, statement_spans, syntax)
    errors += [_meta_error(source, meta) for meta in source.metas]
    if _folds_to_lower(dialect) and source.text.lower() != source.text:  # an all-lower-case file has nothing to fold
        _fold_words(tokens)
    parser = _dialect(dialect).parser()
    statements = tuple(
        _statement(source, parser, index, span, node)
        for index, (span, node) in enumerate(zip(statement_spans, nodes, strict=True))
    )
    return ParsedFile(
        path=path,
        chunks=tuple(_chunk(source, span) for span in spans),
        statements=statements,
        errors=tuple(sorted(errors, key=lambda diagnostic: diagnostic.location)),
        fallbacks=sum(not statement.parsed for statement in statements),
    )


# --- splitting ------------------------------------------------------------------------------------------


def _source(path: str, text: str, dialect: str) -> _Source:
    metas = meta_commands(text)
    return _Source(path, text, blanked(text, metas) if metas else text, dialect, Lines(text), metas)


def _tokenize(text: str, dialect: str) -> tuple[list[Token], bool]:
    """All tokens of the text, or the tokens read before the tokenizer failed (and True)."""
    tokenizer = _dialect(dialect).tokenizer()
    try:
        return tokenizer.tokenize(text), False
    except TokenError:
        # The statements before the unreadable one are still whole: keep their tokens.
        return list(tokenizer.tokens), True


def _spans(source: _Source, tokens: list[Token], failed: bool) -> list[_Span]:
    """Chunk ranges: each ends with a top-level semicolon, or with a meta-command before a statement's first
    token; the text after the last one is the rest."""
    text = source.text
    spans: list[_Span] = []
    start = first = 0
    for cut in _cuts(tokens):
        semicolon = tokens[cut]
        spans.append(_Span(start, semicolon.end + 1, tokens[first:cut], semicolon.start))
        start, first = semicolon.end + 1, cut + 1
    if start < len(text):
        spans.append(_Span(start, len(text), tokens[first:], len(text), broken=failed))
    if not source.metas:
        return spans
    return [piece for span in spans for piece in _without_leading_metas(source, span)]


def _without_leading_metas(source: _Source, span: _Span) -> list[_Span]:
    """The span, its meta-commands before its first token cut off as spans of their own: the statement then keeps
    its own text and lines, and the meta-command is left in its place between statements."""
    head = _head(source, span) if span.is_statement else span.end
    metas = source.metas
    pieces, start = [], span.start
    for index in range(bisect_left(metas, span.start, key=lambda meta: meta.start), len(metas)):
        if metas[index].end > head:
            break
        pieces.append(_Span(start, metas[index].end, [], metas[index].end, meta=True))
        start = metas[index].end
    if start < span.end:
        pieces.append(replace(span, start=start))
    return pieces


def _cuts(tokens: list[Token]) -> list[int]:
    """Indices of the semicolon tokens that end statements."""
    # Token types in a plain list let list.index/count do the per-token work: this runs on every file.
    kinds = [token.token_type for token in tokens]
    cuts: list[int] = []
    end = _terminator(tokens, kinds, 0)
    while end is not None:
        cuts.append(end)
        end = _terminator(tokens, kinds, end + 1)
    return cuts


def _terminator(tokens: list[Token], kinds: list[TokenType], first: int) -> int | None:
    """The semicolon ending the statement that starts at token `first`, as psql finds it: not one inside
    parentheses (``CREATE RULE ... DO ALSO (a; b)``), nor one inside a routine's BEGIN ATOMIC body."""
    start, depth = first, 0
    while True:
        try:
            semicolon = kinds.index(TokenType.SEMICOLON, start)
        except ValueError:
            return None
        if start == first and kinds[first] is TokenType.CREATE and _has_atomic_body(tokens, kinds, first, semicolon):
            return _routine_end(tokens, first)
        segment = kinds[start:semicolon]
        # psql clamps the depth at every ')'; clamping per segment differs only for broken SQL.
        depth = max(depth + segment.count(TokenType.L_PAREN) - segment.count(TokenType.R_PAREN), 0)
        if not depth:
            return semicolon
        start = semicolon + 1


def _has_atomic_body(tokens: list[Token], kinds: list[TokenType], first: int, semicolon: int) -> bool:
    """Whether the statement is a CREATE FUNCTION/PROCEDURE with BEGIN before its first semicolon."""
    if TokenType.BEGIN not in kinds[first:semicolon]:
        return False
    words = tuple(token.text.upper() for token in tokens[first : first + 4])
    return words[:2] in _ROUTINE_STARTS or words in _ROUTINE_STARTS


def _routine_end(tokens: list[Token], first: int) -> int | None:
    nesting = _Nesting()
    return next((index for index in range(first, len(tokens)) if nesting.ends_statement(tokens[index])), None)


def _folds_to_lower(dialect: str) -> bool:
    return _dialect(dialect).normalization_strategy is NormalizationStrategy.LOWERCASE


def _fold_words(tokens: list[Token]) -> None:
    """Lower-case every unquoted word in place, as PostgreSQL's scanner does before parsing.

    sqlglot hashes identifiers as written, so without this ROBOTS and robots would differ; folding the
    tokens is that fold at no cost, where walking every tree would cost as much as hashing it. Keywords
    match case-insensitively, so folding them changes nothing; non-ASCII words are left alone because
    PostgreSQL folds ASCII letters only (in UTF-8 databases).
    """
    for token in tokens:
        text = token.text
        if token.token_type not in _VERBATIM and text.isascii():
            token.text = text.lower()


def _chunk(source: _Source, span: _Span) -> Chunk:
    return Chunk(source.chunk(span), span.start, source.lines.line(span.start), span.is_statement, is_meta=span.meta)


def _head(source: _Source, span: _Span) -> int:
    """Offset of the statement's first token; for an unreadable rest, of its first readable position."""
    if span.tokens:
        return span.tokens[0].start
    return _failure_offset(source.text, span.start)


def _failure_offset(text: str, offset: int) -> int:
    """Where the token the tokenizer choked on starts: past whitespace and complete comments."""
    while True:
        offset = len(text) - len(text[offset:].lstrip())
        if text.startswith("--", offset) and (end := BREAK.search(text, offset)) is not None:
            offset = end.end()
        elif text.startswith("/*", offset) and "*/" in text[offset + 2 :]:
            offset = text.index("*/", offset + 2) + 2
        else:
            return offset


# --- PostgreSQL's syntax check --------------------------------------------------------------------------


def _check(source: _Source, spans: Sequence[_Span]) -> tuple[list[object | None], list[Diagnostic | None]]:
    """pglast's node for every statement (or _LAZY: parse it when needed), and the syntax error of every
    statement PostgreSQL cannot parse."""
    if source.dialect != "postgres":
        return [None] * len(spans), [None] * len(spans)
    if _whole_file_ok(source, spans):
        return [_LAZY] * len(spans), [None] * len(spans)
    results = [_check_one(source, span) for span in spans]
    return [node for node, _ in results], [error for _, error in results]


def _whole_file_ok(source: _Source, spans: Sequence[_Span]) -> bool:
    """The fast path: PostgreSQL's parser accepts the whole file and splits it as sqlglot did.

    pglast's split runs the parser without building Python trees (about 50x cheaper than parse_sql): the
    trees are built later only for the statements that need one (see _needs_node).
    """
    if "\x00" in source.text:  # pglast reads a C string: a NUL would silently end the file early
        return False
    try:
        parts = pg.split(source.text, with_parser=True)
    except pg.ParseError:
        return False
    return len(parts) == len(spans)


def _needs_node(expr: exp.Expr | None, span: _Span) -> bool:
    """objects.describe reads pglast's tree when sqlglot fell back, and for routines (exact argument types)."""
    if expr is None or isinstance(expr, exp.Command):
        return True
    return any(token.text.upper() in _ROUTINE_WORDS for token in span.tokens[:6])


def _node(source: _Source, span: _Span) -> object | None:
    try:
        raws = pg.parse_sql(source.code(span))
    except pg.ParseError:
        return None
    return raws[0].stmt if len(raws) == 1 else None


def _check_one(source: _Source, span: _Span) -> tuple[object | None, Diagnostic | None]:
    """Parse one chunk alone: its pglast node when it holds exactly one statement, or its syntax error."""
    chunk = source.code(span)
    if "\x00" in chunk:
        offset = span.start + chunk.index("\x00")
        return None, Diagnostic("sql.syntax", "NUL character in SQL text", source.location(offset))
    try:
        raws = pg.parse_sql(chunk)
    except pg.ParseError as error:
        return None, _syntax_error(source, span, error)
    return (raws[0].stmt if len(raws) == 1 else None), None


def _syntax_error(source: _Source, span: _Span, error: pg.ParseError) -> Diagnostic:
    """PostgreSQL's message at the file position it points to (its index counts characters of the chunk)."""
    message = str(error.args[0]) if error.args else str(error)
    index = error.args[1] if len(error.args) > 1 else None
    offset = span.start + index if isinstance(index, int) else _past_last_token(source, span)
    return Diagnostic("sql.syntax", message, source.location(offset), _syntax_hint(source.text, offset, span.start))


def _syntax_hint(text: str, offset: int, start: int) -> str:
    """What the text PostgreSQL stumbled on probably is, when it is a well-known kind of not-SQL."""
    if _COPY_DATA.search(text, 0, start):
        return _COPY_HINT
    if text.startswith("\\", offset):
        return _META_HINT
    return next((hint for pattern, hint in _PLACEHOLDER_HINTS if pattern.match(text, offset)), "")


def _past_last_token(source: _Source, span: _Span) -> int:
    """Just past the statement's last token: where "syntax error at end of input" points (PostgreSQL gives
    no position for it)."""
    last = span.tokens[-1] if span.tokens else None
    if last is not None and last.end >= last.start:  # a command's swallowed rest has bogus offsets
        return last.end + 1
    return span.start + len(source.code(span).rstrip())


def _meta_error(source: _Source, meta: MetaCommand) -> Diagnostic:
    return Diagnostic("sql.meta-command", meta.message, source.location(meta.start), meta.hint)


def _tokenizer_errors(source: _Source, spans: Sequence[_Span], syntax: Sequence[Diagnostic | None]) -> list[Diagnostic]:
    """The unreadable rest of a file, unless PostgreSQL already reported its syntax error (more precise)."""
    return [
        Diagnostic("sql.tokenize", _TOKENIZE_MESSAGE, source.location(_failure_start(source, span)))
        for span, error in zip(spans, syntax, strict=True)
        if span.broken and error is None
    ]


def _failure_start(source: _Source, span: _Span) -> int:
    after = span.tokens[-1].end + 1 if span.tokens else span.start
    return _failure_offset(source.text, after)


# --- statements -----------------------------------------------------------------------------------------


def _statement(source: _Source, parser: Parser, index: int, span: _Span, node: object | None) -> Statement:
    expr = _parse(source, parser, span)
    parsed = expr is not None and not isinstance(expr, exp.Command)
    if node is _LAZY:
        node = _node(source, span) if _needs_node(expr, span) else None
    head = _head(source, span)
    return Statement(
        path=source.path,
        index=index,
        line=source.lines.line(head),
        text=source.chunk(span),
        kind=type(expr).__name__ if parsed else "Command",
        parsed=parsed,
        fingerprint=_fingerprint(source, span, expr if parsed else None),
        facts=describe(
            expr if isinstance(expr, exp.Expression) else None,
            node,
            source.text[head : span.body_end].rstrip(),
            source.dialect,
        ),
    )


def _parse(source: _Source, parser: Parser, span: _Span) -> exp.Expr | None:
    """sqlglot's tree for the statement: exp.Command when it fell back, None when it could not parse it."""
    if span.broken:
        return None
    try:
        trees = [tree for tree in parser.parse(span.tokens, source.text) if tree is not None]
    except Exception:  # any failure of sqlglot on one statement must not stop the others
        return None
    # Several trees: semicolons inside parentheses or BEGIN ATOMIC, which sqlglot splits on; keep it verbatim.
    if len(trees) != 1:
        return None
    tree = trees[0]
    # sqlglot compares identifiers as written. For PostgreSQL the tokens were folded already (_fold_words);
    # other dialects fold their own way, which only a walk of the tree can do.
    if not _folds_to_lower(source.dialect) and not isinstance(tree, exp.Command):
        return normalize_identifiers(tree, dialect=_dialect(source.dialect))
    return tree


def _fingerprint(source: _Source, span: _Span, expr: exp.Expr | None) -> str:
    """Equal fingerprints mean identical statements.

    Parsed statements compare by sqlglot's structural hash (its __eq__ is hash equality). Python seeds string
    hashes per process, so an "ast:" fingerprint is only comparable within one process (forked workers share
    the seed) and must never be persisted. Other statements compare by their normalised token stream.
    """
    if expr is not None:
        return "ast:" + format(hash(expr), "x")
    if span.broken:
        return "raw:" + _sha1(source.code(span).strip())
    return "txt:" + _sha1(repr(_normalised(source, span)))


def _normalised(source: _Source, span: _Span) -> list[tuple[str, str]]:
    """The statement's tokens without comments: words lower-cased, quoted text exact, bodies' spacing folded."""
    tokens = span.tokens
    if len(tokens) == 2 and tokens[0].token_type in _dialect(source.dialect).tokenizer_class.COMMANDS:
        # sqlglot's tokenizer swallows what follows a leading command keyword (DO, SHOW, ...) as one raw
        # string: the body of a DO block, mostly. Fold its spacing like any body's.
        return [_normal(tokens[0]), ("COMMAND", " ".join(tokens[1].text.split()))]
    return [_normal(token) for token in tokens]


def _normal(token: Token) -> tuple[str, str]:
    kind = token.token_type
    if kind in _QUOTED:
        return kind.name, token.text
    if kind is TokenType.HEREDOC_STRING:  # a dollar-quoted body is code: indentation is not a change
        return kind.name, " ".join(token.text.split())
    text = token.text.lower() if token.text.isascii() else token.text  # as _fold_words: ASCII only
    return "", " ".join(text.split())


@cache
def _dialect(name: str) -> sqlglot.Dialect:
    return sqlglot.Dialect.get_or_raise(name)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
