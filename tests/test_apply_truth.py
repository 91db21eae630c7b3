"""Apply says only what it checked: preconditions as of the phase that needs them, a rollback
proved against the pre-phase catalog, ``status --verify`` as of the latest applied phase, and
lock waits short enough that the application does not queue behind them."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from apply_helpers import apply_cli, check, cli, execute, one_error_line, phase_statuses, rows, scalar, sql
from apply_recipes import CHANGE_TYPE, NOT_NULL, RENAME, Recipe

from bgmigrate.plan.phases import Phase, Plan, Step

TABLE = "CREATE TABLE t (id bigint PRIMARY KEY, a text, b integer NOT NULL DEFAULT 0);"
SEED = "INSERT INTO t (id, a) SELECT g, 'row ' || g FROM generate_series(1, 300) g"


def plan_migration(folder: Path, migration: str, *options: str) -> Path:
    """``bgmigrate plan`` on ``migration`` after a setup file creating ``t``; returns the plan dir."""
    migrations = folder / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "0001_setup.sql").write_text(TABLE + "\n", encoding="utf-8")
    path = migrations / "0002_change.sql"
    path.write_text(textwrap.dedent(migration).strip() + "\n", encoding="utf-8")
    result = cli("plan", str(path), "--out", str(folder / "plan"), *options)
    assert result.exit_code == 0, result.output
    return folder / "plan"


def write_plan(folder: Path, plan: Plan, settings: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document = json.loads(plan.to_json())
    if settings is not None:
        document["apply"] = settings
    (folder / "plan.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def catalog(dsn: str) -> list[tuple[object, ...]]:
    """What an application sees of the schema, read independently of bgmigrate's own record."""
    return rows(
        dsn,
        """
        SELECT 'col', table_name, column_name, data_type, is_nullable FROM information_schema.columns
            WHERE table_schema = 'public'
        UNION ALL SELECT 'rel', relname, relkind::text, '', '' FROM pg_class
            WHERE relnamespace = 'public'::regnamespace
        UNION ALL SELECT 'con', conrelid::regclass::text, conname, '', '' FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace
        UNION ALL SELECT 'trg', tgrelid::regclass::text, tgname, '', '' FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL SELECT 'fn', proname, '', '', '' FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        ORDER BY 1, 2, 3
        """,
    )


def apply_all(plan_dir: Path, dsn: str) -> None:
    for phase in ("expand", "migrate", "contract"):
        result = apply_cli(plan_dir, phase, dsn, "--confirm-old-version-retired")
        assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- preconditions (issue 9 C1)


@pytest.mark.parametrize(
    ("migration", "options", "expected"),
    [
        # expand adds the column, contract makes it NOT NULL: its precondition is about the added column.
        (
            "ALTER TABLE t ADD COLUMN c integer;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;",
            ("--backfill", "c=0"),
            ("c", "integer", "NO"),
        ),
        # expand adds the column, a later phase retypes it.
        (
            "ALTER TABLE t ADD COLUMN c integer;\nALTER TABLE t ALTER COLUMN c TYPE bigint;",
            (),
            ("c", "bigint", "YES"),
        ),
    ],
)
def test_a_precondition_an_earlier_step_produces_is_checked_when_that_step_ran(
    pg_dsn: str, tmp_path: Path, migration: str, options: tuple[str, ...], expected: tuple[str, str, str]
) -> None:
    execute(pg_dsn, TABLE)
    execute(pg_dsn, SEED)
    plan_dir = plan_migration(tmp_path, migration, *options)
    apply_all(plan_dir, pg_dsn)
    column = rows(
        pg_dsn,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 't' AND column_name = %s",
        (expected[0],),
    )
    assert column == [expected]


