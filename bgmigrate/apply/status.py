"""What is applied where: the read-only questions ``status`` and the traffic-switch coordinator ask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bgmigrate.apply.connect import Connection
from bgmigrate.apply.live_checks import CheckResult, verify_checks
from bgmigrate.apply.state import DONE, PhaseRow, PlanState, plan_json
from bgmigrate.apply.state_schema import state_exists
from bgmigrate.plan.phases import Check, Phase, Plan
from bgmigrate.sql.names import split_qualified
from bgmigrate.sql.quote import quote_ident


@dataclass(frozen=True)
class PhaseStatus:
    """A phase's recorded status and, when asked for, its checks against the live schema."""

    plan_id: str
    phase: str
    row: PhaseRow | None = None  # None: never applied (or no such plan here)
    checks: tuple[CheckResult, ...] = ()
    checked: bool = False  # whether ``checks`` were evaluated

    @property
    def status(self) -> str | None:
        return self.row.status if self.row else None

    @property
    def applied(self) -> bool:
        return self.status == DONE

    @property
    def verified(self) -> bool:
        """Applied, and every check of the phase holds in the live schema right now.

        A check that a later applied phase intentionally undid (expand's sync trigger, which
        contract drops) is not expected to hold any more and does not count against it.
        """
        return self.applied and self.checked and all(result.holds for result in self.checks)

    def to_dict(self) -> dict[str, Any]:
        row = self.row
        data: dict[str, Any] = {
            "plan": self.plan_id,
            "phase": self.phase,
            "status": self.status,
            "started_at": _iso(row.started_at) if row else None,
            "finished_at": _iso(row.finished_at) if row else None,
            "verified_at": _iso(row.verified_at) if row else None,
            "applied_by": row.applied_by if row else None,
            "bgmigrate_version": row.tool_version if row else None,
            "error": row.error if row else None,
        }
        if self.checked:
            data["verified"] = self.verified
            data["checks"] = [result.to_dict() for result in self.checks]
        return data


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def stored_plan(conn: Connection, plan_id: str) -> Plan | None:
    """The plan as it was applied here (so no plan files are needed to verify it)."""
    text = plan_json(conn, plan_id)
    return Plan.from_json(text) if text else None


def phase_status(conn: Connection, plan_id: str, phase: str, *, verify: bool = True) -> PhaseStatus:
    """Is ``phase`` of ``plan_id`` applied, and (``verify``) do its checks hold in the live schema?

    Reads only; works on a database bgmigrate never touched (everything is "not applied").
    """
    if not state_exists(conn):
        return PhaseStatus(plan_id, phase)
    rows = PlanState(conn, plan_id).phases()
    plan = stored_plan(conn, plan_id) if verify else None
    return _phase_status(conn, plan_id, phase, rows, plan, verify=verify)


def _phase_status(
    conn: Connection, plan_id: str, phase: str, rows: Mapping[str, PhaseRow], plan: Plan | None, *, verify: bool
) -> PhaseStatus:
    row = rows.get(phase)
    if not verify:
        return PhaseStatus(plan_id, phase, row)
    if plan is None or phase not in [p.name for p in plan.phases]:
        return PhaseStatus(plan_id, phase, row, (), checked=True)
    later = _later_applied(plan, phase, rows)
    results = tuple(_as_of(result, later) for result in verify_checks(conn, plan.phase(phase).checks))
    return PhaseStatus(plan_id, phase, row, results, checked=True)


def _later_applied(plan: Plan, phase: str, rows: Mapping[str, PhaseRow]) -> list[Phase]:
    """The phases after ``phase`` that are applied: the schema is as of the last of them."""
    names = [str(p.name) for p in plan.phases]
    after = plan.phases[names.index(phase) + 1 :]
    return [p for p in after if (found := rows.get(p.name)) is not None and found.status == DONE]


def _as_of(result: CheckResult, later: list[Phase]) -> CheckResult:
    """A failing check is superseded when a later applied phase works on what it is about."""
    if result.ok:
        return result
    for phase in later:
        if changes(phase, result.check):
            return replace(result, superseded_by=phase.name)
    return result


def changes(phase: Phase, check: Check) -> bool:
    """Whether ``phase`` changes the object ``check`` is about: its SQL or its checks name it.

    Deliberately by name: the checks of expand (a sync trigger, a shadow column, a backfill's
    "no rows left behind") are about objects contract drops or renames, and contract's SQL
    names each of them. A check whose object no later phase touches stays a failure.
    """
    names = {n for n in (check.name, check.column) if n} or {split_qualified(check.table)[1]} - {""}
    texts = [step.sql for step in phase.steps] + [f"{c.table} {c.column} {c.name}" for c in phase.checks]
    spellings = names | {quote_ident(name) for name in names}  # a name with a quote is doubled in SQL
    return any(name in text for name in spellings for text in texts)


def plan_ids(conn: Connection) -> list[str]:
    if not state_exists(conn):
        return []
    return [str(row[0]) for row in conn.execute("SELECT plan_id FROM bgmigrate.plans ORDER BY recorded_at, plan_id")]


def plan_report(conn: Connection, plan_id: str, *, verify: bool = False) -> dict[str, Any]:
    """One plan for ``bgmigrate status``: every phase of it, applied or not, with step progress."""
    plan = stored_plan(conn, plan_id)
    info = conn.execute(
        "SELECT source, digest, recorded_at, recorded_by FROM bgmigrate.plans WHERE plan_id = %s", (plan_id,)
    ).fetchone()
    assert plan is not None and info is not None
    rows = PlanState(conn, plan_id).phases()
    phases = []
    for phase in plan.phases:
        entry = _phase_status(conn, plan_id, phase.name, rows, plan, verify=verify).to_dict()
        entry.update(_progress(conn, plan_id, phase.name, len(phase.steps)))
        phases.append(entry)
    return {
        "id": plan_id,
        "source": info[0],
        "digest": info[1],
        "recorded_at": _iso(info[2]),
        "recorded_by": info[3],
        "phases": phases,
    }


def _progress(conn: Connection, plan_id: str, phase: str, total: int) -> dict[str, Any]:
    done = conn.execute(
        "SELECT count(*) FROM bgmigrate.steps WHERE plan_id = %s AND phase = %s AND status = 'done'", (plan_id, phase)
    ).fetchone()
    backfills = conn.execute(
        """
        SELECT step_index, pass, last_key, rows_updated, batches, updated_at
        FROM bgmigrate.backfill_checkpoints WHERE plan_id = %s AND phase = %s ORDER BY step_index
        """,
        (plan_id, phase),
    ).fetchall()
    return {
        "steps_done": int(done[0]) if done else 0,
        "steps_total": total,
        "backfills": [
            {"step": s, "pass": p, "last_key": k, "rows_updated": r, "batches": b, "updated_at": _iso(u)}
            for s, p, k, r, b, u in backfills
        ],
    }
