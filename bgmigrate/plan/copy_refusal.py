"""A column copied once and then dropped (moved to another table, split, merged): refused with the recipe.

Planned statement by statement the copy runs in migrate and the drop in contract, and in
between both versions write: the old version's writes to the source column after the copy are
lost, and the new version's writes to the copy never reach the column the old version reads.
Keeping them equal needs a conversion in each direction, which the migration does not say (how
do ``first_name`` and ``last_name`` become ``name`` again?). So the planner refuses and gives
the manual recipe; the replace-column pattern (copy, drop, rename back) is a type change and
was planned before this pass runs.
"""

from __future__ import annotations

from bgmigrate.lint.rules.compat_columns import added_in_migration
from bgmigrate.model import operations as ops
from bgmigrate.model.copies import OneShotCopy, one_shot_copies
from bgmigrate.plan.draft import Draft, suppressed
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.sqlgen import q


def _destination(found: OneShotCopy) -> str:
    op = found.copy
    if found.within_table and isinstance(op, ops.UpdateRows) and op.columns:
        return f"{found.source.sql()} ({', '.join(q(c) for c in op.columns)})"
    return found.into.sql()


def _recipe(found: OneShotCopy) -> str:
    src, c, dest = found.source.sql(), q(found.column), _destination(found)
    if found.within_table:
        sync = f"on {src} that fills {dest} from {c} when a writer changes {c} (the old version)"
        back = f"and {c} from them when a writer changes those (the new version)"
    else:
        sync = f"on {src} that keeps {dest} up to date from {c} on every INSERT, UPDATE and DELETE"
        back = f"and one on {dest} carrying the new version's writes back to {src}.{c}"
    return (
        f"Recipe, as separate migrations: 1. expand: create {dest} and a trigger {sync}, {back}; "
        f"2. migrate: copy existing rows in batches, only where {dest} is still unset (never overwriting a row "
        "written since the trigger went in); 3. switch traffic, retire the old version; 4. contract: drop the "
        f"triggers, then {src}.{c}"
    )


def refusal(found: OneShotCopy) -> PlanError:
    src, c = found.source.sql(), q(found.column)
    what = f"derives {_destination(found)} from" if found.within_table else f"copies into {found.into.sql()}"
    return PlanError(
        f"lines {found.copy.stmt.line} and {found.drop.stmt.line}: no safe plan: line {found.copy.stmt.line} "
        f"{what} {src}.{c} once and line {found.drop.stmt.line} drops {c}; while both app versions "
        f"run, the old version's later writes to {c} would be lost and the new version's writes would never reach "
        f"{c}, and bgmigrate cannot derive the conversion back.{_way_back(found)} {_recipe(found)}"
    )


def _way_back(found: OneShotCopy) -> str:
    if not found.within_table:
        return ""
    c = found.column
    return (
        f" If the new columns are added in this migration and filled by one UPDATE of the whole table, give "
        f"--backfill {c}=SQL_EXPR, the value of {c} computed from them, and bgmigrate keeps both in sync."
    )


def refuse_copies(draft: Draft) -> Draft:
    """Pass (checks only): a copy of a column the migration then drops has no safe plan; refuse it.

    >>> from bgmigrate.plan.testing import draft_of
    >>> refuse_copies(draft_of("UPDATE p SET a = upper(n); ALTER TABLE p DROP COLUMN n;"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bgmigrate.plan.request.PlanError: lines 1 and 1: no safe plan: line 1 derives p (a) from p.n once ...
    """
    items = [i for i in draft.items if i.index not in draft.done]
    operations = [i.op for i in items]
    for found in one_shot_copies(
        operations,
        lambda n, table: not items[n].facts.is_new(table),
        lambda n, table, column: added_in_migration(operations[:n], table, column),
    ):
        drop = next(i for i in items if i.op is found.drop)
        if not suppressed(drop, "drop-column", "move-column"):
            raise refusal(found)
    return draft
