"""Switch state and log in the database's ``bgmigrate`` schema.

Tables (prefixed ``switch_`` so they never collide with ``apply``'s):

- ``switch_state``: one row, the active environment and the rollback target;
- ``switch_environment``: each environment as last configured (addresses, requires,
  application_name) and when it was retired, so ``contract_allowed`` can answer from the
  database alone;
- ``switch_log``: every attempt, refused ones included, with its gate verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from bgmigrate.switch.config import Environment, Requirement
from bgmigrate.switch.db import Connection
from bgmigrate.switch.lock import wait_schema_lock
from bgmigrate.switch.verdict import GateResult

OUTCOMES = ("done", "refused", "failed")

_DDL = """
CREATE SCHEMA IF NOT EXISTS bgmigrate;
CREATE TABLE IF NOT EXISTS bgmigrate.switch_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    active text NOT NULL,
    rollback_target text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bgmigrate.switch_environment (
    name text PRIMARY KEY,
    addresses text[] NOT NULL,
    health_url text NOT NULL,
    application_name text,
    requires text[] NOT NULL DEFAULT '{}',
    retired_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS bgmigrate.switch_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('done', 'refused', 'failed')),
    gates jsonb NOT NULL DEFAULT '[]',
    detail text NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True)
class SwitchState:
    """What the database says: who serves, who is kept for rollback, who was retired."""

    active: str
    rollback_target: str | None
    environments: dict[str, Environment]
    retired: frozenset[str]


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    gates: tuple[GateResult, ...]
    detail: str = ""


def ensure_schema(conn: Connection) -> None:
    """Create the state tables if missing (idempotent, safe to race)."""
    if _has_tables(conn):
        return  # checked first so a role without CREATE can switch once they exist
    try:
        _create(conn)
    except psycopg.errors.UniqueViolation:
        # apply creating the same schema at the same moment (it serialises on its own lock).
        _create(conn)


def _create(conn: Connection) -> None:
    with conn.transaction():
        wait_schema_lock(conn)
        conn.execute(_DDL)


def _has_tables(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('bgmigrate.switch_state') IS NOT NULL").fetchone()
    return bool(row and row[0])


def load_state(conn: Connection) -> SwitchState | None:
    """The current state, or None before ``switch init``."""
    if not _has_tables(conn):
        return None
    row = conn.execute("SELECT active, rollback_target FROM bgmigrate.switch_state").fetchone()
    if row is None:
        return None
    envs, retired = _environments(conn)
    return SwitchState(
        active=str(row[0]),
        rollback_target=None if row[1] is None else str(row[1]),
        environments=envs,
        retired=retired,
    )


def _environments(conn: Connection) -> tuple[dict[str, Environment], frozenset[str]]:
    rows = conn.execute(
        "SELECT name, addresses, health_url, application_name, requires, retired_at IS NOT NULL"
        " FROM bgmigrate.switch_environment ORDER BY name"
    ).fetchall()
    envs: dict[str, Environment] = {}
    retired: set[str] = set()
    for name, addresses, health_url, app_name, requires, is_retired in rows:
        assert isinstance(addresses, list) and isinstance(requires, list)
        envs[str(name)] = Environment(
            name=str(name),
            addresses=tuple(str(a) for a in addresses),
            health_url=str(health_url),
            application_name=None if app_name is None else str(app_name),
            requires=tuple(Requirement.parse(str(r)) for r in requires),
        )
        if is_retired:
            retired.add(str(name))
    return envs, frozenset(retired)


def record_environments(conn: Connection, environments: Iterable[Environment]) -> None:
    """Store each environment as configured now; keeps ``retired_at``."""
    for env in environments:
        conn.execute(
            """
            INSERT INTO bgmigrate.switch_environment AS e
                (name, addresses, health_url, application_name, requires)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET addresses = excluded.addresses,
                health_url = excluded.health_url, application_name = excluded.application_name,
                requires = excluded.requires, updated_at = now()
            """,
            (env.name, list(env.addresses), env.health_url, env.application_name,
             [str(r) for r in env.requires]),
        )  # fmt: skip


def save_state(conn: Connection, active: str, rollback_target: str | None) -> None:
    conn.execute(
        """
        INSERT INTO bgmigrate.switch_state (singleton, active, rollback_target) VALUES (true, %s, %s)
        ON CONFLICT (singleton) DO UPDATE SET active = excluded.active,
            rollback_target = excluded.rollback_target, updated_at = now()
        """,
        (active, rollback_target),
    )


def set_retired(conn: Connection, name: str, retired: bool) -> None:
    conn.execute(
        "UPDATE bgmigrate.switch_environment SET retired_at = CASE WHEN %s THEN now() END WHERE name = %s",
        (retired, name),
    )


def append_log(
    conn: Connection, actor: str, action: str, target: str, outcome: str,
    gates: Iterable[GateResult], detail: str = "",
) -> None:  # fmt: skip
    """Add one attempt to the log (the caller's transaction decides when it is visible)."""
    assert outcome in OUTCOMES, outcome
    conn.execute(
        "INSERT INTO bgmigrate.switch_log (actor, action, target, outcome, gates, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, target, outcome, Jsonb([g.to_json() for g in gates]), detail),
    )


def read_log(conn: Connection, limit: int | None = None) -> list[LogEntry]:
    """Log entries, oldest first (the last ``limit`` when given)."""
    if not _has_tables(conn):
        return []
    rows = conn.execute(
        "SELECT at, actor, action, target, outcome, gates, detail FROM ("
        " SELECT * FROM bgmigrate.switch_log ORDER BY id DESC LIMIT %s) recent ORDER BY id",
        (limit,),
    ).fetchall()
    return [_entry(row) for row in rows]


def _entry(row: tuple[object, ...]) -> LogEntry:
    at, actor, action, target, outcome, gates, detail = row
    assert isinstance(at, datetime)
    raw = json.loads(gates) if isinstance(gates, str) else gates
    assert isinstance(raw, list)
    return LogEntry(
        at=at, actor=str(actor), action=str(action), target=str(target), outcome=str(outcome),
        gates=tuple(GateResult.from_json(g) for g in raw), detail=str(detail),
    )  # fmt: skip
