"""Strict reading: text the keyword parsers do not fully understand is never taken as benign.

A parser that stops reading early and calls the statement understood would accept garbage after
a valid clause (``ALTER TABLE t DROP COLUMN a b c``) or an action it never heard of. Such text
raises :class:`NotUnderstood`; the statement then becomes an ``Unparsed`` operation (reported by
``unparsed-statement``), not a syntax error: PostgreSQL may well accept it.
"""

from __future__ import annotations

import functools
import itertools
import re

from bgmigrate.sql.tokens import Cursor, SyntaxProblem, Tok


class NotUnderstood(SyntaxProblem):
    """Text bgmigrate cannot read fully; the statement is reported as not analysed."""


def expect_end(cur: Cursor, after: str) -> None:
    """Raise :class:`NotUnderstood` unless the cursor's range is used up."""
    if not cur.at_end():
        tok = cur.peek()
        raise NotUnderstood(f"unexpected {tok.text if tok else ''!r} after {after}")


def skip_group(cur: Cursor, what: str) -> str:
    """A parenthesised group that must come next (``WITH (...)``, ``INCLUDE (...)``)."""
    tok = cur.peek()
    if tok is None or tok.text != "(":
        raise NotUnderstood(f"expected '(' after {what}")
    return cur.skip_parens()


def role_name(cur: Cursor) -> str:
    """A role: a name or CURRENT_USER / SESSION_USER / CURRENT_ROLE (all words)."""
    tok = cur.next()
    if tok.kind not in ("word", "qident"):
        raise NotUnderstood(f"expected a role name, found {tok.text!r}")
    return tok.ident


def referential_actions(cur: Cursor) -> None:
    """``[MATCH FULL|PARTIAL|SIMPLE] [ON DELETE action] [ON UPDATE action]``, in any order."""
    while True:
        if cur.accept("MATCH"):
            if not cur.accept_any(("FULL", "PARTIAL", "SIMPLE")):
                raise NotUnderstood("expected FULL, PARTIAL or SIMPLE after MATCH")
        elif cur.accept("ON", "DELETE") or cur.accept("ON", "UPDATE"):
            _referential_action(cur)
        else:
            return


def _referential_action(cur: Cursor) -> None:
    if cur.accept("NO", "ACTION") or cur.accept("RESTRICT") or cur.accept("CASCADE"):
        return
    if cur.accept("SET", "NULL") or cur.accept("SET", "DEFAULT"):
        tok = cur.peek()
        if tok is not None and tok.text == "(":  # PostgreSQL 15: SET NULL (columns)
            cur.skip_parens()
        return
    raise NotUnderstood("expected NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT")


def constraint_attributes(cur: Cursor) -> bool:
    """DEFERRABLE / NOT DEFERRABLE / INITIALLY … / NOT VALID / NO INHERIT / [NOT] ENFORCED.

    Returns whether NOT VALID was among them; stops at the first word that is none of these.
    """
    not_valid = False
    while True:
        if cur.accept("NOT", "VALID"):
            not_valid = True
        elif (
            cur.accept("DEFERRABLE")
            or cur.accept("NOT", "DEFERRABLE")
            or cur.accept("INITIALLY", "DEFERRED")
            or cur.accept("INITIALLY", "IMMEDIATE")
            or cur.accept("NO", "INHERIT")
            or cur.accept("NOT", "ENFORCED")
            or cur.accept("ENFORCED")
        ):
            pass
        else:
            return not_valid


def index_parameters(cur: Cursor) -> None:
    """``[INCLUDE (...)] [WITH (...)] [USING INDEX TABLESPACE name]`` of a UNIQUE/PRIMARY KEY/EXCLUDE."""
    if cur.accept("INCLUDE"):
        skip_group(cur, "INCLUDE")
    if cur.accept("WITH"):
        skip_group(cur, "WITH")
    if cur.accept("USING", "INDEX", "TABLESPACE"):
        cur.identifier()


