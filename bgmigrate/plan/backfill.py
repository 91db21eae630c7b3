"""Backfill steps, and the single-column key they batch by."""

from __future__ import annotations

from bgmigrate.model.locks import ROW_EXCLUSIVE
from bgmigrate.plan.facts import Facts
from bgmigrate.plan.phases import Backfill, Check, Step
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.sqlgen import q
from bgmigrate.sql.names import Name

ASSUMED_KEY = "id"


def batch_key(table: Name, facts: Facts, request: PlanRequest) -> tuple[str, tuple[str, ...]]:
    """The key to batch by, and the assumption made to find it (if any).

    ``--batch-key`` wins; then the table's single-column primary key. A table the planner
    knows nothing about (no schema given, not created by earlier migrations) is assumed to
    have ``id`` — said out loud in PLAN.md; a known table without such a key is an error.
    """
    if request.batch_key:
        return request.batch_key, ()
    key = facts.primary_key(table)
    if key is not None:
        return key, ()
    if facts.table(table) is None and not facts.live:
        return ASSUMED_KEY, (
            f"{table} is not known (no --schema/--dsn, not created by earlier migrations): the backfill "
            f"batches by {q(ASSUMED_KEY)}, assumed to be its single-column primary key (override with --batch-key).",
        )
    raise PlanError(
        f"{table} has no single-column primary key to batch the backfill by: give --batch-key COLUMN "
        "(a unique, indexed, NOT NULL column)"
    )


def backfill_step(
    table: Name, key: str, column: str, value: str, where: str, request: PlanRequest, line: int | None
) -> Step:
    """Fill ``column`` with ``value`` (an expression over the row) where ``where`` holds, in batches."""
    return Step(
        kind="backfill",
        description=f"backfill {table}.{column} in batches of {request.batch_size} by {key}",
        table=table.sql(),
        takes_lock=ROW_EXCLUSIVE,
        backfill=Backfill(
            table=table.sql(), key=q(key), assignments=((q(column), value),), where=where,
            batch_size=request.batch_size,
        ),
        source_line=line,
    )  # fmt: skip


def left_behind(table: Name, key: str, where: str, what: str) -> Check:
    """The check that no row still needs the backfill."""
    return Check(
        kind="no_rows",
        table=str(table),
        sql=f"SELECT {q(key)} FROM {table.sql()} WHERE {where} LIMIT 100",
        description=f"no row of {table} left with {what}",
    )
