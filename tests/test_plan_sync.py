"""After expand, both app versions work: each writes its own shape and the other reads it right.

These drive the triggers and views the recipes install on real PostgreSQL, the way an old and a
new app version would use them while both are live (the fixtures are those of
test_plan_recipes). Nothing is mocked.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from test_plan_recipes import apply_plan, load_case, run_backfill, run_sql

from bgmigrate.lint.engine import parse_migration
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Phase, Plan


def only(plan: Plan, *names: str) -> Plan:
    """The plan with only the named phases (the others emptied)."""
    phases = tuple(p if p.name in names else Phase(p.name, serves=p.serves) for p in plan.phases)
    return Plan(plan.id, plan.source, phases)


def expanded(name: str, dsn: str) -> tuple[Plan, psycopg.Connection[Any]]:
    case = load_case(name)
    plan = case.plan()
    run_sql(dsn, *(m.text for m in case.setup), case.data)
    apply_plan(dsn, only(plan, "expand"))
    return plan, psycopg.connect(dsn, autocommit=True)


def one(conn: psycopg.Connection[Any], sql: str, *args: Any) -> Any:
    row = conn.execute(sql, args).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_rename_column_both_versions_write_either_row(pg_dsn: str) -> None:
    plan, conn = expanded("rename_column", pg_dsn)
    with conn:
        old_row = one(conn, "INSERT INTO orders (customer_id, status, note) VALUES (1, 'paid', 'o1') RETURNING id")
        new_row = one(conn, "INSERT INTO orders (customer_id, state, note) VALUES (2, 'shipped', 'n1') RETURNING id")
        defaulted = one(conn, "INSERT INTO orders (customer_id) VALUES (1) RETURNING id")
        assert one(conn, "SELECT state FROM orders WHERE id = %s", old_row) == "paid"
        assert one(conn, "SELECT status FROM orders WHERE id = %s", new_row) == "shipped"
        assert one(conn, "SELECT (status, state) FROM orders WHERE id = %s", defaulted) == ("new", "new")
        conn.execute("UPDATE orders SET status = 'refunded' WHERE id = %s", (new_row,))  # old version, new row
        conn.execute("UPDATE orders SET state = 'lost' WHERE id = %s", (old_row,))  # new version, old row
        conn.execute("UPDATE orders SET state = 'seen' WHERE id = 1")  # a row not backfilled yet
        assert one(conn, "SELECT state FROM orders WHERE id = %s", new_row) == "refunded"
        assert one(conn, "SELECT status FROM orders WHERE id = %s", old_row) == "lost"
        assert one(conn, "SELECT status FROM orders WHERE id = 1") == "seen"
        # The new version's upsert on the unique key it knows works from expand on.
        conn.execute(
            "INSERT INTO orders (customer_id, state, note) VALUES (1, 'lost', 'o1') ON CONFLICT (state, note) DO NOTHING"
        )
        fill = plan.phase("migrate").steps[0].backfill
        assert fill is not None
        run_backfill(conn, fill)
        assert one(conn, "SELECT count(*) FROM orders WHERE state IS DISTINCT FROM status") == 0
    apply_plan(pg_dsn, only(plan, "contract"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert one(conn, "INSERT INTO orders (customer_id) VALUES (1) RETURNING state") == "new"
        with pytest.raises(psycopg.errors.NotNullViolation):
            conn.execute("INSERT INTO orders (customer_id, state) VALUES (1, NULL)")


def test_change_type_both_versions_keep_writing_the_old_name(pg_dsn: str) -> None:
    plan, conn = expanded("change_type", pg_dsn)
    with conn:
        one(conn, "INSERT INTO payments (id, amount) VALUES (5001, 42) RETURNING id")
        one(conn, "INSERT INTO payments (id) VALUES (5002) RETURNING id")
        conn.execute("UPDATE payments SET amount = 7 WHERE id = 1")
        assert one(conn, "SELECT bgm_amount_new FROM payments WHERE id = 5001") == 42
        assert one(conn, "SELECT bgm_amount_new FROM payments WHERE id = 5002") == 0
        assert one(conn, "SELECT bgm_amount_new FROM payments WHERE id = 1") == 7
    apply_plan(pg_dsn, only(plan, "migrate", "contract"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert (
            one(
                conn,
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'payments'::regclass AND attname = 'amount'",
            )
            == "bigint"
        )
        assert one(conn, "SELECT amount FROM payments WHERE id = 1") == 7
        assert (
            one(conn, "INSERT INTO payments (id, amount) VALUES (5003, 9000000000) RETURNING amount") == 9_000_000_000
        )


def test_added_required_column_is_filled_for_the_old_version(pg_dsn: str) -> None:
    plan, conn = expanded("add_required_column", pg_dsn)
    with conn:
        conn.execute("INSERT INTO users (id, email) VALUES (9001, 'Old@Example.com')")  # old version
        conn.execute("INSERT INTO users (id, email, email_key) VALUES (9002, 'New@Example.com', 'custom')")
        assert one(conn, "SELECT email_key FROM users WHERE id = 9001") == "old@example.com"
        assert one(conn, "SELECT email_key FROM users WHERE id = 9002") == "custom"
    apply_plan(pg_dsn, only(plan, "migrate", "contract"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert one(conn, "SELECT count(*) FROM users WHERE email_key <> lower(email) AND id <> 9002") == 0


def test_set_not_null_leaves_no_row_the_old_version_wrote_behind(pg_dsn: str) -> None:
    plan, conn = expanded("set_not_null", pg_dsn)
    with conn:
        conn.execute("INSERT INTO profiles (id, country) VALUES (9001, NULL)")  # the old version writes NULL
        conn.execute("UPDATE profiles SET country = NULL WHERE id = 1")
        assert one(conn, "SELECT country FROM profiles WHERE id = 9001") == "XX"
        assert one(conn, "SELECT country FROM profiles WHERE id = 1") == "XX"
    apply_plan(pg_dsn, only(plan, "migrate", "contract"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert one(conn, "SELECT count(*) FROM profiles WHERE country = 'XX'") == 102


def test_renamed_table_still_serves_the_old_name(pg_dsn: str) -> None:
    plan, conn = expanded("rename_table", pg_dsn)
    with conn:
        new_id = one(conn, "INSERT INTO orders DEFAULT VALUES RETURNING id")  # old version: defaults apply
        assert one(conn, "SELECT total FROM purchases WHERE id = %s", new_id) == 0
        conn.execute("UPDATE orders SET total = 5 WHERE id = %s", (new_id,))
        conn.execute(
            "INSERT INTO orders (id, total) VALUES (%s, 1) ON CONFLICT (id) DO UPDATE SET total = 6", (new_id,)
        )
        assert one(conn, "SELECT total FROM purchases WHERE id = %s", new_id) == 6
        conn.execute("DELETE FROM orders WHERE id = 1")
        assert one(conn, "SELECT count(*) FROM purchases WHERE id = 1") == 0
        assert one(conn, "INSERT INTO purchases (total) VALUES (2) RETURNING id") > new_id  # new version
    apply_plan(pg_dsn, only(plan, "contract"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert one(conn, "SELECT to_regclass('orders') IS NULL") is True


def test_rename_column_under_concurrent_writers(pg_dsn: str) -> None:
    """Old and new version write while the backfill runs; every row ends with what was last written."""
    import random
    import threading
    from dataclasses import replace

    case = load_case("rename_column")
    operations = parse_migration(case.migration)[0]
    plan = plan_operations(operations, case.knowledge(), replace(case.request, batch_size=50))
    run_sql(pg_dsn, *(m.text for m in case.setup), case.data)
    apply_plan(pg_dsn, only(plan, "expand"))
    expected: dict[int, str] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(column: str, parity: int) -> None:
        rng = random.Random(parity)
        try:
            with psycopg.connect(pg_dsn, autocommit=True) as conn:
                n = 0
                while not stop.is_set() or n < 50:
                    n += 1
                    value = f"{column}-{n}"
                    if rng.random() < 0.3:
                        row = one(
                            conn,
                            f"INSERT INTO orders (customer_id, {column}, note) VALUES (1, %s, %s) RETURNING id",
                            value,
                            value,
                        )
                    else:
                        row = rng.randrange(1, 2500) // 2 * 2 + parity
                        cur = conn.execute(f"UPDATE orders SET {column} = %s WHERE id = %s", (value, row))  # type: ignore[arg-type]
                        if cur.rowcount == 0:
                            continue
                    expected[row] = value
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=("status", 0)), threading.Thread(target=writer, args=("state", 1))]
    for thread in threads:
        thread.start()
    stop.wait(0.2)  # both versions are writing before the backfill starts, and while it runs
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        fill = plan.phase("migrate").steps[0].backfill
        assert fill is not None
        run_backfill(conn, fill)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        run_backfill(conn, fill)  # what apply's no_rows check would demand before contract
    apply_plan(pg_dsn, only(plan, "contract"))
    with psycopg.connect(pg_dsn) as conn:
        final = dict(conn.execute("SELECT id, state FROM orders").fetchall())  # type: ignore[arg-type]
    assert {row: final[row] for row in expected} == expected
