"""``bgmigrate apply`` and ``status`` as users run them: order, re-runs, gates, rollback, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apply_helpers import apply_cli, cli, execute, one_error_line, phase_statuses, rows, scalar, subprocess_cli
from apply_recipes import RENAME

from bgmigrate.apply import phase_status
from bgmigrate.apply.connect import connect
from bgmigrate.apply.guard import plan_guard, plan_lock_key

PLAN = RENAME.plan_id
EXPAND_STEPS = len(RENAME.plan().phase("expand").steps)
# The planner's names for the sync trigger and its function.
TRIGGER, FUNCTION = "bgm_sync_state", "bgm_sync_users_state"


@pytest.fixture
def users(pg_dsn: str, tmp_path: Path) -> Path:
    """The rename recipe's table with rows, and the planner's plan directory for it."""
    execute(pg_dsn, RENAME.setup)
    execute(pg_dsn, RENAME.seed)
    return RENAME.plan_into(tmp_path)


def columns(dsn: str) -> set[str]:
    return {r[0] for r in rows(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")}


def test_phases_run_in_order_and_once(pg_dsn: str, users: Path) -> None:
    refused = apply_cli(users, "migrate", pg_dsn)
    assert refused.exit_code == 3
    assert "migrate needs expand applied first" in one_error_line(refused)

    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    finished = scalar(pg_dsn, "SELECT finished_at FROM bgmigrate.phases WHERE phase = 'expand'")
    again = apply_cli(users, "expand", pg_dsn)
    assert again.exit_code == 0 and "already applied; nothing to do" in again.output
    assert scalar(pg_dsn, "SELECT finished_at FROM bgmigrate.phases WHERE phase = 'expand'") == finished

    assert apply_cli(users, "migrate", pg_dsn).exit_code == 0
    unconfirmed = apply_cli(users, "contract", pg_dsn)
    assert unconfirmed.exit_code == 3 and "--confirm-old-version-retired" in one_error_line(unconfirmed)
    assert "status" in columns(pg_dsn)
    assert apply_cli(users, "contract", pg_dsn, "--confirm-old-version-retired").exit_code == 0
    assert columns(pg_dsn) == {"id", "name", "state"}
    assert phase_statuses(pg_dsn, PLAN) == {"expand": "done", "migrate": "done", "contract": "done"}
    # A finished contract needs no confirmation to say so.
    assert apply_cli(users, "contract", pg_dsn).exit_code == 0


def test_state_records_who_when_and_the_plan(pg_dsn: str, users: Path) -> None:
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    (by, version, started, finished, verified) = rows(
        pg_dsn, "SELECT applied_by, tool_version, started_at, finished_at, verified_at FROM bgmigrate.phases"
    )[0]
    assert "@" in by and version and started <= finished <= verified
    digest, plan = rows(pg_dsn, "SELECT digest, plan FROM bgmigrate.plans WHERE plan_id = %s", (PLAN,))[0]
    assert len(digest) == 64 and plan["id"] == PLAN
    done = [(i, "done") for i in range(1, EXPAND_STEPS + 1)]
    assert rows(pg_dsn, "SELECT step_index, status FROM bgmigrate.steps ORDER BY 1") == done


def test_preconditions_that_do_not_hold_stop_before_any_change(pg_dsn: str, users: Path) -> None:
    execute(pg_dsn, "ALTER TABLE users ADD COLUMN state text")  # expand applied by hand
    result = apply_cli(users, "expand", pg_dsn)
    assert result.exit_code == 3
    line = one_error_line(result)
    assert "expand preconditions do not hold" in line and "column users.state exists" in line
    assert phase_statuses(pg_dsn, PLAN) == {}
    assert scalar(pg_dsn, "SELECT count(*) FROM pg_trigger WHERE tgname = %s", (TRIGGER,)) == 0


def test_previous_phase_checks_gate_the_next(pg_dsn: str, users: Path) -> None:
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    execute(pg_dsn, f"DROP TRIGGER {TRIGGER} ON users")  # someone undid part of expand
    result = apply_cli(users, "migrate", pg_dsn)
    assert result.exit_code == 3
    assert f"trigger {TRIGGER} on users does not exist" in one_error_line(result)
    assert "migrate" not in phase_statuses(pg_dsn, PLAN)


def test_rollback_undoes_migrate_then_expand_and_expand_can_run_again(pg_dsn: str, users: Path) -> None:
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    assert apply_cli(users, "migrate", pg_dsn).exit_code == 0
    refused = apply_cli(users, "expand", pg_dsn, "--rollback")
    assert refused.exit_code == 3 and "roll back migrate first" in one_error_line(refused)

    assert apply_cli(users, "migrate", pg_dsn, "--rollback").exit_code == 0
    result = apply_cli(users, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 0, result.output
    assert columns(pg_dsn) == {"id", "name", "status"}
    assert scalar(pg_dsn, "SELECT count(*) FROM pg_proc WHERE proname = %s", (FUNCTION,)) == 0
    assert phase_statuses(pg_dsn, PLAN) == {"expand": "rolled_back", "migrate": "rolled_back"}
    assert "already rolled back" in apply_cli(users, "expand", pg_dsn, "--rollback").output

    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    assert "state" in columns(pg_dsn)


@pytest.mark.parametrize("mode", ["DISABLE", "ENABLE REPLICA"])
def test_a_sync_trigger_that_does_not_fire_is_not_in_place(pg_dsn: str, users: Path, mode: str) -> None:
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    execute(pg_dsn, f"ALTER TABLE users {mode} TRIGGER {TRIGGER}")  # by hand, behind apply's back
    fix = f"ALTER TABLE users ENABLE TRIGGER {TRIGGER}"
    text = cli("status", "--dsn", pg_dsn, "--verify").output
    assert "expand" in text and "NOT verified" in text
    assert f"✗ trigger {TRIGGER} on users exists but is" in text and fix in text
    refused = apply_cli(users, "migrate", pg_dsn)
    assert refused.exit_code == 3
    line = one_error_line(refused)
    assert "migrate preconditions do not hold" in line and f"trigger {TRIGGER} on users exists but is" in line
    assert fix in line
    assert phase_statuses(pg_dsn, PLAN) == {"expand": "done"}
    execute(pg_dsn, fix)
    assert apply_cli(users, "migrate", pg_dsn).exit_code == 0


def test_rollback_is_refused_once_contract_ran(pg_dsn: str, users: Path) -> None:
    for phase in ("expand", "migrate"):
        assert apply_cli(users, phase, pg_dsn).exit_code == 0
    assert apply_cli(users, "contract", pg_dsn, "--confirm-old-version-retired").exit_code == 0
    for phase in ("contract", "migrate", "expand"):
        result = apply_cli(users, phase, pg_dsn, "--rollback")
        assert result.exit_code == 3 and "contract" in one_error_line(result)


def test_rollback_of_a_phase_never_applied_does_nothing(pg_dsn: str, users: Path) -> None:
    result = apply_cli(users, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 0 and "not applied; nothing to roll back" in result.output


def test_a_changed_plan_is_refused_while_its_predecessor_is_in_place(pg_dsn: str, users: Path) -> None:
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0
    plan = json.loads((users / "plan.json").read_text())
    plan["phases"][1]["notes"] = ["edited after expand ran"]
    (users / "plan.json").write_text(json.dumps(plan))
    result = apply_cli(users, "migrate", pg_dsn)
    assert result.exit_code == 3 and "differs from the plan applied" in one_error_line(result)


def test_two_applies_of_one_plan_cannot_run_at_once(pg_dsn: str, users: Path) -> None:
    with plan_guard(pg_dsn, PLAN):
        result = apply_cli(users, "expand", pg_dsn)
    assert result.exit_code == 3
    assert f"another apply of plan {PLAN} is running (pid" in one_error_line(result)
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0  # the lock went with its holder


def test_the_plan_lock_holds_no_snapshot(pg_dsn: str, users: Path) -> None:
    # A snapshot held by the guard would make every CREATE INDEX CONCURRENTLY wait for it.
    execute(pg_dsn, "CREATE SCHEMA IF NOT EXISTS probe")
    with plan_guard(pg_dsn, PLAN) as guard:
        pid = guard.info.backend_pid
        state, xmin = rows(pg_dsn, "SELECT state, backend_xmin FROM pg_stat_activity WHERE pid = %s", (pid,))[0]
    assert (state, xmin) == ("idle in transaction", None)


def test_status_shows_plans_and_phases(pg_dsn: str, users: Path) -> None:
    empty = cli("status", "--dsn", pg_dsn)
    assert empty.exit_code == 0 and "no plans applied" in empty.output
    assert apply_cli(users, "expand", pg_dsn).exit_code == 0

    text = cli("status", "--dsn", pg_dsn)
    assert text.exit_code == 0
    assert f"plan {PLAN}" in text.output and "expand    done" in text.output
    assert "contract  not applied" in text.output

    report = json.loads(cli("status", "--dsn", pg_dsn, "--format", "json", "--verify").output)
    (plan,) = report["plans"]
    expand, migrate, contract = plan["phases"]
    progress = (expand["status"], expand["verified"], expand["steps_done"], expand["steps_total"])
    assert progress == ("done", True, EXPAND_STEPS, EXPAND_STEPS)
    assert migrate["status"] is None and contract["status"] is None
    assert all(check["ok"] for check in expand["checks"])


def test_phase_status_answers_applied_and_verified_from_the_live_schema(pg_dsn: str, users: Path) -> None:
    with connect(pg_dsn, "test") as conn:
        assert phase_status(conn, PLAN, "expand").status is None  # no state schema yet
        assert apply_cli(users, "expand", pg_dsn).exit_code == 0
        status = phase_status(conn, PLAN, "expand")
        assert status.applied and status.verified
        assert not phase_status(conn, PLAN, "migrate").applied
        execute(pg_dsn, f"DROP TRIGGER {TRIGGER} ON users")
        broken = phase_status(conn, PLAN, "expand")
        assert broken.applied and not broken.verified
        assert [r.found for r in broken.checks if not r.ok] == [f"trigger {TRIGGER} on users does not exist"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "plan.json: not found"),
        ("{not json", "not a bgmigrate plan"),
        ("[1, 2]", "not a bgmigrate plan"),
        ('{"format_version": 1, "id": "x", "source": "s", "phases": [{"name": "contract", "steps": [], '
         '"serves": [], "notes": [], "checks": []}, {"name": "expand", "steps": [], "serves": [], '
         '"notes": [], "checks": []}]}', "in that order"),
        ('{"format_version": 1, "id": "x", "source": "s", "phases": [{"name": "expand", "steps": '
         '[{"kind": "shell", "description": "d"}], "serves": [], "notes": [], "checks": []}]}',
         "unknown step kind 'shell'"),
    ],
)  # fmt: skip
def test_bad_plans_are_one_line_errors_that_change_nothing(
    pg_dsn: str, tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "plan.json").write_text(content)
    result = apply_cli(tmp_path, "expand", pg_dsn)
    assert result.exit_code == 2
    assert expected in one_error_line(result)
    assert scalar(pg_dsn, "SELECT to_regnamespace('bgmigrate')") is None


def test_missing_directory(pg_dsn: str, tmp_path: Path) -> None:
    result = apply_cli(tmp_path / "nope", "expand", pg_dsn)
    assert result.exit_code == 2 and "no such directory" in one_error_line(result)


SECRET = "Sup3r-S3cret"


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://postgres:{SECRET}@127.0.0.1:1/app",  # nothing listens
        f"postgresql://postgres:{SECRET}@127.0.0.1:{SECRET}/app",  # libpq echoes the bad port
        f"host=127.0.0.1 port=1 user=postgres password={SECRET} dbname=app",
        f"host=127.0.0.1 password='{SECRET} x' port",  # malformed key=value
        f"postgresql://postgres:{SECRET}@127.0.0.1:5432/bgm_no_such_database",
    ],
)
def test_a_wrong_dsn_is_one_line_without_its_password(dsn: str, users: Path) -> None:
    result = apply_cli(users, "expand", dsn)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert SECRET not in result.output and "S3cret" not in line
    status = cli("status", "--dsn", dsn)
    assert status.exit_code == 2 and SECRET not in status.output


def test_wrong_dsn_in_a_real_process(users: Path) -> None:
    done = subprocess_cli("apply", str(users), "--phase", "expand", "--dsn", f"postgresql://u:{SECRET}@127.0.0.1:1/x")
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_dsn(users: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BGMIGRATE_DSN", raising=False)
    result = cli("apply", str(users), "--phase", "expand")
    assert result.exit_code == 2 and "--dsn" in one_error_line(result)


def test_the_plan_lock_is_free_the_moment_an_apply_ends(pg_dsn: str) -> None:
    """The next phase, started right after (a script, this file's tests), must never find it held.

    Closing the guard's connection alone frees the lock only once the server backend has exited,
    a moment later; that race made back-to-back applies refuse now and then (issue 9's flaky test).
    """
    key = plan_lock_key(PLAN)
    with connect(pg_dsn, "test") as probe:
        held = 0
        for _ in range(200):
            with plan_guard(pg_dsn, PLAN):
                pass
            row = probe.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s::int4::oid AND objsubid = 2"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (key,),
            ).fetchone()
            held += bool(row and row[0])
    assert held == 0
