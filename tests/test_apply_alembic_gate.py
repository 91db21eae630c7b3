"""The contract revision ``plan --format alembic`` writes runs apply's contract gate under a real
``alembic upgrade`` on PostgreSQL: refused (and rolled back) while the old shape is still needed."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from apply_helpers import cli, execute, rows, scalar
from switchkit import Rig, apps

from bgmigrate.switch.alembic_gate import CONFIRM_KEY, ContractRefused

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "plans" / "_alembic" / "versions"
PLAN_ID = "a2_rename_status"
MIGRATE = f"{PLAN_ID}_migrate"
TEMPLATE = Path(str(__import__("alembic").__file__)).parent / "templates" / "generic" / "script.py.mako"
ENV_PY = """
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""


def alembic_project(tmp_path: Path, dsn: str) -> Config:
    """An Alembic project holding a1 and the three phase revisions ``bgmigrate plan`` writes for a2."""
    out = tmp_path / "plan"
    planned = cli("plan", str(FIXTURE / "a2_rename_status.py"), "--out", str(out), "--format", "alembic",
                  "--backfill", "priority=0")  # fmt: skip
    assert planned.exit_code == 0, planned.output
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    shutil.copy(TEMPLATE, tmp_path / "migrations" / "script.py.mako")
    shutil.copy(FIXTURE / "a1_create_orders.py", versions)
    for path in out.glob("*.py"):
        shutil.copy(path, versions)
    config = Config()
    config.set_main_option("script_location", str(tmp_path / "migrations"))
    config.set_main_option("sqlalchemy.url", dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    return config


def with_x(config: Config, *values: str) -> Config:
    """``alembic -x VALUE ...`` for an in-process command."""
    config.cmd_opts = argparse.Namespace(x=list(values))
    return config


def orders_columns(dsn: str) -> set[str]:
    found = rows(dsn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")
    return {str(r[0]) for r in found}


@pytest.fixture
def migrated(tmp_path: Path, pg_dsn: str) -> Config:
    """Expand and migrate applied by Alembic, with rows: contract is next."""
    config = alembic_project(tmp_path, pg_dsn)
    command.upgrade(config, "a1")
    execute(pg_dsn, "INSERT INTO orders (status) SELECT 'x' FROM generate_series(1, 20)")
    command.upgrade(config, MIGRATE)
    assert "status" in orders_columns(pg_dsn)
    return config


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    (tmp_path / "switch").mkdir()
    with apps() as (blue, green):
        r = Rig(tmp_path / "switch", pg_dsn, blue, green, command='switch = ["true"]')
        r.requires["green"] = [f"{PLAN_ID}:expand"]
        r.write_config()
        yield r


def assert_not_contracted(dsn: str) -> None:
    assert "status" in orders_columns(dsn)
    assert scalar(dsn, "SELECT version_num FROM alembic_version") == MIGRATE


def test_upgrade_head_without_switch_or_confirmation_is_refused(migrated: Config, pg_dsn: str) -> None:
    with pytest.raises(ContractRefused) as refused:
        command.upgrade(migrated, "head")
    assert f"-x {CONFIRM_KEY}=yes" in str(refused.value)
    assert_not_contracted(pg_dsn)
    # The operator's word, as --confirm-old-version-retired: then it runs.
    command.upgrade(with_x(migrated, f"{CONFIRM_KEY}=yes"), "head")
    assert "status" not in orders_columns(pg_dsn)


def test_upgrade_head_is_refused_while_blue_still_serves(migrated: Config, pg_dsn: str, rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0  # blue, which predates the plan, serves
    with pytest.raises(ContractRefused) as refused:
        # The confirmation cannot override the coordinator, as with apply.
        command.upgrade(with_x(migrated, f"{CONFIRM_KEY}=yes"), "head")
    message = str(refused.value)
    assert "contract refused by the traffic switch" in message and "active: blue" in message, message
    assert_not_contracted(pg_dsn)


def test_upgrade_head_runs_once_the_switch_vouches(migrated: Config, pg_dsn: str, rig: Rig) -> None:
    assert rig.cli("init", "green").exit_code == 0
    assert rig.cli("retire", "blue").exit_code == 0
    command.upgrade(migrated, "head")  # no confirmation needed: the coordinator answers
    assert "status" not in orders_columns(pg_dsn)


def test_offline_sql_needs_the_confirmation(migrated: Config, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ContractRefused):
        command.upgrade(migrated, f"{MIGRATE}:head", sql=True)
    capsys.readouterr()
    command.upgrade(with_x(migrated, f"{CONFIRM_KEY}=yes"), f"{MIGRATE}:head", sql=True)
    assert "DROP COLUMN" in capsys.readouterr().out.upper()
