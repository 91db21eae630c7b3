"""Object names as PostgreSQL resolves them, and identifier quoting for generated SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")

# Reserved words that must be quoted even when lower-case (PostgreSQL's reserved list).
_RESERVED = frozenset(
    ["all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "system_user", "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with", "authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze", "full", "ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps", "right", "similar", "tablesample", "verbose"]
)


def quote_ident(name: str) -> str:
    """Quote an identifier only when PostgreSQL needs it.

    >>> quote_ident("orders"), quote_ident("Order"), quote_ident("user"), quote_ident('a"b')
    ('orders', '"Order"', '"user"', '"a""b"')
    """
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def fold_ident(raw: str, quoted: bool) -> str:
    """The name PostgreSQL stores: unquoted identifiers fold to lower case.

    >>> fold_ident("Orders", False), fold_ident("Orders", True)
    ('orders', 'Orders')
    """
    return raw if quoted else raw.lower()


@dataclass(frozen=True, order=True)
class Name:
    """A possibly schema-qualified object name (already case-folded)."""

    name: str
    schema: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Lookup key with the default schema filled in."""
        return (self.schema or "public", self.name)

    def sql(self) -> str:
        """Quoted SQL form.

        >>> Name("Orders", "shop").sql()
        'shop."Orders"'
        """
        if self.schema:
            return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"
        return quote_ident(self.name)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

