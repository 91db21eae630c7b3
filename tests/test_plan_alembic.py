"""Alembic: the phases as chained revisions, and the autogenerate hook, run by real Alembic on real PostgreSQL.

A tiny Alembic project is built in tmp_path (env.py with the one-line hook, a models module
rewritten between steps); ``alembic revision --autogenerate`` and ``alembic upgrade`` run in
process against the test database.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from click.testing import CliRunner
from switchkit import record_switch_state

from bgmigrate.cli import main
from bgmigrate.lint.engine import parse_migration
from bgmigrate.lint.findings import Severity
from bgmigrate.project.alembic_offline import load_alembic
from bgmigrate.project.run import LintRequest, run_lint
from bgmigrate.switch.alembic_gate import CONFIRM_KEY, ContractRefused

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "plans" / "_alembic" / "versions"
TEMPLATE = Path(__import__("alembic").__file__).parent / "templates" / "generic" / "script.py.mako"

ENV_PY = """
import importlib.util
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine

import bgmigrate.plan.alembic_hook

here = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bgm_test_models", here / "models.py")
models = importlib.util.module_from_spec(spec)
spec.loader.exec_module(models)

engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        process_revision_directives=bgmigrate.plan.alembic_hook.plan_revision,
    )
    with context.begin_transaction():
        context.run_migrations()
"""

MODELS_V1 = """
import sqlalchemy as sa
metadata = sa.MetaData()
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("status", sa.Text, nullable=False, server_default="new"),
    sa.Column("total", sa.Integer),
)
"""

MODELS_V2 = """
import sqlalchemy as sa
metadata = sa.MetaData()
orders = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, server_default="new", info={"bgmigrate_renamed_from": "status"}),
    sa.Column("total", sa.BigInteger),
    sa.Column("priority", sa.Integer, nullable=False, info={"bgmigrate_backfill": "0"}),
    sa.Index("ix_orders_state", "state"),
)
"""


def confirmed(config: Config) -> Config:
    """``alembic -x bgmigrate_confirm_old_version_retired=yes``: contract's gate, where no switch keeps state."""
    config.cmd_opts = argparse.Namespace(x=[f"{CONFIRM_KEY}=yes"])
    return config


def sqlalchemy_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://", 1)


