"""Statements that destroy data a running version (and any rollback) still needs."""

from __future__ import annotations

from collections.abc import Iterator

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.compat_columns import q, sql_block, steps
from bgmigrate.model import operations as ops


def _batched_delete(table: str) -> str:
    batch = f"SELECT ctid FROM {table} WHERE <condition> LIMIT 5000"
    return f"DELETE FROM {table} WHERE ctid = ANY (ARRAY({batch}));"


@op_rule("truncate-table", ops.Truncate)
def truncate_table(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """TRUNCATE empties a table that serves traffic."""
    assert isinstance(op, ops.Truncate)
    if ctx.is_new_table(op.target):
        return
    cascade = " CASCADE empties every table with a foreign key to it as well." if op.cascade else ""
    yield Hit(
        op,
        f"TRUNCATE {op.target.sql()} deletes every row of a table both app versions use, under an ACCESS "
        f"EXCLUSIVE lock that blocks all reads and writes meanwhile; rolling back needs a restore.{cascade}",
        steps(
            "If the rows are disposable (a cache, a staging table), say so: "
            "`-- bgmigrate: ignore[truncate-table] <why the data is disposable>`.",
            "Otherwise keep the data: copy it first, or delete only what must go, in batches "
            "(repeat until it deletes 0 rows):\n" + sql_block([_batched_delete(op.target.sql())]),
        ),
    )


@op_rule("delete-all-rows", ops.DeleteRows)
def delete_all_rows(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """DELETE without WHERE: a TRUNCATE in slow motion, holding row locks on the whole table."""
    assert isinstance(op, ops.DeleteRows)
    if op.has_where or ctx.is_new_table(op.target):
        return
    t = op.target.sql()
    yield Hit(
        op,
        f"DELETE FROM {t} has no WHERE clause: it deletes every row of a table both app versions use, "
        "in one long transaction that locks every row; rolling back needs a restore.",
        steps(
            "If emptying the table is intended and the rows are disposable, say so: "
            "`-- bgmigrate: ignore[delete-all-rows] <why the data is disposable>`.",
            "Otherwise state which rows go, and delete them in batches (repeat until it deletes 0 rows):\n"
            + sql_block([_batched_delete(t)]),
        ),
    )


@op_rule("drop-database", ops.DropObject)
def drop_database(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """DROP DATABASE / DROP SCHEMA take every table in them, and their data, with them."""
    assert isinstance(op, ops.DropObject)
    if op.kind == "database":
        yield Hit(
            op,
            f"DROP DATABASE {op.name.sql()} destroys every table and row in it; any app version "
            "connected to it fails, and only a restore brings it back.",
            steps(
                "Do not drop databases from a deploy-time migration: retire every app version that uses "
                f"{op.name.sql()}, take a backup, and drop it by hand as an operations task.",
            ),
        )
        return
    if op.kind != "schema":
        return
    if ctx.created_here("schema", op.name):
        return
    schema_name = op.name.name
    tables = sorted(str(t.name) for k, t in ctx.schema.tables.items() if k[0] == schema_name)
    listed = f" (known tables: {', '.join(tables[:5])}{', …' if len(tables) > 5 else ''})" if tables else ""
    if op.cascade:
        message = (
            f"DROP SCHEMA {op.name.sql()} CASCADE drops every table, view, function and type in it{listed}, "
            "with their data; every app version using them fails, and rolling back needs a restore."
        )
        severity = None
    else:
        message = (
            f"DROP SCHEMA {op.name.sql()} removes a schema the app versions may still name; it fails "
            f"unless the schema is already empty{listed}, and if it succeeds, anything the old version "
            "expects there is gone."
        )
        severity = Severity.WARNING
    yield Hit(
        op,
        message,
        steps(
            f"Release code that no longer uses schema {op.name.sql()}; switch traffic and retire the old version.",
            "Take a backup of what is in it (pg_dump --schema).",
            "Then, in a contract migration, drop exactly what you mean to:\n"
            + sql_block([f"DROP SCHEMA {q(schema_name)}{' CASCADE' if op.cascade else ''};"]),
        ),
        severity=severity,
    )
