"""Tracing a migration on a real database: locks per statement, rewrites, and a guaranteed rollback."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from live_support import ROOT, cli, execute, fill

from bgmigrate.live.introspect import inspect_database
from bgmigrate.parse.source import load_sql
from bgmigrate.trace.trace import TracedStatement
from bgmigrate.trace.tracer import run_trace

SETUP = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id bigint, note varchar(20));
CREATE INDEX orders_note_idx ON orders (note);
"""


def _trace(dsn: str, sql: str, timeout_ms: int = 30_000) -> list[TracedStatement]:
    result = run_trace(dsn, load_sql("m.sql", sql), timeout_ms=timeout_ms)
    assert result.rolled_back
    return result.statements


def _modes(t: TracedStatement) -> set[tuple[str, str]]:
    return {(lk.relation.relation, lk.mode) for lk in t.locks}


def _rewritten(t: TracedStatement) -> set[str]:
    return {r.relation for r in t.rewrites}


def _state(dsn: str) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    """Everything a trace could change: the schema and the rows."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT * FROM orders ORDER BY id").fetchall()
    return inspect_database(dsn), rows


def test_alter_column_type_takes_access_exclusive_and_rewrites(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    [t] = _trace(pg_dsn, "ALTER TABLE orders ALTER COLUMN id TYPE bigint;")
    assert ("public.orders", "AccessExclusiveLock") in _modes(t)
    assert "public.orders" in _rewritten(t)
    assert t.error is None and t.duration_ms is not None


def test_binary_coercible_type_change_does_not_rewrite(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    [t] = _trace(pg_dsn, "ALTER TABLE orders ALTER COLUMN note TYPE text;")
    assert ("public.orders", "AccessExclusiveLock") in _modes(t)
    assert "public.orders" not in _rewritten(t)


def test_create_index_takes_share(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    [t] = _trace(pg_dsn, "CREATE INDEX orders_customer_idx ON orders (customer_id);")
    assert ("public.orders", "ShareLock") in _modes(t)
    assert not any(mode == "AccessExclusiveLock" for _, mode in _modes(t))
    assert t.rewrites == []


def test_add_nullable_column_locks_briefly_without_a_rewrite(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    [t] = _trace(pg_dsn, "ALTER TABLE orders ADD COLUMN shipped_at timestamptz;")
    assert ("public.orders", "AccessExclusiveLock") in _modes(t)
    assert t.rewrites == []


def test_add_foreign_key_locks_both_tables(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    [t] = _trace(
        pg_dsn,
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id) REFERENCES customers (id);",
    )
    assert {("public.orders", "ShareRowExclusiveLock"), ("public.customers", "ShareRowExclusiveLock")} <= _modes(t)


def test_locks_are_the_ones_each_statement_newly_took(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    first, second = _trace(pg_dsn, "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN b int;")
    assert ("public.orders", "AccessExclusiveLock") in _modes(first)
    assert ("public.orders", "AccessExclusiveLock") not in _modes(second)  # already held
    assert (first.line, second.line) == (1, 2)


def test_the_database_is_unchanged_after_a_trace(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP + "INSERT INTO orders VALUES (1, NULL, 'a'), (2, NULL, 'b');")
    before = _state(pg_dsn)
    statements = _trace(
        pg_dsn,
        "ALTER TABLE orders ALTER COLUMN id TYPE bigint;\n"
        "CREATE TABLE extra (id int);\n"
        "UPDATE orders SET note = 'changed';\n"
        "DROP INDEX orders_note_idx;\n",
    )
    assert all(t.error is None and t.not_traced is None for t in statements)
    assert _state(pg_dsn) == before


def test_a_statement_failing_midway_still_leaves_the_database_unchanged(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP + "INSERT INTO orders VALUES (1, NULL, 'a');")
    before = _state(pg_dsn)
    first, second, third = _trace(
        pg_dsn,
        "ALTER TABLE orders ADD COLUMN shipped boolean;\n"
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL, ALTER COLUMN missing TYPE text;\n"
        "ALTER TABLE orders ADD COLUMN later int;\n",
    )
    assert first.error is None
    assert second.error is not None and "missing" in second.error
    assert third.not_traced is not None and "earlier statement failed" in third.not_traced
    assert _state(pg_dsn) == before


def test_statements_that_cannot_run_in_a_transaction_are_not_traced_when_asked(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    result = run_trace(
        pg_dsn,
        load_sql(
            "m.sql",
            "CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);\n"
            "VACUUM orders;\n"
            "ALTER TABLE orders ADD COLUMN a int;\n",
        ),
        skip_untraceable=True,
    )
    assert result.rolled_back
    reasons = [t.not_traced for t in result.statements]
    assert reasons[0] == "CONCURRENTLY cannot run inside a transaction block"
    assert reasons[1] is not None and "transaction block" in reasons[1]
    assert reasons[2] is None and ("public.orders", "AccessExclusiveLock") in _modes(result.statements[2])


def test_a_timeout_cancels_the_statement_and_rolls_back(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    before = _state(pg_dsn)
    start = time.monotonic()
    # The migration's own SET statement_timeout = 0 must not let it run on: trace has a watchdog.
    statements = _trace(
        pg_dsn,
        "SET statement_timeout = 0;\nALTER TABLE orders ADD COLUMN a int;\nSELECT pg_sleep(30);",
        timeout_ms=1000,
    )
    assert time.monotonic() - start < 15
    assert statements[2].error == "timed out after 1 s"
    assert _state(pg_dsn) == before


def test_a_lock_the_static_rules_missed_is_a_finding(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    fill_orders = "INSERT INTO orders SELECT g, NULL, 'x' FROM generate_series(1, 100) g;"
    execute(
        pg_dsn,
        fill_orders + "CREATE FUNCTION widen_orders() RETURNS void LANGUAGE plpgsql AS "
        "$$ BEGIN ALTER TABLE orders ALTER COLUMN id TYPE bigint; END $$;",
    )
    migration = tmp_path / "0002_widen.sql"
    migration.write_text(
        "SET lock_timeout = '5s';\nSELECT widen_orders();\nCREATE INDEX customers_name_idx ON customers (name);\n",
        encoding="utf-8",
    )
    done = cli("trace", "--dsn", pg_dsn, str(migration), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rolled_back"] is True and report["server_version"] >= 12
    widen = report["statements"][1]
    assert widen["line"] == 2 and widen["sql"] == "SELECT widen_orders()"
    assert {"relation": "public.orders", "mode": "AccessExclusiveLock", "kind": "table"} in widen["locks"]
    assert {"relation": "public.orders", "kind": "table"} in widen["rewrites"]
    assert set(widen) == {"line", "sql", "locks", "rewrites", "duration_ms", "error", "not_traced"}
    [finding] = report["findings"]
    assert finding["rule"] == "unpredicted-lock" and finding["line"] == 2
    assert "AccessExclusiveLock on public.orders" in finding["message"]
    # CREATE INDEX's ShareLock is what the lock model expects: no finding for line 3.
    assert {"relation": "public.customers", "mode": "ShareLock", "kind": "table"} in report["statements"][2]["locks"]


def test_trace_text_says_it_ran_for_real_and_rolled_back(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    migration = tmp_path / "m.sql"
    migration.write_text("ALTER TABLE orders ADD COLUMN a int;\nSELECT 1/0;\n", encoding="utf-8")
    done = cli("trace", "--dsn", pg_dsn, str(migration), "--no-color")
    assert done.returncode == 1  # a statement failed
    assert "never production" in done.stdout and "Rolled back" in done.stdout
    assert "AccessExclusiveLock" in done.stdout and "division by zero" in done.stdout


def test_ctrl_c_rolls_back(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    before = _state(pg_dsn)
    migration = tmp_path / "slow.sql"
    migration.write_text("ALTER TABLE orders ADD COLUMN a int;\nSELECT pg_sleep(60);\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgmigrate", "trace", "--dsn", pg_dsn, str(migration), "--no-color"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_sleep(pg_dsn)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Rolled back" in out
    assert _state(pg_dsn) == before


def _wait_for_sleep(dsn: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
    raise AssertionError("the traced statement never started")


def test_sizes_are_not_needed_for_trace(pg_dsn: str) -> None:
    # A large table works the same: trace reads no sizes, it only watches locks.
    execute(pg_dsn, "CREATE TABLE big (id bigint PRIMARY KEY, note text);")
    fill(pg_dsn, "big", 20_000)
    [t] = _trace(pg_dsn, "CREATE INDEX big_note_idx ON big (note);")
    assert ("public.big", "ShareLock") in _modes(t)
