"""``bgmigrate apply`` and ``bgmigrate status``: run a plan's phases, and show what is applied."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from bgmigrate.cli.errors import fail
from bgmigrate.exitcodes import INPUT_ERROR
from bgmigrate.plan.phases import PHASES

DSN_ENV = "BGMIGRATE_DSN"


class Duration(click.ParamType[float, Any]):
    """``2s``, ``500ms``, ``0.05s``: seconds as a float."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        from bgmigrate.durations import parse_duration

        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _dsn(dsn: str | None) -> str:
    value = dsn or os.environ.get(DSN_ENV, "")
    if not value.strip():
        fail(f"no database given: pass --dsn or set {DSN_ENV}")
    return value


@click.command()
@click.argument("plan_dir", metavar="DIR", type=click.Path())
@click.option("--phase", type=click.Choice(PHASES), required=True, help="The phase to apply (or roll back).")
@click.option("--dsn", help=f"Database to apply to (default: ${DSN_ENV}).")
@click.option(
    "--lock-timeout",
    type=Duration(),
    help="Longest wait for a lock per statement attempt (default: the plan's, else 300ms).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 1000),
    help="Retries after a lock timeout or deadlock (default: the plan's, else 10).",
)
@click.option("--retry-delay", type=Duration(), help="First backoff before a retry, doubling (default 0.5s).")
@click.option("--retry-max-delay", type=Duration(), help="Longest backoff between retries (default 15s).")
@click.option("--batch-size", type=click.IntRange(1), help="A fixed number of rows per backfill batch.")
@click.option(
    "--batch-time",
    type=Duration(),
    default="50ms",
    show_default=True,
    help="Time each backfill batch should take: the batch size follows it (unless --batch-size).",
)
@click.option("--pause", type=Duration(), default="0.05s", show_default=True, help="Pause between backfill batches.")
@click.option("--rollback", is_flag=True, help="Undo the phase (expand or migrate, while contract has not run).")
@click.option("--confirm-old-version-retired", "confirmed", is_flag=True, help="Required by contract.")
def apply(
    plan_dir: str,
    phase: str,
    dsn: str | None,
    lock_timeout: float | None,
    retries: int | None,
    retry_delay: float | None,
    retry_max_delay: float | None,
    batch_size: int | None,
    batch_time: float,
    pause: float,
    rollback: bool,
    confirmed: bool,
) -> None:
    """Apply one phase of the plan in DIR (its plan.json) to a live database.

    Exit status: 0 applied (or nothing to do), 2 bad input or a step failed (re-run to resume),
    3 refused (phase order, preconditions, contract unconfirmed, another apply running),
    130 interrupted (re-run to resume).
    """
    from bgmigrate.apply.errors import ApplyError
    from bgmigrate.apply.executor import apply_phase
    from bgmigrate.apply.loader import load_plan
    from bgmigrate.apply.options import Output, resolve_options
    from bgmigrate.apply.plan_settings import PlanSettings
    from bgmigrate.apply.progress import make_progress
    from bgmigrate.apply.rollback import rollback_phase
    from bgmigrate.switch.contract import contract_answer

    target = _dsn(dsn)
    given = PlanSettings(lock_timeout, retries, retry_delay, retry_max_delay)
    out = Output(say=_say, progress=make_progress(_say))
    # A CI job cancelled with SIGTERM stops like Ctrl-C: the statement in flight is cancelled,
    # the phase is marked failed, and a re-run resumes.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        loaded = load_plan(plan_dir)
        options = resolve_options(
            given,
            loaded.settings,
            pause=pause,
            batch_size=batch_size,
            batch_time=batch_time,
            confirmed_old_retired=confirmed,
        )
        if rollback:
            _guard_driver(target, lambda: rollback_phase(target, loaded, phase, options, out))
        else:
            gate = contract_answer  # the traffic switch decides whether contract may run
            _guard_driver(target, lambda: apply_phase(target, loaded, phase, options, out, contract_gate=gate))
    except ApplyError as exc:
        fail(str(exc), exc.code)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _say(message: str) -> None:
    from bgmigrate.safetext import display

    click.echo(display(message))  # names in a message never break the line or reach the terminal raw
    sys.stdout.flush()


def _guard_driver(dsn: str, work: Callable[[], None]) -> None:
    """Driver errors outside any step (connecting, state tables) as one redacted line."""
    import psycopg

    from bgmigrate.apply.connect import describe

    try:
        work()
    except psycopg.Error as exc:
        fail(describe(exc, dsn), INPUT_ERROR)


@click.command()
@click.option("--dsn", help=f"Database to inspect (default: ${DSN_ENV}).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--plan", "plan_id", help="Only this plan.")
@click.option("--verify", is_flag=True, help="Also evaluate each phase's checks against the live schema.")
def status(dsn: str | None, fmt: str, plan_id: str | None, verify: bool) -> None:
    """Show the plans applied to a database and the state of each phase."""
    from bgmigrate.apply.connect import connect
    from bgmigrate.apply.errors import ApplyError
    from bgmigrate.apply.status import plan_ids, plan_report

    target = _dsn(dsn)
    reports: list[dict[str, Any]] = []

    def collect() -> None:
        with connect(target, "bgmigrate status") as conn:
            known = plan_ids(conn)
            ids = [plan_id] if plan_id else known
            reports.extend(plan_report(conn, pid, verify=verify) for pid in ids if pid in known)

    try:
        _guard_driver(target, collect)
    except ApplyError as exc:
        fail(str(exc), exc.code)
    if plan_id and not reports:
        fail(f"plan {plan_id} has never been applied to this database")
    if fmt == "json":
        click.echo(json.dumps({"plans": reports}, indent=2, sort_keys=True))
    else:
        click.echo(_text(reports))


def _text(reports: list[dict[str, Any]]) -> str:
    from bgmigrate.safetext import display

    if not reports:
        return "no plans applied to this database"
    lines: list[str] = []
    for report in reports:
        lines.append(f"plan {report['id']} ({report['source']})")
        for phase in report["phases"]:
            lines.append("  " + _phase_line(phase))
            lines += [_check_line(check) for check in phase.get("checks", []) if not check["ok"]]
    return "\n".join(display(line) for line in lines)  # a name in a plan id or check stays on its line


def _check_line(check: dict[str, Any]) -> str:
    if check.get("superseded_by"):
        return f"      - {check['found']} (as intended: {check['superseded_by']} changed it)"
    fix = f"; to fix: {check['fix']}" if check.get("fix") else ""
    return f"      ✗ {check['found']}{fix}"


def _phase_line(phase: dict[str, Any]) -> str:
    state = phase["status"] or "not applied"
    line = f"{phase['phase']:<9} {state:<12} steps {phase['steps_done']}/{phase['steps_total']}"
    if phase["status"]:
        line += f"  by {phase['applied_by']} at {phase['finished_at'] or phase['started_at']}"
    if "verified" in phase:
        line += "  verified" if phase["verified"] else "  NOT verified"
    for backfill in phase["backfills"]:
        line += f"  backfill step {backfill['step']}: {backfill['rows_updated']:,} rows, {backfill['batches']} batches"
    if phase["error"]:
        line += f"  error: {phase['error']}"
    return line
