"""Table-level changes that break the app version still serving: drop, rename or move, drop uniqueness."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bgmigrate.lint.rules.api import Hit, OpContext, migration_rule, op_rule
from bgmigrate.lint.rules.compat_columns import q, sql_block, steps
from bgmigrate.lint.rules.history import last_creates
from bgmigrate.lint.rules.recreated import recreated_under_name, recreated_unique
from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name


@op_rule("drop-table", ops.DropTable)
def drop_table(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Dropping a table the old version still uses breaks it, and the data is gone."""
    assert isinstance(op, ops.DropTable)
    if ctx.is_new_table(op.target):
        return
    cascade = (
        " CASCADE also drops the views that read it and the foreign keys of other tables that "
        "reference it, without naming them."
        if op.cascade
        else ""
    )
    yield Hit(
        op,
        f"Dropping table {op.target.sql()} breaks the app version still serving: every query on "
        f"{op.target.sql()} fails with 'relation does not exist', and rolling back needs a restore of its "
        f"data.{cascade}",
        steps(
            f"Release code that no longer reads or writes {op.target.sql()}; switch traffic and retire "
            "the old version.",
            "Keep a copy if the data may be wanted again (pg_dump --table, or CREATE TABLE … AS).",
            "Only then, in a contract migration:\n" + sql_block([f"DROP TABLE {op.target.sql()};"]),
        ),
    )


def _rename_target(op: ops.Operation) -> tuple[Name, Name] | None:
    """(old name, new name) of a table rename or schema move."""
    if isinstance(op, ops.RenameTable):
        return op.target, Name(op.new_name, op.target.schema)
    if isinstance(op, ops.AlterTableSet) and op.what == "schema":
        schema = op.new_schema
        return op.target, Name(op.target.name, schema or "<new schema>")
    return None


@migration_rule("rename-table")
def rename_table(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """Renaming (or moving) a table breaks the old version, unless a view keeps the old name working."""
    last_created = last_creates(seen)
    for i, (op, ctx) in enumerate(seen):
        names = _rename_target(op)
        if names is None:
            continue
        old, new = names
        # A view created later under the old name (a compatibility view) keeps the old version working.
        if ctx.is_new_table(old) or last_created.get(("view", old.key), -1) > i:
            continue
        if isinstance(op, ops.AlterTableSet):
            verb = f"Moving table {old.sql()} to schema {q(new.schema or '')}"
            action = f"ALTER TABLE {old.sql()} SET SCHEMA {q(new.schema or '')};"
        else:
            verb = f"Renaming table {old.sql()} to {q(new.name)}"
            action = f"ALTER TABLE {old.sql()} RENAME TO {q(new.name)};"
        yield Hit(
            op,
            f"{verb} breaks the app version still serving: its queries on {old.sql()} fail with 'relation "
            f"does not exist' the moment this commits.",
            steps(
                "In one transaction, rename and leave a view under the old name; a simple view like this is "
                "updatable, so the old version keeps reading and writing through it:\n"
                + sql_block(
                    [
                        "BEGIN;",
                        "SET LOCAL lock_timeout = '5s';",
                        action,
                        f"CREATE VIEW {old.sql()} AS SELECT * FROM {new.sql()};",
                        "COMMIT;",
                    ]
                ),
                f"Release code that uses {new.sql()}; switch traffic and retire the old version.",
                "Contract, in a later migration:\n" + sql_block([f"DROP VIEW {old.sql()};"]),
            ),
        )


# ---- uniqueness ------------------------------------------------------------------------------

_UNIQUE_KINDS = ("unique", "primary_key", "exclude")


def _still_unique(ctx: OpContext, table: Name, columns: tuple[str, ...], dropped: str) -> bool:
    """Whether another unique index or constraint covers exactly the same columns."""
    if not columns:
        return False
    found = ctx.table(table)
    constraints = found.constraints.values() if found else ()
    others = [c.columns for c in constraints if c.name != dropped and c.kind in ("unique", "primary_key")]
    others += [
        i.columns for i in ctx.schema.indexes_on(table) if i.unique and i.valid and not i.partial and i.name != dropped
    ]
    return any(set(cols) == set(columns) for cols in others)


@op_rule("drop-unique-constraint", ops.DropConstraint, ops.DropIndex)
def drop_unique_constraint(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Dropping a unique or primary key constraint (or unique index) breaks old ON CONFLICT upserts."""
    if isinstance(op, ops.DropConstraint):
        table: Name | None = op.target
        name = op.name
        found = ctx.table(op.target)
        con = found.constraints.get(op.name) if found else None
        if con is not None:
            if con.kind not in _UNIQUE_KINDS:
                return
            columns, kind = con.columns, con.kind.replace("_", " ")
        elif op.name.endswith(("_pkey", "_key")):
            # Never seen: PostgreSQL's own naming says what it is.
            columns, kind = (), "primary key" if op.name.endswith("_pkey") else "unique"
        else:
            return
        what = f"{kind} constraint {name}"
        drop_sql = f"ALTER TABLE {op.target.sql()} DROP CONSTRAINT {q(name)};"
    elif isinstance(op, ops.DropIndex):
        index = ctx.schema.index(op.index)
        if index is None or not index.unique:
            return
        table, name, columns = index.table, index.name, index.columns
        what = f"unique index {name}"
        drop_sql = f"DROP INDEX CONCURRENTLY {op.index.sql()};"
    else:
        return
    if table is None or ctx.is_new_table(table) or _still_unique(ctx, table, columns, name):
        return
    if ctx.in_transaction and recreated_unique(ctx.migration, op, table, name, columns):
        return  # dropped and added again over the same columns before anyone can see the gap
    cols = f" ({', '.join(columns)})" if columns else ""
    again = recreated_under_name(ctx.migration, op, table, name) if ctx.in_transaction else None
    # Recreated under the same name over other columns: a different constraint, judged as one.
    now = f" It is created again over ({', '.join(again)}), which those statements do not name." if again else ""
    yield Hit(
        op,
        f"Dropping {what} on {table.sql()}{cols} can break the app version still serving: its "
        f"INSERT … ON CONFLICT{cols} statements fail with 'there is no unique or exclusion constraint "
        f"matching the ON CONFLICT specification', and code that relies on the database rejecting "
        f"duplicates lets them in.{now}",
        steps(
            "Check that no running version upserts on these columns or relies on them being unique.",
            "If the old version does, release code that does not; switch traffic and retire the old version.",
            "Then, in a contract migration:\n" + sql_block([drop_sql]),
        ),
        context_fix=again is not None,
    )
