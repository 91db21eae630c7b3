"""The common data changes read from tokens, without sqlglot (a seed file is thousands of them).

``INSERT INTO t [(cols)] VALUES …``, ``UPDATE t SET c = … [WHERE …]`` and ``DELETE FROM t
[WHERE …]`` with a WHERE made of plain comparisons are read here, giving exactly the operations
``sql_dml`` gives for them (tests/test_dml_fast_path.py compares the two on many shapes).
Anything else (subqueries, CTEs, ``FROM``/``USING`` joins, functions in the WHERE) answers None,
and the caller hands the statement to sqlglot as before.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Tok, tokenize

# Words that mean more than the shapes read here: a nested statement, a query, a join.
_BAIL_WORDS = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE", "FROM", "USING", "RETURNING",
                         "LIMIT", "CURRENT", "EXISTS", "ANY", "ALL", "SOME", "ARRAY", "CASE", "OVERRIDING",
                         "DEFAULT", "ONLY", "AS", "ON", "SET_CONFIG", "TABLESAMPLE", "LATERAL"})  # fmt: skip
_COMPARISONS = frozenset({"=", "<>", "!=", "<", ">", "<=", ">="})
_NESTED = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
_OPERATORS = frozenset({"(", ")", ",", ".", "=", "<", ">", "<=", ">=", "<>", "!=", "+", "-", "*", "/", "||", "::", "%"})
_VALUE_KINDS = frozenset({"number", "string"})
_VALUE_WORDS = frozenset({"NULL", "TRUE", "FALSE"})


def fast_dml(stmt: Statement, sql: str, tokens: list[Tok] | None = None) -> list[ops.Operation] | None:
    """The statement's operations when it has one of the plain shapes; None to ask sqlglot.

    ``tokens``: ``sql`` tokenized already, when the caller has them.
    """
    toks = _plain_tokens(tokenize(sql) if tokens is None else tokens)
    if toks and toks[-1].text == ";":
        toks.pop()
    if not toks or any(t.text == ";" for t in toks):
        return None
    first = toks[0].upper
    if first == "INSERT":
        return _insert(stmt, toks)
    if first == "UPDATE":
        return _update(stmt, toks)
    if first == "DELETE":
        return _delete(stmt, toks)
    return None


def _plain_tokens(tokens: list[Tok]) -> list[Tok]:
    """The tokens (``tokenize`` drops white space); empty when one is not a token this reader vouches
    for (a stray quote, an operator it does not know, an E'' string whose backslash escapes are
    beyond the token pattern)."""
    found: list[Tok] = []
    for tok in tokens:
        kind = tok.kind
        if kind == "op":
            if tok.text not in _OPERATORS and tok.text != ";":
                return []
        elif kind == "string":
            if tok.text[0] in "Ee":
                return []
        elif kind not in ("word", "qident", "number"):
            return []
        found.append(tok)
    return found


def _name(toks: list[Tok], i: int) -> tuple[Name, int] | None:
    """``name`` or ``schema.name`` at ``i`` (as sqlglot folds them), and the index after it."""
    parts: list[Tok] = []
    while i < len(toks) and toks[i].kind in ("word", "qident"):
        parts.append(toks[i])
        i += 1
        if i < len(toks) and toks[i].text == ".":
            i += 1
            continue
        break
    if not 1 <= len(parts) <= 2 or any(p.kind == "word" and p.upper in _BAIL_WORDS for p in parts):
        return None
    names = [p.ident for p in parts]
    return (Name(names[-1], names[0] if len(names) == 2 else None), i)


def _insert(stmt: Statement, toks: list[Tok]) -> list[ops.Operation] | None:
    """``INSERT INTO t …``: one insert into ``t``, whatever the rows (VALUES or a query).

    A query cannot hold another data change (PostgreSQL allows those only in a top-level WITH),
    so the only words to refuse are a second statement's, and ``UPDATE`` outside ON CONFLICT.
    """
    if len(toks) < 4 or toks[1].upper != "INTO":
        return None
    found = _name(toks, 2)
    if found is None:
        return None
    target, i = found
    rest = toks[i:]
    if not rest or not _balanced(rest) or _any_nested(_before_conflict(rest)):
        return None
    return [ops.InsertRows(stmt, target=target)]


def _any_nested(toks: list[Tok]) -> bool:
    """Whether a token is a nested statement's first word (a seed file has millions of tokens)."""
    for tok in toks:  # noqa: SIM110 - a loop, not any() over a generator: measurably faster
        # Lengths first: upper-casing every token costs.
        if tok.kind == "word" and len(tok.text) in (5, 6) and tok.text.upper() in _NESTED:
            return True
    return False


def _before_conflict(toks: list[Tok]) -> list[Tok]:
    """The tokens before ``ON CONFLICT … DO UPDATE`` (whose UPDATE is part of the insert)."""
    for i, t in enumerate(toks):
        # Tok.upper spelled out, length first: this looks at every token of every INSERT.
        on = t.kind == "word" and len(t.text) == 2 and t.text.upper() == "ON"
        if on and i + 1 < len(toks) and toks[i + 1].upper == "CONFLICT":
            tail = toks[i + 2 :]
            if any(x.upper in _NESTED - {"UPDATE"} for x in tail) or [x.upper for x in tail].count("UPDATE") > 1:
                return toks  # the caller sees the nested words and refuses
            return toks[:i]
    return toks