def column_other(cur: Cursor) -> None:
    """The ALTER COLUMN forms with no compatibility effect, each read to its end."""
    if cur.accept("SET", "STATISTICS"):
        cur.next()
    elif cur.accept("SET", "STORAGE") or cur.accept("SET", "COMPRESSION"):
        cur.identifier()
    elif cur.accept("SET", "EXPRESSION", "AS"):
        skip_group(cur, "SET EXPRESSION AS")
    elif cur.accept("SET") or cur.accept("RESET") or cur.accept("OPTIONS"):
        if cur.peek_upper() == "GENERATED" or cur.peek_upper() not in ("", "("):
            _identity_options(cur)
        else:
            skip_group(cur, "SET")
    elif cur.accept("ADD", "GENERATED"):
        if not (cur.accept("ALWAYS") or cur.accept("BY", "DEFAULT")):
            raise NotUnderstood("expected ALWAYS or BY DEFAULT after ADD GENERATED")
        cur.expect("AS", "IDENTITY")
        if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
            cur.skip_parens()
    elif cur.accept("DROP", "IDENTITY") or cur.accept("DROP", "EXPRESSION"):
        cur.accept("IF", "EXISTS")
    elif cur.looking_at("RESTART"):
        _identity_options(cur)
    else:
        tok = cur.peek()
        raise NotUnderstood(f"unknown ALTER COLUMN form near {tok.text if tok else 'end of statement'!r}")


def _identity_options(cur: Cursor) -> None:
    """SET GENERATED … / SET INCREMENT BY n / RESTART [WITH n] …: sequence options of an identity."""
    while not cur.at_end():
        if cur.accept("SET"):
            continue
        if cur.accept("GENERATED"):
            if not (cur.accept("ALWAYS") or cur.accept("BY", "DEFAULT")):
                raise NotUnderstood("expected ALWAYS or BY DEFAULT after SET GENERATED")
        elif cur.accept("RESTART"):
            cur.accept("WITH")
            if cur.peek() is not None and cur.peek().kind == "number":  # type: ignore[union-attr]
                cur.next()
        elif cur.accept("INCREMENT"):
            cur.accept("BY")
            _number(cur)
        elif cur.accept_any(("MINVALUE", "MAXVALUE", "START", "CACHE")):
            cur.accept("WITH")
            _number(cur)
        elif (
            cur.accept("NO", "MINVALUE")
            or cur.accept("NO", "MAXVALUE")
            or cur.accept("NO", "CYCLE")
            or cur.accept("CYCLE")
        ):
            pass
        else:
            tok = cur.peek()
            raise NotUnderstood(f"unknown identity option near {tok.text if tok else ''!r}")


def _number(cur: Cursor) -> None:
    if cur.peek() is not None and cur.peek().text in ("-", "+"):  # type: ignore[union-attr]
        cur.next()
    tok = cur.next()
    if tok.kind != "number":
        raise NotUnderstood(f"expected a number, found {tok.text!r}")


# ---- types and expressions ------------------------------------------------------------------

_INTERVAL_FIELDS = ("YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND")


# A pure function of the text, and a folder repeats a few type names thousands of times (a
# type that fails is not cached: it raises afresh each time).
@functools.lru_cache(maxsize=4096)
def check_type(text: str) -> None:
    """Raise :class:`NotUnderstood` unless ``text`` reads as one PostgreSQL type name (see ``_check_type``)."""
    try:
        _check_type(text)
    except NotUnderstood:
        raise
    except SyntaxProblem as exc:
        raise NotUnderstood(f"the type {text.strip()!r}: {exc}") from None


def _check_type(text: str) -> None:
    """Raise :class:`NotUnderstood` unless ``text`` reads as one PostgreSQL type name.

    >>> check_type('timestamp(3) with time zone[]'); check_type('public.citext'); check_type('"my schema".t')
    >>> check_type('text text')
    Traceback (most recent call last):
    bgmigrate.parse.strict.NotUnderstood: unexpected 'text' after the type 'text text'
    """
    cur = Cursor(text)
    first = cur.peek_upper()
    if cur.accept("DOUBLE"):
        cur.expect("PRECISION")
    elif cur.accept("NATIONAL"):
        cur.accept_any(("CHARACTER", "CHAR")) or _fail("expected CHARACTER after NATIONAL")
        cur.accept("VARYING")
    elif cur.accept_any(("CHARACTER", "CHAR", "NCHAR", "BIT")):
        cur.accept("VARYING")
    elif cur.accept("INTERVAL"):
        _interval_fields(cur)
    else:
        cur.name()
    if cur.peek() is not None and cur.peek().text == "(":  # type: ignore[union-attr]
        opening = cur.pos
        cur.skip_parens()
        check_items(cur, opening, "type modifier", plain="single")
    if first in ("TIME", "TIMESTAMP") and (cur.accept("WITH", "TIME", "ZONE") or cur.accept("WITHOUT", "TIME", "ZONE")):
        pass
    _array_bounds(cur)
    expect_end(cur, f"the type {text.strip()!r}")


