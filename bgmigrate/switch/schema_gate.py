"""The schema gate: the live database serves what an environment ``requires``.

A requirement ``plan_id:phase`` holds when that phase (or a later one) of the plan is applied
according to apply's state AND the checks of the latest applied phase hold in the live
catalogs: the new column exists, the sync trigger is in place, the backfill left no rows.
The state table alone is not trusted — someone may have dropped a trigger by hand since.

The rollback-window gate: every plan either environment lists whose contract has run must be
known to both, the one that will serve and the one kept to roll back to. An environment that
does not list a plan predates it and still uses the shapes that plan's contract removed.

Where plans come from: apply records each plan's JSON in its state (``bgmigrate.plans``) when
it applies a phase, and a phase row cannot exist without it. So the checks verified are
exactly those of the plan that ran (not a plan file edited since), and the switch job needs
no checkout of the migrations.

Everything the gate needs from apply goes through :class:`Ledger`; :class:`ApplyLedger` is
the one place that imports ``bgmigrate.apply``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bgmigrate.switch.config import Environment, Requirement
from bgmigrate.switch.db import Connection
from bgmigrate.switch.verdict import GateResult, failed, passed

APPLIED = "done"  # apply's status of a phase that finished
NOT_IN_PLACE = (None, "rolled_back")  # statuses of a phase that left nothing behind


@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    found: str  # what the catalogs show


class Ledger(Protocol):
    """What the schema gate asks of apply's records and of the live catalogs."""

    def phases(self, plan_id: str) -> tuple[str, ...] | None:
        """Phase names of the plan as apply recorded it; None if it was never applied here."""

    def status(self, plan_id: str, phase: str) -> str | None:
        """Apply's status of a phase (``"done"`` once applied); None if never started."""

    def verify(self, plan_id: str, phase: str) -> list[CheckOutcome]:
        """The phase's checks evaluated against the live catalogs now."""


class ApplyLedger:
    """The :class:`Ledger` backed by the apply package's public, read-only functions."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def phases(self, plan_id: str) -> tuple[str, ...] | None:
        from bgmigrate.apply.state_schema import state_exists
        from bgmigrate.apply.status import stored_plan

        # stored_plan reads apply's tables, which do not exist before the first apply.
        plan = stored_plan(self.conn, plan_id) if state_exists(self.conn) else None
        return None if plan is None else tuple(p.name for p in plan.phases)

    def status(self, plan_id: str, phase: str) -> str | None:
        from bgmigrate.apply import phase_status

        return phase_status(self.conn, plan_id, phase, verify=False).status

    def verify(self, plan_id: str, phase: str) -> list[CheckOutcome]:
        from bgmigrate.apply import phase_status

        return [CheckOutcome(r.ok, r.found) for r in phase_status(self.conn, plan_id, phase, verify=True).checks]


def requirement_gate(ledger: Ledger, env: Environment, req: Requirement) -> GateResult:
    """Is ``req`` applied and does the live schema show it?"""
    name = f"schema: {env.name} needs {req}"
    try:
        recorded = ledger.phases(req.plan_id)
    except ValueError as exc:
        return failed(name, f"plan {req.plan_id} as recorded cannot be read: {exc}")
    if recorded is None:
        return failed(name, f"plan {req.plan_id} was never applied to this database")
    names = list(recorded)
    if req.phase not in names:
        return failed(name, f"plan {req.plan_id} has no {req.phase} phase (it has {', '.join(names)})")
    later = names[names.index(req.phase) :]
    applied = [phase for phase in later if ledger.status(req.plan_id, phase) == APPLIED]
    if req.phase not in applied:
        status = ledger.status(req.plan_id, req.phase) or "not applied"
        return failed(name, f"{req} is {status}")
    # After a later phase the required phase's checks may no longer hold (contract drops the
    # sync trigger), so the latest applied phase's checks speak for the live schema.
    latest = applied[-1]
    results = ledger.verify(req.plan_id, latest)
    broken = [r for r in results if not r.ok]
    if broken:
        shown = "; ".join(r.found for r in broken[:3])
        return failed(name, f"{req.plan_id}:{latest} is recorded as applied but the live schema disagrees: {shown}")
    return passed(name, f"{req.plan_id}:{latest} applied; {len(results)} check(s) hold in the live schema")


def requirements_gates(ledger: Ledger, env: Environment) -> list[GateResult]:
    """One gate per requirement of ``env``."""
    if not env.requires:
        return [passed(f"schema: {env.name}", "requires no plan phase")]
    return [requirement_gate(ledger, env, req) for req in env.requires]


def rollback_window_gate(ledger: Ledger, serving: Environment, kept: Environment | None) -> GateResult:
    """No contract has run that the serving or the kept-for-rollback environment still needs."""
    name = "schema: rollback window"
    live = [env for env in (serving, kept) if env is not None]
    plans = sorted({req.plan_id for env in live for req in env.requires})
    for plan_id in plans:
        # A contract that failed part-way may already have dropped things: count it as run.
        if ledger.status(plan_id, "contract") in NOT_IN_PLACE:
            continue
        for env in live:
            if not env.knows_plan(plan_id):
                role = "would serve" if env is serving else "would be kept as rollback target"
                return failed(name, f"contract of {plan_id} has run; {env.name} ({role}) predates it and "
                                    "needs what it removed")  # fmt: skip
    kept_text = f" and {kept.name}" if kept is not None else ""
    return passed(name, f"no contract has run that {serving.name}{kept_text} still need")


def schema_gates(ledger: Ledger, target: Environment, kept: Environment | None) -> list[GateResult]:
    """All schema gates for moving traffic to ``target`` while keeping ``kept`` to roll back to."""
    return [*requirements_gates(ledger, target), rollback_window_gate(ledger, target, kept)]
