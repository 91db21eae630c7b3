"""Small builders for the SQL the planner generates: quoted names and one-line statements.

Everything generated goes through ``quote_ident``/``Name.sql``; user text is never re-quoted.
"""

from __future__ import annotations

import hashlib

from bgmigrate.names import Name, quote_ident
from bgmigrate.plan.model import Step
from bgmigrate.sql_tokens import tokenize

MAX_IDENT = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes
PREFIX = "bgm"  # every object the planner invents starts with it, so it is easy to find and drop


def q(name: str) -> str:
    """A quoted identifier (only where PostgreSQL needs quotes).

    >>> q("state"), q("Order")
    ('state', '"Order"')
    """
    return quote_ident(name)


def short_name(*parts: str) -> str:
    """Join ``parts`` with ``_`` into an identifier that fits in 63 bytes.

    Too long a name keeps its start and gets a hash of the whole, so two long names differ.

    >>> short_name("orders", "status", "state")
    'orders_status_state'
    >>> len(short_name("x" * 40, "y" * 40).encode())
    63
    """
    name = "_".join(p for p in parts if p)
    if len(name.encode()) <= MAX_IDENT:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: MAX_IDENT - 9].decode(errors="ignore")
    return f"{head}_{digest}"


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