def test_a_produced_precondition_is_still_verified_after_the_phase_that_produces_it(
    pg_dsn: str, tmp_path: Path
) -> None:
    execute(pg_dsn, TABLE)
    plan = Plan(
        id="0020_produced",
        source="migrations/0020_produced.sql",
        # c is produced by expand's step; the step adds it under another name by mistake.
        preconditions=(check("column_exists", "t", "c"),),
        phases=(
            Phase(
                name="expand",
                steps=(sql("add t.c", "ALTER TABLE t ADD COLUMN c integer; ALTER TABLE t RENAME COLUMN c TO d"),),
            ),
        ),
    )
    result = apply_cli(write_plan(tmp_path, plan), "expand", pg_dsn)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "checks do not hold: " in line and ": column t.c does not exist; to fix: " in line


def test_a_precondition_no_step_produces_still_refuses_before_any_change(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    plan = Plan(
        id="0021_missing",
        source="migrations/0021_missing.sql",
        preconditions=(check("column_exists", "t", "zzz"),),
        phases=(Phase(name="expand", steps=(sql("add t.c", "ALTER TABLE t ADD COLUMN c integer"),)),),
    )
    result = apply_cli(write_plan(tmp_path, plan), "expand", pg_dsn)
    assert result.exit_code == 3
    assert "column t.zzz does not exist" in one_error_line(result)
    assert scalar(pg_dsn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'c'") == 0


# --------------------------------------------------------------------------- rollback (issue 9 C8)


def test_rollback_of_a_phase_without_rollback_sql_truly_undoes_it(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    execute(pg_dsn, SEED)
    plan_dir = plan_migration(
        tmp_path, "ALTER TABLE t ADD COLUMN c integer;\nALTER TABLE t ALTER COLUMN c SET NOT NULL;", "--backfill", "c=0"
    )
    before = catalog(pg_dsn)
    assert apply_cli(plan_dir, "expand", pg_dsn).exit_code == 0
    assert catalog(pg_dsn) != before
    result = apply_cli(plan_dir, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 0, result.output
    assert "the schema is as it was before expand" in result.output
    assert catalog(pg_dsn) == before
    assert phase_statuses(pg_dsn, "0002_change") == {"expand": "rolled_back"}


# Steps without rollback SQL, one per kind of object a phase can create or change.
EVERY_KIND = (
    sql("add a column", "ALTER TABLE t ADD COLUMN c integer"),
    sql("add a table", "CREATE TABLE side (id int PRIMARY KEY, t_id bigint REFERENCES t)"),
    sql("add a view", "CREATE VIEW t_view AS SELECT id, c FROM t"),
    sql("add a function", "CREATE FUNCTION t_touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$"),
    sql("add a trigger", "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION t_touch()"),
    sql("add a check", "ALTER TABLE t ADD CONSTRAINT t_b_positive CHECK (b >= 0) NOT VALID"),
    sql("forbid NULL", "ALTER TABLE t ALTER COLUMN a SET NOT NULL"),
    sql("add a sequence", 'CREATE SEQUENCE "odd ""name""\nDROP TABLE t"'),
    sql("add an enum type", "CREATE TYPE mood AS ENUM ('calm')"),
    sql("add a domain", "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)"),
)


def test_rollback_undoes_every_kind_of_object_a_phase_added(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    execute(pg_dsn, SEED)
    index = replace(sql("add an index", "CREATE INDEX CONCURRENTLY t_a_idx ON t (a)"), transactional=False)
    steps = (*EVERY_KIND, index)
    plan = Plan(id="0022_every_kind", source="m/0022.sql", phases=(Phase(name="expand", steps=steps),))
    plan_dir = write_plan(tmp_path, plan)
    before = catalog(pg_dsn)
    assert apply_cli(plan_dir, "expand", pg_dsn).exit_code == 0
    result = apply_cli(plan_dir, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 0, result.output
    assert catalog(pg_dsn) == before
    assert scalar(pg_dsn, "SELECT count(*) FROM pg_type WHERE typname IN ('mood', 'positive')") == 0
    assert scalar(pg_dsn, "SELECT count(*) FROM t") == 300  # the table the odd name spells out is intact


@pytest.mark.parametrize(
    ("step", "left"),
    [
        (sql("drop a column", "ALTER TABLE t DROP COLUMN b"), "column public.t.b is gone"),
        (sql("retype a column", "ALTER TABLE t ALTER COLUMN b TYPE bigint"), "column public.t.b changed"),
    ],
)
def test_rollback_that_cannot_restore_says_exactly_what_is_left_and_fails(
    pg_dsn: str, tmp_path: Path, step: Step, left: str
) -> None:
    execute(pg_dsn, TABLE)
    plan = Plan(id="0023_lossy", source="m/0023.sql", phases=(Phase(name="expand", steps=(step,)),))
    plan_dir = write_plan(tmp_path, plan)
    assert apply_cli(plan_dir, "expand", pg_dsn).exit_code == 0
    result = apply_cli(plan_dir, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "NOT fully rolled back" in line and left in line
    assert "as it was before" not in result.output
    assert phase_statuses(pg_dsn, "0023_lossy") == {"expand": "rolling_back"}


def test_rollback_never_drops_what_others_built_on_it_and_says_so(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    plan = Plan(
        id="0024_depended_on",
        source="m/0024.sql",
        phases=(Phase(name="expand", steps=(sql("add a column", "ALTER TABLE t ADD COLUMN c integer"),)),),
    )
    plan_dir = write_plan(tmp_path, plan)
    assert apply_cli(plan_dir, "expand", pg_dsn).exit_code == 0
    execute(pg_dsn, "CREATE VIEW report AS SELECT c FROM t")  # someone else's object uses the column
    result = apply_cli(plan_dir, "expand", pg_dsn, "--rollback")
    assert result.exit_code == 2
    assert "column public.t.c was added" in one_error_line(result)
    assert scalar(pg_dsn, "SELECT count(*) FROM pg_views WHERE viewname = 'report'") == 1
    # Once the operator removed the view, a re-run finishes and can say so.
    execute(pg_dsn, "DROP VIEW report")
    again = apply_cli(plan_dir, "expand", pg_dsn, "--rollback")
    assert again.exit_code == 0, again.output
    assert "as it was before expand" in again.output
    assert scalar(pg_dsn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'c'") == 0


# --------------------------------------------------------------------------- status --verify (issue 9 C9)


@pytest.mark.parametrize("recipe", [RENAME, CHANGE_TYPE, NOT_NULL], ids=lambda r: r.name)
def test_status_verify_of_a_fully_applied_plan_passes(pg_dsn: str, tmp_path: Path, recipe: Recipe) -> None:
    execute(pg_dsn, recipe.setup)
    execute(pg_dsn, recipe.seed)
    apply_all(recipe.plan_into(tmp_path), pg_dsn)
    report = json.loads(cli("status", "--dsn", pg_dsn, "--format", "json", "--verify").output)
    (plan,) = report["plans"]
    assert [(p["phase"], p["verified"]) for p in plan["phases"]] == [
        ("expand", True),
        ("migrate", True),
        ("contract", True),
    ]
    text = cli("status", "--dsn", pg_dsn, "--verify").output
    assert "NOT verified" not in text and "✗" not in text


def test_status_verify_after_contract_still_catches_damage(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, NOT_NULL.setup)
    execute(pg_dsn, NOT_NULL.seed)
    apply_all(NOT_NULL.plan_into(tmp_path), pg_dsn)
    execute(pg_dsn, "ALTER TABLE accounts ALTER COLUMN email DROP NOT NULL")  # undone by hand
    report = json.loads(cli("status", "--dsn", pg_dsn, "--format", "json", "--verify").output)
    contract = report["plans"][0]["phases"][2]
    assert contract["verified"] is False
    assert [c["found"] for c in contract["checks"] if not c["ok"]] == ["column accounts.email allows NULL"]


# --------------------------------------------------------------------------- lock_timeout (issue 9 C12)


class Reader(threading.Thread):
    """An application reading the table in a loop; keeps its slowest query."""

    def __init__(self, dsn: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.slowest, self.halt = dsn, 0.0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.halt.is_set():
                started = time.monotonic()
                conn.execute("SELECT count(*) FROM t").fetchall()
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.01)


def one_locking_step(tmp_path: Path, settings: dict[str, object] | None = None) -> Path:
    step = sql("drop t.a", "ALTER TABLE t DROP COLUMN a", lock="ACCESS EXCLUSIVE")
    plan = Plan(id="0025_lock", source="m/0025.sql", phases=(Phase(name="expand", steps=(step,)),))
    return write_plan(tmp_path, plan, settings)


def hold_table(dsn: str, seconds: float) -> threading.Thread:
    """Another session holding ACCESS SHARE on ``t`` (a long report) for ``seconds``."""

    def hold() -> None:
        with psycopg.connect(dsn) as conn:
            conn.execute("SELECT count(*) FROM t")
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    time.sleep(0.2)
    return thread


def test_by_default_a_waiting_lock_does_not_queue_the_application_for_long(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    plan_dir = one_locking_step(tmp_path)
    reader = Reader(pg_dsn)
    reader.start()
    holder = hold_table(pg_dsn, 2.5)
    try:
        result = apply_cli(plan_dir, "expand", pg_dsn)  # the defaults, as users run it
    finally:
        holder.join()
        reader.halt.set()
        reader.join()
    assert result.exit_code == 0, result.output
    assert "lock timeout; retry 1/" in result.output
    assert reader.slowest < 0.8, reader.slowest


def test_the_plan_sets_lock_timeout_and_retries_and_the_command_line_wins(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    plan_dir = one_locking_step(tmp_path, {"lock_timeout": "100ms", "retries": 0})
    holder = hold_table(pg_dsn, 1.5)
    try:
        started = time.monotonic()
        refused = apply_cli(plan_dir, "expand", pg_dsn)
        assert time.monotonic() - started < 1.0  # no retries: the plan's setting was used
        assert refused.exit_code == 2 and "lock timeout" in one_error_line(refused)
        result = apply_cli(plan_dir, "expand", pg_dsn, "--retries", "20", "--retry-delay", "0.2s")
    finally:
        holder.join()
    assert result.exit_code == 0, result.output


def test_a_bad_apply_setting_in_the_plan_is_one_line_naming_the_file(pg_dsn: str, tmp_path: Path) -> None:
    plan_dir = one_locking_step(tmp_path, {"lock_timout": "1s"})
    result = apply_cli(plan_dir, "expand", pg_dsn)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "plan.json" in line and "unknown setting 'lock_timout'" in line


# --------------------------------------------------------------------------- failure messages (issue 9)


def test_a_failed_row_precondition_says_which_rows_and_what_to_do(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, TABLE)
    execute(pg_dsn, SEED)  # 'row 10' … 'row 300' do not fit varchar(5)
    plan_dir = plan_migration(tmp_path, "ALTER TABLE t ALTER COLUMN a TYPE varchar(5)")
    result = apply_cli(plan_dir, "expand", pg_dsn)
    assert result.exit_code == 3
    line = one_error_line(result)
    assert "expand preconditions do not hold: every value of t.a fits varchar(5)" in line
    assert "291 rows found (first keys: " in line and ", …)" in line
    assert "to fix: list them with `SELECT id FROM t WHERE NOT (char_length(CAST(a AS text)) <= 5)`" in line
    assert phase_statuses(pg_dsn, "0002_change") == {}
    execute(pg_dsn, "UPDATE t SET a = left(a, 5)")  # the recipe: correct them, then re-run
    assert apply_cli(plan_dir, "expand", pg_dsn).exit_code == 0
