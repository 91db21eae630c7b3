"""No plan creates a name that is still taken at its point of the phased timeline.

A drop deferred to contract keeps its name taken through expand and migrate; a statement that
re-creates the name there would fail at run time. The planner refuses such a plan (exit 2, one
line, nothing written), and its self-check of the phases catches one should the guard miss it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.parse.source import load_sql
from bgmigrate.plan import invariants
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Phase, Plan, Step
from bgmigrate.plan.render_sql import render_sql
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.testing import knowledge_of, operations_of

SETUP = """
CREATE TABLE t (id int PRIMARY KEY, a int, b int, CONSTRAINT t_b_check CHECK (b > a));
CREATE INDEX t_a_idx ON t (a);
CREATE TRIGGER audit AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
CREATE TABLE old (id int);
"""


def plan_of(sql: str) -> Plan:
    return plan_operations(operations_of(sql), knowledge_of(SETUP), PlanRequest("p", "m.sql"))


def test_a_name_reused_after_a_deferred_drop_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "001_t.sql").write_text(SETUP)
    path = tmp_path / "002_a.sql"
    path.write_text("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD COLUMN a bigint;\n")
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "bgmigrate: error: line 2: no safe plan: expand would create column t.a while column t.a still exists "
        "(it goes only in contract, line 1), so 'as written: ALTER TABLE t ADD COLUMN a bigint' would fail with "
        "'already exists'. Give the new one another name, or free the name in a migration of its own and plan "
        "this one after that migration's contract has run\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("sql", "collision"),
    [
        ("ALTER TABLE t DROP COLUMN a;\nCREATE INDEX t_a_idx ON t (b);", "index t_a_idx while index t_a_idx"),
        (
            "ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD CONSTRAINT t_b_check CHECK (b > 0);",
            "constraint t_b_check on t while constraint t_b_check on t",
        ),
        ("DROP TABLE old;\nCREATE TABLE old (id bigint);", "table old while table old"),
        (
            "DROP TRIGGER audit ON t;\nCREATE TRIGGER audit BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION g();",
            "trigger audit on t while trigger audit on t",
        ),
        ("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t RENAME b TO a;", "column t.a while column t.a"),
    ],
    ids=["index", "constraint", "table", "trigger", "rename"],
)
def test_every_kind_of_name_is_guarded(sql: str, collision: str) -> None:
    with pytest.raises(
        PlanError,
        match=rf"^line 2: no safe plan: expand would create {collision} still exists \(it goes only in contract, line 1\)",
    ):
        plan_of(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE n (id int);\nCREATE TRIGGER audit BEFORE INSERT ON n FOR EACH ROW EXECUTE FUNCTION g();",
        "CREATE INDEX ON t (b);\nALTER TABLE t ADD COLUMN IF NOT EXISTS a int;",
        "-- bgmigrate: ignore[drop-column] a is unused since v41\nALTER TABLE t DROP COLUMN a;\n"
        "ALTER TABLE t ADD COLUMN a bigint;\nALTER TABLE t ADD CONSTRAINT t_b_check CHECK (b > 0);",
    ],
    ids=["trigger name on another table", "unnamed and if not exists", "drop the author kept in place"],
)
def test_names_that_are_free_are_not_refused(sql: str) -> None:
    plan_of(sql)


def test_a_drop_the_author_suppressed_stays_in_place() -> None:
    plan = plan_of("-- bgmigrate: ignore[drop-column] a is unused since v41\nALTER TABLE t DROP COLUMN a;\n"
                   "ALTER TABLE t ADD COLUMN a bigint;")  # fmt: skip
    assert [s.sql.splitlines()[-1] for s in plan.phase("expand").steps] == [
        "ALTER TABLE t DROP COLUMN a", "ALTER TABLE t ADD COLUMN a bigint",
    ]  # fmt: skip
    assert plan.phase("contract").steps == ()


def colliding_plan() -> Plan:
    """What the planner produced before it knew better: the drop deferred, the name reused in expand."""
    add = Step("sql", "add t.a", "ALTER TABLE t ADD COLUMN a bigint", source_line=2)
    drop = Step("sql", "drop t.a", "ALTER TABLE t DROP COLUMN a", source_line=1)
    return Plan("p", "m.sql", (Phase("expand", (add,)), Phase("migrate"), Phase("contract", (drop,))))


def test_the_self_check_of_the_phases_catches_a_statement_that_fails() -> None:
    before = [load_sql("001_t.sql", SETUP)]
    # The line of the statement in the file a person would open (the header's length may change).
    line = render_sql(colliding_plan())["01_expand.sql"].splitlines().index("ALTER TABLE t ADD COLUMN a bigint;") + 1
    assert line > 1
    assert invariants.replay_failures(colliding_plan(), before) == [
        f"plan/01_expand.sql:{line}: ALTER TABLE t ADD COLUMN a bigint — column t.a already exists there"
    ]
    with pytest.raises(invariants.PhaseCheckError, match=rf"a phase would fail: plan/01_expand\.sql:{line}\b"):
        invariants.lint_phases(colliding_plan(), before, load_catalogue())


def test_a_plan_failing_its_self_check_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with the guard switched off, the check of the phases still refuses to write."""
    import bgmigrate.plan.passes

    monkeypatch.setattr(bgmigrate.plan.passes, "guard", lambda plan, *_args: plan)
    (tmp_path / "001_t.sql").write_text(SETUP)
    path = tmp_path / "002_a.sql"
    path.write_text("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD COLUMN a bigint;\n")
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith("bgmigrate: error: the plan failed its own check, nothing written")
    assert "ALTER TABLE t ADD COLUMN a bigint — column t.a already exists there" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_do_block_is_carried_over_whole_with_a_note(tmp_path: Path) -> None:
    source = tmp_path / "0001_guarded.sql"
    source.write_text(
        "DO $$ BEGIN\n  IF NOT EXISTS (SELECT 1) THEN ALTER TABLE orders ADD COLUMN b int; END IF;\nEND $$;\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bgmigrate", "plan", str(source), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = Plan.from_json((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    expand = [s.sql for s in plan.phase("expand").steps]
    assert len(expand) == 1 and expand[0].startswith("DO $$") and "IF NOT EXISTS" in expand[0]
    assert any("DO block" in note for note in plan.passthrough)


# ---- names the model keeps apart from tables: functions, types, triggers of the table itself ----

ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, code text, status text);\n"
NOOP = "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"

# (setup holding the name, migration, what plan names, what PostgreSQL says running expand anyway)
HELD = [
    # the sync function the planner installs for a renamed column, taken by an earlier migration
    (ORDERS + f"CREATE FUNCTION bgm_sync_orders_sku() {NOOP}", "ALTER TABLE orders RENAME COLUMN code TO sku;",
     "function bgm_sync_orders_sku() while function bgm_sync_orders_sku (PostgreSQL refuses a second one if it "
     "too takes no arguments)", 'function "bgm_sync_orders_sku" already exists with same argument types'),
    # a table's new name, taken by a type (a table's row type shares the types' name space)
    (ORDERS + "CREATE TYPE purchases AS (x int);\n", "ALTER TABLE orders RENAME TO purchases;",
     "table purchases while type purchases", 'relation "purchases" already exists'),  # composite: in pg_class too
    (ORDERS + "CREATE TYPE purchases AS ENUM ('a');\n", "CREATE TABLE purchases (id int);",
     "table purchases while type purchases", 'type "purchases" already exists'),
    # the sync trigger's name, taken on the same table
    (ORDERS + f"CREATE FUNCTION f() {NOOP}CREATE TRIGGER bgm_sync_sku BEFORE INSERT ON orders "
     "FOR EACH ROW EXECUTE FUNCTION f();\n", "ALTER TABLE orders RENAME COLUMN code TO sku;",
     "trigger bgm_sync_sku on orders while trigger bgm_sync_sku on orders",
     'trigger "bgm_sync_sku" for relation "orders" already exists'),
]  # fmt: skip
HELD_IDS = ["function", "composite type", "enum", "trigger on the same table"]


@pytest.mark.parametrize(("setup", "sql", "collision", "_pg_error"), HELD, ids=HELD_IDS)
def test_plan_refuses_a_name_a_function_type_or_trigger_holds(
    tmp_path: Path, setup: str, sql: str, collision: str, _pg_error: str
) -> None:
    (tmp_path / "001_setup.sql").write_text(setup)
    path = tmp_path / "002_m.sql"
    path.write_text(sql)
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert result.stderr.startswith(f"bgmigrate: error: line 1: no safe plan: expand would create {collision} "), (
        result.stderr
    )
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "out").exists()


def _psql(dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
@pytest.mark.parametrize(("setup", "sql", "_collision", "pg_error"), HELD, ids=HELD_IDS)
def test_without_the_guard_expand_fails_in_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_dsn: str, setup: str, sql: str, _collision: str, pg_error: str
) -> None:
    """Why the guard refuses: the plan it would have let through fails at expand on a real server."""
    import bgmigrate.plan.passes

    monkeypatch.setattr(bgmigrate.plan.passes, "guard", lambda plan, *_args: plan)
    plan = plan_operations(operations_of(sql), knowledge_of(setup), PlanRequest("p", "m.sql"))
    (tmp_path / "setup.sql").write_text(setup)
    (tmp_path / "expand.sql").write_text(render_sql(plan)["01_expand.sql"])
    assert _psql(pg_dsn, tmp_path / "setup.sql").returncode == 0
    done = _psql(pg_dsn, tmp_path / "expand.sql")
    assert done.returncode != 0 and pg_error in done.stderr, done.stderr


def test_the_model_keeps_a_trigger_on_its_table() -> None:
    """A trigger follows its table through a rename and goes with it; the same name elsewhere is another trigger."""
    schema = knowledge_of(
        SETUP + "CREATE TRIGGER audit AFTER INSERT ON old FOR EACH ROW EXECUTE FUNCTION f();\n"
        "ALTER TABLE t RENAME TO u;\nDROP TRIGGER audit ON old;\n"
    ).schema
    assert schema.tables["public", "u"].triggers == {"audit"}
    assert schema.tables["public", "old"].triggers == set()


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE FUNCTION bgm_sync_orders_sku(a int) RETURNS int LANGUAGE sql AS 'SELECT 1';",  # takes arguments
        "CREATE OR REPLACE FUNCTION g() RETURNS int LANGUAGE sql AS 'SELECT 1';",  # replaces on purpose
        "CREATE INDEX purchases ON orders (status);",  # an index has no row type (and an enum is no relation)
    ],
)
def test_names_a_function_or_type_does_not_hold_are_free(tmp_path: Path, sql: str) -> None:
    setup = ORDERS + f"CREATE FUNCTION bgm_sync_orders_sku() {NOOP}CREATE FUNCTION g() {NOOP}"
    setup += "CREATE TYPE purchases AS ENUM ('a');\n"
    plan_operations(operations_of(sql), knowledge_of(setup), PlanRequest("p", "m.sql"))
