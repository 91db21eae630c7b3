"""Small builders for the SQL the planner generates: quoted names and one-line statements.

Everything generated goes through ``quote_ident``/``Name.sql``; user text is never re-quoted.
"""

from __future__ import annotations

import hashlib
import re

from bgmigrate.plan.phases import Step
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.quote import quote_literal
from bgmigrate.sql.tokens import tokenize

MAX_IDENT = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes
PREFIX = "bgm"  # every object the planner invents starts with it, so it is easy to find and drop
_HASH_LEN = 8
_UNSAFE_RUN = re.compile(r"[^a-z0-9_]+")


def q(name: str) -> str:
    """A quoted identifier (only where PostgreSQL needs quotes).

    >>> q("state"), q("Order")
    ('state', '"Order"')
    """
    return quote_ident(name)


def _stem(part: str) -> str:
    """``part`` reduced to lower-case ASCII letters, digits and single ``_``."""
    return _UNSAFE_RUN.sub("_", part.lower()).strip("_")


def literal(value: str) -> str:
    """A SQL string literal (``bgmigrate.sql.quote.quote_literal``: standard-conforming, never ``E''``).

    A label holding quotes, newlines or any other character reads back unchanged; text shown
    to people goes through ``bgmigrate.safetext.display`` instead.

    >>> print(literal("it's"))
    'it''s'
    """
    return quote_literal(value)


def short_name(*parts: str) -> str:
    """A name for an object the planner invents: ``parts`` joined by ``_``, safe and at most 63 bytes.

    Only lower-case ASCII letters, digits and ``_`` survive, so the name needs no quoting and
    carries nothing into comments or messages. When a part had to change, or the whole is too
    long (PostgreSQL would cut it at 63 bytes, silently), a hash of the exact parts is appended:
    two names that differ anywhere, even after byte 63, give different results.

    >>> short_name("bgm", "orders", "status")
    'bgm_orders_status'
    >>> short_name("bgm", "sync", "x\\nDROP TABLE t; --")
    'bgm_sync_x_drop_table_t_d8cb391d'
    >>> len(short_name("x" * 40, "y" * 40)), short_name("a" * 70) != short_name("a" * 71)
    (63, True)
    """
    parts = tuple(p for p in parts if p)
    stems = [_stem(p) for p in parts]
    name = "_".join(s for s in stems if s)
    if stems == list(parts) and len(name) <= MAX_IDENT:
        return name
    exact = "\x00".join(parts).encode("utf-8", "surrogatepass")  # NUL never occurs in a name
    digest = hashlib.sha256(exact).hexdigest()[:_HASH_LEN]
    return f"{name[: MAX_IDENT - _HASH_LEN - 1].rstrip('_')}_{digest}"


def in_schema_of(table: Name, name: str) -> str:
    """An object name qualified like the table (functions, indexes, sequences live in a schema).

    >>> in_schema_of(Name("orders", "shop"), "bgm_fn"), in_schema_of(Name("orders"), "Ix")
    ('shop.bgm_fn', '"Ix"')
    """
    return Name(name, table.schema).sql()


def rename_ident(sql: str, old: str, new: str) -> str:
    """SQL text with every identifier naming ``old`` replaced by ``new`` (strings untouched).

    >>> rename_ident("CHECK ((status <> 'status'))", "status", "state")
    "CHECK ((state <> 'status'))"
    """
    out: list[str] = []
    last = 0
    for tok in tokenize(sql):
        if tok.kind in ("word", "qident") and tok.ident == old:
            out.append(sql[last : tok.start])
            out.append(q(new))
            last = tok.end
    out.append(sql[last:])
    return "".join(out)


def alter(table: Name, action: str) -> str:
    """``ALTER TABLE <table> <action>``."""
    return f"ALTER TABLE {table.sql()} {action}"


def step(
    description: str,
    sql: str,
    *,
    table: Name | None = None,
    lock: str = "",
    rollback: str = "",
    transactional: bool = True,
    retry: str = "",
    line: int | None = None,
) -> Step:
    """A SQL step; ``lock`` names the lock it takes on an existing ``table``."""
    return Step(
        kind="sql",
        description=description,
        sql=sql,
        transactional=transactional,
        takes_lock=lock,
        table=table.sql() if table is not None else "",
        rollback_sql=rollback,
        retry_sql=retry,
        source_line=line,
    )
