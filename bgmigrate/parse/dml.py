"""Data changes and queries → operations, read with sqlglot.

Imported only when a migration contains DML, so a DDL-only lint never pays sqlglot's import.
When sqlglot cannot read a statement, the target table is still taken from the tokens.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp

from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Cursor, tokenize

# sqlglot logs a warning for every statement it falls back on; bgmigrate reports those itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def parse_dml(stmt: Statement, sql: str) -> list[ops.Operation]:
    """UPDATE / DELETE / INSERT / MERGE / SELECT (incl. ``set_config``) as operations."""
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return _from_tokens(stmt, sql)
    if tree is None or isinstance(tree, exp.Command):
        return _from_tokens(stmt, sql)
    found = _modifications(stmt, tree)
    if found:
        return found
    settings = _set_config_calls(stmt, tree)
    if settings:
        return settings
    return [ops.Other(stmt, kind=tree.key)]


def _modifications(stmt: Statement, tree: exp.Expression) -> list[ops.Operation]:
    result: list[ops.Operation] = []
    for node in tree.walk():
        if isinstance(node, exp.Update):
            result.append(
                ops.UpdateRows(
                    stmt,
                    target=_table_name(node.this),
                    has_where=node.args.get("where") is not None,
                    columns=tuple(_set_columns(node)),
                    batched=_is_batched(node.args.get("where")),
                )
            )
        elif isinstance(node, exp.Delete):
            result.append(
                ops.DeleteRows(
                    stmt,
                    target=_table_name(node.this),
                    has_where=node.args.get("where") is not None,
                    batched=_is_batched(node.args.get("where")),
                )
            )
        elif isinstance(node, exp.Insert):
            target = node.this.this if isinstance(node.this, exp.Schema) else node.this
            result.append(ops.InsertRows(stmt, target=_table_name(target)))
        elif isinstance(node, exp.Merge):
            result.append(ops.UpdateRows(stmt, target=_table_name(node.this), has_where=True))
    return result


def _table_name(node: exp.Expression | None) -> Name:
    if isinstance(node, exp.Alias):
        node = node.this
    if isinstance(node, exp.Table):
        ident = node.this
        name = ident.name if not getattr(ident, "quoted", False) else ident.this
        schema_ident = node.args.get("db")
        schema = None
        if isinstance(schema_ident, exp.Identifier):
            schema = schema_ident.this if schema_ident.quoted else schema_ident.this.lower()
        return Name(name if getattr(ident, "quoted", False) else str(name).lower(), schema)
    return Name("")


def _set_columns(node: exp.Update) -> list[str]:
    columns: list[str] = []
    for assignment in node.expressions:
        left = assignment.this if isinstance(assignment, exp.EQ) else None
        if isinstance(left, exp.Column):
            columns.append(left.name)
    return columns


def _is_batched(where: exp.Expression | None) -> bool:
    """A WHERE that bounds the rows one statement touches: a LIMIT subquery or a key range."""
    if where is None:
        return False
    for node in where.walk():
        if isinstance(node, exp.Select) and node.args.get("limit") is not None:
            return True
        if isinstance(node, exp.Between):
            return True
    comparisons = [n for n in where.walk() if isinstance(n, exp.GT | exp.GTE)]
    uppers = [n for n in where.walk() if isinstance(n, exp.LT | exp.LTE)]
    lower_cols = {c.this.name for c in comparisons if isinstance(c.this, exp.Column)}
    upper_cols = {c.this.name for c in uppers if isinstance(c.this, exp.Column)}
    return bool(lower_cols & upper_cols)


def _set_config_calls(stmt: Statement, tree: exp.Expression) -> list[ops.Operation]:
    """``SELECT set_config('lock_timeout', '2s', true)`` sets a run-time setting."""
    result: list[ops.Operation] = []
    for node in tree.walk():
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "set_config":
            args = node.expressions
            if len(args) >= 2 and all(isinstance(a, exp.Literal) for a in args[:2]):
                local = len(args) > 2 and str(args[2].this).lower() == "true"
                result.append(ops.SetConfig(stmt, setting=args[0].this, value=args[1].this, local=local))
    return result


def _from_tokens(stmt: Statement, sql: str) -> list[ops.Operation]:
    cur = Cursor(sql, tokenize(sql))
    word = cur.peek_upper()
    try:
        if word == "UPDATE":
            cur.next()
            cur.accept("ONLY")
            target = cur.name()
            has_where = "WHERE" in {t.upper for t in cur.toks}
            return [ops.UpdateRows(stmt, target=target, has_where=has_where)]
        if word == "DELETE":
            cur.next()
            cur.expect("FROM")
            cur.accept("ONLY")
            target = cur.name()
            has_where = "WHERE" in {t.upper for t in cur.toks}
            return [ops.DeleteRows(stmt, target=target, has_where=has_where)]
        if word == "INSERT":
            cur.next()
            cur.expect("INTO")
            return [ops.InsertRows(stmt, target=cur.name())]
    except Exception:
        pass
    if word == "SELECT":
        return [ops.Other(stmt, kind="select")]
    return [ops.Unparsed(stmt, reason=f"{word or 'statement'} could not be read")]
