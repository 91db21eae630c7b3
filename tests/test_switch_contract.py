"""The contract gate's answers that need no proxy: no state yet, a switch running, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from switchkit import PLAN_ID, Rig, apps, record_switch_state

from bgmigrate.plan.contract_guard import CONFIRM_SETTING, REFUSED_SETTING, SWITCH_LOCK, contract_guard
from bgmigrate.switch import contract_allowed, coordinated, refusal
from bgmigrate.switch.lock import NAMESPACE, SWITCH


def test_the_sql_guard_looks_for_the_switch_lock_the_switch_takes() -> None:
    assert SWITCH_LOCK == (NAMESPACE, SWITCH)


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with apps() as (blue, green):
        r = Rig(tmp_path, pg_dsn, blue, green, command='switch = ["true"]')
        r.requires["green"] = [f"{PLAN_ID}:expand"]
        r.write_config()
        yield r


def gates(rig: Rig) -> dict[str, bool]:
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        return {gate.name: gate.ok for gate in contract_allowed(conn, PLAN_ID).gates}


def test_without_switch_state_the_coordinator_cannot_vouch(rig: Rig) -> None:
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        verdict = contract_allowed(conn, PLAN_ID)
    assert not verdict.allowed and not coordinated(verdict)
    assert [g.name for g in verdict.gates] == ["switch state"]


def test_refused_while_a_switch_runs(rig: Rig) -> None:
    assert rig.cli("init", "green").exit_code == 0
    assert rig.cli("retire", "blue").exit_code == 0
    assert all(gates(rig).values())
    with psycopg.connect(rig.dsn) as holder:  # a switch in another job, mid-way
        holder.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (NAMESPACE, SWITCH))
        assert gates(rig)["switch lock"] is False
        in_progress = rig.status()["switch_in_progress"]
        assert isinstance(in_progress, dict) and in_progress["pid"] == holder.info.backend_pid
        refused = rig.cli("promote", "blue")
        assert refused.exit_code == 3 and "another switch is running" in refused.output
    assert gates(rig)["switch lock"] is True


def test_sessions_of_an_environment_that_predates_the_plan_block_it(rig: Rig) -> None:
    assert rig.cli("init", "green").exit_code == 0
    assert rig.cli("retire", "blue").exit_code == 0
    with psycopg.connect(rig.dsn, autocommit=True, application_name="shop-blue") as conn:
        verdict = contract_allowed(conn, PLAN_ID)
        # The asking session itself never counts; open a second one as blue.
        assert verdict.allowed
        with psycopg.connect(rig.dsn, autocommit=True, application_name="shop-blue"):
            verdict = contract_allowed(conn, PLAN_ID)
    assert not verdict.allowed and coordinated(verdict)
    assert "1 as shop-blue" in refusal(verdict)


# ---- the SQL guard of 03_contract.sql asks what contract_allowed asks (issue 10) -------------


def guard_refuses(conn: psycopg.Connection[Any], plan_id: str, confirmed: bool) -> str:
    """Run the contract file's guard in ``conn``; what it refused for ("" if it let contract run)."""
    decide, _raise = (s for s in contract_guard(plan_id) if not s.startswith("--"))
    conn.execute("SELECT set_config(%s, %s, false)", (CONFIRM_SETTING, "yes" if confirmed else ""))
    conn.execute(decide)  # type: ignore[arg-type]  # generated SQL, not a literal
    row = conn.execute("SELECT coalesce(current_setting(%s, true), '')", (REFUSED_SETTING,)).fetchone()
    return str(row[0]) if row else ""


def python_allows(conn: psycopg.Connection[Any], plan_id: str, confirmed: bool) -> bool:
    """What apply decides: the switch's verdict, or the operator's word where the switch keeps no state."""
    verdict = contract_allowed(conn, plan_id)
    return verdict.allowed or (confirmed and not coordinated(verdict))


STATES: list[tuple[str, str | None, dict[str, list[str]]]] = [
    ("blue", None, {"blue": []}),  # blue predates the plan and serves
    ("green", "blue", {"green": [f"{PLAN_ID}:expand"], "blue": []}),  # blue kept to roll back to
    ("green", "blue", {"green": [f"{PLAN_ID}:expand"], "blue": [f"{PLAN_ID}:migrate"]}),  # both know it
    ("green", None, {"green": [f"{PLAN_ID}:expand"], "blue": []}),  # blue retired: window closed
    ("green", "blue", {"green": ["other:contract"], "blue": ["x:y:expand"]}),  # other plans only
]


@pytest.mark.parametrize("confirmed", [False, True], ids=["unconfirmed", "confirmed"])
def test_the_sql_guard_agrees_with_contract_allowed(pg_dsn: str, confirmed: bool) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        verdicts = [(bool(guard_refuses(conn, PLAN_ID, confirmed)), not python_allows(conn, PLAN_ID, confirmed))]
        conn.execute("RESET default_transaction_read_only")
        for active, kept, requires in STATES:
            record_switch_state(pg_dsn, active, kept, requires)
            verdicts.append(
                (bool(guard_refuses(conn, PLAN_ID, confirmed)), not python_allows(conn, PLAN_ID, confirmed))
            )
            conn.execute("RESET default_transaction_read_only")
        with psycopg.connect(pg_dsn, autocommit=True, application_name="app-blue"):  # retired blue still connected
            verdicts.append(
                (bool(guard_refuses(conn, PLAN_ID, confirmed)), not python_allows(conn, PLAN_ID, confirmed))
            )
    assert [sql for sql, _ in verdicts] == [python for _, python in verdicts], verdicts
    assert [sql for sql, _ in verdicts] == [not confirmed, True, True, False, False, True, True]


def test_a_refusing_guard_leaves_the_session_read_only_and_raises(pg_dsn: str) -> None:
    record_switch_state(pg_dsn, "green", "blue", {"green": [f"{PLAN_ID}:expand"], "blue": []})
    decide, raise_ = (s for s in contract_guard(PLAN_ID) if not s.startswith("--"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(decide)  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="blue \\(rollback target\\)"):
            conn.execute(raise_)  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE would_be_dropped_next (id int)")
