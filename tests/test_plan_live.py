"""Planning against a live database (``--dsn``) gives plans that leave the intended schema too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_plan_recipes import CASES, FIXTURES, apply_plan, load_case, run_sql, schema_of

from bgmigrate.cli import main
from bgmigrate.plan.phases import Plan


@pytest.mark.parametrize("name", CASES)
def test_plan_from_the_live_schema(name: str, tmp_path: Path, pg_dsn: str, pg_server: Any) -> None:
    case = load_case(name)
    run_sql(pg_dsn, *(m.text for m in case.setup), case.data)
    source = FIXTURES / case.migration.path
    backfill = [arg for column, value in case.request.backfill for arg in ("--backfill", f"{column}={value}")]
    result = CliRunner().invoke(main, ["plan", str(source), "--out", str(tmp_path), "--dsn", pg_dsn, *backfill])
    assert result.exit_code == 0, result.output
    plan = Plan.from_json((tmp_path / "plan.json").read_text())
    apply_plan(pg_dsn, plan)
    direct = pg_server.create_database()
    try:
        run_sql(direct, *(m.text for m in case.setup), case.migration.text)
        assert schema_of(pg_dsn) == schema_of(direct)
    finally:
        pg_server.drop_database(direct)


def test_unknown_table_in_the_live_schema_is_an_error(tmp_path: Path, pg_dsn: str) -> None:
    path = tmp_path / "m.sql"
    path.write_text("CREATE INDEX i ON missing (a);")
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "o"), "--dsn", pg_dsn])
    assert result.exit_code == 2
    assert "line 1: table missing is not in the given schema" in result.stderr


def test_a_live_trigger_on_the_same_table_holds_its_name(tmp_path: Path, pg_dsn: str) -> None:
    """The live schema keeps triggers on their table: the sync trigger's name, taken there, is refused."""
    run_sql(
        pg_dsn,
        "CREATE TABLE orders (id bigint PRIMARY KEY, code text, status text);\n"
        "CREATE TABLE archive (id bigint PRIMARY KEY, code text);\n"
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
        "CREATE TRIGGER bgm_sync_sku BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f();\n"
        "CREATE TRIGGER bgm_sync_sku BEFORE INSERT ON archive FOR EACH ROW EXECUTE FUNCTION f();\n",
    )
    refused, free = tmp_path / "refused.sql", tmp_path / "free.sql"
    refused.write_text("ALTER TABLE orders RENAME COLUMN code TO sku;")
    result = CliRunner().invoke(main, ["plan", str(refused), "--out", str(tmp_path / "o1"), "--dsn", pg_dsn])
    assert result.exit_code == 2, result.output
    assert "expand would create trigger bgm_sync_sku on orders while trigger bgm_sync_sku on orders" in result.stderr
    # The same name on another table holds nothing for this one.
    run_sql(pg_dsn, "DROP TRIGGER bgm_sync_sku ON orders;")
    free.write_text("ALTER TABLE orders RENAME COLUMN code TO sku;")
    result = CliRunner().invoke(main, ["plan", str(free), "--out", str(tmp_path / "o2"), "--dsn", pg_dsn])
    assert result.exit_code == 0, result.output
