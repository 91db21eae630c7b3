"""A column that must end up NOT NULL while the old version may still leave it NULL.

expand installs a trigger that gives the column a value wherever a writer leaves it NULL (the
old version never writes it, or writes NULL); migrate fills existing rows in batches; contract
enforces NOT NULL the online way and removes the trigger. No row written before contract is
left behind.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE
from bgmigrate.plan import not_null, triggers
from bgmigrate.plan.backfill import backfill_step, batch_key, left_behind
from bgmigrate.plan.draft import CONTRACT, EXPAND, MIGRATE, Draft, Item, Rewrite, suppressed
from bgmigrate.plan.phases import Check
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.sqlgen import q, step
from bgmigrate.sql.names import Name


def value_for(table: Name, column: str, request: PlanRequest, what: str) -> str:
    """The ``--backfill`` value for the column, or a refusal that says how to give it."""
    value = request.backfill_for(column, table.name)
    if value is None:
        raise PlanError(
            f"{what} {table}.{column}: give --backfill {column}=SQL_EXPR, the value for rows where it is NULL "
            "(existing rows, and rows the old version writes until contract)"
        )
    return value


def require(item: Item, table: Name, column: str, value: str, request: PlanRequest) -> Rewrite:
    """Fill trigger in expand, backfill in migrate, NOT NULL and trigger removal in contract."""
    line = item.op.stmt.line
    fill = triggers.fill(table, column, value, request.pg_version)
    key, assumptions = batch_key(table, item.facts, request)
    is_null = f"{q(column)} IS NULL"
    expand = (
        step(f"create the function giving {table}.{column} a value where a writer leaves it NULL",
             fill.create_function, rollback=fill.drop_function, line=line),
        step(f"install the fill trigger on {table}", fill.create_trigger, table=table, lock=SHARE_ROW_EXCLUSIVE,
             rollback=fill.drop_trigger, line=line),
    )  # fmt: skip
    contract = (
        *not_null.enforce(table, column, request.pg_version, line),
        step(f"drop the fill trigger on {table}", fill.drops()[0], table=table, lock=ACCESS_EXCLUSIVE, line=line),
        step("drop its function", fill.drops()[1], line=line),
    )
    trigger = fill.trigger_name
    checks = (
        (EXPAND, Check("trigger_exists", table=str(table), name=trigger, description="the fill trigger is installed")),
        (MIGRATE, left_behind(table, key, is_null, f"{column} NULL")),
        (CONTRACT, not_null.enforced(table, column)),
        (CONTRACT, Check("trigger_absent", table=str(table), name=trigger, description="the fill trigger is gone")),
    )
    backfill = backfill_step(table, key, column, value, is_null, request, line)
    notes = (
        (EXPAND, f"The old version may leave {q(column)} NULL: the trigger gives such rows {value}."),
        (CONTRACT, f"{q(column)} becomes NOT NULL: by now only the new version writes {table}, and it must always "
                   f"set {q(column)}."),
    )  # fmt: skip
    return Rewrite(
        expand=expand, migrate=(backfill,), contract=contract, checks=checks, notes=notes, assumptions=assumptions
    )


def _already_safe(item: Item) -> bool:
    op = item.op
    assert isinstance(op, ops.SetNotNull)
    if item.facts.is_new(op.target):
        return True
    table = item.facts.table(op.target)
    column = item.facts.column(op.target, op.column)
    return (column is not None and not column.nullable) or (
        table is not None and table.has_validated_not_null_check(op.column)
    )


def set_not_nulls(draft: Draft) -> Draft:
    """Pass: SET NOT NULL on an existing table → fill trigger, backfill, then NOT NULL via a CHECK.

    A column a VALID ``CHECK (col IS NOT NULL)`` already covers needs no scan: carried over as is.
    """
    for item in list(draft.pending(ops.SetNotNull)):
        if _already_safe(item) or suppressed(item, "set-not-null"):
            continue
        op = item.op
        assert isinstance(op, ops.SetNotNull)
        value = value_for(op.target, op.column, draft.request, "set not null on")
        rewrite = require(item, op.target, op.column, value, draft.request)
        precondition = Check(
            "column_exists", table=str(op.target), column=op.column, description=f"{op.target}.{op.column} exists"
        )
        draft = draft.place(item, Rewrite(
            expand=rewrite.expand, migrate=rewrite.migrate, contract=rewrite.contract, checks=rewrite.checks,
            notes=rewrite.notes, assumptions=rewrite.assumptions, preconditions=(precondition,), recipe="set not null",
        ))  # fmt: skip
    return draft
