"""Comments in PostgreSQL SQL text: blank them out, or find where a statement's code starts or ends.

Pure: a small lexer that knows PostgreSQL's strings, quoted identifiers, nested block comments and dollar quotes.
"""

from __future__ import annotations

import re

# Things the comment scanner must step over or into: strings and quoted identifiers (whose content is kept),
# comments (blanked) and dollar quotes (whose content is code: function and DO bodies).
_LEXEME = re.compile(
    r"""(?P<estring>(?<![\w$])[eE]'(?:[^'\\]|\\.|'')*(?:'|\Z))"""
    r"""|(?P<string>'(?:[^']|'')*(?:'|\Z))"""
    r"""|(?P<ident>"(?:[^"]|"")*(?:"|\Z))"""
    r"""|(?P<line>--[^\r\n]*)"""  # PostgreSQL ends a line comment at a lone \r too
    r"""|(?P<block>/\*)"""
    r"""|(?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\U0010ffff][\w\x80-\U0010ffff]*)?\$)""",
    re.DOTALL,
)
_BLOCK_EDGE = re.compile(r"/\*|\*/")
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_LINE_END = re.compile(r"[\r\n]")


def blank_comments(text: str) -> str:
    """The text with every comment replaced by spaces (line breaks kept), so offsets and lines stay valid.

    Strings and quoted identifiers are kept as they are; dollar-quoted bodies are code (PL/pgSQL comments look
    like SQL's), so comments inside them are blanked too. Block comments nest, as in PostgreSQL.
    """
    parts: list[str] = []
    done = 0
    for start, end, replacement in _comment_spans(text):
        parts += [text[done:start], replacement]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def code_end(text: str) -> int:
    """Just past the last character of code: before the white space and comments that trail it (0 if none)."""
    return len(blank_comments(text).rstrip())


def _comment_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) for every comment in `text`, in order."""
    spans: list[tuple[int, int, str]] = []
    at = 0
    while (match := _LEXEME.search(text, at)) is not None:
        kind, at = match.lastgroup, match.end()
        if kind == "line":
            spans.append((match.start(), at, " " * (at - match.start())))
        elif kind == "block":
            at = _block_end(text, match.start())
            spans.append((match.start(), at, _NOT_NEWLINE.sub(" ", text[match.start() : at])))
        elif kind == "dollar":
            at = _dollar_body(text, match.group(), at, spans)
    return spans


def _block_end(text: str, start: int) -> int:
    """Just past the ``*/`` closing the block comment opened at `start` (nested ones included), or the end."""
    depth = 0
    for edge in _BLOCK_EDGE.finditer(text, start):
        depth += 1 if edge.group() == "/*" else -1
        if not depth:
            return edge.end()
    return len(text)


def _dollar_body(text: str, tag: str, start: int, spans: list[tuple[int, int, str]]) -> int:
    """Record the comments of the dollar-quoted body starting at `start`; return where scanning resumes."""
    close = text.find(tag, start)
    end = len(text) if close < 0 else close
    # Scanned on its own, so that a stray quote inside the body cannot swallow the SQL that follows it.
    spans += [(start + a, start + b, blank) for a, b, blank in _comment_spans(text[start:end])]
    return end if close < 0 else close + len(tag)


def has_content(text: str) -> bool:
    """Whether text holds anything but whitespace, comments (``--``, nested ``/* */``) and semicolons."""
    return _past_blank(text, ";") < len(text)


def code_start(text: str, start: int = 0) -> int:
    """Where a statement's code starts: past the white space and comments that lead it from `start` (len(text)
    if none). Leading comments may be long (a canonical version's header): no fixed window holds them."""
    return _past_blank(text, "", start)


def _past_blank(text: str, also: str, position: int = 0) -> int:
    while position < len(text):
        char = text[position]
        if char.isspace() or char in also:
            position += 1
        elif text.startswith("--", position):
            end = _LINE_END.search(text, position)
            position = len(text) if end is None else end.end()
        elif text.startswith("/*", position):
            position = block_comment_end(text, position)
        else:
            return position
    return position


def block_comment_end(text: str, start: int) -> int:
    """Offset just after the block comment opened at `start`; PostgreSQL nests them. Unclosed: end of text."""
    depth, position = 0, start
    while position < len(text):
        if text.startswith("/*", position):
            depth, position = depth + 1, position + 2
        elif text.startswith("*/", position):
            depth, position = depth - 1, position + 2
            if depth == 0:
                return position
        else:
            position += 1
    return len(text)


_SPACE = re.compile(r"(?P<between>(?<=\w)\s+(?=\w))|\s+")


def folded(text: str) -> str:
    """The text without its comments and with its white space folded: one space where it separates two word
    characters, none elsewhere. Strings and quoted identifiers are kept as they are; dollar-quoted bodies are
    folded as code. Two texts that fold alike differ in white space and comments only (or in the white space of a
    dollar-quoted string used as data, or of two operators written together, which folding cannot tell apart)."""
    return _fold(blank_comments(text))


def _fold(code: str) -> str:
    parts: list[str] = []
    done = 0
    for match in _LEXEME.finditer(code):
        if match.start() < done:
            continue  # inside a dollar-quoted body already folded
        parts.append(_fold_space(code[done : match.start()]))
        if match.lastgroup == "dollar":
            tag = match.group()
            close = code.find(tag, match.end())
            end = len(code) if close < 0 else close
            parts += [tag, _fold(code[match.end() : end]), tag if close >= 0 else ""]
            done = end + (len(tag) if close >= 0 else 0)
        else:
            parts.append(match.group())
            done = match.end()
    parts.append(_fold_space(code[done:]))
    return "".join(parts)


def _fold_space(code: str) -> str:
    return _SPACE.sub(lambda space: " " if space.group("between") else "", code)
