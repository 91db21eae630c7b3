"""The planner's plan for each recipe, applied with both app versions live: zero errors, shared rows, the intended schema.

``bgmigrate plan`` writes the plan from the recipe's migration (its setup replayed as the migration
before it, as in a user's folder) and ``bgmigrate apply`` runs it phase by phase. The old version
runs from the start until just before contract, the new one from just after expand to the end,
both inserting, updating and reading. The final schema is compared with the original migration
run directly on an empty copy of the starting schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from apply_helpers import apply_cli
from apply_recipes import RECIPES, Recipe
from apps import CONTRACTED, EXPANDED, MIGRATED, AppVersion, World, load_rows
from pg import PgServer
from test_plan_recipes import run_sql, schema_of

from bgmigrate.plan.phases import Plan

OPS_PER_STAGE = 40


def apply(plan_dir: Path, phase: str, dsn: str, *extra: str) -> str:
    result = apply_cli(plan_dir, phase, dsn, *extra)
    assert result.exit_code == 0, result.output
    return result.output


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
    plan_dir = recipe.plan_into(tmp_path)
    # What the CLI wrote is what the pure planner plans (the unit tests use the latter).
    assert Plan.from_json((plan_dir / "plan.json").read_text()).phases == recipe.plan().phases
    run_sql(pg_dsn, recipe.setup, recipe.seed)
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

    run_sql(control_dsn, recipe.setup, recipe.migration)
    assert schema_of(pg_dsn) == schema_of(control_dsn)
