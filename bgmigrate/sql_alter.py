"""ALTER TABLE read action by action into operations."""

from __future__ import annotations

from collections.abc import Callable

from bgmigrate import operations as ops
from bgmigrate.names import Name
from bgmigrate.sql_ddl import parse_column_def, parse_table_constraint
from bgmigrate.sql_text import is_volatile_default, normalize_type
from bgmigrate.sql_tokens import Cursor, SyntaxProblem
from bgmigrate.statements import Statement

_Action = Callable[[Statement, Cursor, Name], list[ops.Operation]]


def parse_alter_table(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    """Everything after ``ALTER TABLE``."""
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    target = cur.name()
    if cur.peek() is not None and cur.peek().text == "*":  # type: ignore[union-attr]
        cur.next()
    if cur.looking_at("RENAME"):
        return _rename(stmt, cur, target)
    if cur.accept("SET", "SCHEMA"):
        return [ops.AlterTableSet(stmt, target=target, what="schema", new_schema=cur.identifier())]
    if cur.accept("ATTACH", "PARTITION"):
        part = cur.name()
        cur.rest()
        return [ops.AttachPartition(stmt, target=target, partition=part)]
    if cur.accept("DETACH", "PARTITION"):
        part = cur.name()
        concurrently = cur.accept("CONCURRENTLY")
        finalize = cur.accept("FINALIZE")
        return [
            ops.DetachPartition(stmt, target=target, partition=part, concurrently=concurrently, finalize=finalize)
        ]
    result: list[ops.Operation] = []
    for first, stop in cur.split_top_level():
        action = Cursor(cur.sql, cur.toks, first, stop)
        result.extend(_action(stmt, action, target))
    if not result:
        raise SyntaxProblem("ALTER TABLE without an action")
    return result


def _rename(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("RENAME")
    if cur.accept("TO"):
        return [ops.RenameTable(stmt, target=target, new_name=cur.identifier())]
    if cur.accept("CONSTRAINT"):
        old = cur.identifier()
        cur.expect("TO")
        return [ops.RenameConstraint(stmt, target=target, name=old, new_name=cur.identifier())]
    # PostgreSQL's COLUMN keyword is optional: "RENAME a TO b" renames a column, not the table.
    cur.accept("COLUMN")
    old = cur.identifier()
    cur.expect("TO")
    return [ops.RenameColumn(stmt, target=target, column=old, new_name=cur.identifier())]


def _action(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    word = cur.peek_upper()
    handler = _ACTIONS.get(word)
    if handler is None:
        return [ops.Other(stmt, kind=f"alter table {word.lower()}")]
    return handler(stmt, cur, target)


def _add(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("ADD")
    if cur.peek_upper() in ("CONSTRAINT", "CHECK", "FOREIGN", "PRIMARY", "UNIQUE", "EXCLUDE"):
        return [ops.AddConstraint(stmt, target=target, constraint=parse_table_constraint(cur))]
    cur.accept("COLUMN")
    if_not_exists = cur.accept("IF", "NOT", "EXISTS")
    column = parse_column_def(cur)
    return [ops.AddColumn(stmt, target=target, column=column, if_not_exists=if_not_exists)]


def _drop(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("DROP")
    if cur.accept("CONSTRAINT"):
        if_exists = cur.accept("IF", "EXISTS")
        name = cur.identifier()
        cascade = cur.accept("CASCADE")
        return [ops.DropConstraint(stmt, target=target, name=name, if_exists=if_exists, cascade=cascade)]
    cur.accept("COLUMN")
    if_exists = cur.accept("IF", "EXISTS")
    column = cur.identifier()
    cascade = cur.accept("CASCADE")
    return [ops.DropColumn(stmt, target=target, column=column, if_exists=if_exists, cascade=cascade)]


def _alter(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("ALTER")
    if cur.accept("CONSTRAINT"):
        return [ops.Other(stmt, kind="alter constraint")]
    cur.accept("COLUMN")
    column = cur.identifier()
    if cur.accept("TYPE") or cur.accept("SET", "DATA", "TYPE"):
        type_text = cur.until(("COLLATE", "USING"))
        if cur.accept("COLLATE"):
            cur.next()
        using = cur.rest() if cur.accept("USING") else None
        return [
            ops.AlterColumnType(
                stmt, target=target, column=column, new_type=normalize_type(type_text), using=using
            )
        ]
    if cur.accept("SET", "NOT", "NULL"):
        return [ops.SetNotNull(stmt, target=target, column=column)]
    if cur.accept("DROP", "NOT", "NULL"):
        return [ops.DropNotNull(stmt, target=target, column=column)]
    if cur.accept("SET", "DEFAULT"):
        default = cur.rest()
        return [
            ops.SetDefault(
                stmt, target=target, column=column, default=default, volatile=is_volatile_default(default)
            )
        ]
    if cur.accept("DROP", "DEFAULT"):
        return [ops.DropDefault(stmt, target=target, column=column)]
    what = " ".join(t.text.lower() for t in cur.toks[cur.pos : cur.stop][:3])
    cur.rest()
    return [ops.AlterColumnOther(stmt, target=target, column=column, what=what)]


def _set(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("SET")
    if cur.accept("TABLESPACE"):
        cur.identifier()
        return [ops.AlterTableSet(stmt, target=target, what="tablespace")]
    if cur.accept("LOGGED"):
        return [ops.AlterTableSet(stmt, target=target, what="logged")]
    if cur.accept("UNLOGGED"):
        return [ops.AlterTableSet(stmt, target=target, what="unlogged")]
    if cur.accept("ACCESS", "METHOD"):
        cur.rest()
        return [ops.AlterTableSet(stmt, target=target, what="access method")]
    cur.rest()
    return [ops.AlterTableSet(stmt, target=target, what="options")]


def _validate(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("VALIDATE", "CONSTRAINT")
    return [ops.ValidateConstraint(stmt, target=target, name=cur.identifier())]


_ACTIONS: dict[str, _Action] = {
    "ADD": _add,
    "DROP": _drop,
    "ALTER": _alter,
    "SET": _set,
    "VALIDATE": _validate,
}
