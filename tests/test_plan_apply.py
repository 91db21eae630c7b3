"""The contract with ``bgmigrate apply``: every fixture's plan runs under apply, checks included.

apply reads plan.json, runs each step with lock_timeout and retries, backfills in batches and
verifies each phase's checks against the live schema; the result must be the schema the
original migration leaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_plan_recipes import CASES, load_case, run_sql, schema_of

from bgmigrate.cli import main
from bgmigrate.plan.render_sql import render_sql


@pytest.mark.parametrize("name", CASES)
def test_apply_runs_every_phase(name: str, tmp_path: Path, pg_dsn: str, pg_server: Any) -> None:
    case = load_case(name)
    plan = case.plan()
    (tmp_path / "plan.json").write_text(plan.to_json())
    for file, text in render_sql(plan).items():
        (tmp_path / file).write_text(text)
    run_sql(pg_dsn, *(m.text for m in case.setup), case.data)
    runner = CliRunner()
    for phase, extra in (("expand", []), ("migrate", []), ("contract", ["--confirm-old-version-retired"])):
        result = runner.invoke(
            main, ["apply", str(tmp_path), "--phase", phase, "--dsn", pg_dsn, "--pause", "0s", *extra]
        )
        assert result.exit_code == 0, f"{phase}: {result.output}"
    direct = pg_server.create_database()
    try:
        run_sql(direct, *(m.text for m in case.setup), case.migration.text)
        assert schema_of(pg_dsn) == schema_of(direct)
    finally:
        pg_server.drop_database(direct)
