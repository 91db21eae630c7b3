"""The pure parts of apply: phase gates, retry policy, plan validation, durations, redaction."""

from __future__ import annotations

import json
import random
from pathlib import Path

import psycopg
import pytest
from apply_recipes import RENAME

from bgmigrate.apply import gates
from bgmigrate.apply.connect import describe
from bgmigrate.apply.errors import ApplyError, Refused
from bgmigrate.apply.loader import load_plan, precondition_checks, validate
from bgmigrate.apply.lock_timeout import parse_duration
from bgmigrate.apply.retry import RetryPolicy, with_retries
from bgmigrate.plan.phases import Phase, Plan, Step

PLAN = RENAME.plan()  # the planner's plan for the rename recipe


def forward(phase: str, confirmed: bool = False, changed: bool = False, **statuses: str) -> gates.Decision:
    return gates.forward(PLAN, phase, statuses, digest_changed=changed, confirmed=confirmed)


def test_forward_gates() -> None:
    assert forward("expand") == gates.Decision(run=True, fresh=True)
    assert forward("expand", expand="failed") == gates.Decision(run=True, fresh=False)
    assert forward("expand", expand="running") == gates.Decision(run=True, fresh=False)
    assert forward("expand", expand="rolled_back").fresh
    assert not forward("expand", expand="done").run
    assert forward("migrate", expand="done").run
    assert forward("contract", confirmed=True, expand="done", migrate="done").run
    with pytest.raises(Refused, match="migrate needs expand applied first \\(expand is failed\\)"):
        forward("migrate", expand="failed")
    with pytest.raises(Refused, match="confirm-old-version-retired"):
        forward("contract", expand="done", migrate="done")
    with pytest.raises(Refused, match="rollback of expand did not finish"):
        forward("expand", expand="rolling_back")
    with pytest.raises(Refused, match="differs from the plan applied"):
        forward("migrate", changed=True, expand="done")
    assert forward("expand", changed=True, expand="rolled_back").run  # nothing in place: a new plan may start


def test_backward_gates() -> None:
    def backward(phase: str, **statuses: str) -> gates.Decision:
        return gates.backward(PLAN, phase, statuses, digest_changed=False)

    assert backward("expand", expand="done").run
    assert backward("expand", expand="failed").run
    assert backward("expand", expand="rolling_back") == gates.Decision(run=True, fresh=False)
    assert not backward("expand").run
    assert not backward("expand", expand="rolled_back").run
    assert backward("expand", expand="done", migrate="rolled_back").run
    with pytest.raises(Refused, match="roll back migrate first"):
        backward("expand", expand="done", migrate="done")
    with pytest.raises(Refused, match="contract cannot be rolled back"):
        backward("contract", contract="done")
    with pytest.raises(Refused, match="contract has run \\(failed\\)"):
        backward("migrate", expand="done", migrate="done", contract="failed")


def test_a_phase_the_plan_lacks_is_an_input_error() -> None:
    plan = Plan(id="p", source="s", phases=(Phase(name="expand"),))
    with pytest.raises(ApplyError, match="plan p has no contract phase") as raised:
        gates.forward(plan, "contract", {}, digest_changed=False, confirmed=True)
    assert raised.value.code == 2


def test_preconditions_are_the_plans_then_the_previous_phases_checks() -> None:
    assert precondition_checks(PLAN, "expand") == PLAN.preconditions
    assert precondition_checks(PLAN, "migrate") == PLAN.phases[0].checks
    assert precondition_checks(PLAN, "contract") == PLAN.phases[1].checks


def test_validation() -> None:
    assert validate(PLAN) is None
    bad_step = Plan(id="p", source="s", phases=(Phase(name="expand", steps=(Step(kind="sql", description="d"),)),))
    assert validate(bad_step) == "expand: step 1 (d): no SQL"
    backfill = Plan(
        id="p", source="s", phases=(Phase(name="migrate", steps=(Step(kind="backfill", description="b"),)),)
    )
    assert validate(backfill) == "migrate: step 1 (b): backfill step without a backfill spec"
    twice = Plan(id="p", source="s", phases=(Phase(name="expand"), Phase(name="expand")))
    assert "once each" in (validate(twice) or "")


def test_loaded_plans_have_a_stable_digest(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    (tmp_path / "a" / "plan.json").write_text(PLAN.to_json())
    # The same plan, formatted differently, is the same plan.
    (tmp_path / "b" / "plan.json").write_text(json.dumps(json.loads(PLAN.to_json()), separators=(",", ":")))
    assert load_plan(tmp_path / "a").digest == load_plan(tmp_path / "b").digest


def test_retries_back_off_on_lock_timeouts_and_deadlocks_only() -> None:
    failures = [psycopg.errors.LockNotAvailable("lock"), psycopg.errors.DeadlockDetected("deadlock")]
    waits: list[float] = []
    reported: list[int] = []

    def attempt(number: int) -> str:
        if failures:
            raise failures.pop(0)
        return f"done on attempt {number}"

    policy = RetryPolicy(retries=5, base_delay=1.0, max_delay=3.0)
    result = with_retries(
        attempt, policy, lambda n, _e, _d: reported.append(n), sleep=waits.append, rng=random.Random(1)
    )
    assert result == "done on attempt 3" and reported == [1, 2]
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0  # doubling, with jitter in the upper half

    def undefined(_number: int) -> None:
        raise psycopg.errors.UndefinedTable("no such table")

    with pytest.raises(psycopg.errors.UndefinedTable):
        with_retries(undefined, policy, lambda *_: None, sleep=waits.append)


def test_retries_run_out() -> None:
    calls: list[int] = []

    def always(number: int) -> None:
        calls.append(number)
        raise psycopg.errors.LockNotAvailable("lock")

    with pytest.raises(psycopg.errors.LockNotAvailable):
        with_retries(always, RetryPolicy(retries=2), lambda *_: None, sleep=lambda _s: None)
    assert calls == [1, 2, 3]


def test_delays_are_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert all(2.0 <= policy.delay(n, random.Random(n)) <= 4.0 for n in range(4, 30))


def test_durations() -> None:
    assert parse_duration("2s") == 2.0 and parse_duration("250ms") == 0.25 and parse_duration("1m") == 60.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_driver_errors_are_one_redacted_line() -> None:
    dsn = "postgresql://app:hunter2@db/prod"
    exc = psycopg.OperationalError('invalid value "hunter2"\nDETAIL: for option "port"')
    assert describe(exc, dsn) == 'invalid value "****"; DETAIL: for option "port"'