def _interval_fields(cur: Cursor) -> None:
    if cur.accept_any(_INTERVAL_FIELDS) and cur.accept("TO"):
        cur.accept_any(_INTERVAL_FIELDS) or _fail("expected a field after TO")


def _array_bounds(cur: Cursor) -> None:
    if cur.accept("ARRAY"):
        if cur.peek() is not None and cur.peek().text == "[":  # type: ignore[union-attr]
            _bracket(cur)
        return
    while cur.peek() is not None and cur.peek().text == "[":  # type: ignore[union-attr]
        _bracket(cur)


def _bracket(cur: Cursor) -> None:
    cur.next()
    if cur.peek() is not None and cur.peek().kind == "number":  # type: ignore[union-attr]
        cur.next()
    if cur.next().text != "]":
        raise NotUnderstood("expected ']' in an array type")


def _fail(message: str) -> bool:
    raise NotUnderstood(message)


# Keywords that may stand next to an operand in an expression (a AND b, x IS NOT NULL, …).
_EXPRESSION_WORDS = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "IS",
        "NULL",
        "TRUE",
        "FALSE",
        "IN",
        "LIKE",
        "ILIKE",
        "SIMILAR",
        "TO",
        "BETWEEN",
        "SYMMETRIC",
        "CASE",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "AS",
        "COLLATE",
        "ARRAY",
        "DISTINCT",
        "FROM",
        "AT",
        "TIME",
        "ZONE",
        "WITH",
        "WITHOUT",
        "INTERVAL",
        "PRECISION",
        "VARYING",
        "ANY",
        "ALL",
        "SOME",
        "EXISTS",
        "SELECT",
        "WHERE",
        "GROUP",
        "BY",
        "ORDER",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "ESCAPE",
        "OVERLAPS",
        "FILTER",
        "OVER",
        "PARTITION",
        "ROW",
        "ROWS",
        "UNKNOWN",
        "DEFAULT",
        "CURRENT_DATE",
        "CURRENT_TIME",
        "CURRENT_TIMESTAMP",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "CURRENT_USER",
        "SESSION_USER",
        "CURRENT_ROLE",
        "USER",
        "CAST",
        "JOIN",
        "ON",
        "USING",
        "INNER",
        "LEFT",
        "RIGHT",
        "OUTER",
        "FULL",
        "CROSS",
        "LATERAL",
        "UNION",
        "INTERSECT",
        "EXCEPT",
        "VALUES",
        "ISNULL",
        "NOTNULL",
        "DOUBLE",
        "CHARACTER",
        "VARCHAR",
        "CHAR",
        "BIT",
        "NORMALIZED",
        "NFC",
        "NFD",
        "NFKC",
        "NFKD",
        "DATE",
        "TIMESTAMP",
        "YEAR",
        "MONTH",
        "DAY",
        "HOUR",
        "MINUTE",
        "SECOND",
        "LEADING",
        "TRAILING",
        "BOTH",
        "FOR",
        "PLACING",
        "SIMILAR",
        "OF",
    ]
)
_CANNOT_START = frozenset(
    [
        "AND",
        "OR",
        "WHERE",
        "ON",
        "THEN",
        "ELSE",
        "END",
        "FROM",
        "AS",
        "IS",
        "IN",
        "LIKE",
        "ILIKE",
        "BETWEEN",
        "WHEN",
        "COLLATE",
        "DEFAULT",
        "USING",
    ]
)
_CANNOT_END = frozenset(
    [
        "AND",
        "OR",
        "NOT",
        "WHERE",
        "ON",
        "THEN",
        "ELSE",
        "WHEN",
        "IS",
        "IN",
        "LIKE",
        "ILIKE",
        "BETWEEN",
        "AS",
        "CASE",
        "COLLATE",
    ]
)
_PREFIX_OPS = frozenset({"-", "+", "(", "[", "~", "@", "|/", "||/", "!!"})
_OPERAND_KINDS = frozenset({"string", "number", "qident", "dollar"})


