"""ALTER TABLE read action by action into operations."""

from __future__ import annotations

from collections.abc import Callable

from bgmigrate.model import operations as ops
from bgmigrate.parse.ddl import column_type, parse_column_def, parse_table_constraint
from bgmigrate.parse.strict import (
    NotUnderstood,
    check_expression,
    check_type,
    column_other,
    constraint_attributes,
    expect_end,
    items,
    role_name,
    skip_group,
)
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Cursor, SyntaxProblem
from bgmigrate.sql.type_facts import is_volatile_default

_Action = Callable[[Statement, Cursor, Name], list[ops.Operation]]


def parse_alter_table(stmt: Statement, cur: Cursor) -> list[ops.Operation]:
    """Everything after ``ALTER TABLE``."""
    cur.accept("IF", "EXISTS")
    cur.accept("ONLY")
    target = cur.name()
    if cur.peek() is not None and cur.peek().text == "*":  # type: ignore[union-attr]
        cur.next()
    if cur.looking_at("RENAME"):
        found = _rename(stmt, cur, target)
        expect_end(cur, "RENAME")
        return found
    if cur.accept("SET", "SCHEMA"):
        found = [ops.AlterTableSet(stmt, target=target, what="schema", new_schema=cur.identifier())]
        expect_end(cur, "SET SCHEMA")
        return found
    if cur.accept("ATTACH", "PARTITION"):
        part = cur.name()
        cur.rest()
        return [ops.AttachPartition(stmt, target=target, partition=part)]
    if cur.accept("DETACH", "PARTITION"):
        part = cur.name()
        concurrently = cur.accept("CONCURRENTLY")
        finalize = cur.accept("FINALIZE")
        expect_end(cur, "DETACH PARTITION")
        return [ops.DetachPartition(stmt, target=target, partition=part, concurrently=concurrently, finalize=finalize)]
    result: list[ops.Operation] = []
    try:
        ranges = items(cur, "ALTER TABLE")
    except NotUnderstood as exc:
        return [ops.Unparsed(stmt, reason=f"ALTER TABLE not understood: {exc}")]
    for first, stop in ranges:
        action = cur.within(first, stop)
        result.extend(_strict_action(stmt, action, target))
    if not result:
        raise SyntaxProblem("ALTER TABLE without an action")
    return result


