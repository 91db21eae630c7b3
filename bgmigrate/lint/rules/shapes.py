"""The shape callers see of a view or function: its output columns, its signature.

A view or function dropped and created again in one migration is judged by what changes
between its old and new shapes: a column the old version selects that is gone, renamed or of
another type, a signature its calls no longer match. Read from the CREATE statements' text
with the tokenizer; where a select list cannot be read (``SELECT *``, an expression without a
name), the shape is None and the change is reported as not analysed, never as harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.sql.tokens import Cursor, SyntaxProblem, Tok, tokenize
from bgmigrate.sql.type_facts import normalize_type

# Words that end a query's select list at the top level.
_LIST_ENDS = frozenset(
    {"FROM", "INTO", "WHERE", "GROUP", "HAVING", "WINDOW", "UNION", "INTERSECT", "EXCEPT", "ORDER", "LIMIT",
     "OFFSET", "FETCH", "FOR"}
)  # fmt: skip
# What may follow ``WITH`` after a view's query (``WITH CHECK OPTION``, ``WITH NO DATA``), unlike
# ``::timestamp with time zone`` inside it.
_TRAILING_WITH = frozenset({"CHECK", "CASCADED", "LOCAL", "NO", "DATA"})
# Words that can end an expression, so a name after them is not an alias (``x IS NULL``).
# The last words of multi-word types (``::timestamp with time zone``) are not aliases either.
_NOT_ALIASES = frozenset({"END", "NULL", "TRUE", "FALSE", "DISTINCT", "ALL", "ASC", "DESC", "ZONE", "PRECISION",
                          "VARYING"})  # fmt: skip
_TYPE_PUNCTUATION = frozenset({"(", ")", "[", "]", ",", "."})
_ROUTINE_CLAUSES = ("AS", "LANGUAGE", "IMMUTABLE", "STABLE", "VOLATILE", "STRICT", "SECURITY", "PARALLEL",
                    "COST", "ROWS", "SET", "RETURN", "BEGIN", "WINDOW", "LEAKPROOF", "CALLED", "SUPPORT",
                    "TRANSFORM", "EXTERNAL", "NOT", "RESET")  # fmt: skip


@dataclass(frozen=True)
class ViewColumn:
    """One output column: its name, the expression behind it, its type when a cast says it."""

    name: str
    expression: str
    type: str | None = None


def view_columns(create_sql: str) -> tuple[ViewColumn, ...] | None:
    """The output columns of ``CREATE [OR REPLACE] VIEW … AS SELECT …``; None when not readable.

    >>> [(c.name, c.type) for c in view_columns("CREATE VIEW v AS SELECT u.id, lower(email) AS e, n::int FROM u")]
    [('id', None), ('e', None), ('n', 'integer')]
    >>> view_columns("CREATE VIEW v AS SELECT * FROM u") is None
    True
    """
    try:
        return _view_columns(create_sql)
    except (SyntaxProblem, IndexError):
        return None


def _view_columns(sql: str) -> tuple[ViewColumn, ...] | None:
    cur = Cursor(sql)
    while not cur.at_end() and not cur.accept("VIEW"):
        cur.next()
    cur.accept("IF", "NOT", "EXISTS")
    cur.name()
    names = cur.identifier_list() if _at_paren(cur) else ()
    if cur.accept("WITH"):
        cur.skip_parens()
    cur.expect("AS")
    items = _select_items(cur)
    if items is None or any(cur.toks[b - 1].text == "*" for a, b in items):
        return None  # SELECT *, t.*: the columns depend on the tables then, not on this text
    columns = [_item_column(cur, a, b) for a, b in items]
    for i, name in enumerate(names[: len(columns)]):
        columns[i] = ViewColumn(name, columns[i].expression, columns[i].type)  # the view's own list names them
    return tuple(columns) if all(c.name for c in columns) else None


def _at_paren(cur: Cursor) -> bool:
    tok = cur.peek()
    return tok is not None and tok.text == "("


def _select_items(cur: Cursor) -> list[tuple[int, int]] | None:
    """Token ranges of the first SELECT's items (after any WITH queries), or None."""
    while _at_paren(cur):
        cur.next()
    if cur.accept("WITH"):
        cur.accept("RECURSIVE")
        while True:
            cur.identifier()
            if _at_paren(cur):
                cur.skip_parens()
            cur.expect("AS")
            cur.accept("NOT")
            cur.accept("MATERIALIZED")
            cur.skip_parens()
            if not cur.accept(","):
                break
    if not cur.accept("SELECT"):
        return None  # VALUES, TABLE t: no names of their own
    if cur.accept("DISTINCT") and cur.accept("ON"):
        cur.skip_parens()
    cur.accept("ALL")
    first = cur.pos
    cur.until(_LIST_ENDS, stop_ops=";")
    stop = next(
        (
            i
            for i in range(first, cur.pos - 1)
            if cur.toks[i].upper == "WITH" and cur.toks[i + 1].upper in _TRAILING_WITH
        ),
        cur.pos,
    )
    return cur.within(first, stop).split_top_level()


