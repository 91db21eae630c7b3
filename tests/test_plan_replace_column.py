"""The replace-column pattern (add x, fill it, drop y, rename x to y) is planned as a type change of y.

The invariants (phases parse, lint clean, re-planning changes nothing, the schema the original
leaves) run on the fixtures ``replace_column`` (the shop's textbook migration, UPDATE included)
and ``replace_column_backfill`` (no UPDATE: the conversion comes from --backfill) through
test_plan_recipes.py. Here: what the plan says, the variants, and the data it leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from test_plan_recipes import FIXTURES, load_case, run_backfill, run_sql

from bgmigrate.cli import main
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.testing import knowledge_of, operations_of

SHOP = FIXTURES.parent / "examples" / "shop"
SETUP = (SHOP / "0001_initial.sql").read_text()
TEXTBOOK = (SHOP / "0003_rename_status.sql").read_text()
RECOGNISED = "recognised as ALTER TABLE orders ALTER COLUMN status TYPE order_state USING status::order_state"


def plan_of(sql: str, *backfill: tuple[str, str]) -> Plan:
    return plan_operations(operations_of(sql), knowledge_of(SETUP), PlanRequest("p", "m.sql", backfill=backfill))


def sql_of(plan: Plan, phase: str) -> str:
    return "\n".join(s.sql for s in plan.phase(phase).steps)


def test_the_textbook_migration_becomes_a_type_change_of_status() -> None:
    plan = load_case("replace_column").plan()
    assert len(plan.rewrites) == 1 and RECOGNISED in plan.rewrites[0] and "lines 2 to 6" in plan.rewrites[0]
    expand, migrate, contract = (plan.phase(p) for p in ("expand", "migrate", "contract"))
    assert expand.steps[0].sql == "ALTER TABLE orders ADD COLUMN bgm_status_new order_state"
    assert [s.kind for s in migrate.steps] == ["backfill"]
    fill = migrate.steps[0].backfill
    assert fill is not None and fill.assignments == (("bgm_status_new", "(status::order_state)"),)
    swap = contract.steps[-1].sql
    assert "DROP COLUMN status" in swap and swap.endswith("RENAME COLUMN bgm_status_new TO status")
    assert "SET DEFAULT" not in sql_of(plan, "contract")  # the migration leaves status without a default
    assert "ALTER COLUMN bgm_status_new SET NOT NULL" in sql_of(plan, "contract")
    # new_status is never created: nothing can collide with the old status while both versions run.
    assert all("new_status" not in s.sql for p in plan.phases for s in p.steps)
    notes = " ".join(n for p in plan.phases for n in p.notes)
    assert "status also loses its default 'new'" in notes and "never use bgm_status_new" in notes


@pytest.mark.parametrize("backfill", [[], ["--backfill", "new_status=status::order_state"]])
def test_the_shop_example_plans_from_the_command_line(tmp_path: Path, backfill: list[str]) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["plan", str(SHOP / "0003_rename_status.sql"), "--out", str(out), *backfill])
    assert result.exit_code == 0, result.output
    assert "expand 3, migrate 1, contract 5 steps" in result.stdout and "lint of the phases: clean" in result.stdout
    md = (out / "PLAN.md").read_text()
    assert RECOGNISED in md and "Assumptions" in md and "--backfill" not in md


def test_without_its_update_the_conversion_is_asked_for() -> None:
    sql = TEXTBOOK.replace("UPDATE orders SET new_status = status::order_state;\n", "")
    with pytest.raises(PlanError) as refused:
        plan_of(sql)
    assert str(refused.value) == (
        "lines 2 to 5 replace orders.status by new_status, planned as changing status's type to order_state, but no "
        "UPDATE fills new_status: give --backfill new_status=SQL_EXPR, the conversion of status's existing values "
        "(e.g. new_status=status::order_state)"
    )
    for key in ("new_status", "status", "orders.status"):
        assert (
            RECOGNISED.replace("status::", "lower(status)::")
            in plan_of(sql, (key, "lower(status)::order_state")).rewrites[0]
        )


def test_a_backfill_the_update_contradicts_is_not_used_and_said_so() -> None:
    plan = plan_of(TEXTBOOK, ("new_status", "'new'"))
    assert RECOGNISED in plan.rewrites[0]
    assert any("--backfill new_status='new' is not used" in a for a in plan.assumptions)


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (
            "UPDATE orders SET new_status = status::order_state WHERE id < 10;",
            "line 3 is not a plain fill of new_status",
        ),
        ("UPDATE orders SET new_status = status::order_state, note = 'x';", "line 3 also uses new_status"),
        ("UPDATE orders o SET new_status = o.status::order_state;", "line 3 is not a plain fill of new_status"),
        ("UPDATE orders SET new_status = orders.status::order_state;", "line 3 is not a plain fill of new_status"),
        ("CREATE INDEX ON orders (new_status);", "line 3 also uses new_status"),
    ],
)
def test_a_pattern_that_is_not_a_plain_type_change_is_refused_with_the_reason(update: str, reason: str) -> None:
    sql = TEXTBOOK.replace("UPDATE orders SET new_status = status::order_state;", update)
    with pytest.raises(PlanError, match=rf"^lines 2 to 6 replace orders.status by new_status .*{reason}.*ALTER COLUMN"):
        plan_of(sql)


@pytest.mark.parametrize("where", ["", " WHERE new_status IS NULL", " WHERE true"], ids=["no where", "is null", "true"])
def test_an_update_of_every_row_is_the_conversion(where: str) -> None:
    sql = TEXTBOOK.replace("status::order_state;", f"status::order_state{where};")
    assert RECOGNISED in plan_of(sql).rewrites[0]


def test_a_data_change_reading_the_old_column_in_between_runs_in_migrate() -> None:
    sql = TEXTBOOK.replace(
        "ALTER TABLE orders DROP", "UPDATE orders SET note = 'was ' || status;\nALTER TABLE orders DROP"
    )
    plan = plan_of(sql)
    assert RECOGNISED in plan.rewrites[0]
    assert [s.kind for s in plan.phase("migrate").steps] == ["backfill", "sql"]
    assert plan.phase("migrate").steps[1].sql == "UPDATE orders SET note = 'was ' || status"


def test_later_statements_on_the_replaced_column_run_after_the_swap() -> None:
    plan = plan_of(TEXTBOOK + "\nCREATE INDEX orders_status_idx ON orders (status);\n"
                   "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new';")  # fmt: skip
    contract = [s.sql for s in plan.phase("contract").steps]
    swap = next(i for i, sql in enumerate(contract) if "RENAME COLUMN bgm_status_new TO status" in sql)
    assert contract[swap + 1].startswith("CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)")
    assert contract[swap + 2] == "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'new'"


def test_a_new_column_never_renamed_is_a_plain_add_and_drop() -> None:
    plan = plan_of("ALTER TABLE orders ADD COLUMN new_status order_state;\nALTER TABLE orders DROP COLUMN status;")
    assert plan.rewrites == ()
    assert sql_of(plan, "expand") == "ALTER TABLE orders ADD COLUMN new_status order_state"
    assert sql_of(plan, "contract").endswith("ALTER TABLE orders DROP COLUMN status")


def test_a_new_column_renamed_to_a_free_name_is_a_rename() -> None:
    plan = plan_of(
        "ALTER TABLE orders ADD COLUMN new_status order_state;\nALTER TABLE orders RENAME new_status TO state;"
    )
    assert [r.split(" → ")[1] for r in plan.rewrites] == ["rename column"]


def test_converted_values_are_what_the_original_leaves(pg_dsn: str, pg_server: Any) -> None:
    """Existing rows, rows the old version writes during the transition, and the final column all match."""
    case = load_case("replace_column")
    plan = case.plan()
    run_sql(pg_dsn, *(m.text for m in case.setup), case.data)
    direct = pg_server.create_database()
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for step in plan.phase("expand").steps:
                conn.execute(step.sql)  # type: ignore[arg-type]
            # The old version keeps writing status as text while both run.
            conn.execute("INSERT INTO orders (user_id, total) VALUES (1, 9.5)")
            conn.execute("UPDATE orders SET status = 'shipped' WHERE id = 1")
            for step in plan.phase("migrate").steps:
                assert step.backfill is not None
                run_backfill(conn, step.backfill)
            for step in plan.phase("contract").steps:
                conn.execute(step.sql)  # type: ignore[arg-type]
        run_sql(direct, *(m.text for m in case.setup), case.data)
        run_sql(direct, "INSERT INTO orders (user_id, total) VALUES (1, 9.5);",
                "UPDATE orders SET status = 'shipped' WHERE id = 1;", case.migration.text)  # fmt: skip
        query = "SELECT id, status, pg_typeof(status)::text FROM orders ORDER BY id"
        with psycopg.connect(pg_dsn) as planned, psycopg.connect(direct) as original:
            rows = planned.execute(query).fetchall()  # type: ignore[arg-type]
            assert rows == original.execute(query).fetchall()  # type: ignore[arg-type]
        assert rows[0][1:] == ("shipped", "order_state") and rows[-1][1:] == ("new", "order_state")
        with psycopg.connect(pg_dsn) as planned:
            column = planned.execute(
                "SELECT format_type(atttypid, atttypmod), attnotnull, pg_get_expr(adbin, adrelid) FROM pg_attribute "
                "LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum "
                "WHERE attrelid = 'orders'::regclass AND attname = 'status'"
            ).fetchone()
        assert column == ("order_state", True, None)  # NOT NULL and no default, as the migration leaves it
    finally:
        pg_server.drop_database(direct)
