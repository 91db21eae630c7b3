"""The one place generated SQL quotes identifiers and string literals.

``quote_ident`` returns exactly what PostgreSQL's ``quote_ident()`` returns (tested against a
real server): a name is left bare only when it is lower-case ASCII letters, digits and ``_``,
does not start with a digit and is not a keyword PostgreSQL would misread; otherwise it is
double-quoted with every ``"`` doubled. Inside a quoted identifier PostgreSQL reads every
other character literally (newlines, ``--``, ``*/``, ``;``, ``$$``, backslashes), so a quoted
name can never end early. ``quote_literal`` relies on ``standard_conforming_strings = on``
(the default since 9.1, and what ``apply`` sets): only ``'`` is special, so no ``E''`` form is
ever needed. No PostgreSQL name or string holds NUL; one that reaches these functions from a
hostile file is quoted like any character (lint, which only shows the SQL, must not crash on
it), and the server, which reads a query only up to a NUL, rejects it as an unterminated
quoted name, string or body: it never runs.
"""

from __future__ import annotations

import re

_BARE = re.compile(r"[a-z_][a-z0-9_]*")

# Keywords quote_ident() quotes: every category but unreserved (pg_get_keywords() catcode <> 'U'),
# PostgreSQL 15, plus those later versions added, so a plan stays valid on a newer server.
_KEYWORDS = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    ]
)
LATER_KEYWORDS = frozenset(
    [
        "system_user",
        "json_array",
        "json_arrayagg",
        "json_object",
        "json_objectagg",
        "json",
        "json_exists",
        "json_query",
        "json_scalar",
        "json_serialize",
        "json_table",
        "json_value",
        "merge_action",
    ]
)
RESERVED = _KEYWORDS | LATER_KEYWORDS


def quote_ident(name: str) -> str:
    """The identifier as SQL text: bare when PostgreSQL reads it back unchanged, else double-quoted.

    >>> quote_ident("orders"), quote_ident("Order"), quote_ident("user"), quote_ident('a"b')
    ('orders', '"Order"', '"user"', '"a""b"')
    >>> quote_ident("x\\nDROP TABLE t; --")
    '"x\\nDROP TABLE t; --"'
    """
    if _BARE.fullmatch(name) and name not in RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str, schema: str | None = None) -> str:
    """A possibly schema-qualified name, each part quoted on its own.

    >>> quote_qualified("Orders", "shop"), quote_qualified("a.b")
    ('shop."Orders"', '"a.b"')
    """
    return f"{quote_ident(schema)}.{quote_ident(name)}" if schema else quote_ident(name)


def quote_literal(text: str) -> str:
    """A standard-conforming string literal (``standard_conforming_strings = on``).

    >>> quote_literal("it's"), quote_literal("a\\\\b")
    ("'it''s'", "'a\\\\b'")
    """
    return "'" + text.replace("'", "''") + "'"


def dollar_tag(body: str, tag: str = "bgmigrate") -> str:
    """A dollar-quote delimiter (``$tag$``) that does not occur in ``body``, so ``body`` cannot end it early.

    >>> dollar_tag("SELECT 1", ""), dollar_tag("SELECT '$$'", ""), dollar_tag('SELECT "x$b$y"', "b")
    ('$$', '$_1$', '$b_1$')
    """
    candidate, n = tag, 0
    while f"${candidate}$" in body or body.endswith(f"${candidate}"):
        n += 1
        candidate = f"{tag}_{n}"
    return f"${candidate}$"


def dollar_quote(body: str, tag: str = "bgmigrate") -> str:
    """``body`` between dollar quotes whose tag does not occur in it (a quoted name may hold ``$tag$``).

    >>> dollar_quote("SELECT 1", "b"), dollar_quote('SELECT "x$b$y"', "b")
    ('$b$SELECT 1$b$', '$b_1$SELECT "x$b$y"$b_1$')
    """
    delimiter = dollar_tag(body, tag)
    return f"{delimiter}{body}{delimiter}"
