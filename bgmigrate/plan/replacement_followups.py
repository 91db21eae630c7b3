"""Later statements on a column that a rename or type change is replacing.

While a replacement column is kept in sync, its default and NOT NULL must wait (a default on
the new column would look like a write by the new version and overwrite what the old version
wrote), and an index on a column about to be swapped out would be dropped with it. So what the
migration does to such a column after the rename or type change runs in contract, after the
swap; what cannot wait that long (another type change, another rename, a drop) is refused.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.plan import not_null
from bgmigrate.plan.draft import CONTRACT, Draft, Item, Rewrite
from bgmigrate.plan.indexes import create_index
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.verbatim import verbatim_step

_LATER = (ops.SetDefault, ops.DropDefault, ops.DropNotNull)
_REFUSED = (ops.AlterColumnType, ops.RenameColumn, ops.DropColumn, ops.AddConstraint)


def _columns(op: ops.Operation) -> tuple[str, ...]:
    if isinstance(op, ops.CreateIndex):
        return op.columns
    if isinstance(op, ops.AddConstraint):
        return op.constraint.columns
    column = getattr(op, "column", None)
    return (column,) if isinstance(column, str) else ()


def _shadow_of(draft: Draft, item: Item) -> tuple[int, str, str] | None:
    """(index, column name, recipe) of the replacement ``item`` touches, if any."""
    table = item.op.table
    if table is None:
        return None
    for index, key, old, new, recipe in draft.shadows:
        touched = new if recipe == "rename" else old
        if index < item.index and key == table.key and touched in _columns(item.op):
            return index, touched, recipe
    return None


def _after_swap(draft: Draft, item: Item, column: str, recipe: str) -> Draft:
    op = item.op
    line = op.stmt.line
    known = item.facts.column(op.table, column) if op.table is not None else None
    if isinstance(op, _LATER) or (isinstance(op, ops.SetNotNull) and known is not None and not known.nullable):
        return draft.keep(item, CONTRACT, verbatim_step(item, f"as written, once {column} is swapped in"))
    if isinstance(op, ops.SetNotNull):
        steps = not_null.enforce(op.target, column, draft.request.pg_version, line)
        return draft.place(item, Rewrite(contract=steps, checks=((CONTRACT, not_null.enforced(op.target, column)),)))
    if isinstance(op, ops.CreateIndex) and recipe == "type":
        rewrite = create_index(item)
        checks = tuple((CONTRACT, check) for _phase, check in rewrite.checks)
        return draft.place(item, Rewrite(contract=rewrite.expand, checks=checks, recipe="create index"))
    if isinstance(op, _REFUSED) and not (isinstance(op, ops.AddConstraint) and recipe == "rename"):
        raise PlanError(
            f"line {line} changes {op.table}.{column} again after it is replaced earlier in the migration: "
            "plan them as separate migrations, one after the other"
        )
    return draft


def after_replacements(draft: Draft) -> Draft:
    """Pass: statements on a column being renamed or retyped → contract, after the swap (or refused)."""
    for item in list(draft.pending(ops.Operation)):
        found = _shadow_of(draft, item)
        if found is not None:
            draft = _after_swap(draft, item, found[1], found[2])
    return draft
