"""The names PostgreSQL gives constraints and indexes the user did not name.

A rewrite that names them explicitly must pick the same names, or the schema it leaves
differs from the one the original migration would have left.
"""

from __future__ import annotations

from collections.abc import Sequence

from bgmigrate.sql.names import NAMEDATALEN, clip
from bgmigrate.sql.tokens import tokenize

__all__ = ["NAMEDATALEN", "constraint_name", "index_name", "object_name"]


def object_name(name1: str, name2: str | None, label: str | None) -> str:
    """PostgreSQL's ``makeObjectName``: shorten the longer part until the whole fits 63 bytes.

    Lengths are counted in bytes, as PostgreSQL counts them, and a part is never cut inside a
    multibyte character.

    >>> object_name("orders", "customer_id", "fkey")
    'orders_customer_id_fkey'
    >>> len(object_name("a" * 50, "b" * 50, "idx"))
    63
    >>> len(object_name("a" + "é" * 40, None, "pkey").encode())  # 58 bytes free: 57 without splitting é
    62
    """
    overhead = (len(label) + 1 if label else 0) + (1 if name2 else 0)
    avail = NAMEDATALEN - 1 - overhead
    n1 = len(name1.encode("utf-8", "surrogatepass"))
    n2 = len((name2 or "").encode("utf-8", "surrogatepass"))
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    parts = [clip(name1, n1)] + ([clip(name2, n2)] if name2 else []) + ([label] if label else [])
    return "_".join(parts)


def _column_label(column: str) -> str:
    """What an index key contributes to the index name: the column, a function's name, or ``expr``."""
    if "(" not in column:  # a column's name (index expressions are calls or parenthesised)
        return column
    toks = tokenize(column)
    if len(toks) > 1 and toks[0].kind in ("word", "qident") and toks[1].text == "(":
        return toks[0].ident
    return "expr"


def index_name(table: str, columns: Sequence[str]) -> str:
    """The name of an unnamed index.

    >>> index_name("users", ("lower(email)",)), index_name("orders", ("a", "b"))
    ('users_lower_idx', 'orders_a_b_idx')
    """
    return object_name(table, "_".join(_column_label(c) for c in columns) or None, "idx")


def constraint_name(table: str, kind: str, columns: Sequence[str]) -> str:
    """The name of an unnamed table constraint (a CHECK is named after its first column).

    >>> constraint_name("orders", "unique", ("a", "b")), constraint_name("orders", "primary_key", ("id",))
    ('orders_a_b_key', 'orders_pkey')
    """
    if kind == "primary_key":
        return object_name(table, None, "pkey")
    label = {"unique": "key", "foreign_key": "fkey", "check": "check", "exclude": "excl"}.get(kind, kind)
    return object_name(table, "_".join(columns) or None, label)
