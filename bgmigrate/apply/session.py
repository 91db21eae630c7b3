"""The frame of every apply run: a work connection, the state schema, and the plan's lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bgmigrate.apply.connect import Connection, connect
from bgmigrate.apply.guard import plan_guard
from bgmigrate.apply.state import PlanState
from bgmigrate.apply.state_schema import ensure_state


@contextmanager
def plan_session(dsn: str, plan_id: str) -> Iterator[tuple[Connection, PlanState]]:
    """Connect, create the state schema if needed, and hold the plan's lock for the block."""
    with connect(dsn, f"bgmigrate apply {plan_id}") as conn:
        ensure_state(conn)
        with plan_guard(dsn, plan_id):
            yield conn, PlanState(conn, plan_id)
