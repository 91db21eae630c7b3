"""The schema gates against plans really applied by ``bgmigrate.apply``, through a real nginx.

The plan is the walk-through's (docs/switch-demo, written by ``bgmigrate plan``): it renames
``orders.status`` to ``state`` in three phases — expand adds ``state`` and a sync trigger,
migrate backfills, contract drops ``status`` and the trigger. Blue predates the plan; green
requires its migrate phase.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from loadgen import LoadGenerator
from psycopg import sql
from switchkit import PLAN_ID, Rig, nginx_rig

from bgmigrate.apply.errors import Refused
from bgmigrate.apply.executor import apply_phase
from bgmigrate.apply.loader import load_plan
from bgmigrate.apply.options import ApplyOptions, Output
from bgmigrate.exitcodes import REFUSED
from bgmigrate.plan.phases import Plan
from bgmigrate.switch import contract_allowed
from bgmigrate.switch.config import load_switch_config
from bgmigrate.switch.contract import contract_answer

# The walk-through's plan (docs/switch.md): tested here, so the doc cannot drift from the code.
DEMO = Path(__file__).resolve().parent.parent / "docs" / "switch-demo"
PLAN_JSON = DEMO / "plans" / PLAN_ID / "plan.json"


def sync_trigger() -> str:
    """The trigger expand installs, as the plan's own checks name it."""
    checks = Plan.from_json(PLAN_JSON.read_text()).phase("expand").checks
    return next(check.name for check in checks if check.kind == "trigger_exists")


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute((DEMO / "migrations" / "0001_orders.sql").read_text())
        conn.execute("INSERT INTO orders (status) SELECT 'new' FROM generate_series(1, 100)")
    plan_dir = tmp_path / "plan"
    plan_dir.mkdir()
    (plan_dir / "plan.json").write_text(PLAN_JSON.read_text())
    with nginx_rig(tmp_path, pg_dsn) as r:
        r.requires["green"] = [f"{PLAN_ID}:migrate"]
        r.write_config()
        yield r


def apply(rig: Rig, phase: str, *, confirm: bool = False) -> None:
    # Contract needs no flag here: apply asks the coordinator, whose state this rig keeps.
    options = ApplyOptions(confirmed_old_retired=confirm)
    apply_phase(rig.dsn, load_plan(rig.root / "plan"), phase, options, Output(), contract_gate=contract_answer)


def verdict(rig: Rig) -> dict[str, bool]:
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        return {gate.name: gate.ok for gate in contract_allowed(conn, PLAN_ID).gates}


def promote_under_load(rig: Rig, *args: str) -> None:
    assert rig.proxy is not None
    with LoadGenerator(rig.proxy.url) as load:
        load.wait_requests(30)
        result = rig.cli(*args)
        load.wait_requests(30)
    assert result.exit_code == 0, result.output
    assert load.report.failures == 0, load.report


def test_schema_phase_not_reached_is_refused(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    apply(rig, "expand")
    result = rig.cli("promote", "green")
    assert result.exit_code == REFUSED, result.output
    assert f"schema: green needs {PLAN_ID}:migrate" in result.output
    assert f"{PLAN_ID}:migrate is not applied" in result.output
    assert rig.status()["active"] == "blue"


def test_applied_phase_must_hold_in_the_live_schema(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    apply(rig, "expand")
    apply(rig, "migrate")
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TRIGGER {} ON orders").format(sql.Identifier(sync_trigger())))  # behind apply's back
    result = rig.cli("promote", "green")
    assert result.exit_code == REFUSED, result.output
    assert "live schema disagrees" in result.output and sync_trigger() in result.output


@pytest.mark.parametrize("mode", ["DISABLE", "ENABLE REPLICA"])
def test_a_sync_trigger_that_does_not_fire_is_not_in_place(rig: Rig, mode: str) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    apply(rig, "expand")
    apply(rig, "migrate")
    alter = sql.SQL("ALTER TABLE orders {} TRIGGER {}").format(sql.SQL(mode), sql.Identifier(sync_trigger()))
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        conn.execute(alter)
    result = rig.cli("promote", "green")
    assert result.exit_code == REFUSED, result.output
    assert f"trigger {sync_trigger()} on orders exists but is" in result.output
    assert f"fix: ALTER TABLE orders ENABLE TRIGGER {sync_trigger()}" in result.output
    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE orders ENABLE ALWAYS TRIGGER {}").format(sql.Identifier(sync_trigger())))
    promote_under_load(rig, "promote", "green")  # 'A' fires for every session


@pytest.mark.parametrize(
    "by_hand",
    [
        "ALTER TABLE orders DROP COLUMN status",
        "DROP TRIGGER {trigger} ON orders; ALTER TABLE orders DROP COLUMN status",
    ],
)
def test_rollback_refused_after_a_contract_run_by_hand(rig: Rig, by_hand: str) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    apply(rig, "expand")
    apply(rig, "migrate")
    promote_under_load(rig, "promote", "green")
    with psycopg.connect(rig.dsn, autocommit=True) as conn:  # psql, behind apply's back: no record
        conn.execute(by_hand.format(trigger=sync_trigger()))
    result = rig.cli("rollback")
    assert result.exit_code == REFUSED, result.output
    assert "contract of 0002_rename_status has run (not by apply, but the live schema shows it" in result.output
    assert "column orders.status does not exist" in result.output
    assert rig.status()["active"] == "green"
    result = rig.cli("promote", "blue")
    assert result.exit_code == REFUSED, result.output


def test_from_first_deploy_to_contract(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    apply(rig, "expand")
    assert verdict(rig)["active: blue"] is False  # blue predates the plan
    apply(rig, "migrate")
    promote_under_load(rig, "promote", "green")

    gates = verdict(rig)
    assert gates["active: green"] and not gates["rollback target: blue"]  # contract blocked by rollback target
    with pytest.raises(Refused, match="rollback target: blue"):
        apply(rig, "contract", confirm=True)  # the operator's flag cannot override the coordinator

    promote_under_load(rig, "rollback")
    assert rig.status()["active"] == "blue"
    promote_under_load(rig, "promote", "green")
    assert rig.cli("retire", "blue").exit_code == 0
    assert rig.status()["rollback_target"] is None

    with psycopg.connect(rig.dsn, autocommit=True, application_name="shop-blue"):
        gates = verdict(rig)
        assert gates["sessions"] is False  # a retired environment is still connected
    assert all(verdict(rig).values()), verdict(rig)
    apply(rig, "contract")

    result = rig.cli("promote", "blue")  # blue predates the contract that has now run
    assert result.exit_code == REFUSED
    assert "contract of 0002_rename_status has run (apply recorded it as done); blue" in result.output
    result = rig.cli("rollback")
    assert result.exit_code == REFUSED and "no rollback target" in result.output


def test_demo_configuration_reads() -> None:
    config = load_switch_config(DEMO / "bgmigrate.toml", environ={"BGMIGRATE_DSN": "postgresql://demo@127.0.0.1/shop"})
    assert str(config.environment("green").requires[0]) == f"{PLAN_ID}:migrate"
    assert config.nginx is not None and config.nginx.upstream_file.is_file()
