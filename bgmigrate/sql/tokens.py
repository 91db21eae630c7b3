"""A token cursor over one SQL statement, for the DDL forms parsed by keyword patterns.

sqlglot handles expressions and DML well but misreads or gives up on several PostgreSQL DDL
forms that decide blue-green safety (``RENAME col TO new`` without COLUMN, ``VALIDATE
CONSTRAINT``, ``USING INDEX``, ``ALTER TYPE … ADD VALUE``), so those are read token by token.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Literal, NamedTuple

from bgmigrate.sql.lexer import literal_value, significant_texts
from bgmigrate.sql.names import Name, fold_ident

TokKind = Literal["word", "qident", "string", "number", "op", "dollar"]
# Lexer kinds the cursor does not distinguish (a parameter, psql's backslash, any other
# character): each is kept as one operator-like token; the other kinds keep their names.
_AS_OP = {"param": "op", "backslash": "op", "other": "op"}
# Every lexer kind → its Tok kind, for the splitter, which builds the same tokens as it scans.
token_kind = {kind: _AS_OP.get(kind, kind) for kind in ("word", "qident", "string", "number", "op", "dollar", *_AS_OP)}


@functools.lru_cache(maxsize=512)
def _alternatives(word: str) -> frozenset[str]:
    """``"A|B"`` → ``{"A", "B"}``, computed once per keyword pattern."""
    return frozenset(word.split("|"))


class SyntaxProblem(Exception):
    """The statement does not follow PostgreSQL's grammar where bgmigrate reads it."""


class Tok(NamedTuple):
    """One token; a named tuple because a lint makes hundreds of thousands of them."""

    kind: TokKind
    text: str
    start: int
    end: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else ""

    @property
    def ident(self) -> str:
        """The identifier this token names, case-folded as PostgreSQL does."""
        if self.kind == "qident":
            return fold_ident(literal_value(self.text), True)  # cut to 63 bytes, as PostgreSQL does
        return fold_ident(self.text, False)

    @property
    def string_value(self) -> str:
        if self.kind == "dollar":
            tag = self.text[: self.text.index("$", 1) + 1]
            closed = len(self.text) >= 2 * len(tag) and self.text.endswith(tag)
            return self.text[len(tag) : len(self.text) - len(tag) if closed else len(self.text)]
        return literal_value(self.text) if self.kind == "string" else self.text


def tokenize(sql: str) -> list[Tok]:
    """Tokens of a statement, comments and white space dropped.

    >>> [t.text for t in tokenize('ALTER TABLE "A" ADD x int -- c')]
    ['ALTER', 'TABLE', '"A"', 'ADD', 'x', 'int']
    """
    # A character no token starts with is kept (as an op), so nothing is silently lost.
    return significant_texts(sql, _AS_OP, Tok)


