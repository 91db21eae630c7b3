"""The one SQL lexer: text → tokens, as PostgreSQL's scanner (and psql's) cut it.

Every part of bgmigrate that needs to know where a string, comment or statement ends reads
tokens from here: the statement splitter (lint, trace, plan) and the token cursor the DDL
parsers use. It follows ``scan.l``/``psqlscan.l`` on the points that decide where text ends:

* ``--`` comments end at a newline *or* a carriage return; ``/* */`` comments nest;
* ``'…'`` (and ``B'``/``X'``/``N'``/``U&'``) strings end at a quote not doubled, ``E'…'`` strings
  also honour backslash escapes; ``"…"`` and ``U&"…"`` are identifiers;
* ``$tag$ … $tag$`` dollar quotes, whose tag (like an identifier) may use any non-ASCII letter;
* identifiers may contain ``$`` and any non-ASCII character (a no-break space included);
* a UTF-8 byte-order mark at the very start of the text is white space.

An unterminated string, identifier, comment or dollar quote runs to the end of the text, as it
does for the server (which then rejects the statement). The scan is linear in the text: each
character is looked at a bounded number of times, and nothing recurses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple, TypeVar

BOM = "\ufeff"
_T = TypeVar("_T", bound=tuple[str, str, int, int])

# Identifier characters as the server's scanner sees them: any byte ≥ 0x80 is a letter. Each
# class is spelled as the ASCII characters it leaves out: a class holding the range up to
# U+10FFFF takes the regex compiler milliseconds, which every run of bgmigrate paid.
_START = r"^\x00-\x40\x5b-\x5e\x60\x7b-\x7f"  # A-Z a-z _ and ≥ 0x80
_CONT = r"^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f"  # also 0-9 and $
_DOLLAR_TAG = rf"\$(?:[{_START}][^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)?\$"  # 0-9, no $

# One match per token, with the white space before it: a match that starts at a space and
# stops at the token saves a second trip through the regex engine for about half the tokens.
# At the end of the text only white space (or nothing) is left: the empty alternative, no group.
# A dollar quote is matched to its closing tag (or the end of the text), and so is a block
# comment without a nested opener; a nested one stops at its opener, and the scan ends it.
# The common tokens come first (the engine tries alternatives in order): a word unless it is
# a string's or identifier's prefix (E'…', U&"…"), then single-character operators that start
# nothing else, then numbers.
_KIND_ALIASES = {"flat": "comment", "nested": "comment", "estring": "string", "punct": "op"}
_TOKEN = re.compile(
    rf"""
    [ \t\n\r\f\v]*
    (?:
      (?P<word>(?![EeBbXxNn]'|[Uu]&['"])[{_START}][{_CONT}]*)
    | (?P<punct>[,;()=])
    | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
    | (?P<comment>--[^\n\r]*)
    | (?P<flat>/\*(?:[^*/]++|\*(?!/)|/(?!\*))*+\*/)
    | (?P<nested>/\*)
    | (?P<estring>[Ee]'(?:[^'\\]+|\\.|'')*(?:'|\\)?)
    | (?P<string>(?:[BbXxNn]|[Uu]&)?'(?:[^']+|'')*'?)
    | (?P<qident>(?:[Uu]&)?"(?:[^"]+|"")*"?)
    | (?P<dollar>(?P<tag>{_DOLLAR_TAG})(?:.*?(?P=tag)|.*))
    | (?P<param>\$[0-9]+)
    | (?P<op>::|<>|!=|>=|<=|\|\||[-+*/<>=~!@\#%^&|`?.,;:()\[\]{{}}$])
    | (?P<backslash>\\)
    | (?P<other>.)
    | \Z
    )
    """,
    re.VERBOSE | re.DOTALL,
)
# Token kind by group number (0: no token, only white space to the end of the text). The tag
# group closes before its dollar quote's: it is never a match's last group.
_NAMES = ("", *sorted(_TOKEN.groupindex, key=_TOKEN.groupindex.__getitem__))
_KINDS = tuple(_KIND_ALIASES.get(name, name) for name in _NAMES)
_NESTED = _TOKEN.groupindex["nested"]


# For loops that run the regex themselves (the statement splitter): the pattern, the token
# kind by group number ("" for 0: white space to the end), and the end of a nested comment.
TOKEN_PATTERN = _TOKEN
KINDS_BY_GROUP = _KINDS
_COMMENT_EDGE = re.compile(r"/\*|\*/")


class Token(NamedTuple):
    """One token: its kind and where it stands (``text[start:end]``).

    Kinds: space, comment (both ``--`` and ``/* */``), string, qident, dollar, param, number,
    word, op (``;`` included), backslash (psql's meta-command start), other.
    """

    kind: str
    start: int
    end: int


def block_comment_end(text: str, start: int) -> int:
    """Index just past the ``*/`` that closes the (nested) comment opened at ``start``."""
    depth = 0
    pos = start
    for edge in _COMMENT_EDGE.finditer(text, start):
        if edge.start() < pos:
            continue  # "/*/": the slash already closed or opened a comment
        depth += 1 if edge.group() == "/*" else -1
        pos = edge.end()
        if depth == 0:
            return pos
    return len(text)


def lex(text: str, start: int = 0, stop: int | None = None) -> Iterator[Token]:
    """Tokens of ``text[start:stop]``, white space and comments included.

    >>> [t.kind for t in lex("a$b $$;$$ --c\\rd")]
    ['word', 'space', 'dollar', 'space', 'comment', 'space', 'word']
    >>> [t.kind for t in lex("'it''s;' /* /* */ */ x")]
    ['string', 'space', 'comment', 'space', 'word']
    """
    end = len(text) if stop is None else stop
    source = text if end == len(text) else text[:end]
    pos = start
    if pos == 0 and source.startswith(BOM):
        yield Token("space", 0, 1)
        pos = 1
    for kind, token_start, token_end in significant(source, pos):
        if token_start > pos:
            yield Token("space", pos, token_start)
        yield Token(kind, token_start, token_end)
        pos = token_end
    if pos < end:
        yield Token("space", pos, end)


def significant(text: str, pos: int = 0) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` of every token of ``text[pos:]`` but white space, as ``lex`` cuts them.

    Plain tuples, not ``Token``: the splitter reads a million of them in a lint of a large
    folder. A byte-order mark is not skipped here (``lex`` does that).

    >>> list(significant("a /* b */ $x$;$x$ /* /* */ */"))
    [('word', 0, 1), ('comment', 2, 9), ('dollar', 10, 17), ('comment', 18, 29)]
    """
    end = len(text)
    while pos < end:
        for found in _TOKEN.finditer(text, pos):
            group = found.lastindex
            if group is None:
                return  # white space to the end
            token_start, token_end = found.span(group)
            if group == _NESTED:
                pos = block_comment_end(text, token_start)
                yield "comment", token_start, pos
                break  # resume the regex after the comment
            yield _KINDS[group], token_start, token_end
        else:
            return


def significant_texts(text: str, kinds: Mapping[str, str], tuple_type: type[_T]) -> list[_T]:
    """``(kind, text, start, end)`` of every token of ``text`` but white space and comments.

    ``kinds`` renames kinds (``{"param": "op"}``); each token is made a ``tuple_type`` (a
    named tuple of those four fields). One loop over the regex, no generator: the parsers
    tokenize every statement again, half a million tokens in a large folder.

    >>> significant_texts("\ufeffa /* b */ $1", {"param": "op"}, tuple)
    [('word', 'a', 1, 2), ('op', '$1', 11, 13)]
    """
    names = _renamed(tuple(sorted(kinds.items())))
    found: list[_T] = []
    append = found.append
    new = tuple.__new__  # in C: a named tuple's own __new__ is a Python call
    pos = 1 if text.startswith(BOM) else 0
    end = len(text)
    while pos < end:
        for match in _TOKEN.finditer(text, pos):
            group = match.lastindex
            if group is None:
                return found  # white space to the end
            if group == _NESTED:
                pos = block_comment_end(text, match.start(group))
                break  # resume the regex after the comment
            kind = names[group]
            if kind != "comment":
                start, stop = match.span(group)
                append(new(tuple_type, (kind, text[start:stop], start, stop)))
        else:
            return found
    return found


@functools.lru_cache(maxsize=8)
def _renamed(kinds: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """``_KINDS`` with some kinds renamed, by group number."""
    rename = dict(kinds)
    return tuple(rename.get(kind, kind) for kind in _KINDS)


_UNICODE_ESCAPE = re.compile(r"\\(\\|[0-9A-Fa-f]{4}|\+[0-9A-Fa-f]{6})")
_E_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)
_E_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unicode_char(code: str) -> str:
    value = int(code, 16)
    return chr(value) if value <= 0x10FFFF else "\ufffd"


def _unicode_unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    return "\\" if code == "\\" else _unicode_char(code.lstrip("+"))


def _e_unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "xuU" and len(code) > 1:
        return _unicode_char(code[1:])
    if code[0] in "01234567":
        return chr(int(code, 8))
    return _E_SIMPLE.get(code, code)


def literal_value(token_text: str) -> str:
    """The value of a string or quoted-identifier token (escapes of E'' and U&'' decoded, with
    U&'s default escape character; a UESCAPE clause is not applied).

    >>> literal_value("'it''s'"), literal_value("E'a\\\\'b'"), literal_value('U&"d\\\\0061t"'), literal_value('"A""b"')
    ("it's", "a'b", 'dat', 'A"b')
    """
    prefix = token_text[: len(token_text) - len(token_text.lstrip("EeBbXxNnUu&"))]
    quote = token_text[len(prefix) : len(prefix) + 1] or "'"
    body = token_text[len(prefix) + 1 :]
    if body.endswith(quote):
        body = body[:-1]
    if prefix.upper() == "E":
        return _E_ESCAPE.sub(_e_unescape, body.replace("''", "'"))
    body = body.replace(quote * 2, quote)
    if prefix.upper() == "U&":
        return _UNICODE_ESCAPE.sub(_unicode_unescape, body)
    return body
