"""The contract gate's answers that need no proxy: no state yet, a switch running, sessions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from switchkit import PLAN_ID, Rig, apps

from bgmigrate.switch import contract_allowed, coordinated, refusal
from bgmigrate.switch.lock import NAMESPACE, SWITCH


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