def _item_column(cur: Cursor, a: int, b: int) -> ViewColumn:
    """One select item as a column; its name is empty when PostgreSQL would make one up."""
    toks = cur.toks[a:b]
    expr, alias = toks, None
    if len(toks) >= 3 and toks[-2].upper == "AS" and toks[-1].kind in ("word", "qident"):
        expr, alias = toks[:-2], toks[-1].ident
    elif len(toks) >= 2 and _bare_alias(toks[-2], toks[-1]):
        expr, alias = toks[:-1], toks[-1].ident
    kind = _cast_type(cur, expr)
    name = alias or _implicit_name(expr) or ""
    return ViewColumn(name, " ".join(t.upper if t.kind == "word" else t.text for t in expr), kind)


def _bare_alias(before: Tok, last: Tok) -> bool:
    """``count(*) n``, ``t.a b``: a name right after a finished expression is its alias."""
    if last.kind not in ("word", "qident") or last.upper in _NOT_ALIASES:
        return False
    return before.text not in (".", "::") and (before.kind in ("word", "qident", "number", "string")
                                                or before.text in (")", "]"))  # fmt: skip


def _cast_type(cur: Cursor, expr: list[Tok]) -> str | None:
    """The type a trailing ``::type`` or a whole ``CAST(… AS type)`` gives the expression."""
    for i in range(len(expr) - 1, 0, -1):
        if expr[i].text == "::":
            after = expr[i + 1 :]
            depth = sum(1 if t.text in "([" else -1 if t.text in ")]" else 0 for t in after)
            if depth != 0:
                continue  # a cast inside parentheses: not the item's own type
            if not after or any(t.kind == "op" and t.text not in _TYPE_PUNCTUATION for t in after):
                return None  # ``a::int + b``: an expression after the cast, of a type not written
            return normalize_type(cur.sql[after[0].start : after[-1].end])
    if len(expr) >= 6 and expr[0].upper == "CAST" and expr[1].text == "(" and expr[-1].text == ")":
        inner = cur.within(cur.toks.index(expr[2]), cur.toks.index(expr[-1]))
        inner.until(("AS",), stop_ops="")
        if inner.accept("AS"):
            return normalize_type(inner.text_between(inner.pos, inner.stop))
    return None


def _implicit_name(expr: list[Tok]) -> str | None:
    """The name PostgreSQL gives an unaliased item: a column's own, a function's; else unknown."""
    for i, tok in enumerate(expr):
        if tok.text == "::":
            expr = expr[:i]
            break
    if not expr:
        return None
    if all(t.kind in ("word", "qident") for t in expr[::2]) and all(t.text == "." for t in expr[1::2]):
        return expr[-1].ident
    if expr[0].kind in ("word", "qident") and len(expr) > 1 and expr[1].text == "(" and expr[-1].text == ")":
        if expr[0].upper == "CAST" and len(expr) > 2:
            return _implicit_name(expr[2:3])
        return expr[0].ident
    return None


# ---- functions ---------------------------------------------------------------------------------------


def return_type(create_sql: str) -> str | None:
    """What ``CREATE FUNCTION … RETURNS`` says the function returns (normalized), or None.

    >>> return_type("CREATE FUNCTION f(a int) RETURNS SETOF numeric(10, 2) LANGUAGE sql AS $$ $$")
    'setof numeric(10,2)'
    >>> return_type("CREATE FUNCTION f() RETURNS TABLE (a int, b text) AS $$ $$ LANGUAGE sql")
    'table(a int,b text)'
    """
    toks = tokenize(create_sql)
    for i, tok in enumerate(toks):
        if tok.upper == "RETURNS":
            cur = Cursor(create_sql, toks, i + 1)
            text = cur.until(_ROUTINE_CLAUSES, stop_ops=";")
            if not text or text.upper().startswith("NULL ON NULL"):
                return None  # RETURNS NULL ON NULL INPUT: a routine attribute, not a type
            return normalize_type(text)
    return None
