"""``apply --rollback --phase P``: undo a phase's completed steps in reverse, while contract has not run."""

from __future__ import annotations

import contextlib

import psycopg

from bgmigrate.apply import gates
from bgmigrate.apply.connect import Connection
from bgmigrate.apply.errors import ApplyError, Interrupted
from bgmigrate.apply.executor import require
from bgmigrate.apply.loader import LoadedPlan, precondition_checks
from bgmigrate.apply.options import ApplyOptions, Output
from bgmigrate.apply.session import plan_session
from bgmigrate.apply.state import DONE, ROLLED_BACK, ROLLING_BACK, RUNNING, PlanState
from bgmigrate.apply.steps import StepRunner
from bgmigrate.apply.undo import UndoReport, undo_leftovers
from bgmigrate.plan.phases import Phase


def rollback_phase(dsn: str, loaded: LoadedPlan, phase_name: str, options: ApplyOptions, out: Output) -> None:
    """Roll back one phase; afterwards what held before it (its preconditions) must hold again."""
    plan = loaded.plan
    with plan_session(dsn, plan.id) as (conn, state):
        statuses = {name: row.status for name, row in state.phases().items()}
        stored = state.stored_digest()
        decision = gates.backward(
            plan, phase_name, statuses, digest_changed=stored is not None and stored != loaded.digest
        )
        if not decision.run:
            out.say(decision.message)
            return
        phase = plan.phase(phase_name)
        state.start_phase(phase_name, ROLLING_BACK, fresh=False)
        out.say(f"rolling back {phase_name} of plan {plan.id}")
        runner = StepRunner(conn, state, phase, options, out, dsn)
        try:
            _undo_steps(runner, state, phase, out)
            report = _compare_with_before(conn, state, phase_name, options, out)
        except ApplyError as exc:
            _record_error(state, phase_name, str(exc))
            raise
        except KeyboardInterrupt:
            _record_error(state, phase_name, "rollback interrupted")
            raise Interrupted(f"rollback of {phase_name} interrupted; re-run it to finish") from None
        state.finish_phase(phase_name, ROLLED_BACK)
        require(
            conn, precondition_checks(plan, phase_name), f"{phase_name} rolled back, but its preconditions", ApplyError
        )
        if report.others:
            out.say(
                f"{phase_name} rolled back: everything it changed is undone (catalog compared with the record taken "
                f"before it ran); changed since, not by {phase_name}, left alone: {'; '.join(report.others)}"
            )
        else:
            out.say(
                f"{phase_name} rolled back; the schema is as it was before {phase_name} "
                "(catalog compared with the record taken before it ran)"
            )


def _compare_with_before(
    conn: Connection, state: PlanState, phase_name: str, options: ApplyOptions, out: Output
) -> UndoReport:
    """Undo what the steps left and prove it; raise (the phase stays ``rolling_back``) when something remains."""
    before = state.catalog(phase_name, "before")
    if before is None:
        raise ApplyError(
            f"{phase_name}: its steps were rolled back, but no record of the schema before {phase_name} exists "
            "(applied by an older bgmigrate), so what is left cannot be told: compare the schema by hand"
        )
    report = undo_leftovers(
        conn,
        before,
        state.catalog(phase_name, "after"),
        lock_timeout=options.lock_timeout,
        policy=options.policy,
        on_retry=lambda failures, exc, delay: out.say(
            f"  undo of what {phase_name} left: lock timeout or deadlock; retry {failures} in {delay:.1f}s"
        ),
        say=out.say,
    )
    if report.left:
        raise ApplyError(
            f"{phase_name} is NOT fully rolled back; left in the schema: {'; '.join(report.left)}. "
            f"Remove or restore these by hand, then re-run `apply --rollback --phase {phase_name}` to confirm"
        )
    return report


def _undo_steps(runner: StepRunner, state: PlanState, phase: Phase, out: Output) -> None:
    recorded = state.step_statuses(phase.name)
    for index in range(len(phase.steps), 0, -1):
        step = phase.steps[index - 1]
        status = recorded.get(index)
        # A transactional step left "running" never committed; a non-transactional one
        # (CONCURRENTLY) may have left something behind, which its rollback clears.
        if status != DONE and not (status == RUNNING and not step.transactional):
            continue
        if not step.rollback_sql:
            with runner.conn.transaction():
                state.finish_step(runner.conn, phase.name, index, ROLLED_BACK)
            continue
        runner.run_sql(
            index, step.rollback_sql, transactional=step.transactional, status=ROLLED_BACK, verb="rollback of step"
        )
        out.say(f"  {runner.label(index, 'rollback of step')}: done")


def _record_error(state: PlanState, phase: str, error: str) -> None:
    # The phase stays "rolling_back": only finishing the rollback (a re-run) may leave that status.
    with contextlib.suppress(psycopg.Error):
        state.record_error(phase, error)
