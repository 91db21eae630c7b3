"""Small helpers shared by the apply tests: run the command, run SQL, read the state tables, build plans.

The recipes' plans come from the planner (``apply_recipes``); the step builders here are for the
synthetic plans that test apply itself (a step failing on a second table, a large backfill).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from click.testing import CliRunner, Result

from bgmigrate.cli import main
from bgmigrate.plan.phases import Backfill, Check, Step

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> Result:
    """``bgmigrate ARGS`` in-process (fast; output captured)."""
    return CliRunner().invoke(main, list(args))


def apply_cli(plan_dir: Path, phase: str, dsn: str, *extra: str) -> Result:
    return cli("apply", str(plan_dir), "--phase", phase, "--dsn", dsn, "--pause", "0", *extra)


def subprocess_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: what CI runs, with real exit statuses and streams."""
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def execute(dsn: str, text: str, params: tuple[Any, ...] | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text, params)


def rows(dsn: str, query: str, params: tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def scalar(dsn: str, query: str, params: tuple[Any, ...] | None = None) -> Any:
    found = rows(dsn, query, params)
    return found[0][0] if found else None


def phase_statuses(dsn: str, plan_id: str) -> dict[str, str]:
    if scalar(dsn, "SELECT to_regclass('bgmigrate.phases')") is None:
        return {}
    return dict(rows(dsn, "SELECT phase, status FROM bgmigrate.phases WHERE plan_id = %s", (plan_id,)))


def step_attempts(dsn: str, plan_id: str, phase: str) -> dict[int, int]:
    found = rows(
        dsn, "SELECT step_index, attempts FROM bgmigrate.steps WHERE plan_id = %s AND phase = %s", (plan_id, phase)
    )
    return {int(i): int(a) for i, a in found}


def one_error_line(result: Result) -> str:
    """The output of a failed run, checked to be a single error line without a traceback."""
    lines = [line for line in result.output.splitlines() if line.startswith("bgmigrate: error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return lines[0]


# --------------------------------------------------------------------------- plan builders


def sql(description: str, text: str, *, lock: str = "") -> Step:
    return Step(kind="sql", description=description, sql=text, takes_lock=lock)


def backfill(table: str, assignments: tuple[tuple[str, str], ...], where: str, batch_size: int = 250) -> Step:
    return Step(
        kind="backfill",
        description=f"backfill {table}",
        table=table,
        backfill=Backfill(table=table, key="id", assignments=assignments, where=where, batch_size=batch_size),
    )


def check(kind: str, table: str = "", column: str = "", name: str = "", query: str = "") -> Check:
    return Check(kind=kind, table=table, column=column, name=name, sql=query, description=kind)