def _strict_action(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    """One action, read to its end: what is not fully understood is reported, never passed as benign."""
    word = cur.peek_upper() or "(empty)"
    try:
        found = _action(stmt, cur, target)
        expect_end(cur, f"ALTER TABLE … {word}")
    except NotUnderstood as exc:
        return [ops.Unparsed(stmt, reason=f"ALTER TABLE action not understood: {exc}")]
    return found


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
        raise NotUnderstood(f"unknown action {cur.peek().text if cur.peek() else 'end of statement'!r}")  # type: ignore[union-attr]
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
        cascade or cur.accept("RESTRICT")
        return [ops.DropConstraint(stmt, target=target, name=name, if_exists=if_exists, cascade=cascade)]
    cur.accept("COLUMN")
    if_exists = cur.accept("IF", "EXISTS")
    column = cur.identifier()
    cascade = cur.accept("CASCADE")
    cascade or cur.accept("RESTRICT")
    return [ops.DropColumn(stmt, target=target, column=column, if_exists=if_exists, cascade=cascade)]


def _alter(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("ALTER")
    if cur.accept("CONSTRAINT"):
        cur.identifier()
        constraint_attributes(cur)
        return [ops.Other(stmt, kind="alter constraint")]
    cur.accept("COLUMN")
    column = cur.identifier()
    if cur.accept("TYPE") or cur.accept("SET", "DATA", "TYPE"):
        type_text = cur.until(("COLLATE", "USING"))
        check_type(type_text)
        if cur.accept("COLLATE"):
            cur.name()
        using = cur.rest() if cur.accept("USING") else None
        if using is not None:
            check_expression(using, "USING")
        return [ops.AlterColumnType(stmt, target=target, column=column, new_type=column_type(type_text), using=using)]
    if cur.accept("SET", "NOT", "NULL"):
        return [ops.SetNotNull(stmt, target=target, column=column)]
    if cur.accept("DROP", "NOT", "NULL"):
        return [ops.DropNotNull(stmt, target=target, column=column)]
    if cur.accept("SET", "DEFAULT"):
        default = cur.rest()
        check_expression(default, "SET DEFAULT")
        return [
            ops.SetDefault(stmt, target=target, column=column, default=default, volatile=is_volatile_default(default))
        ]
    if cur.accept("DROP", "DEFAULT"):
        return [ops.DropDefault(stmt, target=target, column=column)]
    what = " ".join(t.text.lower() for t in cur.toks[cur.pos : cur.stop][:3])
    column_other(cur)
    return [ops.AlterColumnOther(stmt, target=target, column=column, what=what)]


def _set(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("SET")
    if cur.accept("TABLESPACE"):
        cur.identifier()
        cur.accept("NOWAIT")
        return [ops.AlterTableSet(stmt, target=target, what="tablespace")]
    if cur.accept("LOGGED"):
        return [ops.AlterTableSet(stmt, target=target, what="logged")]
    if cur.accept("UNLOGGED"):
        return [ops.AlterTableSet(stmt, target=target, what="unlogged")]
    if cur.accept("ACCESS", "METHOD"):
        cur.identifier()  # a method name, or DEFAULT (a word as well)
        return [ops.AlterTableSet(stmt, target=target, what="access method")]
    if cur.accept("WITHOUT", "CLUSTER"):
        return [ops.AlterTableSet(stmt, target=target, what="cluster")]
    if cur.accept("WITHOUT", "OIDS"):
        return [ops.Other(stmt, kind="alter table set without oids")]
    skip_group(cur, "SET")
    return [ops.AlterTableSet(stmt, target=target, what="options")]


def _validate(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("VALIDATE", "CONSTRAINT")
    return [ops.ValidateConstraint(stmt, target=target, name=cur.identifier())]


def _reset(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    cur.expect("RESET")
    skip_group(cur, "RESET")
    return [ops.AlterTableSet(stmt, target=target, what="options")]


def _trigger_or_rule(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    """ENABLE/DISABLE TRIGGER (SHARE ROW EXCLUSIVE), RULE, ROW LEVEL SECURITY."""
    verb = cur.next().upper
    if verb == "ENABLE":
        cur.accept_any(("REPLICA", "ALWAYS"))
    if cur.accept("TRIGGER"):
        cur.identifier()  # a trigger's name, or ALL / USER
        return [ops.AlterTableSet(stmt, target=target, what="trigger")]
    if cur.accept("RULE"):
        cur.identifier()
        return [ops.Other(stmt, kind=f"alter table {verb.lower()} rule")]
    if cur.accept("ROW", "LEVEL", "SECURITY"):
        return [ops.Other(stmt, kind="alter table row level security")]
    raise NotUnderstood(f"expected TRIGGER, RULE or ROW LEVEL SECURITY after {verb}")


def _no_effect(stmt: Statement, cur: Cursor, target: Name) -> list[ops.Operation]:
    """Actions that change no shape the app sees: OWNER TO, CLUSTER ON, REPLICA IDENTITY, INHERIT, OF, …"""
    word = cur.next().upper
    if word == "OWNER":
        cur.expect("TO")
        role_name(cur)
    elif word == "CLUSTER":
        cur.expect("ON")
        cur.identifier()
        return [ops.AlterTableSet(stmt, target=target, what="cluster")]
    elif word == "REPLICA":
        cur.expect("IDENTITY")
        if cur.accept("USING", "INDEX"):
            cur.identifier()
        elif not cur.accept_any(("DEFAULT", "FULL", "NOTHING")):
            raise NotUnderstood("expected DEFAULT, FULL, NOTHING or USING INDEX after REPLICA IDENTITY")
    elif word in ("INHERIT", "OF"):
        cur.name()
    elif word == "NO":
        if cur.accept("FORCE", "ROW", "LEVEL", "SECURITY"):
            return [ops.Other(stmt, kind="alter table row level security")]
        cur.expect("INHERIT")
        cur.name()
    elif word == "NOT":
        cur.expect("OF")
    elif word == "FORCE":
        cur.expect("ROW", "LEVEL", "SECURITY")
    return [ops.Other(stmt, kind=f"alter table {word.lower()}")]


_ACTIONS: dict[str, _Action] = {
    "ADD": _add,
    "DROP": _drop,
    "ALTER": _alter,
    "SET": _set,
    "RESET": _reset,
    "VALIDATE": _validate,
    "ENABLE": _trigger_or_rule,
    "DISABLE": _trigger_or_rule,
    "OWNER": _no_effect,
    "CLUSTER": _no_effect,
    "REPLICA": _no_effect,
    "INHERIT": _no_effect,
    "NO": _no_effect,
    "OF": _no_effect,
    "NOT": _no_effect,
    "FORCE": _no_effect,
}
