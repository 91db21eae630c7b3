"""The schema gate: the live database serves what an environment ``requires``.

A requirement ``plan_id:phase`` holds when that phase (or a later one) of the plan is applied
according to apply's state AND what the applied phases established still holds in the live
catalogs: the new column exists, the sync trigger is in place, the backfill left no rows.
The state table alone is not trusted — someone may have dropped a trigger by hand since.
(See :func:`effective_checks` for which checks those are.)

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bgmigrate.plan.phases import Check, Plan
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

    def plan(self, plan_id: str) -> Plan | None:
        """The plan as apply recorded it; None if it was never applied here."""

    def status(self, plan_id: str, phase: str) -> str | None:
        """Apply's status of a phase (``"done"`` once applied); None if never started."""

    def verify(self, checks: Sequence[Check]) -> list[CheckOutcome]:
        """Each check evaluated against the live catalogs now."""


class ApplyLedger:
    """The :class:`Ledger` backed by the apply package's public, read-only functions."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def plan(self, plan_id: str) -> Plan | None:
        from bgmigrate.apply.state_schema import state_exists
        from bgmigrate.apply.status import stored_plan

        # stored_plan reads apply's tables, which do not exist before the first apply.
        return stored_plan(self.conn, plan_id) if state_exists(self.conn) else None

    def status(self, plan_id: str, phase: str) -> str | None:
        from bgmigrate.apply import phase_status

        return phase_status(self.conn, plan_id, phase, verify=False).status

    def verify(self, checks: Sequence[Check]) -> list[CheckOutcome]:
        from bgmigrate.apply import verify_checks

        # verify_checks counts a trigger as in place only while it fires (apply.checks.trigger_state).
        return [CheckOutcome(r.ok, r.found) for r in verify_checks(self.conn, checks)]


# Checks about one catalog object, by the object they are about. A later phase's check on the
# same object supersedes an earlier one (contract's trigger_absent replaces expand's trigger_exists).
_SUBJECTS = {
    "table_exists": "table", "table_absent": "table",
    "column_exists": "column", "column_absent": "column", "column_not_null": "column",
    "trigger_exists": "trigger", "trigger_absent": "trigger",
    "index_valid": "index", "constraint_validated": "constraint",
}  # fmt: skip


def effective_checks(plan: Plan, applied: Sequence[str]) -> list[Check]:
    """What must hold now that the ``applied`` phases (in plan order) are in place.

    The latest phase's checks, plus every catalog fact an earlier applied phase established
    that no later one changed: migrate may check only its backfill, yet the sync trigger
    expand installed must still be there. Row queries (``no_rows``) count for their own
    phase only — a later phase may drop the columns they read.

    >>> from bgmigrate.plan.phases import Phase
    >>> plan = Plan("p", "m.sql", (
    ...     Phase("expand", checks=(Check("trigger_exists", "t", name="sync"), Check("column_exists", "t", "b"))),
    ...     Phase("migrate", checks=(Check("no_rows", sql="SELECT 1 FROM t WHERE b IS NULL"),)),
    ...     Phase("contract", checks=(Check("trigger_absent", "t", name="sync"),))))
    >>> [c.kind for c in effective_checks(plan, ["expand", "migrate"])]
    ['no_rows', 'trigger_exists', 'column_exists']
    >>> [c.kind for c in effective_checks(plan, ["expand", "migrate", "contract"])]
    ['trigger_absent', 'column_exists']
    """
    facts: dict[tuple[str, str, str, str], Check] = {}
    for name in applied:
        for check in plan.phase(name).checks:
            subject = _SUBJECTS.get(check.kind)
            if subject is not None:
                facts[(subject, check.table, check.column, check.name)] = check
    result = list(plan.phase(applied[-1]).checks)
    result += [check for check in facts.values() if check not in result]
    return result


def requirement_gate(ledger: Ledger, env: Environment, req: Requirement) -> GateResult:
    """Is ``req`` applied and does the live schema show it?"""
    name = f"schema: {env.name} needs {req}"
    try:
        plan = ledger.plan(req.plan_id)
    except ValueError as exc:
        return failed(name, f"plan {req.plan_id} as recorded cannot be read: {exc}")
    if plan is None:
        return failed(name, f"plan {req.plan_id} was never applied to this database")
    names = [p.name for p in plan.phases]
    if req.phase not in names:
        return failed(name, f"plan {req.plan_id} has no {req.phase} phase (it has {', '.join(names)})")
    statuses = {phase: ledger.status(req.plan_id, phase) for phase in names}
    applied = [phase for phase in names if statuses[phase] == APPLIED]
    if req.phase not in applied:
        return failed(name, f"{req} is {statuses[req.phase] or 'not applied'}")
    latest = applied[-1]
    results = ledger.verify(effective_checks(plan, applied))
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


# Contract checks that say an old shape is gone. Its other checks (a constraint validated)
# may hold before contract runs, so they cannot tell whether it ran.
_REMOVALS = ("table_absent", "column_absent", "trigger_absent")


def contract_ran(ledger: Ledger, plan_id: str) -> str | None:
    """How we know ``plan_id``'s contract has run (in apply's records or in the catalogs), or None.

    Apply's records alone are not enough: a contract run by hand (psql) leaves none, yet the old
    shapes are gone. Any old shape missing from the live catalogs counts as contract run.
    """
    status = ledger.status(plan_id, "contract")
    if status not in NOT_IN_PLACE:
        # A contract that failed part-way may already have dropped things: count it as run.
        return f"apply recorded it as {status}"
    try:
        plan = ledger.plan(plan_id)
    except ValueError as exc:
        return f"its recorded plan cannot be read, so the old shapes cannot be checked: {exc}"
    if plan is None or "contract" not in [p.name for p in plan.phases]:
        return None
    removals = [c for c in plan.phase("contract").checks if c.kind in _REMOVALS]
    gone = [r.found for r in ledger.verify(removals) if r.ok]
    if gone:
        return "not by apply, but the live schema shows it: " + "; ".join(gone[:3])
    return None


def rollback_window_gate(ledger: Ledger, serving: Environment, kept: Environment | None) -> GateResult:
    """No contract has run that the serving or the kept-for-rollback environment still needs."""
    name = "schema: rollback window"
    live = [env for env in (serving, kept) if env is not None]
    plans = sorted({req.plan_id for env in live for req in env.requires})
    for plan_id in plans:
        ran = contract_ran(ledger, plan_id)
        if ran is None:
            continue
        for env in live:
            if not env.knows_plan(plan_id):
                role = "would serve" if env is serving else "would be kept as rollback target"
                return failed(name, f"contract of {plan_id} has run ({ran}); {env.name} ({role}) predates it "
                                    "and needs what it removed")  # fmt: skip
    kept_text = f" and {kept.name}" if kept is not None else ""
    return passed(name, f"no contract has run that {serving.name}{kept_text} still need")


def schema_gates(ledger: Ledger, target: Environment, kept: Environment | None) -> list[GateResult]:
    """All schema gates for moving traffic to ``target`` while keeping ``kept`` to roll back to."""
    return [*requirements_gates(ledger, target), rollback_window_gate(ledger, target, kept)]