def _update(stmt: Statement, toks: list[Tok]) -> list[ops.Operation] | None:
    found = _name(toks, 1)
    if found is None:
        return None
    target, i = found
    if i < len(toks) and toks[i].kind in ("word", "qident") and toks[i].upper != "SET":
        i += 1  # an alias without AS
    if i >= len(toks) or toks[i].upper != "SET":
        return None
    where = next((j for j in range(i, len(toks)) if toks[j].upper == "WHERE"), len(toks))
    columns = _assignments(toks[i + 1 : where])
    if columns is None:
        return None
    condition = _condition(toks[where + 1 :]) if where < len(toks) else False
    if condition is None:
        return None
    has_where = where < len(toks)
    return [ops.UpdateRows(stmt, target=target, has_where=has_where, columns=columns, batched=condition)]


def _delete(stmt: Statement, toks: list[Tok]) -> list[ops.Operation] | None:
    if len(toks) < 3 or toks[1].upper != "FROM":
        return None
    found = _name(toks, 2)
    if found is None:
        return None
    target, i = found
    if i < len(toks) and toks[i].kind in ("word", "qident") and toks[i].upper != "WHERE":
        i += 1  # an alias without AS
    if i < len(toks) and toks[i].upper != "WHERE":
        return None
    has_where = i < len(toks)
    condition = _condition(toks[i + 1 :]) if has_where else False
    if condition is None:
        return None
    return [ops.DeleteRows(stmt, target=target, has_where=has_where, batched=condition)]


def _assignments(toks: list[Tok]) -> tuple[str, ...] | None:
    """``a = 1, "B" = b + 1`` → the assigned columns as sqlglot names them; None if not that plain."""
    columns: list[str] = []
    for item in _split_commas(toks):
        if item is None or len(item) < 3:
            return None
        eq = 1
        if len(item) > 3 and item[1].text == ".":
            eq = 3  # t.col = …
        if item[eq].text != "=" or item[eq - 1].kind not in ("word", "qident"):
            return None
        value = item[eq + 1 :]
        if not value or any(t.kind == "word" and t.upper in _BAIL_WORDS for t in value) or _balanced(value) is False:
            return None
        column = item[eq - 1]
        # sqlglot keeps an unquoted column's spelling and unquotes a quoted one.
        columns.append(column.text if column.kind == "word" else column.ident)
    return tuple(columns)


def _condition(toks: list[Tok]) -> bool | None:
    """Whether a plain WHERE bounds a key range (sqlglot's test); None when it is not plain.

    Plain: comparisons of a column with a literal, ``BETWEEN``, ``IS [NOT] NULL`` and ``IN``
    lists of literals, joined by AND/OR, without parentheses around conditions.
    """
    if not toks:
        return None  # WHERE and nothing: not valid, sqlglot's fallback reports what it can
    lower: set[str] = set()
    upper: set[str] = set()
    between = False
    i = 0
    while i < len(toks):
        column, i = _column(toks, i)
        if column is None or i >= len(toks):
            return None
        op = toks[i]
        if op.text in _COMPARISONS:
            if i + 1 >= len(toks) or not _is_value(toks[i + 1]):
                return None
            if op.text in (">", ">="):
                lower.add(column)
            elif op.text in ("<", "<="):
                upper.add(column)
            i += 2
        elif op.upper == "BETWEEN":
            if i + 3 >= len(toks) or not (
                _is_value(toks[i + 1]) and toks[i + 2].upper == "AND" and _is_value(toks[i + 3])
            ):
                return None
            between = True
            i += 4
        elif op.upper == "IS":
            j = i + 1 + (1 if i + 1 < len(toks) and toks[i + 1].upper == "NOT" else 0)
            if j >= len(toks) or toks[j].upper != "NULL":
                return None
            i = j + 1
        elif op.upper == "IN":
            i = _literal_list(toks, i + 1)
            if i < 0:
                return None
        else:
            return None
        if i < len(toks):
            if toks[i].upper not in ("AND", "OR"):
                return None
            i += 1
            if i >= len(toks):
                return None
    return between or bool(lower & upper)


def _column(toks: list[Tok], i: int) -> tuple[str | None, int]:
    """A column reference (``c`` or ``t.c``) as sqlglot names it, and the index after it."""
    if i >= len(toks) or toks[i].kind not in ("word", "qident") or toks[i].upper in _BAIL_WORDS | {"NOT"}:
        return None, i
    if i + 2 < len(toks) and toks[i + 1].text == "." and toks[i + 2].kind in ("word", "qident"):
        i += 2
    tok = toks[i]
    if tok.kind == "word" and toks[i + 1 : i + 2] and toks[i + 1].text == "(":
        return None, i  # a function call
    return (tok.text if tok.kind == "word" else tok.ident), i + 1


def _is_value(tok: Tok) -> bool:
    return tok.kind in _VALUE_KINDS or tok.upper in _VALUE_WORDS


def _literal_list(toks: list[Tok], i: int) -> int:
    """Index after ``(lit, lit, …)`` at ``i``; -1 when it is not a plain list."""
    if i >= len(toks) or toks[i].text != "(":
        return -1
    i += 1
    while i < len(toks):
        if not _is_value(toks[i]):
            return -1
        i += 1
        if i < len(toks) and toks[i].text == ")":
            return i + 1
        if i >= len(toks) or toks[i].text != ",":
            return -1
        i += 1
    return -1


def _balanced(toks: list[Tok]) -> bool:
    depth = 0
    for t in toks:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _split_commas(toks: list[Tok]) -> list[list[Tok] | None]:
    """Top-level comma-separated items; an unbalanced one is None."""
    items: list[list[Tok] | None] = []
    current: list[Tok] = []
    depth = 0
    for t in toks:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
            if depth < 0:
                return [None]
        if t.text == "," and depth == 0:
            items.append(current)
            current = []
        else:
            current.append(t)
    items.append(current if depth == 0 else None)
    return items
