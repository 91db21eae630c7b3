"""Column changes that break the app version still serving: drop and rename."""

from __future__ import annotations

from collections.abc import Iterator

from bgmigrate import operations as ops
from bgmigrate.checks.api import Hit, OpContext, op_rule


@op_rule("drop-column", ops.DropColumn)
def drop_column(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Dropping a column the old version still reads or writes breaks it."""
    assert isinstance(op, ops.DropColumn)
    if ctx.is_new_table(op.target):
        return
    table = op.target.sql()
    yield Hit(
        op,
        f"Dropping column {op.column} from {op.target} breaks the app version still serving: "
        f"its queries that read or write {op.column} fail as soon as this runs, and rollback "
        "needs a restore.",
        f"1. Release code that no longer reads or writes {op.column} (ignore it in the ORM).\n"
        f"2. Switch traffic and retire the old version.\n"
        f"3. Only then, in a contract migration: ALTER TABLE {table} DROP COLUMN {op.column};",
    )
