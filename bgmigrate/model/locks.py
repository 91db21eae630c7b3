"""Which lock an operation takes on which table — PostgreSQL's documented lock levels.

``LOCKS`` has one entry per operation kind, "takes no table lock" included, so a new kind
without one is an error (``tests/test_exhaustive.py``), never a silent "no lock".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bgmigrate.model import operations as ops
from bgmigrate.model.operations import LockMode
from bgmigrate.sql.names import Name

ACCESS_EXCLUSIVE: LockMode = "ACCESS EXCLUSIVE"
EXCLUSIVE: LockMode = "EXCLUSIVE"
SHARE_ROW_EXCLUSIVE: LockMode = "SHARE ROW EXCLUSIVE"
SHARE: LockMode = "SHARE"
SHARE_UPDATE_EXCLUSIVE: LockMode = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE: LockMode = "ROW EXCLUSIVE"

# What each lock stops, in words a finding can use.
BLOCKS: dict[str, str] = {
    ACCESS_EXCLUSIVE: "blocks every read and write",
    EXCLUSIVE: "blocks all writes",
    SHARE_ROW_EXCLUSIVE: "blocks all writes",
    SHARE: "blocks all writes",
    SHARE_UPDATE_EXCLUSIVE: "blocks other schema changes and VACUUM, not reads or writes",
    ROW_EXCLUSIVE: "locks the rows it changes",
}


class MissingLockEntry(LookupError):
    """An operation kind with no entry in ``LOCKS`` (a bgmigrate bug)."""


@dataclass(frozen=True)
class LockTaken:
    """The table lock an operation takes: its mode and table."""

    mode: LockMode
    table: Name


def lock_taken(op: ops.Operation) -> LockTaken | None:
    """The strongest table lock ``op`` takes, or None when it takes no table lock worth naming.

    Kinds that lock a relation they do not name as a table (an index's table, a view) have a
    mode in ``lock_mode`` but no ``LockTaken``: their callers resolve the relation.

    >>> from bgmigrate.sql.statements import Statement
    >>> s = Statement("", 1, 1, 1, 1)
    >>> lock_taken(ops.CreateIndex(s, target=Name("t"))).mode
    'SHARE'
    """
    mode = lock_mode(op)
    table = op.partition_of if isinstance(op, ops.CreateTable) else op.table
    if mode is None or table is None:
        return None
    return LockTaken(mode, table)


def lock_mode(op: ops.Operation) -> LockMode | None:
    """The lock ``op`` takes on the relation it changes; None when it takes no table lock."""
    rule = LOCKS.get(type(op))
    if rule is None:
        raise MissingLockEntry(f"no lock level for operation kind {type(op).__name__} (a bgmigrate bug)")
    return rule(op)


def _always(mode: LockMode | None) -> Callable[[Any], LockMode | None]:
    return lambda op: mode


_NO_TABLE_LOCK = _always(None)


def _create_table(op: ops.CreateTable) -> LockMode | None:
    # A new table has no traffic; PARTITION OF locks the parent (referenced tables: lint's locks_of).
    return ACCESS_EXCLUSIVE if op.partition_of is not None else None


def _alter_table_set(op: ops.AlterTableSet) -> LockMode:
    if op.what in ("options", "cluster"):
        return SHARE_UPDATE_EXCLUSIVE  # fillfactor, autovacuum and toast parameters; CLUSTER ON
    if op.what == "trigger":
        return SHARE_ROW_EXCLUSIVE  # ENABLE / DISABLE TRIGGER
    return ACCESS_EXCLUSIVE


def _alter_column_other(op: ops.AlterColumnOther) -> LockMode:
    if op.what.startswith(("set statistics", "set (", "reset (")):
        return SHARE_UPDATE_EXCLUSIVE
    return ACCESS_EXCLUSIVE


def _add_constraint(op: ops.AddConstraint) -> LockMode:
    return SHARE_ROW_EXCLUSIVE if op.constraint.kind == "foreign_key" else ACCESS_EXCLUSIVE


def _domain_constraint(op: ops.AlterDomainAddConstraint) -> LockMode | None:
    # SHARE on every table with a column of the domain, which is checked; NOT VALID checks nothing.
    return None if op.constraint.not_valid else SHARE


def _concurrently(plain: LockMode) -> Callable[[Any], LockMode]:
    """CONCURRENTLY forms take SHARE UPDATE EXCLUSIVE; the plain form takes ``plain``."""
    return lambda op: SHARE_UPDATE_EXCLUSIVE if op.concurrently else plain


def _refresh(op: ops.RefreshMaterializedView) -> LockMode:
    return EXCLUSIVE if op.concurrently else ACCESS_EXCLUSIVE


def _lock_table(op: ops.LockTable) -> LockMode:
    return op.mode


def _create_object(op: ops.CreateObject) -> LockMode | None:
    # CREATE TRIGGER locks its table; other new objects lock nothing that serves traffic.
    return SHARE_ROW_EXCLUSIVE if op.kind == "trigger" else None


_RELATION_KINDS = ("view", "materialized view", "sequence", "table", "foreign table")


def _rename_object(op: ops.RenameObject) -> LockMode | None:
    # Renaming a view or sequence locks it; a function, type or schema is not a table.
    return ACCESS_EXCLUSIVE if op.kind in _RELATION_KINDS else None


def _drop_object(op: ops.DropObject) -> LockMode | None:
    if op.kind in ("trigger", "rule", "policy") or op.kind in _RELATION_KINDS:
        return ACCESS_EXCLUSIVE  # the trigger's, rule's or policy's table; or the relation dropped
    return None


LOCKS: dict[type[ops.Operation], Callable[[Any], LockMode | None]] = {
    ops.CreateTable: _create_table,
    ops.DropTable: _always(ACCESS_EXCLUSIVE),
    ops.RenameTable: _always(ACCESS_EXCLUSIVE),
    ops.AlterTableSet: _alter_table_set,
    ops.Truncate: _always(ACCESS_EXCLUSIVE),
    ops.AddColumn: _always(ACCESS_EXCLUSIVE),
    ops.DropColumn: _always(ACCESS_EXCLUSIVE),
    ops.RenameColumn: _always(ACCESS_EXCLUSIVE),
    ops.AlterColumnType: _always(ACCESS_EXCLUSIVE),
    ops.SetNotNull: _always(ACCESS_EXCLUSIVE),
    ops.DropNotNull: _always(ACCESS_EXCLUSIVE),
    ops.SetDefault: _always(ACCESS_EXCLUSIVE),
    ops.DropDefault: _always(ACCESS_EXCLUSIVE),
    ops.AlterColumnOther: _alter_column_other,
    ops.AddConstraint: _add_constraint,
    ops.AlterDomainAddConstraint: _domain_constraint,
    ops.ValidateConstraint: _always(SHARE_UPDATE_EXCLUSIVE),
    ops.DropConstraint: _always(ACCESS_EXCLUSIVE),
    ops.RenameConstraint: _always(ACCESS_EXCLUSIVE),
    ops.CreateIndex: _concurrently(SHARE),
    ops.DropIndex: _concurrently(ACCESS_EXCLUSIVE),  # on the index's table
    ops.Reindex: _concurrently(SHARE),  # on the table (the index itself: ACCESS EXCLUSIVE)
    ops.VacuumFull: _always(ACCESS_EXCLUSIVE),
    ops.Cluster: _always(ACCESS_EXCLUSIVE),
    ops.LockTable: _lock_table,
    ops.RefreshMaterializedView: _refresh,  # on the view
    ops.DetachPartition: _concurrently(ACCESS_EXCLUSIVE),
    ops.AttachPartition: _always(SHARE_UPDATE_EXCLUSIVE),
    ops.UpdateRows: _always(ROW_EXCLUSIVE),
    ops.DeleteRows: _always(ROW_EXCLUSIVE),
    ops.InsertRows: _always(ROW_EXCLUSIVE),
    # Enum types are locked as types, not tables: readers and writers of a table never wait.
    ops.CreateEnum: _NO_TABLE_LOCK,
    ops.AddEnumValue: _NO_TABLE_LOCK,
    ops.RenameEnumValue: _NO_TABLE_LOCK,
    ops.CreateObject: _create_object,
    ops.RenameObject: _rename_object,  # on the renamed relation
    ops.DropObject: _drop_object,
    # Session settings and transaction control lock no table.
    ops.SetConfig: _NO_TABLE_LOCK,
    ops.TransactionControl: _NO_TABLE_LOCK,
    # Judged irrelevant to blue-green safety, and naming no table the model could lock (VACUUM's
    # and COMMENT's SHARE UPDATE EXCLUSIVE block no reads or writes).
    ops.Other: _NO_TABLE_LOCK,
    # Not analysed: its locks are unknown, and the not-analysed finding says so.
    ops.Unparsed: _NO_TABLE_LOCK,
}
