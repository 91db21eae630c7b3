"""Which lock an operation takes on which table — PostgreSQL's documented lock levels."""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
SHARE = "SHARE"
SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
ROW_EXCLUSIVE = "ROW EXCLUSIVE"

# What each lock stops, in words a finding can use.
BLOCKS = {
    ACCESS_EXCLUSIVE: "blocks every read and write",
    SHARE_ROW_EXCLUSIVE: "blocks all writes",
    SHARE: "blocks all writes",
    SHARE_UPDATE_EXCLUSIVE: "blocks other schema changes and VACUUM, not reads or writes",
    ROW_EXCLUSIVE: "locks the rows it changes",
}


@dataclass(frozen=True)
class LockTaken:
    mode: str
    table: Name


def lock_taken(op: ops.Operation) -> LockTaken | None:
    """The strongest table lock ``op`` takes, or None when it takes no table lock worth naming.

    >>> from bgmigrate.sql.statements import Statement
    >>> s = Statement("", 1, 1, 1, 1)
    >>> lock_taken(ops.CreateIndex(s, target=Name("t"))).mode
    'SHARE'
    """
    mode = _mode(op)
    table = op.table
    if mode is None or table is None:
        return None
    return LockTaken(mode, table)


def _mode(op: ops.Operation) -> str | None:
    if isinstance(op, ops.CreateIndex):
        return SHARE_UPDATE_EXCLUSIVE if op.concurrently else SHARE
    if isinstance(op, ops.AddConstraint):
        if op.constraint.kind == "foreign_key":
            return SHARE_ROW_EXCLUSIVE
        return ACCESS_EXCLUSIVE
    if isinstance(op, ops.ValidateConstraint):
        return SHARE_UPDATE_EXCLUSIVE
    if isinstance(op, ops.CreateObject | ops.DropObject) and op.kind == "trigger":
        return SHARE_ROW_EXCLUSIVE if isinstance(op, ops.CreateObject) else ACCESS_EXCLUSIVE
    if isinstance(op, ops.AlterTableSet) and op.what in ("options", "cluster"):
        return SHARE_UPDATE_EXCLUSIVE  # fillfactor, autovacuum and toast parameters; CLUSTER ON
    if isinstance(op, ops.AlterTableSet) and op.what == "trigger":
        return SHARE_ROW_EXCLUSIVE  # ENABLE / DISABLE TRIGGER
    if isinstance(op, ops.AlterColumnOther) and op.what.startswith(("set statistics", "set (", "reset (")):
        return SHARE_UPDATE_EXCLUSIVE
    if isinstance(op, ops.DetachPartition):
        return SHARE_UPDATE_EXCLUSIVE if op.concurrently else ACCESS_EXCLUSIVE
    if isinstance(op, ops.AttachPartition):
        return SHARE_UPDATE_EXCLUSIVE
    if isinstance(op, ops.LockTable):
        return op.mode
    if isinstance(op, ops.UpdateRows | ops.DeleteRows | ops.InsertRows):
        return ROW_EXCLUSIVE
    if isinstance(op, _ACCESS_EXCLUSIVE_OPS):
        return ACCESS_EXCLUSIVE
    return None


_ACCESS_EXCLUSIVE_OPS = (
    ops.DropTable, ops.RenameTable, ops.AlterTableSet, ops.Truncate, ops.AddColumn, ops.DropColumn,
    ops.RenameColumn, ops.AlterColumnType, ops.SetNotNull, ops.DropNotNull, ops.SetDefault,
    ops.DropDefault, ops.DropConstraint, ops.RenameConstraint, ops.VacuumFull, ops.Cluster,
    ops.AlterColumnOther,
)  # fmt: skip
