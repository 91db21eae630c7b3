"""Small facts about SQL text: type names, default volatility, binary-coercible type changes."""

from __future__ import annotations

import functools
import re

# PostgreSQL's spellings of one type, so "int4" and "integer" compare equal.
_TYPE_ALIASES = {
    "int": "integer",
    "int4": "integer",
    "int2": "smallint",
    "int8": "bigint",
    "float8": "double precision",
    "double": "double precision",
    "float4": "real",
    "float": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "char": "character",
    "bpchar": "character",
    "decimal": "numeric",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "serial4": "serial",
    "serial8": "bigserial",
    "serial2": "smallserial",
}

SERIAL_TYPES = {"serial": "integer", "bigserial": "bigint", "smallserial": "smallint"}

# Functions whose value changes per row: a default that calls one rewrites the table.
_VOLATILE = re.compile(
    r"\b(random|gen_random_uuid|uuid_generate_v[14]\w*|uuid_generate_v4|clock_timestamp|"
    r"timeofday|nextval|txid_current|statement_timestamp|setseed|uuid_generate_v1mc|uuidv7|uuidv4)\s*\(",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)  # pure, and a folder repeats a few type names thousands of times
def normalize_type(text: str) -> str:
    """Canonical lower-case spelling of a type.

    >>> normalize_type("VARCHAR(20)"), normalize_type("int4"), normalize_type("TIMESTAMP WITH TIME ZONE")
    ('character varying(20)', 'integer', 'timestamptz')
    >>> normalize_type("numeric( 10 , 2 )"), normalize_type("text[]")
    ('numeric(10,2)', 'text[]')
    """
    t = " ".join(text.strip().lower().split())
    t = re.sub(r"\s*\(\s*", "(", t)
    t = re.sub(r"\s*,\s*", ",", t)
    t = re.sub(r"\s*\)", ")", t)
    array = ""
    while t.endswith("[]"):
        array += "[]"
        t = t[:-2].rstrip()
    t = re.sub(r"^pg_catalog\.", "", t)
    match = re.fullmatch(r"([a-z_][a-z0-9_ ]*?)(\(.*\))?", t)
    if match:
        base, args = match.group(1).strip(), match.group(2) or ""
        # "timestamp(3) with time zone" keeps its precision inside the canonical name.
        base = _TYPE_ALIASES.get(base, base)
        t = base + args
    t = re.sub(r"^timestamp\((\d+)\) with time zone$", r"timestamptz(\1)", t)
    t = re.sub(r"^timestamp\((\d+)\)( without time zone)?$", r"timestamp(\1)", t)
    return t + array


def is_volatile_default(expression: str | None) -> bool:
    """Whether a default is evaluated per row (and so rewrites the table when added).

    >>> is_volatile_default("gen_random_uuid()"), is_volatile_default("now()"), is_volatile_default("0")
    (True, False, False)
    """
    return bool(expression and _VOLATILE.search(expression))


def _base_and_args(type_text: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"(.+?)(?:\((.*)\))?", type_text)
    if not match:
        return type_text, []
    args = [a.strip() for a in (match.group(2) or "").split(",") if a.strip()]
    return match.group(1).strip(), args


def is_binary_coercible(old: str, new: str) -> bool:
    """Whether ALTER COLUMN TYPE from ``old`` to ``new`` needs no rewrite (nor index rebuild).

    >>> is_binary_coercible("varchar(10)", "varchar(20)"), is_binary_coercible("varchar(20)", "text")
    (True, True)
    >>> is_binary_coercible("varchar(20)", "varchar(10)"), is_binary_coercible("integer", "bigint")
    (False, False)
    >>> is_binary_coercible("numeric(10,2)", "numeric(12,2)"), is_binary_coercible("numeric(10,2)", "numeric")
    (True, True)
    """
    old_n, new_n = normalize_type(old), normalize_type(new)
    if old_n == new_n:
        return True
    old_base, old_args = _base_and_args(old_n)
    new_base, new_args = _base_and_args(new_n)
    text_like = {"character varying", "text"}
    if old_base in text_like and new_base == "text":
        return True
    if old_base == "character varying" and new_base == "character varying":
        return not new_args or (bool(old_args) and int(new_args[0]) >= int(old_args[0]))
    if old_base == "character" and new_base in text_like and not new_args:
        return False  # char(n) → text strips trailing blanks: a rewrite
    if old_base == "numeric" and new_base == "numeric":
        if not new_args:
            return True
        if len(old_args) == 0:
            return False
        old_scale = old_args[1] if len(old_args) > 1 else "0"
        new_scale = new_args[1] if len(new_args) > 1 else "0"
        return old_scale == new_scale and int(new_args[0]) >= int(old_args[0])
    if old_base in ("bit varying", "varbit") and new_base in ("bit varying", "varbit"):
        return not new_args or (bool(old_args) and int(new_args[0]) >= int(old_args[0]))
    if old_base in ("timestamp", "timestamptz", "time", "interval") and old_base == new_base:
        # Raising precision, or dropping the limit, keeps the stored values as they are.
        if not new_args:
            return True
        return bool(old_args) and int(new_args[0]) >= int(old_args[0])
    # timestamp → timestamptz is coercible only when the session time zone is UTC (PG ≥ 12);
    # that depends on the server, so it is not counted here.
    return False


_NOT_NULL_CHECK = re.compile(
    r'^\(*\s*(?P<col>"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s+IS\s+NOT\s+NULL\s*\)*$', re.IGNORECASE
)


def not_null_check_column(expression: str) -> str | None:
    """The column a CHECK expression of the form ``col IS NOT NULL`` is about.

    >>> not_null_check_column("(status IS NOT NULL)"), not_null_check_column('"Status" is not null')
    ('status', 'Status')
    >>> not_null_check_column("status IS NOT NULL AND x > 0") is None
    True
    """
    match = _NOT_NULL_CHECK.match(expression.strip())
    if not match:
        return None
    col = match.group("col")
    if col.startswith('"'):
        return col[1:-1].replace('""', '"')
    return col.lower()


_NULL_EXPRESSION = re.compile(r"\s*(\(\s*)*NULL(\s*\))*(\s*::\s*[\w\s.\"()\[\],]+)?\s*", re.I)


def is_null_expression(text: str) -> bool:
    """Whether a default expression is just NULL (``NULL``, ``(NULL)``, ``NULL::text``): no default.

    >>> is_null_expression("NULL::character varying"), is_null_expression("(null)"), is_null_expression("0")
    (True, True, False)
    """
    return _NULL_EXPRESSION.fullmatch(text) is not None
