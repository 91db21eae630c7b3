"""Drops wait for contract: nothing the old version uses goes while it still runs.

DROP COLUMN, DROP TABLE, DROP VIEW/FUNCTION/…, DROP DEFAULT and dropping a unique or primary
key are carried over in the user's own text into the contract phase, each with a reasoned
suppression comment: contract runs only after the old version is retired, which is exactly
the case those rules' suppressions exist for.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.plan.draft import CONTRACT, Draft, Item, suppressed
from bgmigrate.plan.verbatim import verbatim_step

_RULES: dict[type, str] = {
    ops.DropColumn: "drop-column",
    ops.DropTable: "drop-table",
    ops.DropObject: "drop-object",
    ops.DropDefault: "drop-default",
    ops.DropConstraint: "drop-unique-constraint",
}


def _is_contract(item: Item) -> bool:
    op = item.op
    if isinstance(op, ops.DropObject):
        return op.kind not in ("database", "schema") and not (op.on_table and item.facts.is_new(op.on_table))
    if isinstance(op, ops.DropConstraint):
        table = item.facts.table(op.target)
        con = table.constraints.get(op.name) if table else None
        # Relaxing a CHECK or foreign key cannot break the old version; losing uniqueness can (ON CONFLICT).
        return con is None or con.kind in ("unique", "primary_key", "exclude")
    return op.table is not None and not item.facts.is_new(op.table)


def _ignore(item: Item) -> tuple[str, ...]:
    rule = _RULES[type(item.op)]
    if isinstance(item.op, ops.DropConstraint):
        table = item.facts.table(item.op.target)
        con = table.constraints.get(item.op.name) if table else None
        return (rule,) if con is not None and con.kind in ("unique", "primary_key") else ()
    if isinstance(item.op, ops.DropDefault):
        column = item.facts.column(item.op.target, item.op.column)
        return (rule,) if column is None or column.default is not None else ()
    return (rule,)


def contract_drops(draft: Draft) -> Draft:
    """Pass: drops of what existed before the migration → contract, unchanged, with a reasoned ignore.

    A drop carrying the author's own ignore for its rule stays where it is (``carry_over``).

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = contract_drops(draft_of("ALTER TABLE t DROP COLUMN a;"))
    >>> [(f.phase, f.step.sql, f.ignore) for f in d.fragments]
    [('contract', 'ALTER TABLE t DROP COLUMN a', ('drop-column',))]
    """
    for item in list(draft.pending(*_RULES)):
        # The author's own ignore for the drop's rule says no running version uses it: it stays in
        # place, so what the migration does after it (reuse the name, say) still finds it done.
        if _is_contract(item) and not suppressed(item, _RULES[type(item.op)]):
            draft = draft.keep(item, CONTRACT, verbatim_step(item, f"as written: {item.op.stmt.text.splitlines()[0][:60]}"),
                               ignore=_ignore(item))  # fmt: skip
    return draft