class Cursor:
    """Reads tokens left to right; keyword checks are case-insensitive."""

    def __init__(self, sql: str, tokens: list[Tok] | None = None, start: int = 0, stop: int | None = None):
        self.sql = sql
        self.toks = tokens if tokens is not None else tokenize(sql)
        self.pos = start
        self.stop = len(self.toks) if stop is None else stop

    def at_end(self) -> bool:
        return self.pos >= self.stop or (self.pos == self.stop - 1 and self.toks[self.pos].text == ";")

    def peek(self, offset: int = 0) -> Tok | None:
        i = self.pos + offset
        return self.toks[i] if i < self.stop else None

    def peek_upper(self, offset: int = 0) -> str:
        tok = self.peek(offset)
        return tok.upper if tok else ""

    def looking_at(self, *words: str) -> bool:
        """Whether the next tokens are these keywords (each may be ``A|B``)."""
        # The parsers' innermost call: index the tokens directly, and split each pattern once.
        toks, at, stop = self.toks, self.pos, self.stop
        for word in words:  # a loop, not all() over a generator: measurably faster
            # Tok.upper spelled out: a property call per token tried was a tenth of parsing.
            tok = toks[at] if at < stop else None
            if (tok.text.upper() if tok is not None and tok.kind == "word" else "") not in _alternatives(word):
                return False
            at += 1
        return True

    def accept(self, *words: str) -> bool:
        """Consume the keywords if they come next."""
        if self.looking_at(*words):
            self.pos += len(words)
            return True
        return False

    def accept_any(self, words: Iterable[str]) -> str | None:
        upper = self.peek_upper()
        if upper and upper in set(words):
            self.pos += 1
            return upper
        return None

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            got = self.peek()
            raise SyntaxProblem(f"expected {' '.join(words)} near {got.text if got else 'end of statement'!r}")

    def next(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise SyntaxProblem("unexpected end of statement")
        self.pos += 1
        return tok

    def identifier(self) -> str:
        tok = self.next()
        if tok.kind not in ("word", "qident"):
            raise SyntaxProblem(f"expected a name, found {tok.text!r}")
        return tok.ident

    def name(self) -> Name:
        """A possibly qualified name (``schema.table``; a leading catalog part is dropped)."""
        parts = [self.identifier()]
        while self.peek() is not None and self.peek().text == "." and self.peek(1) is not None:  # type: ignore[union-attr]
            self.pos += 1
            parts.append(self.identifier())
        return Name(parts[-1], parts[-2]) if len(parts) >= 2 else Name(parts[0])

    def skip_parens(self) -> str:
        """Consume a parenthesised group and return the text inside it."""
        return self.text_between(*self.parens_range())

    def parens_range(self) -> tuple[int, int]:
        """Consume a parenthesised group; the indices of the tokens inside it (first, stop)."""
        tok = self.next()
        if tok.text != "(":
            raise SyntaxProblem(f"expected '(' near {tok.text!r}")
        depth, first = 1, self.pos
        while depth:
            inner = self.next()
            if inner.text in "([":
                depth += 1
            elif inner.text in ")]":
                depth -= 1
        return first, self.pos - 1

    def within(self, first: int, stop: int) -> Cursor:
        """A cursor over tokens ``first`` to ``stop`` of this one (the same tokens, not a copy)."""
        return Cursor(self.sql, self.toks, first, stop)

    def text_between(self, first: int, stop: int) -> str:
        """Original SQL text of tokens ``first`` (inclusive) to ``stop`` (exclusive)."""
        if first >= stop:
            return ""
        return self.sql[self.toks[first].start : self.toks[stop - 1].end]

    def until(self, stop_words: Iterable[str], stop_ops: str = ",") -> str:
        """Consume tokens up to a top-level stop keyword or operator; return their text."""
        stops = set(stop_words)
        depth, first = 0, self.pos
        while self.pos < self.stop:
            tok = self.toks[self.pos]
            if depth == 0 and (tok.upper in stops or (tok.kind == "op" and tok.text in stop_ops)):
                break
            if tok.text in "([":
                depth += 1
            elif tok.text in ")]":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        return self.text_between(first, self.pos)

    def split_top_level(self) -> list[tuple[int, int]]:
        """Token ranges of the comma-separated items from here to the end."""
        ranges: list[tuple[int, int]] = []
        depth, first = 0, self.pos
        for i in range(self.pos, self.stop):
            text = self.toks[i].text
            if text in "([":
                depth += 1
            elif text in ")]":
                depth -= 1
            elif text == "," and depth == 0:
                ranges.append((first, i))
                first = i + 1
            elif text == ";" and depth == 0 and i == self.stop - 1:
                ranges.append((first, i))
                first = self.stop
        if first < self.stop:
            ranges.append((first, self.stop))
        self.pos = self.stop
        return [(a, b) for a, b in ranges if a < b]

    def identifier_list(self) -> tuple[str, ...]:
        """``(a, "B", c)`` → ``('a', 'B', 'c')``; expressions are kept as their text."""
        inner = self.skip_parens()
        sub = Cursor(inner)
        out: list[str] = []
        for a, b in sub.split_top_level():
            if (b - a == 1 and sub.toks[a].kind in ("word", "qident")) or (
                b - a >= 2
                and sub.toks[a].kind in ("word", "qident")
                and sub.toks[a + 1].upper
                in (
                    "ASC",
                    "DESC",
                    "NULLS",
                    "COLLATE",
                )
            ):
                out.append(sub.toks[a].ident)
            else:
                out.append(sub.text_between(a, b))
        return tuple(out)

    def rest(self) -> str:
        text = self.text_between(self.pos, self.stop)
        self.pos = self.stop
        return text.rstrip(";").strip()
