"""NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK … NOT VALID → VALIDATE → SET NOT NULL → drop the CHECK.

A VALID ``CHECK (col IS NOT NULL)`` lets PostgreSQL 12+ skip the scan SET NOT NULL would
otherwise do under ACCESS EXCLUSIVE; VALIDATE scans under SHARE UPDATE EXCLUSIVE, which
reads and writes pass.
"""

from __future__ import annotations

from bgmigrate.model.locks import ACCESS_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE
from bgmigrate.plan.phases import Check, Step
from bgmigrate.plan.sqlgen import PREFIX, alter, q, short_name, step
from bgmigrate.sql.names import Name


def check_name(table: Name, column: str) -> str:
    """The helper CHECK's name.

    >>> check_name(Name("orders"), "state")
    'bgm_orders_state_not_null'
    """
    return short_name(PREFIX, table.name, column, "not_null")


def enforce(table: Name, column: str, pg_version: int, line: int | None = None) -> tuple[Step, ...]:
    """The four steps that make ``column`` NOT NULL online."""
    check = q(check_name(table, column))
    c = q(column)
    steps = [
        step(f"forbid NULL in {table}.{column} for new writes (NOT VALID: no scan)",
             alter(table, f"ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID"),
             table=table, lock=ACCESS_EXCLUSIVE, rollback=alter(table, f"DROP CONSTRAINT IF EXISTS {check}"), line=line),
        step(f"validate the NOT NULL check on {table}.{column} (scans; reads and writes continue)",
             alter(table, f"VALIDATE CONSTRAINT {check}"), table=table, lock=SHARE_UPDATE_EXCLUSIVE, line=line),
    ]  # fmt: skip
    if pg_version >= 12:
        steps += [
            step(f"set {table}.{column} NOT NULL (the valid check spares the scan)",
                 alter(table, f"ALTER COLUMN {c} SET NOT NULL"), table=table, lock=ACCESS_EXCLUSIVE, line=line),
            step(f"drop the helper check on {table}.{column}", alter(table, f"DROP CONSTRAINT {check}"),
                 table=table, lock=ACCESS_EXCLUSIVE, line=line),
        ]  # fmt: skip
    return tuple(steps)


def enforced(table: Name, column: str) -> Check:
    return Check(kind="column_not_null", table=str(table), column=column, description=f"{table}.{column} is NOT NULL")
