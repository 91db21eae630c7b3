"""What the planner does with each operation kind: which recipes may take it, and what is left.

``PLANNING`` has one entry per operation kind. ``recipes`` names the passes (``plan.passes``)
that may rewrite, move or refuse it; ``leftover`` says what ``carry_over`` does with one that no
recipe took. "Copied verbatim into expand" is an entry like any other, so a new kind without
one stops the planner (and ``tests/test_exhaustive.py``) instead of slipping through.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import LOCKS
from bgmigrate.model.replay import HANDLERS
from bgmigrate.plan.request import PlanError

Leftover = Literal[
    "expand",  # safe as written: copied verbatim into expand
    "judged",  # a recipe judged this form safe; a form no recipe covers gets a note
    "data",  # a data change: migrate on an existing table (a backfill), else expand
    "no recipe",  # no online recipe: verbatim into expand with a note (lint reports it)
    "setting",  # lock_timeout is left out (apply sets it); other settings go to expand
    "left out",  # transaction control: each step runs in its own transaction
    "not analysed",  # verbatim into expand with a note to review it by hand
]


@dataclass(frozen=True)
class Planning:
    """One kind's entry: what ``carry_over`` does with it, and the passes that may take it first."""

    leftover: Leftover
    recipes: tuple[str, ...] = ()


_DROP = Planning("expand", ("contract_drops",))
_REFUSED_IF_USED = Planning("no recipe", ("refuse_breaking",))
_DATA = Planning("data", ("replace_columns", "split_columns", "refuse_copies"))

PLANNING: dict[type[ops.Operation], Planning] = {
    ops.CreateTable: Planning("expand"),
    ops.DropTable: _DROP,
    ops.RenameTable: Planning("judged", ("rename_tables",)),
    ops.AlterTableSet: Planning("no recipe"),
    ops.Truncate: Planning("no recipe"),
    ops.AddColumn: Planning("judged", ("replace_columns", "split_columns", "add_columns")),
    ops.DropColumn: Planning("expand", ("replace_columns", "refuse_copies", "after_replacements", "contract_drops")),
    ops.RenameColumn: Planning("judged", ("replace_columns", "rename_columns", "after_replacements")),
    ops.AlterColumnType: Planning("judged", ("replace_columns", "change_types", "after_replacements")),
    ops.SetNotNull: Planning("judged", ("after_replacements", "set_not_nulls")),
    ops.DropNotNull: Planning("expand", ("after_replacements",)),
    ops.SetDefault: Planning("expand", ("after_replacements",)),
    ops.DropDefault: Planning("expand", ("after_replacements", "contract_drops")),
    ops.AlterColumnOther: Planning("expand"),
    ops.AddConstraint: Planning("judged", ("after_replacements", "add_constraints")),
    ops.AlterDomainAddConstraint: Planning("expand"),
    ops.ValidateConstraint: Planning("expand"),
    ops.DropConstraint: _DROP,
    ops.RenameConstraint: _REFUSED_IF_USED,
    ops.CreateIndex: Planning("expand", ("after_replacements", "create_indexes")),
    ops.DropIndex: Planning("no recipe", ("drop_indexes",)),
    ops.Reindex: Planning("no recipe"),
    ops.VacuumFull: Planning("no recipe"),
    ops.Cluster: Planning("no recipe"),
    ops.LockTable: Planning("no recipe"),
    ops.RefreshMaterializedView: Planning("no recipe"),
    ops.DetachPartition: Planning("no recipe"),
    ops.AttachPartition: Planning("expand"),
    ops.UpdateRows: _DATA,
    ops.DeleteRows: _DATA,
    ops.InsertRows: _DATA,
    ops.CreateEnum: Planning("expand"),
    ops.AddEnumValue: Planning("expand"),
    ops.RenameEnumValue: _REFUSED_IF_USED,
    ops.CreateObject: Planning("expand"),
    ops.RenameObject: _REFUSED_IF_USED,
    ops.DropObject: _DROP,
    ops.SetConfig: Planning("setting"),
    ops.TransactionControl: Planning("left out"),
    ops.Other: Planning("expand"),
    ops.Unparsed: Planning("not analysed"),
}


def planning(op: ops.Operation) -> Planning:
    """The planner's entry for ``op``'s kind; a kind without one is a bgmigrate bug."""
    found = PLANNING.get(type(op))
    if found is None:
        raise PlanError(f"no planner entry for operation kind {type(op).__name__} (a bgmigrate bug, please report it)")
    return found


def operation_kinds() -> list[type[ops.Operation]]:
    """Every concrete operation kind in ``model.operations``, found by walking the module."""
    return [
        cls
        for _, cls in inspect.getmembers(ops, inspect.isclass)
        if issubclass(cls, ops.Operation) and cls is not ops.Operation and cls.__module__ == ops.__name__
    ]


def missing_entries(kinds: Iterable[type[ops.Operation]]) -> list[str]:
    """``Kind: registry`` for each kind lacking a replay handler, a lock level or a planner entry."""
    registries = (("replay", HANDLERS), ("lock", LOCKS), ("planner", PLANNING))
    return [f"{kind.__name__}: {name}" for kind in kinds for name, table in registries if kind not in table]