def check_expression(text: str, what: str) -> None:
    """Raise :class:`NotUnderstood` when ``text`` cannot be one SQL expression.

    Not a full grammar: it catches what a slip of the keyboard leaves behind (two operands in a
    row, a dangling operator or keyword, empty or unbalanced brackets, stray commas).

    >>> check_expression("coalesce(a, 0) + 1", "DEFAULT")
    >>> check_expression("now now()", "DEFAULT")
    Traceback (most recent call last):
    bgmigrate.parse.strict.NotUnderstood: DEFAULT: 'now' cannot follow 'now'
    """
    toks = Cursor(text).toks
    toks = [t for t in toks if t.text != ";"]
    if not toks:
        raise NotUnderstood(f"{what}: empty expression")
    for i in range(1, len(toks) - 1):
        if toks[i].upper == "NOT" and toks[i + 1].upper == "NULL" and toks[i - 1].upper != "IS":
            raise NotUnderstood(f"{what}: NOT NULL is not an expression (IS NOT NULL is)")
    first, last = toks[0], toks[-1]
    if (first.kind == "op" and first.text not in _PREFIX_OPS) or first.upper in _CANNOT_START:
        raise NotUnderstood(f"{what}: cannot start with {first.text!r}")
    lone_star = last.text == "*" and (len(toks) == 1 or toks[-2].text == ".")
    if (last.kind == "op" and last.text not in (")", "]") and not lone_star) or last.upper in _CANNOT_END:
        raise NotUnderstood(f"{what}: cannot end with {last.text!r}")
    depth = 0
    for i, tok in enumerate(toks):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(tok.text, 0) if tok.kind == "op" else 0
        if depth < 0:
            raise NotUnderstood(f"{what}: unbalanced {tok.text!r}")
        before = toks[i - 1] if i else None
        if before is not None and not _may_follow(before, tok, text):
            raise NotUnderstood(f"{what}: {tok.text!r} cannot follow {before.text!r}")
        if tok.text == ")" and before is not None and before.text == "(" and (i < 2 or toks[i - 2].kind != "word"):
            raise NotUnderstood(f"{what}: empty parentheses")
        if before is not None and before.text == "*" and i >= 2 and toks[i - 2].text == "(" and tok.text != ")":
            raise NotUnderstood(f"{what}: (* must close at once, as in count(*)")
        if tok.text == ")" and before is not None and before.text == "*" and (i < 2 or toks[i - 2].text not in "(."):
            raise NotUnderstood(f"{what}: an operator without its right operand")
    if depth:
        raise NotUnderstood(f"{what}: unbalanced brackets")


def _may_follow(before: Tok, tok: Tok, text: str) -> bool:
    if before.upper == "NOT" and tok.upper in ("IS", "NOT"):
        return False  # a NOT IS b, IS NOT NOT NULL
    if tok.text == ")" and before.kind == "op" and before.text not in "()[]*":
        return False  # (a * )
    if tok.kind == "word" and before.kind == "word" and tok.upper == before.upper and tok.upper != "NOT":
        return False  # a doubled word: true true, IS IS
    if tok.kind == "op" and tok.text == "(" and (before.kind in ("string", "number") or before.text == ")"):
        return False  # 'x' (…) or (…) (…): nothing to call
    two_ops = before.kind == "op" and before.text not in "()[],." and tok.kind == "op"
    if two_ops and tok.text not in _PREFIX_OPS and before.end != tok.start:
        return False  # two binary operators in a row: a <= <= b (~* written together is one)
    if tok.kind == "op" and tok.text in (",", ")", "]"):
        return before.text not in (",", "(", "[") or (tok.text in (")", "]") and before.text in ("(", "["))
    if before.kind == "op" and before.text == ",":
        return not (tok.kind == "op" and tok.text not in _PREFIX_OPS)
    if _operand_end(before) and _operand_start(tok):
        if before.upper in _EXPRESSION_WORDS or tok.upper in _EXPRESSION_WORDS:
            return True
        if before.kind == "word" and tok.kind in ("string", "dollar"):
            return True  # a typed literal: interval '1 day', date '2024-01-01'
        if before.kind == "string" and tok.kind == "string":
            return "\n" in text[before.end : tok.start]  # 'a'<newline>'b' continues the string
        return False
    return True


