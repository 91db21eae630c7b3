"""Type changes that can lose data, and the SQL test that a value survives one.

``varchar(50) → varchar(20)``, ``numeric(10,3) → numeric(10,2)``, ``bigint → integer``,
``timestamptz → date``, ``text → varchar(n)``: PostgreSQL's explicit cast truncates or rounds
silently (``CAST('abcdef' AS varchar(3))`` is ``'abc'``), and even an assignment rounds a
numeric's scale and drops a timestamp's time. The change-type recipe converts with such casts,
so for these it also needs ``fits``: a predicate over the old value that holds exactly when the
conversion keeps it. The plan counts the rows failing it before expand, the sync trigger raises
instead of converting such a value, and the backfill never converts one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bgmigrate.sql.type_facts import normalize_type

_INTEGERS = {"smallint": (-(2**15), 2**15 - 1), "integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}
_TIMES = ("timestamp", "timestamptz", "time", "timetz", "interval")


@dataclass(frozen=True)
class _Type:
    """A type read into its base name, arguments and arrayness."""

    base: str
    args: tuple[int, ...]  # length, precision / scale; () when none
    array: bool = False


def _parse(text: str) -> _Type | None:
    norm = normalize_type(text)
    array = norm.endswith("[]")
    match = re.fullmatch(r"([a-z ]+?)(?:\(([\d, ]+)\))?(\[\])*", norm)
    if match is None:
        return None
    args = tuple(int(a) for a in (match.group(2) or "").split(",") if a.strip())
    return _Type(match.group(1).strip(), args, array)


def _within_integer(value: str, target: str, source: _Type | None) -> list[str]:
    lo, hi = _INTEGERS[target]
    if source is not None and source.base in _INTEGERS and _INTEGERS[source.base][1] <= hi:
        return []
    # As a range containment, not BETWEEN: a backfill's WHERE holding BETWEEN would read as a key range to lint.
    number = f"CAST({value} AS numeric)"
    within = f"numrange({lo}, {hi}, '[]') @> {number}"
    if source is not None and source.base in _INTEGERS:
        return [within]
    return [within, f"{number} = trunc({number})"]  # numeric, float and USING values round on the way in


def _within_numeric(value: str, target: _Type, source: _Type | None) -> list[str]:
    if not target.args:
        return []  # unconstrained numeric holds any number
    precision, scale = target.args[0], target.args[1] if len(target.args) > 1 else 0
    if source is not None and source.base == "numeric" and source.args:
        s_precision, s_scale = source.args[0], source.args[1] if len(source.args) > 1 else 0
        if s_scale <= scale and s_precision - s_scale <= precision - scale:
            return []
    if source is not None and source.base in _INTEGERS and len(str(_INTEGERS[source.base][1])) <= precision - scale:
        return []
    number = f"CAST({value} AS numeric)"
    return [f"round({number}, {scale}) = {number}", f"abs({number}) < 1e{precision - scale}"]


def _tests(value: str, old: _Type | None, new: _Type) -> list[str]:
    """The conditions for ``value`` (of type ``old``; None when unknown) to convert to ``new`` unchanged."""
    if new.array or (old is not None and old.array):
        return []
    if new.base in ("character varying", "character") and new.args:
        wider = (
            old is not None
            and old.base in ("character varying", "character")
            and old.args
            and old.args[0] <= new.args[0]
        )
        return [] if wider else [f"char_length(CAST({value} AS text)) <= {new.args[0]}"]
    if new.base in _INTEGERS:
        return _within_integer(value, new.base, old)
    if new.base == "numeric":
        return _within_numeric(value, new, old)
    if old is None:
        return []
    if new.base == "date" and old.base in ("timestamp", "timestamptz"):
        return [f"CAST(CAST({value} AS date) AS {old.base}) = {value}"]
    if new.base in _TIMES and old.base == new.base and new.args and (not old.args or old.args[0] > new.args[0]):
        return [f"CAST({value} AS {new.base}({new.args[0]})) = {value}"]
    if new.base == "real" and old.base in ("double precision", "numeric", *_INTEGERS):
        return [f"CAST(CAST({value} AS real) AS {old.base}) = {value}"]
    if new.base == "double precision" and old.base in ("numeric", "bigint"):
        return [f"CAST(CAST({value} AS double precision) AS {old.base}) = {value}"]
    return []


def fits(value: str, old_type: str | None, new_type: str) -> str | None:
    """A predicate true when ``value`` converts to ``new_type`` without loss; None when every value does.

    ``old_type`` None means the value's type is not known (a USING expression): only what the
    target alone decides is tested. A NULL value makes the predicate NULL (it fits).

    >>> fits("code", "character varying(50)", "varchar(20)")
    '(char_length(CAST(code AS text)) <= 20)'
    >>> fits("n", "bigint", "integer")
    "(numrange(-2147483648, 2147483647, '[]') @> CAST(n AS numeric))"
    >>> fits("p", "numeric(10,3)", "numeric(10,2)")
    '(round(CAST(p AS numeric), 2) = CAST(p AS numeric) AND abs(CAST(p AS numeric)) < 1e8)'
    >>> fits("at", "timestamptz", "date")
    '(CAST(CAST(at AS date) AS timestamptz) = at)'
    >>> fits("n", "integer", "bigint") is None, fits("c", "varchar(20)", "varchar(50)") is None
    (True, True)
    >>> fits("tags", "varchar(50)[]", "varchar(20)[]")
    '((SELECT bool_and(char_length(CAST(bgm_element AS text)) <= 20) FROM unnest(tags) AS bgm_element) IS NOT FALSE)'

    """
    new = _parse(new_type)
    if new is None:
        return None
    old = _parse(old_type) if old_type is not None else None
    if new.array and (old is None or old.array):
        # Each element converts like a scalar (an array's explicit cast truncates each one too).
        element = "bgm_element"
        scalar = _tests(element, replace(old, array=False) if old else None, replace(new, array=False))
        if not scalar:
            return None
        return f"((SELECT bool_and({' AND '.join(scalar)}) FROM unnest({value}) AS {element}) IS NOT FALSE)"
    tests = _tests(value, old, new)
    return f"({' AND '.join(tests)})" if tests else None
