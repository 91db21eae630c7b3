"""Steps that run a user's statement as written, and single ALTER TABLE actions re-rendered.

Carrying the original text through is the rule (sqlglot's regeneration is not faithful). Only
when one ALTER TABLE holds actions bound for different phases is an action rendered alone —
from the parts of the user's text the parser kept (column and constraint definitions, default
expressions), never from a regenerated tree.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, LockTaken, lock_taken
from bgmigrate.plan.draft import Item
from bgmigrate.plan.phases import Step
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.sqlgen import alter, q

_OUTSIDE_TX_WORDS = (
    "VACUUM",
    "CREATE DATABASE",
    "DROP DATABASE",
    "ALTER SYSTEM",
    "CREATE TABLESPACE",
    "DROP TABLESPACE",
)


def runs_in_transaction(op: ops.Operation, pg_version: int = 15) -> bool:
    """Whether PostgreSQL accepts the statement inside a transaction block.

    >>> from bgmigrate.plan.testing import op_of
    >>> runs_in_transaction(op_of("CREATE INDEX CONCURRENTLY i ON t (a)")), runs_in_transaction(op_of("CREATE INDEX i ON t (a)"))
    (False, True)
    """
    if isinstance(op, ops.CreateIndex | ops.DropIndex | ops.Reindex | ops.DetachPartition) and op.concurrently:
        return False
    if isinstance(op, ops.VacuumFull):
        return False
    if isinstance(op, ops.AddEnumValue) and pg_version < 12:
        return False
    head = " ".join(op.stmt.text.upper().split()[:2])
    return not any(head.startswith(w) for w in _OUTSIDE_TX_WORDS)


def _lock(item: Item) -> LockTaken | None:
    """The lock the statement takes on an existing table (or view) — apply sets lock_timeout for it."""
    op = item.op
    if isinstance(op, ops.DropObject) and op.kind in ("view", "materialized view"):
        return LockTaken(ACCESS_EXCLUSIVE, op.name)
    if isinstance(op, ops.DropObject) and op.kind == "trigger" and op.on_table is not None:
        return LockTaken(ACCESS_EXCLUSIVE, op.on_table)
    taken = lock_taken(op)
    return taken if taken is not None and not item.facts.is_new(taken.table) else None


def verbatim_step(item: Item, description: str, pg_version: int = 15) -> Step:
    """A step running the user's statement as written."""
    taken = _lock(item)
    existing = taken is not None
    return Step(
        kind="sql",
        description=description,
        sql=item.op.stmt.text,
        transactional=runs_in_transaction(item.op, pg_version),
        takes_lock=taken.mode if taken is not None and existing else "",
        table=taken.table.sql() if taken is not None and existing else "",
        source_line=item.op.stmt.line,
    )


def render_action(op: ops.Operation) -> str:
    """One ALTER TABLE action as its own statement, from the user's own fragments.

    >>> from bgmigrate.plan.testing import operations_of
    >>> [render_action(o) for o in operations_of("ALTER TABLE t ADD COLUMN a int DEFAULT 0, ALTER b SET DEFAULT now()")]
    ['ALTER TABLE t ADD COLUMN a int DEFAULT 0', 'ALTER TABLE t ALTER COLUMN b SET DEFAULT now()']
    """
    table = op.table
    if table is None:
        raise PlanError(f"line {op.stmt.line}: split this statement into one statement per action")
    action = _action(op)
    if action is None:
        raise PlanError(
            f"line {op.stmt.line}: this ALTER TABLE mixes actions bound for different phases and one of them "
            f"({type(op).__name__}) cannot be carried over alone: split it into one statement per action"
        )
    return alter(table, action)


def _action(op: ops.Operation) -> str | None:
    exists = "IF EXISTS " if getattr(op, "if_exists", False) else ""
    cascade = " CASCADE" if getattr(op, "cascade", False) else ""
    if isinstance(op, ops.AddColumn):
        return f"ADD COLUMN {'IF NOT EXISTS ' if op.if_not_exists else ''}{op.column.sql}"
    if isinstance(op, ops.AddConstraint):
        return f"ADD {op.constraint.sql}"
    if isinstance(op, ops.DropColumn):
        return f"DROP COLUMN {exists}{q(op.column)}{cascade}"
    if isinstance(op, ops.DropConstraint):
        return f"DROP CONSTRAINT {exists}{q(op.name)}"
    if isinstance(op, ops.ValidateConstraint):
        return f"VALIDATE CONSTRAINT {q(op.name)}"
    column = getattr(op, "column", None)
    simple = {ops.SetNotNull: "SET NOT NULL", ops.DropNotNull: "DROP NOT NULL", ops.DropDefault: "DROP DEFAULT"}
    if type(op) in simple and isinstance(column, str):
        return f"ALTER COLUMN {q(column)} {simple[type(op)]}"
    if isinstance(op, ops.SetDefault):
        return f"ALTER COLUMN {q(op.column)} SET DEFAULT {op.default}"
    return None
