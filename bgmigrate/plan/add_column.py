"""Add column: split into what is safe now and what must wait.

A nullable column, or one with a non-volatile default, is added as written (a brief lock, no
rewrite since PostgreSQL 11). Otherwise the column is added plain in expand and the rest is
done online: a volatile default is set for new rows and backfilled; NOT NULL without a
default needs ``--backfill`` and goes through ``required``; inline REFERENCES / CHECK / UNIQUE /
PRIMARY KEY become their online forms (``constraints``).
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE
from bgmigrate.plan import not_null
from bgmigrate.plan.backfill import backfill_step, batch_key, left_behind
from bgmigrate.plan.columns import Clause, ColumnParts, split_column
from bgmigrate.plan.constraints import NewConstraint, online
from bgmigrate.plan.draft import CONTRACT, EXPAND, MIGRATE, Draft, Item, Rewrite, combine, suppressed
from bgmigrate.plan.phases import Check
from bgmigrate.plan.request import PlanRequest
from bgmigrate.plan.required import require, value_for
from bgmigrate.plan.sqlgen import alter, q, step
from bgmigrate.sql.implicit_names import constraint_name
from bgmigrate.sql.names import Name

# Column clauses that are constraints, and the constraint each becomes.
_INLINE: dict[str, ops.ConstraintKind] = {
    "references": "foreign_key", "check": "check", "unique": "unique", "primary_key": "primary_key",
}  # fmt: skip


def _needs_rewrite(op: ops.AddColumn, parts: ColumnParts) -> bool:
    spec = op.column
    if spec.generated_stored or spec.identity or spec.serial:
        return False  # no online recipe: carried over with a note
    inline = any(c.kind in _INLINE for c in parts.clauses)
    volatile = spec.default is not None and spec.default_volatile
    required = not spec.nullable and spec.default is None
    return inline or volatile or required


def _plain(op: ops.AddColumn, parts: ColumnParts) -> str:
    """The column definition without inline constraints (a non-volatile default and its NOT NULL stay)."""
    spec = op.column
    text = f"{parts.name_sql} {parts.type_sql}"
    if parts.default_sql is not None and not spec.default_volatile:
        text += f" DEFAULT {parts.default_sql}" + (" NOT NULL" if not spec.nullable else "")
    exists = "IF NOT EXISTS " if op.if_not_exists else ""
    return f"ADD COLUMN {exists}{text}"


def _inline(table: Name, column: str, clause: Clause) -> NewConstraint:
    kind = _INLINE[clause.kind]
    name = clause.name or constraint_name(table.name, kind, (column,))
    body = {
        "foreign_key": f"FOREIGN KEY ({q(column)}) {clause.text}",
        "unique": f"UNIQUE ({q(column)})",
        "primary_key": f"PRIMARY KEY ({q(column)})",
    }.get(kind, clause.text)
    return NewConstraint(name, kind, body, (column,))


def _volatile_default(item: Item, request: PlanRequest, column: str, default: str, required: bool) -> Rewrite:
    """Default for new rows now, backfill for existing ones, NOT NULL (if asked) at contract."""
    line, table = item.op.stmt.line, item.op.table
    assert table is not None
    key, assumptions = batch_key(table, item.facts, request)
    set_default = step(f"default {table}.{column} to {default} for new rows (no rewrite)",
                       alter(table, f"ALTER COLUMN {q(column)} SET DEFAULT {default}"), table=table,
                       lock=ACCESS_EXCLUSIVE, line=line)  # fmt: skip
    is_null = f"{q(column)} IS NULL"
    backfill = backfill_step(table, key, column, default, is_null, request, line)
    checks: list[tuple[str, Check]] = [(MIGRATE, left_behind(table, key, is_null, f"{column} NULL"))]
    contract = not_null.enforce(table, column, request.pg_version, line) if required else ()
    if required:
        checks.append((CONTRACT, not_null.enforced(table, column)))
    return Rewrite(
        expand=(set_default,), migrate=(backfill,), contract=contract, checks=tuple(checks), assumptions=assumptions
    )


def add_column(item: Item, draft: Draft) -> Rewrite:
    op = item.op
    assert isinstance(op, ops.AddColumn)
    table, spec = op.target, op.column
    parts = split_column(spec.sql)
    line = op.stmt.line
    add = step(f"add {table}.{spec.name}", alter(table, _plain(op, parts)), table=table, lock=ACCESS_EXCLUSIVE,
               rollback=alter(table, f"DROP COLUMN IF EXISTS {q(spec.name)}"), line=line)  # fmt: skip
    parts_done = [Rewrite(
        expand=(add,),
        checks=((EXPAND, Check("column_exists", table=str(table), column=spec.name, description=f"{table}.{spec.name} exists")),),
        preconditions=(Check("column_absent", table=str(table), column=spec.name, description=f"{table}.{spec.name} does not exist yet"),),
    )]  # fmt: skip
    if spec.default is not None and spec.default_volatile:
        parts_done.append(
            _volatile_default(item, draft.request, spec.name, parts.default_sql or spec.default, not spec.nullable)
        )
    elif not spec.nullable and spec.default is None:
        value = value_for(table, spec.name, draft.request, "adding required column")
        parts_done.append(require(item, table, spec.name, value, draft.request))
    for clause in parts.clauses:
        if clause.kind in _INLINE:
            parts_done.append(
                online(table, _inline(table, spec.name, clause), item.facts, draft.request.pg_version, line)
            )
    return combine(*parts_done, recipe="add column")


def add_columns(draft: Draft) -> Draft:
    """Pass: ADD COLUMN on an existing table that needs more than a brief lock → its online form."""
    for item in list(draft.pending(ops.AddColumn)):
        op = item.op
        assert isinstance(op, ops.AddColumn)
        if suppressed(item, "add-required-column", "table-rewrite", "validating-constraint", "unique-without-index"):
            continue
        if not item.facts.is_new(op.target) and _needs_rewrite(op, split_column(op.column.sql)):
            draft = draft.place(item, add_column(item, draft))
    return draft
