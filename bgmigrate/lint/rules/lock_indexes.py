"""Index builds and drops that block the table: non-concurrent-index, concurrent-index-if-not-exists."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.lock_data import indent_sql, outside_transaction_advice, shown
from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.quote import quote_literal

_CREATE_INDEX = re.compile(r"^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX)\b", re.IGNORECASE)


def with_concurrently(text: str) -> str:
    """The user's CREATE INDEX with CONCURRENTLY added.

    >>> with_concurrently("create unique index i on t (a)")
    'create unique index CONCURRENTLY i on t (a);'
    """
    return _CREATE_INDEX.sub(r"\1 CONCURRENTLY", text.strip().rstrip(";"), count=1) + ";"


def index_name(op: ops.CreateIndex) -> Name | None:
    """The index's name as PostgreSQL will store it (its default name for simple column lists)."""
    if op.name:
        return Name(op.name, op.target.schema)
    if op.columns and not op.expression:
        return Name(f"{op.target.name}_{'_'.join(op.columns)}_idx", op.target.schema)
    return None


def _transaction_note(ctx: OpContext) -> str:
    if not ctx.in_transaction:
        return ""
    return "\n   CONCURRENTLY cannot run inside a transaction block. " + outside_transaction_advice(ctx)


@op_rule("non-concurrent-index", ops.CreateIndex, ops.DropIndex, ops.Reindex)
def non_concurrent_index(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Plain CREATE INDEX / DROP INDEX / REINDEX lock an existing table for the whole operation."""
    if isinstance(op, ops.CreateIndex):
        yield from _create_index(op, ctx)
    elif isinstance(op, ops.DropIndex):
        yield from _drop_index(op, ctx)
    elif isinstance(op, ops.Reindex):
        yield from _reindex(op, ctx)


def _create_index(op: ops.CreateIndex, ctx: OpContext) -> Iterator[Hit]:
    if op.concurrently or ctx.is_new_table(op.target):
        return
    label = f"CREATE {'UNIQUE ' if op.unique else ''}INDEX{' ' + op.name if op.name else ''}"
    name = index_name(op)
    if ctx.migration.kind == "alembic":
        step1 = (
            "1. Build it without blocking writes: pass postgresql_concurrently=True to op.create_index and "
            "run it inside `with op.get_context().autocommit_block():`. The SQL it runs:\n"
            + indent_sql(with_concurrently(op.stmt.text))
        )
    else:
        step1 = (
            "1. Build it without blocking writes, outside any transaction block:\n"
            + indent_sql(with_concurrently(op.stmt.text))
            + _transaction_note(ctx)
        )
    drop = (
        f"DROP INDEX CONCURRENTLY IF EXISTS {name.sql()};"
        if name
        else "DROP INDEX CONCURRENTLY IF EXISTS <index name>;"
    )
    yield Hit(
        op,
        f"{label} on {op.target} takes a SHARE lock that blocks every INSERT, UPDATE and DELETE on "
        f"{op.target} for the whole index build (reads continue).",
        step1 + "\n2. A concurrent build that fails or is cancelled leaves an INVALID index behind; drop it "
        "before trying again:\n" + indent_sql(drop),
    )


def _drop_index(op: ops.DropIndex, ctx: OpContext) -> Iterator[Hit]:
    if op.concurrently:
        return
    table = ctx.table_of_index(op.index)
    if table is not None and ctx.is_new_table(table):
        return
    table = shown(table) if table is not None else None
    where = f"on {table}" if table else "on the table it belongs to"
    whom = str(table) if table else "that table"
    if_exists = " IF EXISTS" if op.if_exists else ""
    fix = (
        "1. Drop it without blocking queries, outside any transaction block (one index per statement, "
        "no CASCADE):\n" + indent_sql(f"DROP INDEX CONCURRENTLY{if_exists} {op.index.sql()};") + _transaction_note(ctx)
    )
    if ctx.migration.kind == "alembic":
        fix += "\n   With Alembic: op.drop_index(..., postgresql_concurrently=True) inside autocommit_block()."
    yield Hit(
        op,
        f"DROP INDEX {op.index} takes an ACCESS EXCLUSIVE lock {where}: every read and write on {whom} "
        f"waits for it, and while it waits behind a long query everything else queues too.",
        fix,
    )


def _reindex_target(op: ops.Reindex, ctx: OpContext) -> tuple[Name | None, str] | None:
    """(table, label) of what a REINDEX locks; None when it only touches a new table."""
    if op.kind == "index":
        table = ctx.table_of_index(op.target_name)
        if table is not None and ctx.is_new_table(table):
            return None
        table = shown(table) if table is not None else None
        return table, f"{table}" if table else "the index's table"
    if op.kind == "table":
        if ctx.is_new_table(op.target_name):
            return None
        return op.target_name, str(op.target_name)
    return None, f"every table in {op.kind} {op.target_name}, one after another"


def _reindex(op: ops.Reindex, ctx: OpContext) -> Iterator[Hit]:
    target = _reindex_target(op, ctx)
    if target is None:
        return
    table, label = target
    what = f"REINDEX {op.kind.upper()} {op.target_name}"
    if op.concurrently:
        if ctx.pg_version < 12:
            yield Hit(
                op,
                f"{what} CONCURRENTLY needs PostgreSQL 12; on PostgreSQL {ctx.pg_version} the statement "
                "is rejected and the migration fails.",
                _reindex_before_12(op, ctx, table),
            )
        return
    locks = (
        f"blocks writes to {label} (SHARE lock) and locks the index ACCESS EXCLUSIVE, so queries that "
        "would use it wait too"
        if op.kind == "index"
        else f"blocks writes to {label}, and queries that would use the indexes being rebuilt wait too"
    )
    message = f"{what} rebuilds indexes while it {locks}, for the whole rebuild."
    if op.kind == "system":
        yield Hit(
            op,
            message,
            "1. REINDEX SYSTEM has no concurrent form: take it out of the deploy-time migration and run it "
            "in a maintenance window.",
        )
        return
    if ctx.pg_version < 12:
        yield Hit(op, message, _reindex_before_12(op, ctx, table))
        return
    yield Hit(
        op,
        message,
        "1. Rebuild without blocking writes (PostgreSQL 12+), outside any transaction block:\n"
        + indent_sql(f"REINDEX {op.kind.upper()} CONCURRENTLY {op.target_name.sql()};")
        + _transaction_note(ctx)
        + "\n2. A failed concurrent rebuild leaves an INVALID copy named *_ccnew; drop it with "
        "DROP INDEX CONCURRENTLY before retrying.",
    )


def _reindex_before_12(op: ops.Reindex, ctx: OpContext, table: Name | None) -> str:
    if op.kind != "index":
        return (
            f"1. Before PostgreSQL 12 there is no online REINDEX {op.kind.upper()}. For each index "
            "to rebuild, "
            "build a replacement with CREATE INDEX CONCURRENTLY, drop the old one with DROP INDEX "
            "CONCURRENTLY, and rename the new one into its place; otherwise run it in a maintenance window."
        )
    old = op.target_name
    new = Name(f"{old.name}_new", old.schema)
    index = ctx.schema.index(old)
    if index is not None and index.columns and not index.expression and not index.partial:
        columns = ", ".join(quote_ident(c) for c in index.columns)
        definition = f"{table.sql() if table else '<table>'} ({columns})"
    else:
        definition = f"{table.sql() if table else '<table>'} (<the same definition as {old.name}>)"
    unique = "UNIQUE " if index is not None and index.unique else ""
    return (
        "1. Before PostgreSQL 12 there is no online REINDEX; build a replacement instead, outside any "
        "transaction block:\n"
        + indent_sql(
            f"CREATE {unique}INDEX CONCURRENTLY {quote_ident(new.name)} ON {definition};\n"
            f"DROP INDEX CONCURRENTLY {old.sql()};\n"
            f"ALTER INDEX {new.sql()} RENAME TO {quote_ident(old.name)};"
        )
        + "\n   (An index that backs a constraint cannot be dropped like this: run the REINDEX in a "
        "maintenance window instead.)"
    )


@op_rule("concurrent-index-if-not-exists", ops.CreateIndex)
def concurrent_index_if_not_exists(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """IF NOT EXISTS silently keeps the INVALID index a failed concurrent build left behind."""
    assert isinstance(op, ops.CreateIndex)
    if not (op.concurrently and op.if_not_exists) or ctx.is_new_table(op.target):
        return
    name = index_name(op)
    if name is None:
        return
    plain = re.sub(r"\s+IF\s+NOT\s+EXISTS\b", "", op.stmt.text.strip().rstrip(";"), count=1, flags=re.IGNORECASE)
    literal = quote_literal(name.sql())
    yield Hit(
        op,
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name.name} skips the build whenever an index of that name "
        f"exists, including the INVALID one an earlier failed or cancelled build left on {op.target}. The "
        "re-run then reports success while the index is unusable for queries (and a UNIQUE one still "
        "rejects writes).",
        "1. Drop any leftover first, then build without IF NOT EXISTS, so a re-run always ends with a "
        "valid index:\n"
        + indent_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name.sql()};\n{plain};")
        + "\n2. To check an index by hand:\n"
        + indent_sql(f"SELECT indisvalid FROM pg_index WHERE indexrelid = {literal}::regclass;"),
    )