def _operand_end(tok: Tok) -> bool:
    return tok.kind in _OPERAND_KINDS or tok.kind == "word" or (tok.kind == "op" and tok.text in (")", "]"))


def _operand_start(tok: Tok) -> bool:
    return tok.kind in _OPERAND_KINDS or tok.kind == "word"


def check_items(cur: Cursor, first: int, what: str, plain: bool | str) -> None:
    """The group just read (``(`` at token ``first``) holds non-empty comma-separated items.

    ``plain``: each item is one column name (constraint column lists), not an expression.
    """
    items: list[list[Tok]] = [[]]
    depth = 0
    for tok in cur.toks[first + 1 : cur.pos - 1]:
        if tok.kind == "op" and tok.text in "([":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]":
            depth -= 1
        if depth == 0 and tok.text == ",":
            items.append([])
        else:
            items[-1].append(tok)
    for item in items:
        if not item:
            raise NotUnderstood(f"{what}: an empty item in the list")
        if plain == "single" and len(item) != 1:
            raise NotUnderstood(f"{what}: expected single values, found {' '.join(t.text for t in item)!r}")
        if plain is True and (len(item) != 1 or item[0].kind not in ("word", "qident")):
            raise NotUnderstood(f"{what}: expected column names, found {' '.join(t.text for t in item)!r}")


# ---- statement heads ------------------------------------------------------------------------

# The object kinds PostgreSQL knows after CREATE / ALTER / DROP (first word; a second is read by
# the parsers). Anything else is a syntax error there, not an object bgmigrate may ignore.
OBJECT_KINDS = frozenset(
    [
        "access",
        "aggregate",
        "cast",
        "collation",
        "conversion",
        "database",
        "default",
        "domain",
        "event",
        "extension",
        "foreign",
        "function",
        "group",
        "index",
        "language",
        "large",
        "materialized",
        "operator",
        "owned",
        "policy",
        "procedure",
        "procedural",
        "publication",
        "role",
        "routine",
        "rule",
        "schema",
        "sequence",
        "server",
        "statistics",
        "subscription",
        "system",
        "table",
        "tablespace",
        "text",
        "transform",
        "trigger",
        "trusted",
        "type",
        "user",
        "view",
    ]
)

# What may follow the name of a created object, by kind ("" : the end of the statement).
# What the query of CREATE VIEW … AS may start with.
QUERY_STARTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "("})

_AFTER_CREATED_NAME = {
    "view": ("(", "WITH", "AS"),
    "materialized view": ("(", "WITH", "AS", "USING", "TABLESPACE"),
    "function": ("(",),
    "procedure": ("(",),
    "aggregate": ("(",),
    "sequence": ("", "AS", "INCREMENT", "MINVALUE", "MAXVALUE", "NO", "START", "CACHE", "CYCLE", "OWNED"),
    "extension": ("", "WITH", "SCHEMA", "VERSION", "CASCADE"),
    "schema": ("", "AUTHORIZATION", "CREATE", "GRANT"),
    "domain": ("AS", "*word"),
    "type": ("", "AS", "("),
}

