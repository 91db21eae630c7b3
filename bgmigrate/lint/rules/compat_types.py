"""Type changes: a column's type, and the values of an enum type."""

from __future__ import annotations

from collections.abc import Iterator

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.compat_columns import (
    added_in_migration,
    backfill,
    known_column,
    lit,
    q,
    sql_block,
    steps,
    sync_trigger,
)
from bgmigrate.lint.rules.history import named_here
from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name
from bgmigrate.sql.type_facts import is_binary_coercible, normalize_type


@op_rule("change-column-type", ops.AlterColumnType)
def change_column_type(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """ALTER COLUMN TYPE rewrites the table under ACCESS EXCLUSIVE, and old code may not fit the new type."""
    assert isinstance(op, ops.AlterColumnType)
    if ctx.is_new_table(op.target):
        return
    col = known_column(ctx, op.target, op.column)
    if col is not None and op.using is None and is_binary_coercible(col.type, op.new_type):
        return  # catalog-only change: no rewrite, and every old value still fits
    t, c = op.target.sql(), q(op.column)
    where = f"{t}.{c}"
    new_type = normalize_type(op.new_type)
    new_col = f"{op.column}_new"[:63]
    n = q(new_col)
    indexes = [i for i in ctx.schema.indexes_on(op.target) if op.column in i.columns or i.expression]
    rebuild = f" and rebuilds {len(indexes)} index(es) on it" if indexes else " and rebuilds its indexes"
    lock = (
        f"it rewrites every row of {t}{rebuild} under an ACCESS EXCLUSIVE lock that blocks all "
        "reads and writes until it finishes"
    )
    value = f"({op.using})" if op.using else f"{c}::{op.new_type}"
    using_note = (
        "\n   (the trigger converts by assignment; if your USING expression does more than a cast, "
        "put it in the trigger)"
        if op.using
        else ""
    )
    create, drop = sync_trigger(op.target, op.column, new_col)
    fix = steps(
        f"Expand: add {n} with the new type and keep it in sync with {c}:\n"
        + sql_block([f"ALTER TABLE {t} ADD COLUMN {n} {op.new_type};", *create])
        + using_note,
        "Backfill existing rows in batches (repeat until it updates 0 rows):\n"
        + sql_block([backfill(op.target, new_col, value, f"{n} IS NULL AND {c} IS NOT NULL")]),
        f"Build any index {c} had on {n} with CREATE INDEX CONCURRENTLY (for a primary key or unique "
        "constraint: CREATE UNIQUE INDEX CONCURRENTLY, then swap it in during the contract step with "
        "ADD CONSTRAINT … USING INDEX).",
        f"Release code that reads and writes {n}; switch traffic and retire the old version.",
        "Contract, in a later migration:\n" + sql_block([*drop, f"ALTER TABLE {t} DROP COLUMN {c};"]),
    )
    if col is None:
        yield Hit(
            op,
            f"Changing the type of {where} to {new_type}: its old type is unknown (not seen in earlier "
            "migrations), so bgmigrate cannot tell whether this is a binary-coercible change that only "
            f"takes a brief lock. Otherwise {lock}, and the app version still serving may fail on values "
            "of the new type.",
            fix,
            severity=Severity.WARNING,
        )
    elif added_in_migration(ctx.earlier, op.target, op.column):
        yield Hit(
            op,
            f"Changing the type of {where} from {col.type} to {new_type}: {lock}. The column was added "
            f"earlier in this migration, so declare it as {new_type} there instead.",
            steps(f"Declare {c} as {op.new_type} in its ADD COLUMN and remove this ALTER COLUMN TYPE."),
            severity=Severity.WARNING,
        )
    else:
        yield Hit(
            op,
            f"Changing the type of {where} from {col.type} to {new_type}: {lock}. The app version still "
            "serving may also break: it reads values of a type it does not expect and can write values "
            "the new type rejects.",
            fix,
        )


def _value_added_here(ctx: OpContext, type_name: Name, value: str) -> bool:
    known = getattr(ctx.earlier, "names", None)  # the linter keeps the answer up to date
    if known is not None:
        return named_here(known, ("enum value", type_name.key), value)
    current = value
    for o in reversed(ctx.earlier):
        if isinstance(o, ops.RenameEnumValue) and o.type_name.key == type_name.key and o.new_value == current:
            current = o.value
        elif isinstance(o, ops.AddEnumValue) and o.type_name.key == type_name.key and o.value == current:
            return True
    return False


def _enum_columns(ctx: OpContext, type_name: Name) -> list[tuple[Name, str]]:
    """Columns of known tables whose type is this enum."""
    wanted = {normalize_type(type_name.name), normalize_type(str(type_name))}
    if type_name.schema in (None, "public"):
        wanted.add(normalize_type(f"public.{type_name.name}"))
    found = []
    for table in ctx.schema.tables.values():
        for col in table.columns.values():
            if normalize_type(col.type) in wanted:
                found.append((table.name, col.name))
    return found


@op_rule("rename-enum-value", ops.RenameEnumValue)
def rename_enum_value(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """The old version still writes and compares the old label."""
    assert isinstance(op, ops.RenameEnumValue)
    if ctx.created_here("type", op.type_name) or _value_added_here(ctx, op.type_name, op.value):
        return
    ty = op.type_name.sql()
    old, new = lit(op.value), lit(op.new_value)
    columns = _enum_columns(ctx, op.type_name)
    updates = [backfill(table, col, new, f"{q(col)} = {old}") for table, col in columns] or [
        f"UPDATE <table> SET <column> = {new} WHERE <column> = {old};  -- each column of type {ty}"
    ]
    yield Hit(
        op,
        f"Renaming value {old} of enum {ty} to {new} breaks the app version still serving: its writes "
        f"of {old} fail with 'invalid input value for enum', its comparisons with {old} stop matching, "
        f"and it reads {new}, a value it does not know.",
        steps(
            "Expand, in its own migration (before PostgreSQL 12 outside a transaction block; the new value "
            "is usable only after that transaction commits):\n"
            + sql_block([f"ALTER TYPE {ty} ADD VALUE IF NOT EXISTS {new};"]),
            f"Release code that writes {new} and treats both values alike; switch traffic and retire the old version.",
            "Move existing rows over in batches (repeat each until it updates 0 rows):\n" + sql_block(updates),
            f"Leave {old} unused (PostgreSQL cannot drop an enum value), or forbid it with a CHECK "
            "constraint added NOT VALID and then validated.",
        ),
    )
