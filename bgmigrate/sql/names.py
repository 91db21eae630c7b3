"""Object names as PostgreSQL resolves them (quoting lives in ``bgmigrate.sql.quote``)."""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.sql.quote import quote_ident, quote_qualified

__all__ = ["Name", "clip", "fold_ascii", "fold_ident", "quote_ident", "split_qualified"]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
NAMEDATALEN = 64


def fold_ascii(text: str) -> str:
    """``text`` with its ASCII letters in lower case and every other character as it is, as
    PostgreSQL folds an unquoted identifier (``fold_ident`` also cuts it to 63 bytes).

    >>> fold_ascii("ÄBC d")
    'Äbc d'
    """
    return text.translate(_ASCII_LOWER)


def fold_ident(raw: str, quoted: bool) -> str:
    """The name PostgreSQL stores: unquoted identifiers fold ASCII letters to lower case (in UTF-8
    databases nothing else), and every identifier is cut to 63 bytes, never inside a character.

    >>> fold_ident("Orders", False), fold_ident("Orders", True), fold_ident("ÄB", False)
    ('orders', 'Orders', 'Äb')
    >>> len(fold_ident("é" * 40, True).encode())
    62
    """
    if raw.isascii():  # the common case, one byte per character (this runs per token)
        name = raw if quoted else raw.lower()
        return name if len(name) < NAMEDATALEN else name[: NAMEDATALEN - 1]
    return clip(raw if quoted else fold_ascii(raw), NAMEDATALEN - 1)


def clip(text: str, max_bytes: int) -> str:
    """The longest start of ``text`` that fits ``max_bytes`` UTF-8 bytes without splitting a character.

    >>> clip("abc", 2), clip("aé", 2), clip("aé", 3)
    ('ab', 'a', 'aé')
    """
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", "ignore")


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
        """``schema.name`` as people read it; a part holding ``.`` or ``"`` is quoted so the text splits back.

        >>> str(Name("orders", "shop")), str(Name("a.b")), split_qualified(str(Name("a.b", "s.x")))
        ('shop.orders', '"a.b"', ('s.x', 'a.b'))
        """
        name = _readable(self.name)
        return f"{_readable(self.schema)}.{name}" if self.schema else name


def _readable(part: str) -> str:
    return quote_ident(part) if "." in part or '"' in part else part


def split_qualified(text: str) -> tuple[str | None, str]:
    """(schema, name) from the text ``str(Name)`` gives (unquoted parts verbatim, no case folding).

    >>> split_qualified("shop.Orders"), split_qualified('"a.b"'), split_qualified('s."x""y.z"')
    (('shop', 'Orders'), (None, 'a.b'), ('s', 'x"y.z'))
    """
    parts, current, quoted, i = [], [], False, 0
    while i < len(text):
        char = text[i]
        if char == '"' and quoted and text[i + 1 : i + 2] == '"':
            current.append('"')
            i += 1
        elif char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    schema, _, name = text.partition(".")  # not text we wrote: read it as before
    return schema, name
