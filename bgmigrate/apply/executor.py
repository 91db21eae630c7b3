"""``apply --phase P``: gates, preconditions, then each step once, then the phase's own checks."""

from __future__ import annotations

import contextlib
import time

import psycopg

from bgmigrate.apply import gates
from bgmigrate.apply.connect import Connection
from bgmigrate.apply.errors import ApplyError, Interrupted, Refused
from bgmigrate.apply.live_checks import CheckResult, failures, verify_checks
from bgmigrate.apply.loader import LoadedPlan, phase_checks, precondition_checks
from bgmigrate.apply.options import ApplyOptions, ContractGate, Output
from bgmigrate.apply.schema_record import read_catalog
from bgmigrate.apply.session import plan_session
from bgmigrate.apply.state import DONE, FAILED, RUNNING, PlanState
from bgmigrate.apply.steps import StepRunner, timed
from bgmigrate.plan.phases import Check, Phase


def apply_phase(
    dsn: str, loaded: LoadedPlan, phase_name: str, options: ApplyOptions, out: Output, *, contract_gate: ContractGate
) -> None:
    """Apply one phase of ``loaded`` (or say why not); raises :class:`ApplyError` subclasses.

    ``contract_gate`` is asked before contract (the traffic switch's verdict, from the caller).
    """
    plan = loaded.plan
    with plan_session(dsn, plan.id) as (conn, state):
        statuses = {name: row.status for name, row in state.phases().items()}
        stored = state.stored_digest()
        decision = gates.forward(
            plan,
            phase_name,
            statuses,
            digest_changed=stored is not None and stored != loaded.digest,
            confirmed=_old_version_retired(conn, plan.id, phase_name, options, contract_gate),
        )
        if not decision.run:
            out.say(decision.message)
            return
        if decision.fresh:
            require(conn, precondition_checks(plan, phase_name), f"{phase_name} preconditions")
        before = read_catalog(conn) if decision.fresh else None
        state.save_plan(loaded)
        state.start_phase(phase_name, RUNNING, fresh=decision.fresh)
        if before is not None:  # a resumed run keeps the record of its first start
            state.save_catalog(phase_name, "before", before)
            state.forget_catalog(phase_name, "after")
        phase = plan.phase(phase_name)
        out.say(
            f"{'applying' if decision.fresh else 'resuming'} {phase_name} of plan {plan.id} ({len(phase.steps)} steps)"
        )
        _run_recorded(conn, state, phase, phase_checks(plan, phase_name), options, out, dsn)


def _old_version_retired(
    conn: Connection, plan_id: str, phase_name: str, options: ApplyOptions, gate: ContractGate
) -> bool:
    """Whether contract may remove the old shape: the traffic switch answers when it is in use.

    Where the coordinator keeps state, its verdict decides and the flag cannot override a
    refusal; without it, ``--confirm-old-version-retired`` is the operator's word.
    """
    if phase_name != "contract":
        return options.confirmed_old_retired
    answer = gate(conn, plan_id)
    if answer.allowed:
        return True
    if answer.refusal is not None:
        raise Refused(answer.refusal)
    return options.confirmed_old_retired


def require(conn: Connection, checks: tuple[Check, ...], what: str, error: type[ApplyError] = Refused) -> None:
    """Stop (by default: refuse, nothing changed) unless every check holds, listing what was found."""
    failed = failures(verify_checks(conn, checks))
    if failed:
        raise error(f"{what} do not hold: {_found(failed)}")


def _found(failed: list[CheckResult]) -> str:
    # Each one with what it expects, what is there, and what to do: an id alone helps nobody.
    return " | ".join(result.explain() for result in failed)


def _run_recorded(
    conn: Connection,
    state: PlanState,
    phase: Phase,
    checks: tuple[Check, ...],
    options: ApplyOptions,
    out: Output,
    dsn: str,
) -> None:
    """Run the steps and then ``checks``, leaving the phase done or failed in the state tables."""
    try:
        _run_steps(StepRunner(conn, state, phase, options, out, dsn), state, phase, out)
        failed = failures(verify_checks(conn, checks))
        if failed:
            raise ApplyError(f"{phase.name} ran but its checks do not hold: {_found(failed)}")
    except ApplyError as exc:
        _mark_failed(state, phase.name, str(exc))
        raise
    except KeyboardInterrupt:
        _mark_failed(state, phase.name, "interrupted")
        raise Interrupted(f"{phase.name} interrupted; progress is recorded: re-run to resume") from None
    state.save_catalog(phase.name, "after", read_catalog(conn))
    state.finish_phase(phase.name, DONE, verified=True)
    out.say(f"{phase.name} applied; {len(checks)} checks verified against the live schema")


def _run_steps(runner: StepRunner, state: PlanState, phase: Phase, out: Output) -> None:
    recorded = state.step_statuses(phase.name)
    for index, step in enumerate(phase.steps, 1):
        status = recorded.get(index)
        if status == DONE:
            out.say(f"  {runner.label(index)}: done by an earlier run")
            continue
        started = time.monotonic()
        state.start_step(phase.name, index, step.description)
        if step.kind == "backfill":
            point = runner.run_backfill(index, step)
            detail = f"{point.rows_updated:,} rows in {point.batches} batches, "
        else:
            runner.run_sql(
                index, step.sql, transactional=step.transactional, retry_sql=step.retry_sql, resumed=status == RUNNING
            )
            detail = ""
        out.say(f"  {runner.label(index)}: done ({detail}{timed(started)})")


def _mark_failed(state: PlanState, phase: str, error: str) -> None:
    # Best effort: after Ctrl-C or a lost connection the write may fail too, and a phase left
    # "running" resumes exactly like a failed one.
    with contextlib.suppress(psycopg.Error):
        state.finish_phase(phase, FAILED, error=error)