# Words that may follow the name in ALTER <kind> name … (an action starts there).
ALTER_ACTIONS = frozenset(
    [
        "RENAME",
        "SET",
        "RESET",
        "OWNER",
        "ADD",
        "DROP",
        "ALTER",
        "VALIDATE",
        "ATTACH",
        "DETACH",
        "DEPENDS",
        "NO",
        "ENABLE",
        "DISABLE",
        "REFRESH",
        "UPDATE",
        "OPTIONS",
        "INHERIT",
        "CLUSTER",
        "IN",
        "CONNECTION",
        "SKIP",
        "RESTART",
        "AS",
        "INCREMENT",
        "MINVALUE",
        "MAXVALUE",
        "START",
        "CACHE",
        "CYCLE",
        "OWNED",
        "WITH",
        "CALLED",
        "RETURNS",
        "STRICT",
        "IMMUTABLE",
        "STABLE",
        "VOLATILE",
        "LEAKPROOF",
        "SECURITY",
        "PARALLEL",
        "COST",
        "ROWS",
        "SUPPORT",
        "EXTERNAL",
        "NOT",
        "LOGGED",
        "UNLOGGED",
        "VERSION",
        "FORCE",
        "ALL",
        "USING",
        "HANDLER",
        "VALIDATOR",
        "PUBLICATION",
        "REASSIGN",
    ]
)


def check_after_created_name(cur: Cursor, kind: str) -> None:
    """The word after ``CREATE <kind> name`` must be one that kind allows."""
    allowed = _AFTER_CREATED_NAME.get(kind)
    if allowed is None:
        return
    tok = cur.peek()
    if tok is None or (tok.text == ";" and cur.pos == cur.stop - 1):
        if "" not in allowed:
            raise NotUnderstood(f"CREATE {kind.upper()} ends after its name")
        return
    if tok.text in allowed or tok.upper in allowed or ("*word" in allowed and tok.kind in ("word", "qident")):
        return
    raise NotUnderstood(f"unexpected {tok.text!r} after the name in CREATE {kind.upper()}")


def check_alter_action(cur: Cursor, kind: str) -> None:
    """The word after ``ALTER <kind> name`` must start an action."""
    if kind in ("role", "user", "group", "system", "default", "large", "database", "server", "policy"):
        return  # role options and the like: many words, nothing blue-green
    tok = cur.peek()
    if tok is None or tok.upper not in ALTER_ACTIONS:
        raise NotUnderstood(f"unexpected {tok.text if tok else 'end of statement'!r} after ALTER {kind.upper()} name")


def items(cur: Cursor, what: str) -> list[tuple[int, int]]:
    """Token ranges of the comma-separated items from here to the end; an empty item is not understood."""
    start = cur.pos
    ranges = cur.split_top_level()
    # split_top_level drops empty items: count the top-level commas to see whether any was dropped.
    commas, depth = 0, 0
    for tok in cur.toks[start : cur.stop]:
        if tok.kind == "op" and tok.text in "([":
            depth += 1
        elif tok.kind == "op" and tok.text in ")]":
            depth -= 1
        elif depth == 0 and tok.text == ",":
            commas += 1
    if ranges and len(ranges) != commas + 1:
        raise NotUnderstood(f"{what}: an empty item in the list")
    return ranges


_ROUTINE_WORDS = frozenset(
    [
        "RETURNS",
        "LANGUAGE",
        "AS",
        "TRANSFORM",
        "WINDOW",
        "IMMUTABLE",
        "STABLE",
        "VOLATILE",
        "NOT",
        "LEAKPROOF",
        "CALLED",
        "STRICT",
        "SECURITY",
        "EXTERNAL",
        "PARALLEL",
        "COST",
        "ROWS",
        "SUPPORT",
        "SET",
        "BEGIN",
        "RETURN",
    ]
)


