"""``bgmigrate plan`` at the edge: files written, refusals in one line, notes for what passes through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from switchkit import record_switch_state
from test_plan_recipes import FIXTURES, schema_of

from bgmigrate.cli import main
from bgmigrate.plan.contract_guard import CONFIRM_SETTING
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.testing import knowledge_of, operations_of


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def write(tmp_path: Path, name: str, sql: str) -> Path:
    path = tmp_path / name
    path.write_text(sql)
    return path


def test_writes_plan_json_phase_files_and_plan_md(tmp_path: Path) -> None:
    out = tmp_path / "out"
    source = FIXTURES / "rename_column" / "002_rename_status.sql"
    code, stdout, _ = run(str(source), "--out", str(out), "--id", "rename-status")
    assert code == 0 and "wrote plan rename-status" in stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "01_expand.sql", "02_migrate.sql", "03_contract.sql", "PLAN.md", "plan.json",
    ]  # fmt: skip
    plan = Plan.from_json((out / "plan.json").read_text())
    assert plan.id == "rename-status" and [p.name for p in plan.phases] == ["expand", "migrate", "contract"]
    assert Plan.from_json(plan.to_json()) == plan
    md = (out / "PLAN.md").read_text()
    assert md.startswith("```mermaid\nflowchart LR")
    assert "## 1 · expand" in md and "ACCESS EXCLUSIVE" in md and "reads and writes state" in md


def test_required_column_without_backfill_is_refused_in_one_line(tmp_path: Path) -> None:
    write(tmp_path, "001_users.sql", "CREATE TABLE users (id int PRIMARY KEY);")
    path = write(tmp_path, "002_tier.sql", "ALTER TABLE users ADD COLUMN tier int NOT NULL;")
    code, stdout, stderr = run(str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1
    assert stderr.startswith("bgmigrate: error: adding required column users.tier: give --backfill tier=SQL_EXPR")
    assert not (tmp_path / "out").exists()


def test_set_not_null_without_backfill_is_refused() -> None:
    with pytest.raises(PlanError, match=r"set not null on t.c: give --backfill c=SQL_EXPR"):
        plan_operations(operations_of("ALTER TABLE t ALTER c SET NOT NULL;"), Knowledge(), PlanRequest("p", "m"))


def test_unknown_column_type_is_refused_not_guessed() -> None:
    with pytest.raises(PlanError, match=r"the type of t.a is not known: give --schema/--dsn"):
        plan_operations(operations_of("ALTER TABLE t RENAME a TO b;"), Knowledge(), PlanRequest("p", "m"))


def test_unknown_table_with_a_schema_is_an_error() -> None:
    base = knowledge_of("CREATE TABLE known (id int PRIMARY KEY);")
    with pytest.raises(PlanError, match=r"line 2: table missing is not in the given schema"):
        plan_operations(
            operations_of("CREATE TABLE n (id int);\nCREATE INDEX i ON missing (a);"),
            base,
            PlanRequest("p", "m"),
            live=True,
        )


def test_unknown_key_is_a_visible_assumption(tmp_path: Path) -> None:
    path = write(tmp_path, "002_tier.sql", "ALTER TABLE users ADD COLUMN tier int NOT NULL;")
    code, _, _ = run(str(path), "--out", str(tmp_path / "out"), "--backfill", "tier=1")
    assert code == 0
    plan = Plan.from_json((tmp_path / "out" / "plan.json").read_text())
    assert plan.assumptions and "batches by id" in plan.assumptions[0]
    assert "⚠ users is not known" in (tmp_path / "out" / "PLAN.md").read_text()
    code, _, _ = run(str(path), "--out", str(tmp_path / "o2"), "--backfill", "tier=1", "--batch-key", "user_id")
    fill = Plan.from_json((tmp_path / "o2" / "plan.json").read_text()).phase("migrate").steps[0].backfill
    assert fill is not None and fill.key == "user_id"


def test_unsupported_statements_pass_through_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, "001_t.sql", "CREATE TABLE t (id int PRIMARY KEY, a int);")
    sql = "DO $$ BEGIN EXECUTE 'SELECT 1'; END $$;\nREINDEX INDEX CONCURRENTLY t_pkey;\nALTER TABLE t ADD COLUMN b int;\nSET lock_timeout = '5s';\n"
    path = write(tmp_path, "002_misc.sql", sql)
    code, stdout, stderr = run(str(path), "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert "unparsed-statement" in stdout  # a warning lint still reports, not a refusal
    expand = (tmp_path / "out" / "01_expand.sql").read_text()
    assert "DO $$ BEGIN EXECUTE 'SELECT 1'; END $$;" in expand and "REINDEX INDEX CONCURRENTLY t_pkey;" in expand
    md = (tmp_path / "out" / "PLAN.md").read_text()
    assert "line 1: DO $$ BEGIN EXECUTE 'SELECT 1'; END $$ — not analysed" in md
    assert "line 4: SET lock_timeout = '5s' — left out" in md


@pytest.mark.parametrize(
    ("statement", "rule", "phase"),
    [
        ("TRUNCATE t", "truncate-table", "expand"),
        ("ALTER TABLE t ADD CONSTRAINT t_x EXCLUDE USING gist (a WITH =)", "exclusion-constraint", "expand"),
        ("VACUUM FULL t", "table-rewrite", "expand"),
        ("DELETE FROM t", "delete-all-rows", "migrate"),
    ],
)
def test_a_phase_lint_would_fault_is_a_refusal(tmp_path: Path, statement: str, rule: str, phase: str) -> None:
    """Issue 9 C11: the plan's own phase files are linted; any error there refuses, naming rule and phase."""
    write(tmp_path, "001_t.sql", "CREATE TABLE t (id int PRIMARY KEY, a int);")
    path = write(tmp_path, "002_misc.sql", statement + ";\n")
    code, stdout, stderr = run(str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and stdout == "" and stderr.count("\n") == 1, stderr
    assert f"the plan's {phase} phase (0" in stderr and f"would ship error {rule}:" in stderr
    assert f"bgmigrate explain {rule}" in stderr
    assert not (tmp_path / "out").exists()


def test_a_dsn_password_is_never_shown(tmp_path: Path) -> None:
    path = write(tmp_path, "002.sql", "CREATE INDEX i ON t (a);")
    code, stdout, stderr = run(
        str(path), "--out", str(tmp_path / "o"), "--dsn", "postgresql://app:s3cr3t@127.0.0.1:1/db"
    )
    assert code == 2 and "s3cr3t" not in stdout + stderr


def test_one_alter_table_split_across_phases_renders_each_action_alone() -> None:
    base = knowledge_of("CREATE TABLE t (id int PRIMARY KEY, a int, b int);")
    ops = operations_of("ALTER TABLE t ADD COLUMN c int DEFAULT 0, DROP COLUMN a, ALTER COLUMN b SET NOT NULL;")
    plan = plan_operations(ops, base, PlanRequest("p", "m", backfill=(("b", "0"),)))
    assert plan.phase("expand").steps[0].sql == "ALTER TABLE t ADD COLUMN c int DEFAULT 0"
    contract = [s.sql for s in plan.phase("contract").steps]
    assert any(sql.endswith("\nALTER TABLE t DROP COLUMN a") for sql in contract)
    assert "ALTER TABLE t ALTER COLUMN b SET NOT NULL" in contract


def test_planning_stays_light_to_import() -> None:
    code = (
        "import sys, bgmigrate.plan.passes, bgmigrate.cli.plan; "
        "print(sorted(m for m in ('alembic', 'sqlalchemy', 'psycopg') if m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")


def psql(dsn: str, path: Path, *, stop: bool = True, confirm: bool = False) -> subprocess.CompletedProcess[str]:
    """``psql -f`` as a person runs a phase file (``stop``: with ON_ERROR_STOP; ``confirm``: the operator's word)."""
    env = dict(os.environ)
    if confirm:
        env["PGOPTIONS"] = f"-c {CONFIRM_SETTING}=yes"
    stop_on_error = ["-v", "ON_ERROR_STOP=1"] if stop else []
    command = ["psql", "-X", "-q", *stop_on_error, "-d", dsn, "-f", str(path)]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def psql_ok(dsn: str, path: Path, *, confirm: bool = False) -> None:
    done = psql(dsn, path, confirm=confirm)
    assert done.returncode == 0, done.stderr


@needs_psql
def test_phase_files_run_with_psql_as_written(tmp_path: Path, pg_dsn: str, pg_server: object) -> None:
    """The files a person runs by hand, backfill loop included, leave the intended schema."""
    folder = FIXTURES / "rename_column"
    out = tmp_path / "out"
    assert run(str(folder / "002_rename_status.sql"), "--out", str(out))[0] == 0

    for path in (folder / "001_setup.sql", folder / "data.sql", out / "01_expand.sql", out / "02_migrate.sql"):
        psql_ok(pg_dsn, path)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM orders WHERE state IS DISTINCT FROM status").fetchone() == (0,)
    psql_ok(pg_dsn, out / "03_contract.sql", confirm=True)  # no traffic switch here: the operator's word
    direct = pg_server.create_database()  # type: ignore[attr-defined]
    try:
        psql_ok(direct, folder / "001_setup.sql")
        psql_ok(direct, folder / "002_rename_status.sql")
        assert schema_of(pg_dsn) == schema_of(direct)
    finally:
        pg_server.drop_database(direct)  # type: ignore[attr-defined]


def orders_columns(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 "
                             "AND NOT attisdropped ORDER BY attnum").fetchall()  # fmt: skip
    return [str(r[0]) for r in found]


@needs_psql
@pytest.mark.parametrize("stop", [True, False], ids=["ON_ERROR_STOP", "psql runs on"])
def test_contract_file_is_refused_by_psql_while_blue_is_the_rollback_target(
    tmp_path: Path, pg_dsn: str, stop: bool
) -> None:
    """Issue 10: psql cannot call apply's gate, so 03_contract.sql carries it: refused, nothing is dropped."""
    folder, out = FIXTURES / "rename_column", tmp_path / "out"
    assert run(str(folder / "002_rename_status.sql"), "--out", str(out))[0] == 0
    for path in (folder / "001_setup.sql", folder / "data.sql", out / "01_expand.sql", out / "02_migrate.sql"):
        psql_ok(pg_dsn, path)
    before = orders_columns(pg_dsn)
    requires = {"green": ["002_rename_status:expand"], "blue": []}
    record_switch_state(pg_dsn, "green", "blue", requires)  # blue predates the plan and is kept to roll back to
    refused = psql(pg_dsn, out / "03_contract.sql", stop=stop, confirm=True)  # the word cannot override the switch
    assert "contract of 002_rename_status refused: blue (rollback target) does not list" in refused.stderr
    # With ON_ERROR_STOP psql stops (exit 3); without, it runs on into a read-only session.
    assert refused.returncode == (3 if stop else 0), refused.stderr
    assert stop or "read-only transaction" in refused.stderr
    assert orders_columns(pg_dsn) == before and "status" in before
    record_switch_state(pg_dsn, "green", None, requires)  # blue retired: the rollback window is closed
    psql_ok(pg_dsn, out / "03_contract.sql")
    assert "status" not in orders_columns(pg_dsn)


def test_plan_md_warns_plainly_that_contract_breaks_prepared_statements(tmp_path: Path) -> None:
    """Issue 9 C6: after a type change's contract, prepared statements fail on every call until re-prepared."""
    write(tmp_path, "001_t.sql", "CREATE TABLE t (id int PRIMARY KEY, amount int NOT NULL);")
    path = write(tmp_path, "002_type.sql", "ALTER TABLE t ALTER COLUMN amount TYPE bigint;")
    code, _, stderr = run(str(path), "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    md = (tmp_path / "out" / "PLAN.md").read_text()
    head = md.split("## 1 · expand")[0]  # said before any phase, not only in contract's notes
    assert "⚠ Before contract" in head and "cached plan must not change result type" in head
    assert "EVERY execution" in head and "DISCARD ALL" in head and "pgbouncer" in head and "RECONNECT" in head
    plain = write(tmp_path, "003_index.sql", "CREATE INDEX t_amount_idx ON t (amount);")
    assert run(str(plain), "--out", str(tmp_path / "out2"))[0] == 0
    assert "cached plan" not in (tmp_path / "out2" / "PLAN.md").read_text()


# ---- generated SQL always reads back ----------------------------------------------------------


@pytest.mark.parametrize("default", ["DEFAULT NULL", "DEFAULT (NULL)", "DEFAULT NULL::int"])
def test_a_null_default_is_no_default_in_the_expand_sql(tmp_path: Path, default: str) -> None:
    # DEFAULT NULL NOT NULL once became "DEFAULT  NOT NULL" in expand: SQL PostgreSQL rejects.
    write(tmp_path, "0001_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n")
    path = write(tmp_path, "0002_x.sql", f"ALTER TABLE t ADD COLUMN x int {default} NOT NULL;\n")
    code, out, err = run(str(path), "--out", str(tmp_path / "out"), "--backfill", "x=0")
    assert code == 0, out + err
    expand = (tmp_path / "out" / "01_expand.sql").read_text(encoding="utf-8")
    assert "ALTER TABLE t ADD COLUMN x int;" in expand
    assert "lint of the phases: clean" in out


def test_generated_sql_that_does_not_read_back_is_refused() -> None:
    from bgmigrate.lint.catalogue import load_catalogue
    from bgmigrate.plan.invariants import lint_phases, refuse_unreadable
    from bgmigrate.plan.phases import Phase, Step

    broken = "ALTER TABLE t ADD COLUMN x int DEFAULT  NOT NULL"
    plan = Plan("p", "m.sql", (Phase("expand", (Step("sql", "add t.x", broken, source_line=1),)),))
    knowledge = knowledge_of("CREATE TABLE t (id bigint PRIMARY KEY);")
    findings = lint_phases(plan, [], load_catalogue(), schema=knowledge.schema)
    assert any(f.rule == "unparsed-statement" for f in findings)
    with pytest.raises(PlanError, match="cannot read back"):
        refuse_unreadable(findings, plan, ["ALTER TABLE t ADD COLUMN x int DEFAULT NULL NOT NULL;"])
    # The user's own statement, carried over as written, is reported but not refused.
    refuse_unreadable(findings, plan, [broken + ";"])
