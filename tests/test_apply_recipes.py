"""Each recipe's plan applied with both app versions live: zero errors, shared rows, the intended schema.

The old version runs from the start until just before contract, the new one from just after
expand to the end, both inserting, updating and reading. The final schema is compared with the
original migration run directly on an empty copy of the starting schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from apply_recipes import RECIPES, Recipe
from apps import CONTRACTED, EXPANDED, MIGRATED, AppVersion, World, load_rows
from click.testing import CliRunner
from pg import PgServer

from bgmigrate.cli import main

OPS_PER_STAGE = 40


def apply(plan_dir: Path, phase: str, dsn: str, *extra: str) -> str:
    result = CliRunner().invoke(main, ["apply", str(plan_dir), "--phase", phase, "--dsn", dsn, "--pause", "0", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def run_sql(dsn: str, text: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(text)


SNAPSHOT_QUERIES = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    """,
    "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal",
    "functions": "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    "relations": "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace",
}


def schema_of(dsn: str) -> dict[str, set[tuple[Any, ...]]]:
    """Everything about the public schema a migration can change, order-insensitive."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: set(conn.execute(query).fetchall()) for name, query in SNAPSHOT_QUERIES.items()}


@pytest.fixture
def control_dsn(pg_server: PgServer) -> Iterator[str]:
    """A second empty database: where the original migration runs directly, for comparison."""
    dsn = pg_server.create_database()
    try:
        yield dsn
    finally:
        pg_server.drop_database(dsn)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_recipe_serves_both_versions_and_ends_as_intended(
    recipe: Recipe, pg_dsn: str, control_dsn: str, tmp_path: Path
) -> None:
    run_sql(pg_dsn, recipe.setup)
    run_sql(pg_dsn, recipe.seed)
    plan_dir = recipe.write_plan(tmp_path / "plan")
    world = World()
    load_rows(pg_dsn, recipe, world)

    old = AppVersion("old", pg_dsn, recipe, recipe.old, world, seed=1)
    new = AppVersion("new", pg_dsn, recipe, recipe.new, world, seed=2)
    old.start()
    try:
        old.wait_for_ops(OPS_PER_STAGE)
        apply(plan_dir, "expand", pg_dsn)
        world.stage = EXPANDED
        new.start()
        old.wait_for_ops(OPS_PER_STAGE)
        new.wait_for_ops(OPS_PER_STAGE)
        apply(plan_dir, "migrate", pg_dsn)
        world.stage = MIGRATED
        old.wait_for_ops(OPS_PER_STAGE)
        new.wait_for_ops(OPS_PER_STAGE)
        assert old.verify_all() > 2000  # the old version sees every row, the new one's included
    finally:
        old.stop()  # retired just before contract
    try:
        apply(plan_dir, "contract", pg_dsn, "--confirm-old-version-retired")
        world.stage = CONTRACTED
        new.wait_for_ops(OPS_PER_STAGE)
        new.verify_all()
    finally:
        new.stop()

    assert old.errors == [], old.errors[:5]
    assert new.errors == [], new.errors[:5]
    assert old.reads > 0 and new.reads > 0
    assert {w.writer for w in world.rows.values()} >= {"seed", "old", "new"}

    run_sql(control_dsn, recipe.setup)
    run_sql(control_dsn, recipe.migration)
    assert schema_of(pg_dsn) == schema_of(control_dsn)