def check_created_body(cur: Cursor, kind: str) -> None:
    """Read ahead (without consuming) the part of CREATE VIEW / FUNCTION / PROCEDURE after the name."""
    ahead = cur.within(cur.pos, cur.stop)
    if kind in ("view", "materialized view"):
        if ahead.peek() is not None and ahead.peek().text == "(":  # type: ignore[union-attr]
            first = ahead.pos
            ahead.skip_parens()
            check_items(ahead, first, "the view's columns", plain=True)
        if ahead.accept("USING"):
            ahead.identifier()
        if ahead.accept("WITH"):
            skip_group(ahead, "WITH")
        if ahead.accept("TABLESPACE"):
            ahead.identifier()
        if not ahead.accept("AS"):
            raise NotUnderstood(f"expected AS in CREATE {kind.upper()}")
        tok = ahead.peek()
        if tok is None or (tok.upper or tok.text) not in QUERY_STARTS:
            raise NotUnderstood(f"expected a query after AS in CREATE {kind.upper()}")
        follower = ahead.peek_upper(1)
        if follower in ("SELECT", "FROM", "WHERE", "AS", "ON"):
            raise NotUnderstood(f"unexpected {follower!r} at the start of the view's query")
    elif kind in ("function", "procedure"):
        first = ahead.pos
        ahead.skip_parens()
        if ahead.pos - first > 2:
            check_items(ahead, first, f"the {kind}'s arguments", plain=False)
        tok = ahead.peek()
        if tok is not None and not ahead.at_end() and tok.upper not in _ROUTINE_WORDS:
            raise NotUnderstood(f"unexpected {tok.text!r} after the {kind}'s arguments")


def check_exclusion_elements(cur: Cursor, first: int) -> None:
    """Each item of EXCLUDE (…) is ``element WITH operator``."""
    inner = cur.within(first + 1, cur.pos - 1)
    for start, stop in items(inner, "EXCLUDE"):
        words = [t.upper for t in cur.toks[start:stop]]
        if "WITH" not in words:
            raise NotUnderstood("EXCLUDE: each element needs WITH <operator>")
        at = start + words.index("WITH")
        operator = cur.toks[at + 1 : stop]
        if at == start or not operator:
            raise NotUnderstood("EXCLUDE: expected <element> WITH <operator>")
        if operator[0].upper != "OPERATOR" and not all(t.kind == "op" and t.text not in "()," for t in operator):
            raise NotUnderstood("EXCLUDE: WITH needs an operator")
        if any(a.end != b.start for a, b in itertools.pairwise(operator)):
            raise NotUnderstood("EXCLUDE: an operator is written without spaces inside it")


_VOLATILITY = ("IMMUTABLE", "STABLE", "VOLATILE", "STRICT", "WINDOW", "LEAKPROOF")
_ROUTINE_ATTRIBUTE_STARTS = frozenset(
    [
        "RETURNS",
        "LANGUAGE",
        "AS",
        "IMMUTABLE",
        "STABLE",
        "VOLATILE",
        "STRICT",
        "WINDOW",
        "LEAKPROOF",
        "NOT",
        "CALLED",
        "EXTERNAL",
        "SECURITY",
        "PARALLEL",
        "COST",
        "ROWS",
        "SUPPORT",
        "SET",
        "TRANSFORM",
        "BEGIN",
        "RETURN",
    ]
)


def routine_attributes(cur: Cursor) -> None:
    """What follows a function's or procedure's arguments, read to the end; the body stays opaque."""
    while not cur.at_end():
        if cur.accept("RETURNS"):
            _returns(cur)
        elif cur.accept("LANGUAGE"):
            cur.next()
        elif cur.accept("AS"):
            _string_or_dollar(cur)
            if cur.peek() is not None and cur.peek().text == ",":  # type: ignore[union-attr]
                cur.next()
                _string_or_dollar(cur)
        elif (
            cur.accept_any(_VOLATILITY) or cur.accept("NOT", "LEAKPROOF") or cur.accept("CALLED", "ON", "NULL", "INPUT")
        ):
            pass
        elif cur.accept("EXTERNAL", "SECURITY") or cur.accept("SECURITY"):
            if not cur.accept_any(("INVOKER", "DEFINER")):
                raise NotUnderstood("expected INVOKER or DEFINER after SECURITY")
        elif cur.accept("PARALLEL"):
            if not cur.accept_any(("UNSAFE", "RESTRICTED", "SAFE")):
                raise NotUnderstood("expected UNSAFE, RESTRICTED or SAFE after PARALLEL")
        elif cur.accept("COST") or cur.accept("ROWS"):
            _number(cur)
        elif cur.accept("SUPPORT"):
            cur.name()
        elif cur.accept("SET"):
            cur.name()
            if not (
                cur.accept("FROM", "CURRENT") or cur.accept("TO") or (cur.peek() is not None and cur.next().text == "=")
            ):
                raise NotUnderstood("expected TO, = or FROM CURRENT in SET")
            cur.until(_ROUTINE_ATTRIBUTE_STARTS, stop_ops="")
        elif cur.looking_at("BEGIN", "ATOMIC") or cur.looking_at("RETURN") or cur.looking_at("TRANSFORM"):
            cur.rest()  # a SQL-standard body: opaque, like a quoted one
        else:
            tok = cur.peek()
            raise NotUnderstood(f"unexpected {tok.text if tok else ''!r} in a function definition")


