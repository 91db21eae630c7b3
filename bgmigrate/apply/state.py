"""Reading and writing one plan's rows in the ``bgmigrate`` state tables."""

from __future__ import annotations

import getpass
import json
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bgmigrate import __version__
from bgmigrate.apply.connect import Connection
from bgmigrate.apply.loader import LoadedPlan
from bgmigrate.apply.schema_record import Catalog

# Statuses a phase can be in (the CHECK of bgmigrate.phases.status); "absent" phases have no row.
RunStatus = Literal["running", "done", "failed", "rolling_back", "rolled_back"]
# A step's: the CHECK of bgmigrate.steps.status.
StepStatus = Literal["running", "done", "rolled_back"]
RUNNING: Literal["running"] = "running"
DONE: Literal["done"] = "done"
FAILED: Literal["failed"] = "failed"
ROLLING_BACK: Literal["rolling_back"] = "rolling_back"
ROLLED_BACK: Literal["rolled_back"] = "rolled_back"


def actor() -> str:
    """Who is applying: OS user@host (the database role is in the server's own logs)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class PhaseRow:
    phase: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    verified_at: datetime | None
    applied_by: str
    tool_version: str
    error: str | None


@dataclass(frozen=True)
class Checkpoint:
    """Where a backfill step stands: keys are text so any orderable key type round-trips."""

    pass_no: int = 1
    last_key: str | None = None  # every row with key <= last_key is done in this pass
    target_key: str | None = None  # this pass ends here; None: the pass has not started
    rows_updated: int = 0
    batches: int = 0


class PlanState:
    """The state rows of one plan, read and written through an autocommit connection."""

    def __init__(self, conn: Connection, plan_id: str) -> None:
        self.conn = conn
        self.plan_id = plan_id

    # -- plans ---------------------------------------------------------------------------

    def stored_digest(self) -> str | None:
        row = self.conn.execute("SELECT digest FROM bgmigrate.plans WHERE plan_id = %s", (self.plan_id,)).fetchone()
        return str(row[0]) if row else None

    def save_plan(self, loaded: LoadedPlan) -> None:
        self.conn.execute(
            """
            INSERT INTO bgmigrate.plans (plan_id, source, digest, plan, recorded_by)
            VALUES (%s, %s, %s, %s::jsonb, %s)
            ON CONFLICT (plan_id) DO UPDATE
            SET source = excluded.source, digest = excluded.digest, plan = excluded.plan,
                recorded_at = now(), recorded_by = excluded.recorded_by
            WHERE plans.digest IS DISTINCT FROM excluded.digest
            """,
            (self.plan_id, loaded.plan.source, loaded.digest, loaded.plan.to_json(), actor()),
        )

    # -- phases --------------------------------------------------------------------------

    def phases(self) -> dict[str, PhaseRow]:
        rows = self.conn.execute(
            """
            SELECT phase, status, started_at, finished_at, verified_at, applied_by, tool_version, error
            FROM bgmigrate.phases WHERE plan_id = %s
            """,
            (self.plan_id,),
        ).fetchall()
        return {row[0]: PhaseRow(*row) for row in rows}

    def start_phase(self, phase: str, status: RunStatus, *, fresh: bool) -> None:
        """Mark ``phase`` running (or rolling back); ``fresh`` forgets an earlier run's steps."""
        with self.conn.transaction():
            if fresh:
                self.conn.execute(
                    "DELETE FROM bgmigrate.steps WHERE plan_id = %s AND phase = %s", (self.plan_id, phase)
                )
            self.conn.execute(
                """
                INSERT INTO bgmigrate.phases (plan_id, phase, status, applied_by, tool_version)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (plan_id, phase) DO UPDATE
                SET status = excluded.status, started_at = now(), finished_at = NULL, verified_at = NULL,
                    applied_by = excluded.applied_by, tool_version = excluded.tool_version, error = NULL
                """,
                (self.plan_id, phase, status, actor(), __version__),
            )

    def finish_phase(self, phase: str, status: RunStatus, *, error: str | None = None, verified: bool = False) -> None:
        self.conn.execute(
            """
            UPDATE bgmigrate.phases
            SET status = %s, finished_at = now(), error = %s,
                verified_at = CASE WHEN %s THEN now() END
            WHERE plan_id = %s AND phase = %s
            """,
            (status, error, verified, self.plan_id, phase),
        )

    def record_error(self, phase: str, error: str) -> None:
        """Note an error without changing the phase's status."""
        self.conn.execute(
            "UPDATE bgmigrate.phases SET error = %s WHERE plan_id = %s AND phase = %s", (error, self.plan_id, phase)
        )

    def save_catalog(self, phase: str, moment: str, catalog: Catalog) -> None:
        """Record the schema's objects ``before`` or ``after`` a phase ran (replacing an older record)."""
        self.conn.execute(
            """
            INSERT INTO bgmigrate.phase_catalogs (plan_id, phase, moment, catalog) VALUES (%s, %s, %s, %s::jsonb)
            ON CONFLICT (plan_id, phase, moment) DO UPDATE SET catalog = excluded.catalog, taken_at = now()
            """,
            (self.plan_id, phase, moment, json.dumps(catalog.to_json())),
        )

    def forget_catalog(self, phase: str, moment: str) -> None:
        self.conn.execute(
            "DELETE FROM bgmigrate.phase_catalogs WHERE plan_id = %s AND phase = %s AND moment = %s",
            (self.plan_id, phase, moment),
        )

    def catalog(self, phase: str, moment: str) -> Catalog | None:
        row = self.conn.execute(
            "SELECT catalog FROM bgmigrate.phase_catalogs WHERE plan_id = %s AND phase = %s AND moment = %s",
            (self.plan_id, phase, moment),
        ).fetchone()
        return Catalog.from_json(row[0]) if row else None

    # -- steps ---------------------------------------------------------------------------

    def step_statuses(self, phase: str) -> dict[int, str]:
        rows = self.conn.execute(
            "SELECT step_index, status FROM bgmigrate.steps WHERE plan_id = %s AND phase = %s",
            (self.plan_id, phase),
        ).fetchall()
        return {int(index): str(status) for index, status in rows}

    def start_step(self, phase: str, index: int, description: str) -> None:
        self.conn.execute(
            """
            INSERT INTO bgmigrate.steps (plan_id, phase, step_index, description, status)
            VALUES (%s, %s, %s, %s, 'running')
            ON CONFLICT (plan_id, phase, step_index) DO UPDATE SET status = 'running', finished_at = NULL
            """,
            (self.plan_id, phase, index, description),
        )

    def count_attempt(self, phase: str, index: int) -> None:
        self.conn.execute(
            "UPDATE bgmigrate.steps SET attempts = attempts + 1 WHERE plan_id = %s AND phase = %s AND step_index = %s",
            (self.plan_id, phase, index),
        )

    def finish_step(self, conn: Connection, phase: str, index: int, status: StepStatus = DONE) -> None:
        """Record a step's end on ``conn``: inside the step's own transaction when it has one."""
        conn.execute(
            """
            UPDATE bgmigrate.steps SET status = %s, finished_at = now()
            WHERE plan_id = %s AND phase = %s AND step_index = %s
            """,
            (status, self.plan_id, phase, index),
        )

    # -- backfill checkpoints ------------------------------------------------------------

    def checkpoint(self, phase: str, index: int) -> Checkpoint | None:
        row = self.conn.execute(
            """
            SELECT pass, last_key, target_key, rows_updated, batches FROM bgmigrate.backfill_checkpoints
            WHERE plan_id = %s AND phase = %s AND step_index = %s
            """,
            (self.plan_id, phase, index),
        ).fetchone()
        return Checkpoint(*row) if row else None

    def save_checkpoint(self, conn: Connection, phase: str, index: int, point: Checkpoint) -> None:
        """Store ``point`` on ``conn``: in the batch's transaction, so batch and checkpoint commit together."""
        conn.execute(
            """
            INSERT INTO bgmigrate.backfill_checkpoints
                (plan_id, phase, step_index, pass, last_key, target_key, rows_updated, batches)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (plan_id, phase, step_index) DO UPDATE
            SET pass = excluded.pass, last_key = excluded.last_key, target_key = excluded.target_key,
                rows_updated = excluded.rows_updated, batches = excluded.batches, updated_at = now()
            """,
            (
                self.plan_id,
                phase,
                index,
                point.pass_no,
                point.last_key,
                point.target_key,
                point.rows_updated,
                point.batches,
            ),
        )


def plan_json(conn: Connection, plan_id: str) -> str | None:
    """The stored plan document, as JSON text."""
    row = conn.execute("SELECT plan FROM bgmigrate.plans WHERE plan_id = %s", (plan_id,)).fetchone()
    return json.dumps(row[0]) if row else None
