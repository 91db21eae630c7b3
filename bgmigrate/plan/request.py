"""What the user asks the planner for, and how the planner says no."""

from __future__ import annotations

from dataclasses import dataclass


class PlanError(Exception):
    """The planner cannot produce a safe plan; the message says why and what to give it."""


@dataclass(frozen=True)
class PlanRequest:
    """Everything besides the migration itself that decides the plan.

    ``backfill`` holds (column, SQL expression) pairs from ``--backfill COL=SQL_EXPR``: the value
    for existing rows (and rows the old version writes) of a column that becomes NOT NULL.
    ``batch_key`` overrides the single-column key backfills batch by.
    """

    id: str
    source: str
    backfill: tuple[tuple[str, str], ...] = ()
    batch_key: str | None = None
    batch_size: int = 1000
    pg_version: int = 15
    source_revision: str | None = None

    def backfill_for(self, column: str, table: str = "") -> str | None:
        """The ``--backfill`` expression for ``column`` (or ``table.column``), if one was given.

        >>> PlanRequest("p", "m.sql", backfill=(("status", "'new'"),)).backfill_for("status")
        "'new'"
        >>> PlanRequest("p", "m.sql", backfill=(("orders.status", "'x'"),)).backfill_for("status", "orders")
        "'x'"
        """
        for key, expression in self.backfill:
            if key in (column, f"{table}.{column}"):
                return expression
        return None


def parse_backfill(text: str) -> tuple[str, str]:
    """``COL=SQL_EXPR`` → (column, expression); raises ``PlanError`` on anything else.

    >>> parse_backfill("status = 'new'")
    ('status', "'new'")
    """
    column, sep, expression = text.partition("=")
    if not sep or not column.strip() or not expression.strip():
        raise PlanError(f"--backfill {text!r}: expected COLUMN=SQL_EXPRESSION")
    return column.strip(), expression.strip()