def _returns(cur: Cursor) -> None:
    if cur.accept("NULL", "ON", "NULL", "INPUT"):
        return
    if cur.accept("TABLE"):
        first = cur.pos
        skip_group(cur, "RETURNS TABLE")
        check_items(cur, first, "RETURNS TABLE", plain=False)
        return
    cur.accept("SETOF")
    type_text = cur.until(_ROUTINE_ATTRIBUTE_STARTS, stop_ops="")
    if not type_text:
        raise NotUnderstood("RETURNS without a type")
    check_type(type_text.replace("%TYPE", "").replace("%type", ""))


def _string_or_dollar(cur: Cursor) -> None:
    tok = cur.next()
    if tok.kind not in ("string", "dollar"):
        raise NotUnderstood(f"expected the body as a string after AS, found {tok.text!r}")


# Reserved words PostgreSQL never accepts as a bare constraint name.
_RESERVED_NAMES = frozenset(
    [
        "CHECK",
        "UNIQUE",
        "PRIMARY",
        "REFERENCES",
        "FOREIGN",
        "NOT",
        "NULL",
        "DEFAULT",
        "CONSTRAINT",
        "COLLATE",
        "DEFERRABLE",
        "INITIALLY",
        "EXCLUDE",
        "TABLE",
        "COLUMN",
        "GENERATED",
    ]
)


def constraint_name(cur: Cursor) -> str:
    """The name after CONSTRAINT: an identifier, never a reserved word such as UNIQUE."""
    tok = cur.peek()
    if tok is not None and tok.kind == "word" and tok.upper in _RESERVED_NAMES and tok.upper != "GENERATED":
        raise NotUnderstood(f"CONSTRAINT needs a name before {tok.text!r}")
    return cur.identifier()


_ARG_MODES = ("IN", "OUT", "INOUT", "VARIADIC")


def check_arguments(text: str, what: str) -> None:
    """A routine's argument list: ``[mode] [name] type [DEFAULT expr]`` items, each read fully."""
    args = Cursor(text)
    if args.at_end():
        return
    for first, stop in items(args, what):
        arg = args.within(first, stop)
        arg.accept_any(_ARG_MODES)
        body = arg.until(("DEFAULT",), stop_ops="=")
        if not arg.at_end():
            arg.next()
            check_expression(arg.rest(), f"{what} DEFAULT")
        _argument_type(body, what)


def _argument_type(body: str, what: str) -> None:
    body = re.sub(r"%(?:ROW)?TYPE\s*$", "", body.strip(), flags=re.IGNORECASE)  # users.id%TYPE
    try:
        check_type(body)
    except (NotUnderstood, SyntaxProblem):
        words = Cursor(body)
        if words.peek() is None or words.peek().kind not in ("word", "qident"):  # type: ignore[union-attr]
            raise NotUnderstood(f"{what}: {body.strip()!r} is not an argument") from None
        name = words.next()  # the argument's name; the type follows
        if name.upper in _TYPE_KEYWORDS:
            raise NotUnderstood(f"{what}: {name.text!r} cannot name an argument") from None
        check_type(words.text_between(words.pos, words.stop))


# PostgreSQL's column-name keywords that are types: never an argument's name.
_TYPE_KEYWORDS = frozenset(
    [
        "BIGINT",
        "BIT",
        "BOOLEAN",
        "CHAR",
        "CHARACTER",
        "DEC",
        "DECIMAL",
        "FLOAT",
        "INT",
        "INTEGER",
        "INTERVAL",
        "NATIONAL",
        "NCHAR",
        "NUMERIC",
        "REAL",
        "SMALLINT",
        "TIME",
        "TIMESTAMP",
        "VARCHAR",
        "SETOF",
    ]
)