def project(tmp_path: Path, dsn: str, models: str) -> Config:
    (tmp_path / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    (tmp_path / "migrations" / "env.py").write_text(ENV_PY)
    shutil.copy(TEMPLATE, tmp_path / "migrations" / "script.py.mako")
    (tmp_path / "models.py").write_text(textwrap.dedent(models))
    config = Config()
    config.set_main_option("script_location", str(tmp_path / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn))
    return config


def columns(dsn: str, table: str) -> dict[str, tuple[str, bool, str | None]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(adbin, adrelid) "
            "FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def sql(dsn: str, text: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(text)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def test_autogenerate_writes_phased_revisions_that_run(
    tmp_path: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, pg_dsn, MODELS_V1)
    command.revision(config, message="create orders", autogenerate=True, rev_id="r1")
    assert "r1 is blue-green safe as generated" in capsys.readouterr().out
    command.upgrade(confirmed(config), "head")
    sql(pg_dsn, "INSERT INTO orders (status, total) SELECT 'new', g FROM generate_series(1, 40) AS g")

    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS_V2))
    command.revision(config, message="state and priority", autogenerate=True, rev_id="r2")
    out = capsys.readouterr().out
    assert "wrote 3 phased revisions instead: r2_expand, r2_migrate, r2_contract" in out
    assert "adds NOT NULL column orders.priority" in out and "changes the type of orders.total" in out
    versions = sorted(p.name for p in (tmp_path / "migrations" / "versions").glob("*.py"))
    assert [v.split("_")[:2] for v in versions] == [
        ["r1", "create"],
        ["r2", "contract"],
        ["r2", "expand"],
        ["r2", "migrate"],
    ]

    lint, _ = run_lint(LintRequest(paths=(str(tmp_path / "migrations" / "versions"),), use_cache=False))
    assert [f for f in lint.findings if f.severity >= Severity.ERROR] == [] and not lint.errors

    command.upgrade(config, "r2_expand")
    sql(pg_dsn, "INSERT INTO orders (status, total) VALUES ('old-app', 1)")  # the old version
    sql(pg_dsn, "INSERT INTO orders (state, total, priority) VALUES ('new-app', 2, 5)")  # the new version
    assert sql(
        pg_dsn, "SELECT status, state, priority FROM orders WHERE total IN (1, 2) AND id > 40 ORDER BY total"
    ) == [
        ("old-app", "old-app", 0),
        ("new-app", "new-app", 5),
    ]
    command.upgrade(config, "r2_migrate")
    command.upgrade(confirmed(config), "head")  # no traffic switch here: the operator's word
    final = columns(pg_dsn, "orders")
    assert "status" not in final and "bgm_total_new" not in final
    assert final["state"] == ("text", True, "'new'::text")
    assert final["priority"][:2] == ("integer", True)
    assert final["total"][:2] == ("bigint", False)
    assert sql(pg_dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_orders_state'::regclass") == [(True,)]
    assert sql(pg_dsn, "SELECT count(*) FROM orders WHERE priority = 0") == [(41,)]


def test_autogenerate_stops_with_the_reason(tmp_path: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = project(tmp_path, pg_dsn, MODELS_V1)
    command.revision(config, message="create orders", autogenerate=True, rev_id="r1")
    command.upgrade(confirmed(config), "head")
    required = MODELS_V1.replace(
        'sa.Column("total", sa.Integer),',
        'sa.Column("total", sa.Integer),\n    sa.Column("code", sa.Text, nullable=False),',
    )
    (tmp_path / "models.py").write_text(textwrap.dedent(required))
    with pytest.raises(CommandError, match=r"give -x bgmigrate_backfill=code=SQL_EXPR"):
        command.revision(config, message="code", autogenerate=True, rev_id="r2")
    renamed = MODELS_V1.replace('sa.Column("total", sa.Integer)', 'sa.Column("amount", sa.Integer)')
    (tmp_path / "models.py").write_text(textwrap.dedent(renamed))
    with pytest.raises(CommandError, match=r"drops orders.total and adds orders.amount, which loses the data"):
        command.revision(config, message="amount", autogenerate=True, rev_id="r3")
    assert sorted(p.name for p in (tmp_path / "migrations" / "versions").glob("*.py")) == ["r1_create_orders.py"]


def test_plan_format_alembic_chains_revisions_that_run(tmp_path: Path, pg_dsn: str) -> None:
    out = tmp_path / "plan"
    result = CliRunner().invoke(
        main,
        [
            "plan",
            str(FIXTURE / "a2_rename_status.py"),
            "--out",
            str(out),
            "--format",
            "alembic",
            "--backfill",
            "priority=0",
        ],
    )
    assert result.exit_code == 0, result.output
    revisions = {p.stem: load_alembic(p) for p in out.glob("*.py")}
    chain = {m.revision: m.down_revisions for m in revisions.values()}
    assert chain == {
        "a2_rename_status_expand": ("a1",),
        "a2_rename_status_migrate": ("a2_rename_status_expand",),
        "a2_rename_status_contract": ("a2_rename_status_migrate",),
    }
    assert all(not parse_migration(m)[1] for m in revisions.values())

    config = project(tmp_path, pg_dsn, MODELS_V1)
    versions = tmp_path / "migrations" / "versions"
    shutil.copy(FIXTURE / "a1_create_orders.py", versions)
    for path in out.glob("*.py"):
        shutil.copy(path, versions)
    command.upgrade(config, "a1")
    sql(pg_dsn, "INSERT INTO orders (status) SELECT 'x' FROM generate_series(1, 25)")
    # No traffic switch here: the contract revision's gate takes the operator's word (-x).
    command.upgrade(confirmed(config), "head")
    final = columns(pg_dsn, "orders")
    assert "status" not in final and final["state"] == ("text", True, "'new'::text")
    assert sql(pg_dsn, "SELECT count(*) FROM orders WHERE state = 'x' AND priority = 0") == [(25,)]


INDEXED_V1 = MODELS_V1.replace(
    '    sa.Column("total", sa.Integer),\n)',
    '    sa.Column("total", sa.Integer),\n    sa.Index("ix_orders_status", "status"),\n)',
)


def _renamed(index: str) -> str:
    return INDEXED_V1.replace(
        'sa.Column("status", sa.Text, nullable=False, server_default="new")',
        'sa.Column("state", sa.Text, nullable=False, server_default="new", info={"bgmigrate_renamed_from": "status"})',
    ).replace('sa.Index("ix_orders_status", "status")', f'sa.Index("{index}", "state")')


def indexes(dsn: str) -> list[tuple[str, str]]:
    found = sql(dsn, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orders' ORDER BY indexname")
    return [(str(name), str(text)) for name, text in found]


@pytest.mark.parametrize("index", ["ix_orders_status", "ix_orders_state"])
def test_autogenerate_renames_an_indexed_column(
    tmp_path: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str], index: str
) -> None:
    """Issue 9 C10: autogenerate drops and re-creates the index on the renamed column; the phased
    rename carries it (same name) or builds the new one (new name), and the result is what the model says."""
    assert INDEXED_V1 != MODELS_V1
    config = project(tmp_path, pg_dsn, INDEXED_V1)
    command.revision(config, message="create orders", autogenerate=True, rev_id="r1")
    command.upgrade(confirmed(config), "head")
    sql(pg_dsn, "INSERT INTO orders (status, total) SELECT 'old', g FROM generate_series(1, 30) AS g")
    (tmp_path / "models.py").write_text(textwrap.dedent(_renamed(index)))
    command.revision(config, message="rename", autogenerate=True, rev_id="r2")
    assert "wrote 3 phased revisions instead: r2_expand, r2_migrate, r2_contract" in capsys.readouterr().out
    command.upgrade(config, "r2_expand")
    sql(pg_dsn, "INSERT INTO orders (status, total) VALUES ('by-old', 100)")
    command.upgrade(confirmed(config), "head")  # no traffic switch here: the operator's word
    assert indexes(pg_dsn) == [
        (index, f"CREATE INDEX {index} ON public.orders USING btree (state)"),
        ("orders_pkey", "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)"),
    ]
    assert sql(pg_dsn, "SELECT count(*) FROM orders WHERE state IN ('old', 'by-old')") == [(31,)]


def test_refusals_speak_alembic(tmp_path: Path, pg_dsn: str) -> None:
    """Issue 9 C10: a refusal names the revision's operations, not lines of bgmigrate's internal SQL,
    and the options as Alembic takes them (-x), not the CLI's --backfill."""
    config = project(tmp_path, pg_dsn, INDEXED_V1)
    command.revision(config, message="create orders", autogenerate=True, rev_id="r1")
    command.upgrade(confirmed(config), "head")
    moved = INDEXED_V1.replace('sa.Index("ix_orders_status", "status")', 'sa.Index("ix_orders_status", "total")')
    (tmp_path / "models.py").write_text(textwrap.dedent(moved))
    with pytest.raises(CommandError) as refused:
        command.revision(config, message="move index", autogenerate=True, rev_id="r2")
    message = str(refused.value)
    assert "line " not in message, message
    assert (
        "operation 2 of upgrade() (op.create_index('ix_orders_status', 'orders', ['total'], unique=False))" in message
    )
    assert "operation 1 of upgrade() (op.drop_index(" in message

    required = INDEXED_V1.replace(
        'sa.Column("total", sa.Integer),',
        'sa.Column("total", sa.Integer),\n    sa.Column("code", sa.Text, nullable=False),',
    )
    (tmp_path / "models.py").write_text(textwrap.dedent(required))
    with pytest.raises(CommandError) as refused:
        command.revision(config, message="code", autogenerate=True, rev_id="r3")
    message = str(refused.value)
    assert "--backfill" not in message
    assert "-x bgmigrate_backfill=code=SQL_EXPR" in message
    assert "alembic revision --autogenerate -x bgmigrate_backfill=code=SQL_EXPR" in message


def test_autogenerated_contract_is_refused_while_blue_is_the_rollback_target(
    tmp_path: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 10: the hook's contract revision runs apply's contract gate; refused, it drops nothing."""
    config = project(tmp_path, pg_dsn, MODELS_V1)
    command.revision(config, message="create orders", autogenerate=True, rev_id="r1")
    command.upgrade(confirmed(config), "head")
    sql(pg_dsn, "INSERT INTO orders (status, total) SELECT 'new', g FROM generate_series(1, 10) AS g")
    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS_V2))
    command.revision(config, message="state and priority", autogenerate=True, rev_id="r2")
    assert "wrote 3 phased revisions instead" in capsys.readouterr().out
    command.upgrade(config, "r2_migrate")
    # Green (built for r2) serves; blue, which predates it, is kept to roll back to.
    record_switch_state(pg_dsn, "green", "blue", {"green": ["r2:expand"], "blue": []})
    with pytest.raises(ContractRefused) as refused:
        command.upgrade(confirmed(config), "head")  # the operator's word cannot override the switch
    assert "rollback target: blue" in str(refused.value), refused.value
    assert "status" in columns(pg_dsn, "orders") and "bgm_total_new" in columns(pg_dsn, "orders")
    assert sql(pg_dsn, "SELECT version_num FROM alembic_version") == [("r2_migrate",)]
    record_switch_state(pg_dsn, "green", None, {"green": ["r2:expand"], "blue": []})  # blue retired
    command.upgrade(config, "head")
    assert "status" not in columns(pg_dsn, "orders")
