"""Whether a data change's WHERE picks out a few known rows (``WHERE id = 3``, ``WHERE code IN ('a', 'b')``).

Read from the statement's tokens: the top-level WHERE is split on AND; a conjunct that compares a
column with a constant (``=`` or a short ``IN`` list of constants) binds that column. The change
is targeted when the bound columns cover a unique key of the table. An OR, a subquery or a
non-constant comparison binds nothing, so such a change is never taken as targeted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bgmigrate.sql.tokens import Tok, tokenize

# More constants than this in one IN list is a bulk change, not a targeted one.
MAX_IN_LIST = 100
_CONSTANT_KINDS = frozenset({"string", "number"})
_CONSTANT_WORDS = frozenset({"TRUE", "FALSE"})


def bound_columns(sql: str) -> set[str]:
    """Columns the top-level WHERE fixes to constants (lower-cased unless quoted).

    >>> sorted(bound_columns("UPDATE t SET a = 1 WHERE id = 3 AND t.kind IN ('x', 'y')"))
    ['id', 'kind']
    >>> bound_columns("DELETE FROM t WHERE id = 3 OR id = 4")
    set()
    """
    toks = [t for t in tokenize(sql) if t.text != ";"]
    where = _top_level_where(toks)
    if where is None:
        return set()
    conjuncts = _split_and(toks[where + 1 :])
    if conjuncts is None:
        return set()
    bound: set[str] = set()
    for conjunct in conjuncts:
        column = _bound_column(conjunct)
        if column is not None:
            bound.add(column)
    return bound


def is_targeted(sql: str, unique_keys: Iterable[Sequence[str]]) -> bool:
    """Whether the WHERE binds every column of one of ``unique_keys`` to constants."""
    bound = bound_columns(sql)
    return bool(bound) and any(key and set(key) <= bound for key in unique_keys)


def _top_level_where(toks: list[Tok]) -> int | None:
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind == "op" and tok.text in "([":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]":
            depth -= 1
        elif depth == 0 and tok.upper == "WHERE":
            return i
        elif depth == 0 and tok.upper == "RETURNING":
            return None
    return None


def _split_and(toks: list[Tok]) -> list[list[Tok]] | None:
    """The conjuncts of the condition, or None when it has a top-level OR (or is cut short)."""
    parts: list[list[Tok]] = [[]]
    depth = 0
    for tok in toks:
        if tok.kind == "op" and tok.text in "([":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]":
            depth -= 1
        if depth == 0 and tok.upper in ("OR", "RETURNING", "ORDER", "LIMIT"):
            return None if tok.upper == "OR" else parts
        if depth == 0 and tok.upper == "AND":
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _bound_column(toks: list[Tok]) -> str | None:
    """``col = constant``, ``constant = col`` or ``col IN (constants)``; else None."""
    if len(toks) >= 3 and toks[-2].text == "=" and _is_constant(toks[-1:]):
        return _column(toks[:-2])
    if len(toks) >= 3 and toks[1].text == "=" and _is_constant(toks[:1]):
        return _column(toks[2:])
    for i, tok in enumerate(toks):
        if tok.upper == "IN" and i > 0:
            column = _column(toks[:i])
            return column if column is not None and _constant_list(toks[i + 1 :]) else None
        if tok.text == "=" and i > 0:
            column = _column(toks[:i])
            return column if column is not None and _is_constant(toks[i + 1 :]) else None
    return None


def _column(toks: list[Tok]) -> str | None:
    """A column reference: ``c``, ``t.c`` or ``s.t.c`` (quoted parts kept as written)."""
    if not toks or len(toks) % 2 == 0:
        return None
    for i, tok in enumerate(toks):
        if i % 2 == 1 and tok.text != ".":
            return None
        if i % 2 == 0 and tok.kind not in ("word", "qident"):
            return None
    return toks[-1].ident


def _is_constant(toks: list[Tok]) -> bool:
    """A literal, possibly cast (``'x'::text``, ``-1``), or a psql variable / bind parameter."""
    if toks and toks[0].text in ("-", "+"):
        toks = toks[1:]
    if not toks:
        return False
    if toks[0].text == ":" and len(toks) >= 2 and toks[1].kind in ("word", "string", "qident"):
        toks = toks[1:]  # psql variable :name / :'name'
        toks = [toks[0]._replace(kind="string"), *toks[1:]]
    first = toks[0]
    if not (first.kind in _CONSTANT_KINDS or first.upper in _CONSTANT_WORDS or first.text.startswith("$")):
        return False
    rest = toks[1:]
    while rest:  # casts: ::type
        if rest[0].text != "::" or len(rest) < 2 or rest[1].kind not in ("word", "qident"):
            return False
        rest = rest[2:]
    return True


def _constant_list(toks: list[Tok]) -> bool:
    if len(toks) < 3 or toks[0].text != "(" or toks[-1].text != ")":
        return False
    inner = toks[1:-1]
    items: list[list[Tok]] = [[]]
    for tok in inner:
        if tok.text == ",":
            items.append([])
        else:
            items[-1].append(tok)
    return len(items) <= MAX_IN_LIST and all(_is_constant(item) for item in items)
