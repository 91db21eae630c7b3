"""Object names as PostgreSQL resolves them (quoting lives in ``bgmigrate.sqlquote``)."""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.sqlquote import quote_ident, quote_qualified

__all__ = ["Name", "fold_ident", "quote_ident"]


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
        return quote_qualified(self.name, self.schema)

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name
