"""The contract gate: may ``apply --phase contract`` of a plan run now?

Contract removes the old shapes (the old column, the sync trigger). It is refused while any
environment that still uses them can serve: the active one, the one kept as rollback target,
or one whose sessions still show in ``pg_stat_activity`` (a retired environment that is in
fact still running, or any environment that predates the plan). After ``switch retire`` of
the old environment, with its sessions gone, it is allowed.

Answers from the database alone (state recorded by every switch action), so apply can ask
without the switch configuration.
"""

from __future__ import annotations

from bgmigrate.apply.options import ContractAnswer
from bgmigrate.switch.config import Environment
from bgmigrate.switch.db import Connection
from bgmigrate.switch.lock import switch_holder
from bgmigrate.switch.store import SwitchState, load_state
from bgmigrate.switch.verdict import GateResult, Verdict, failed, passed

NO_STATE_GATE = "switch state"


def contract_allowed(conn: Connection, plan_id: str) -> Verdict:
    """Every gate between ``plan_id``'s contract and the database; allowed only if all pass.

    Before the first ``switch init`` the verdict has one failed gate named ``"switch state"``:
    the coordinator cannot vouch for anything, so the caller decides (apply may then fall back
    to its ``--confirm-old-version-retired``).
    """
    state = load_state(conn)
    if state is None:
        return Verdict((failed(NO_STATE_GATE, "no switch state in this database: the coordinator has never "
                                              "run `bgmigrate switch init`"),))  # fmt: skip
    return Verdict((
        _no_switch_running(conn),
        _serving(state, state.active, "active", plan_id),
        _rollback_target(state, plan_id),
        _sessions(conn, state, plan_id),
    ))  # fmt: skip


def _no_switch_running(conn: Connection) -> GateResult:
    holder = switch_holder(conn)
    if holder is None or holder.pid == conn.info.backend_pid:
        return passed("switch lock", "no switch is running")
    return failed("switch lock", f"a switch is running (pid {holder.pid}); ask again when it ends")


def _serving(state: SwitchState, name: str, role: str, plan_id: str) -> GateResult:
    gate = f"{role}: {name}"
    env = state.environments.get(name)
    if env is None:
        return failed(gate, f"{name} has no recorded configuration; run a switch action to record it")
    if env.knows_plan(plan_id):
        return passed(gate, f"{name} lists {plan_id} in requires: it does not need the old shapes")
    return failed(gate, f"{name} does not list {plan_id} in requires: it still uses what contract removes")


def _rollback_target(state: SwitchState, plan_id: str) -> GateResult:
    if state.rollback_target is None:
        return passed("rollback target", "none: the rollback window is closed")
    return _serving(state, state.rollback_target, "rollback target", plan_id)


def _watched(state: SwitchState, plan_id: str) -> list[Environment]:
    """Environments whose sessions block contract: retired ones, and any that predates the plan."""
    return [
        env for env in state.environments.values()
        if env.application_name and (env.name in state.retired or not env.knows_plan(plan_id))
    ]  # fmt: skip


def _sessions(conn: Connection, state: SwitchState, plan_id: str) -> GateResult:
    watched = _watched(state, plan_id)
    names = sorted({env.application_name for env in watched if env.application_name})
    if not names:
        return passed("sessions", "no environment that uses the old shapes names its sessions")
    rows = conn.execute(
        """
        SELECT application_name, count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ANY(%s)
        GROUP BY application_name ORDER BY application_name
        """,
        (names,),
    ).fetchall()
    if rows:
        shown = ", ".join(f"{count} as {name!s}" for name, count in rows)
        return failed("sessions", f"sessions still open from an old or retired environment: {shown}")
    return passed("sessions", f"no sessions as {', '.join(names)}")


def contract_answer(conn: Connection, plan_id: str) -> ContractAnswer:
    """The switch's verdict in the form ``apply_phase`` asks for (its ``contract_gate``)."""
    verdict = contract_allowed(conn, plan_id)
    if verdict.allowed:
        return ContractAnswer(True, None)
    return ContractAnswer(False, refusal(verdict) if coordinated(verdict) else None)


def coordinated(verdict: Verdict) -> bool:
    """False when the coordinator has no state here and so cannot vouch either way."""
    return not any(gate.name == NO_STATE_GATE for gate in verdict.failed)


def refusal(verdict: Verdict) -> str:
    """One line naming every failed gate, for apply's refusal message.

    >>> refusal(Verdict((failed("rollback target: blue", "blue still uses it"),)))
    'contract refused by the traffic switch: rollback target: blue (blue still uses it)'
    """
    reasons = "; ".join(f"{gate.name} ({gate.detail})" for gate in verdict.failed)
    return f"contract refused by the traffic switch: {reasons}"
