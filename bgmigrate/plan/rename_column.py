"""Rename column: a new column kept equal to the old one both ways, until the old version is gone.

The new version reads and writes the new name from expand on; the old version keeps the old
name until contract. Indexes (unique ones too, so the new version's ``ON CONFLICT`` works) are
built on the new column in expand; NOT NULL, default and constraints follow in contract.
"""

from __future__ import annotations

from dataclasses import replace

from bgmigrate.model import operations as ops
from bgmigrate.plan import replacement
from bgmigrate.plan.column_carry import plan_carry
from bgmigrate.plan.draft import EXPAND, MIGRATE, Draft, Item, Rewrite, dropped_indexes, suppressed
from bgmigrate.plan.sqlgen import q


def rename_column(item: Item, draft: Draft) -> Rewrite:
    op = item.op
    assert isinstance(op, ops.RenameColumn)
    carry = plan_carry(op.target, op.column, op.new_name, item.facts, dropped_indexes(draft))
    spec = replacement.Shadow(
        table=op.target, old=op.column, new=op.new_name, type_sql=carry.column.type,
        to_new=f"NEW.{q(op.column)}", to_old=f"NEW.{q(op.new_name)}", backfill_value=q(op.column),
    )  # fmt: skip
    old, new, table = q(op.column), q(op.new_name), op.target
    notes = (
        (EXPAND, f"Deploy the new version once expand is done: it reads and writes {new}; the old version keeps "
                 f"using {old}. A trigger on {table} keeps them equal whichever version writes."),
        (MIGRATE, f"Both versions stay live while existing rows are copied from {old} to {new}."),
    )  # fmt: skip
    return replace(replacement.rewrite(item, spec, carry, draft.request), notes=notes, recipe="rename column")


def rename_columns(draft: Draft) -> Draft:
    """Pass: RENAME COLUMN on an existing table → new column + two-way sync trigger + backfill.

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = rename_columns(draft_of("ALTER TABLE t RENAME a TO b;", "CREATE TABLE t (id int PRIMARY KEY, a text);"))
    >>> [(f.phase, f.step.kind, f.step.description[:40]) for f in d.fragments]  # doctest: +NORMALIZE_WHITESPACE
    [('expand', 'sql', 'add t.b (text), nullable and without def'),
     ('expand', 'sql', 'create the function keeping a and b equa'),
     ('expand', 'sql', 'install the sync trigger on t'),
     ('migrate', 'backfill', 'backfill t.b in batches of 1000 by id'),
     ('contract', 'sql', 'in one transaction: drop the trigger and')]
    """
    for item in list(draft.pending(ops.RenameColumn)):
        assert isinstance(item.op, ops.RenameColumn)
        op = item.op
        if not item.facts.is_new(op.target) and not suppressed(item, "rename-column"):
            draft = draft.place(item, rename_column(item, draft))
            draft = replace(
                draft, shadows=(*draft.shadows, (item.index, op.target.key, op.column, op.new_name, "rename"))
            )
    return draft
