"""lock_timeout and retries against real lock conflicts: wait briefly, back off, retry, or fail cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from apply_helpers import apply_cli, check, execute, one_error_line, phase_statuses, rows, sql, step_attempts
from apply_recipes import INDEX, RENAME

from bgmigrate.plan.phases import Phase, Plan


@contextmanager
def blocker(dsn: str, statement: str, hold: float | None, *, isolation: str = "READ COMMITTED") -> Iterator[None]:
    """Another session that runs ``statement`` in an open transaction and ends it after ``hold`` seconds
    (or when the block exits)."""
    conn = psycopg.connect(dsn)
    conn.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
    conn.execute(statement)
    timer = threading.Timer(hold, conn.rollback) if hold is not None else None
    if timer:
        timer.start()
    try:
        yield
    finally:
        if timer:
            timer.join()
        conn.close()


class Reader(threading.Thread):
    """An app reading the table in a loop, keeping its slowest query time."""

    def __init__(self, dsn: str, query: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.query, self.slowest, self.halt = dsn, query, 0.0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.halt.is_set():
                started = time.monotonic()
                conn.execute(self.query).fetchall()
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.005)


def test_a_held_lock_is_waited_out_with_retries_without_stalling_other_queries(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, RENAME.setup)
    plan_dir = RENAME.plan_into(tmp_path)
    expand = RENAME.plan().phase("expand").steps
    reader = Reader(pg_dsn, "SELECT count(*) FROM users")
    reader.start()
    try:
        # A long-running SELECT: ADD COLUMN's ACCESS EXCLUSIVE request must wait behind it, and
        # every query after it would queue behind that request if it were not bounded.
        with blocker(pg_dsn, "SELECT * FROM users", hold=1.5):
            result = apply_cli(plan_dir, "expand", pg_dsn, "--lock-timeout", "200ms", "--retries", "20")
    finally:
        reader.halt.set()
        reader.join()
    assert result.exit_code == 0, result.output
    assert f"expand step 1/{len(expand)} ({expand[0].description}): lock timeout; retry 1/20" in result.output
    assert step_attempts(pg_dsn, RENAME.plan_id, "expand")[1] > 1
    assert reader.slowest < 1.0  # each queued wait was cut off at the lock timeout


def two_table_plan(folder: Path) -> Path:
    plan = Plan(
        id="0010_two_tables",
        source="migrations/0010_two_tables.sql",
        preconditions=(check("column_absent", "a", "x"), check("column_absent", "b", "y")),
        phases=(
            Phase(
                name="expand",
                steps=(
                    sql("add a.x", "ALTER TABLE a ADD COLUMN x integer", lock="ACCESS EXCLUSIVE"),
                    sql("add b.y", "ALTER TABLE b ADD COLUMN y integer", lock="ACCESS EXCLUSIVE"),
                ),
                checks=(check("column_exists", "a", "x"), check("column_exists", "b", "y")),
            ),
        ),
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(plan.to_json())
    return folder


def test_when_retries_run_out_the_phase_stops_and_a_rerun_continues_at_the_failed_step(
    pg_dsn: str, tmp_path: Path
) -> None:
    execute(pg_dsn, "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY)")
    plan_dir = two_table_plan(tmp_path)
    with blocker(pg_dsn, "LOCK TABLE b IN ACCESS SHARE MODE", hold=None):
        failed = apply_cli(plan_dir, "expand", pg_dsn, "--lock-timeout", "100ms", "--retries", "2")
    assert failed.exit_code == 2
    line = one_error_line(failed)
    assert line == (
        "bgmigrate: error: expand step 2/2 (add b.y) failed: canceling statement due to lock timeout [55P03]"
    )
    assert phase_statuses(pg_dsn, "0010_two_tables") == {"expand": "failed"}
    assert step_attempts(pg_dsn, "0010_two_tables", "expand") == {1: 1, 2: 3}
    assert rows(pg_dsn, "SELECT status FROM bgmigrate.steps ORDER BY step_index") == [("done",), ("running",)]

    rerun = apply_cli(plan_dir, "expand", pg_dsn)
    assert rerun.exit_code == 0, rerun.output
    assert "expand step 1/2 (add a.x): done by an earlier run" in rerun.output
    assert step_attempts(pg_dsn, "0010_two_tables", "expand") == {1: 1, 2: 4}
    assert phase_statuses(pg_dsn, "0010_two_tables") == {"expand": "done"}


def index_state(dsn: str) -> list[Any]:
    return rows(
        dsn,
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'items'::regclass AND NOT i.indisprimary",
    )


# An older snapshot makes CREATE INDEX CONCURRENTLY wait in its last phase, after the index
# exists in the catalog: a lock timeout there leaves it INVALID.
OLD_SNAPSHOT = "SELECT count(*) FROM pg_class"


def test_a_failed_concurrent_build_is_dropped_and_rebuilt_on_retry(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, INDEX.setup)
    execute(pg_dsn, INDEX.seed)
    plan_dir = INDEX.plan_into(tmp_path)
    with blocker(pg_dsn, OLD_SNAPSHOT, hold=1.0, isolation="REPEATABLE READ"):
        result = apply_cli(plan_dir, "expand", pg_dsn, "--lock-timeout", "200ms", "--retries", "20")
    assert result.exit_code == 0, result.output
    assert "lock timeout; retry 1/20" in result.output
    assert index_state(pg_dsn) == [("items_sku_idx", True)]


def test_a_rerun_clears_the_invalid_index_an_earlier_run_left(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, INDEX.setup)
    plan_dir = INDEX.plan_into(tmp_path)
    with blocker(pg_dsn, OLD_SNAPSHOT, hold=None, isolation="REPEATABLE READ"):
        failed = apply_cli(plan_dir, "expand", pg_dsn, "--lock-timeout", "100ms", "--retries", "0")
    assert failed.exit_code == 2
    assert index_state(pg_dsn) == [("items_sku_idx", False)]
    rerun = apply_cli(plan_dir, "expand", pg_dsn)
    assert rerun.exit_code == 0, rerun.output
    assert index_state(pg_dsn) == [("items_sku_idx", True)]
