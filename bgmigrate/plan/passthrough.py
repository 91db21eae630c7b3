"""The last pass: whatever no recipe took is carried over unchanged, never dropped.

Safe operations go to expand in the user's own text; data changes on existing tables go to
migrate (they are backfills). Transaction control and lock_timeout settings are left out — the
phases decide their own transactions and apply sets lock_timeout — and PLAN.md says so. What
bgmigrate cannot analyse, or has no online recipe for, is carried over with a clear note.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.plan.draft import EXPAND, MIGRATE, Draft, Item
from bgmigrate.plan.phases import PhaseName
from bgmigrate.plan.registry import planning
from bgmigrate.plan.verbatim import verbatim_step

_TIMEOUTS = ("lock_timeout",)


def _line(item: Item) -> str:
    return f"line {item.op.stmt.line}: {item.op.stmt.text.splitlines()[0][:70]}"


def _no_recipe_form(op: ops.Operation) -> bool:
    """Forms of recipe-handled operations that no recipe covers (the rest reach here judged safe)."""
    if isinstance(op, ops.AddColumn):
        return op.column.serial or op.column.identity or op.column.generated_stored
    if isinstance(op, ops.AddConstraint):
        return op.constraint.kind in ("exclude", "not_null")
    return False


def _risky(item: Item) -> bool:
    """An operation with a known hazard on an existing table that no recipe rewrote."""
    op = item.op
    table = op.table
    if table is not None and item.facts.is_new(table):
        return False
    if isinstance(op, ops.Reindex | ops.RefreshMaterializedView | ops.DetachPartition) and op.concurrently:
        return False
    if isinstance(op, ops.AlterTableSet) and op.what == "options":
        return False
    leftover = planning(op).leftover
    if leftover == "judged":
        return _no_recipe_form(op)
    return leftover == "no recipe"


def _phase(item: Item) -> PhaseName:
    op = item.op
    data = planning(op).leftover == "data"
    return MIGRATE if data and not item.facts.is_new(op.table) else EXPAND


def _carry(draft: Draft, item: Item) -> Draft:
    op = item.op
    leftover = planning(op).leftover
    if leftover == "left out":
        return draft.skip(item, f"{_line(item)} — left out: each step runs in its own transaction (statements "
                                "that must commit together are grouped)")  # fmt: skip
    if leftover == "setting" and isinstance(op, ops.SetConfig) and op.setting.lower() in _TIMEOUTS:
        return draft.skip(item, f"{_line(item)} — left out: every phase file sets lock_timeout, and apply sets it "
                                "before each statement that locks a table")  # fmt: skip
    note = ""
    if leftover == "not analysed":
        reason = op.reason if isinstance(op, ops.Unparsed) else "not understood"
        note = f"{_line(item)} — not analysed ({reason}); carried into expand unchanged: review it by hand"
    elif isinstance(op, ops.Other) and op.kind == "do block":
        note = (
            f"{_line(item)} — a DO block is carried into expand unchanged: its statements are not rewritten "
            "(lint still judges each of them)"
        )
    elif _risky(item):
        note = (
            f"{_line(item)} — bgmigrate has no online recipe for this; carried into expand unchanged (lint reports it)"
        )
    phase = _phase(item)
    return draft.keep(item, phase, verbatim_step(item, f"as written: {op.stmt.text.splitlines()[0][:60]}"), note)


def carry_over(draft: Draft) -> Draft:
    """Pass: everything still unplaced → its phase in the user's own text, with a note where due.

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = carry_over(draft_of("BEGIN; CREATE TABLE n (id int); UPDATE t SET a = 1; COMMIT;"))
    >>> [(f.phase, f.step.sql) for f in d.fragments], len(d.passthrough)
    ([('expand', 'CREATE TABLE n (id int)'), ('migrate', 'UPDATE t SET a = 1')], 2)
    """
    for item in list(draft.pending(ops.Operation)):
        draft = _carry(draft, item)
    return draft
