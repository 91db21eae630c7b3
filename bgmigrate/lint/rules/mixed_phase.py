"""One migration that both expands and contracts: it cannot be timed right for both app versions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, migration_rule
from bgmigrate.lint.rules.compat_columns import added_in_migration, q, steps
from bgmigrate.model import operations as ops


@dataclass(frozen=True)
class _Step:
    op: ops.Operation
    text: str
    table: tuple[str, str]
    table_level: bool = False

    def label(self) -> str:
        return f"{self.text} (line {self.op.stmt.line})"


def _expand(op: ops.Operation, ctx: OpContext) -> _Step | None:
    """Additions the new version will use: columns on existing tables, and new tables."""
    if isinstance(op, ops.CreateTable):
        return _Step(op, f"creates table {op.target.sql()}", op.target.key, table_level=True)
    if isinstance(op, ops.AddColumn) and not ctx.is_new_table(op.target):
        return _Step(op, f"adds column {q(op.column.name)} to {op.target.sql()}", op.target.key)
    return None


def _contract(op: ops.Operation, ctx: OpContext) -> _Step | None:
    """Removals or renames of tables and columns that existed before this migration."""
    if isinstance(op, ops.DropTable | ops.RenameTable | ops.AlterTableSet):
        if ctx.is_new_table(op.target):
            return None
        t, key = op.target.sql(), op.target.key
        if isinstance(op, ops.DropTable):
            return _Step(op, f"drops table {t}", key, table_level=True)
        if isinstance(op, ops.RenameTable):
            return _Step(op, f"renames table {t} to {q(op.new_name)}", key, table_level=True)
        if op.what == "schema":
            return _Step(op, f"moves table {t} to another schema", key, table_level=True)
        return None
    if isinstance(op, ops.DropColumn | ops.RenameColumn):
        if ctx.is_new_table(op.target) or added_in_migration(ctx.earlier, op.target, op.column):
            return None
        t, c = op.target.sql(), q(op.column)
        if isinstance(op, ops.DropColumn):
            return _Step(op, f"drops column {c} of {t}", op.target.key)
        return _Step(op, f"renames column {c} of {t} to {q(op.new_name)}", op.target.key)
    return None


_EXPANDS = (ops.CreateTable, ops.AddColumn)  # the kinds _expand may take
_CONTRACTS = (ops.DropTable, ops.RenameTable, ops.AlterTableSet, ops.DropColumn, ops.RenameColumn)  # and _contract


def _listing(items: list[_Step], limit: int = 4) -> str:
    shown = [s.label() for s in items[:limit]]
    if len(items) > limit:
        shown.append(f"{len(items) - limit} more")
    return "; ".join(shown)


@migration_rule("mixed-phase-migration")
def mixed_phase(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """Expand and contract in one migration: reported once, at the first contracting operation."""
    # The kinds first (one isinstance per operation): most migrations lack one side, and a step's
    # text costs more; a file of 20,000 DROP COLUMNs and no addition builds none.
    may_contract = [(op, ctx) for op, ctx in seen if isinstance(op, _CONTRACTS)]
    may_expand = [(op, ctx) for op, ctx in seen if isinstance(op, _EXPANDS)] if may_contract else []
    expands = [s for op, ctx in may_expand if (s := _expand(op, ctx)) is not None]
    if not expands:
        return
    contracts = [s for op, ctx in may_contract if (s := _contract(op, ctx)) is not None]
    if not contracts:
        return
    related = bool({s.table for s in expands} & {s.table for s in contracts}) or (
        any(s.table_level for s in expands) and any(s.table_level for s in contracts)
    )
    first = contracts[0]
    # The textbook incident: a new column renamed onto the name of the one just dropped.
    gone = {(s.op.target.key, s.op.column) for s in contracts if isinstance(s.op, ops.DropColumn | ops.RenameColumn)}
    takeovers = [
        f" Line {op.stmt.line} then gives {q(op.column)} the old name {q(op.new_name)}, so the old "
        "version reads and writes the new column as if it were the old one."
        for op, ctx in seen
        if isinstance(op, ops.RenameColumn)
        and (op.target.key, op.new_name) in gone
        and added_in_migration(ctx.earlier, op.target, op.column)
    ]
    yield Hit(
        first.op,
        f"This migration both expands ({_listing(expands)}) and contracts ({_listing(contracts)}). "
        "The expansion must run while the old version still serves, for the new one to use it; the "
        "contraction is safe only after the old version is retired. Run together, the old version breaks "
        "as soon as this deploys, and rolling back to it no longer works." + "".join(takeovers[:1]),
        steps(
            "Split it. Expand migration, shipped before (or with) the new version: "
            + "; ".join(s.text for s in expands)
            + ".",
            "Migrate: backfill in batches, with a trigger keeping old and new shapes in sync while both "
            "versions write.",
            "Switch traffic to the new version; retire the old one and wait out the rollback window.",
            "Contract migration, shipped after that: " + "; ".join(s.text for s in contracts) + ".",
        ),
        severity=None if related else Severity.WARNING,
    )
