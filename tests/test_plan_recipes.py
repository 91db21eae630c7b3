"""Every recipe, checked for the planner's invariants on every fixture under fixtures/plans/.

A fixture folder holds the migrations before the change (``001_*.sql``), the migration to plan
(the last numbered file), sample rows (``data.sql``) and planning options (``case.toml``).
Invariants: every phase parses; linting the phases in order raises no error; planning a phase
file again rewrites nothing (and the expand file plans to itself); and on real PostgreSQL,
expand + migrate + contract leave the schema the original migration leaves.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import parse_migration
from bgmigrate.lint.findings import Severity
from bgmigrate.model.migration import Migration
from bgmigrate.parse.source import load_sql
from bgmigrate.plan import invariants
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Backfill, Check, Plan
from bgmigrate.plan.request import PlanRequest, parse_backfill
from bgmigrate.project.ordering import order_sql_files
from bgmigrate.sql.statements import split_sql

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plans"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and not p.name.startswith("_"))


@dataclass(frozen=True)
class Case:
    name: str
    setup: tuple[Migration, ...]
    migration: Migration
    data: str
    request: PlanRequest

    def knowledge(self, *more: Migration) -> Knowledge:
        knowledge = Knowledge()
        for m in (*self.setup, *more):
            knowledge.learn_all(parse_migration(m)[0], m.path)
        return knowledge

    def plan(self) -> Plan:
        operations, errors = parse_migration(self.migration)
        assert not errors
        return plan_operations(operations, self.knowledge(), self.request)


@cache
def load_case(name: str) -> Case:
    folder = FIXTURES / name
    files = order_sql_files(p for p in folder.glob("*.sql") if p.name != "data.sql")
    options: dict[str, Any] = {}
    if (folder / "case.toml").exists():
        options = tomllib.loads((folder / "case.toml").read_text())
    migrations = [load_sql(f"{name}/{p.name}", p.read_text()) for p in files]
    request = PlanRequest(
        id=f"{name}_plan",
        source=migrations[-1].path,
        backfill=tuple(parse_backfill(b) for b in options.get("backfill", [])),
    )
    data = (folder / "data.sql").read_text() if (folder / "data.sql").exists() else ""
    return Case(name, tuple(migrations[:-1]), migrations[-1], data, request)


def phase_file(plan: Plan, phase: str) -> Migration:
    return next(m for m in invariants.phase_migrations(plan) if m.path.endswith(f"_{phase}.sql"))


# ---- pure invariants ------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_every_phase_parses(name: str) -> None:
    assert invariants.parse_errors(load_case(name).plan()) == []


@pytest.mark.parametrize("name", CASES)
def test_lint_of_the_phases_raises_no_error(name: str) -> None:
    case = load_case(name)
    findings = invariants.lint_phases(case.plan(), case.setup, load_catalogue())
    errors = [f for f in findings if f.severity >= Severity.ERROR]
    shown = "\n".join(f"{f.path}:{f.line} {f.severity.label} {f.rule}: {f.message}" for f in findings)
    assert not errors, shown
    # Issue 9 C4: nothing that breaks the old version before contract, at any severity.
    assert invariants.breaking_findings(findings, load_catalogue()) == [], shown
    invariants.refuse_lint_errors(findings, load_catalogue())


@pytest.mark.parametrize("name", CASES)
def test_planning_the_expand_file_again_changes_nothing(name: str) -> None:
    case = load_case(name)
    plan = case.plan()
    again = invariants.replan(plan, "expand", case.knowledge(), case.request)
    assert [s.sql for s in again.phase("expand").steps] == [s.sql for s in plan.phase("expand").steps]
    assert again.rewrites == () or all("create index" in r for r in again.rewrites)
    assert invariants.step_statements(again, "migrate") == invariants.step_statements(again, "contract") == []


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("phase", ["migrate", "contract"])
def test_planning_a_later_phase_again_rewrites_nothing(name: str, phase: str) -> None:
    case = load_case(name)
    plan = case.plan()
    before = [
        phase_file(plan, p) for p in ("expand", "migrate", "contract")[: ("migrate", "contract").index(phase) + 1]
    ]
    again = invariants.replan(plan, phase, case.knowledge(*before), case.request)
    assert sorted(invariants.step_statements(again)) == sorted(invariants.file_statements(plan, phase))


# ---- real PostgreSQL ------------------------------------------------------------------------


def run_backfill(conn: psycopg.Connection[Any], fill: Backfill) -> int:
    """The backfill as plain UPDATEs of one key range each, every batch its own transaction."""
    last: Any = None
    updated = 0
    sets = ", ".join(f"{c} = {v}" for c, v in fill.assignments)
    while True:
        after = "" if last is None else f"WHERE {fill.key} > %(last)s"
        row = conn.execute(
            f"SELECT {fill.key} FROM (SELECT {fill.key} FROM {fill.table} {after} "
            f"ORDER BY {fill.key} LIMIT {fill.batch_size}) AS batch ORDER BY {fill.key} DESC LIMIT 1",
            {"last": last},
        ).fetchone()
        if row is None or row[0] is None:
            return updated
        lower = "" if last is None else f"{fill.key} > %(last)s AND "
        cur = conn.execute(
            f"UPDATE {fill.table} SET {sets} WHERE {lower}{fill.key} <= %(end)s AND ({fill.where})",
            {"last": last, "end": row[0]},
        )
        updated += cur.rowcount
        last = row[0]


def apply_plan(dsn: str, plan: Plan) -> None:
    """Run every step as apply would: each its own transaction (several statements in one step commit together)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for phase in plan.phases:
            for step in phase.steps:
                if step.backfill is not None:
                    run_backfill(conn, step.backfill)
                else:
                    conn.execute(step.sql)  # type: ignore[arg-type]
            for check in phase.checks:
                assert holds(conn, check), f"after {phase.name}: {check}"


_CHECKS = {
    "table_exists": "SELECT to_regclass(%(t)s) IS NOT NULL",
    "table_absent": "SELECT to_regclass(%(t)s) IS NULL",
    "column_exists": "SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(%(t)s) AND attname = %(c)s"
    " AND NOT attisdropped)",
    "column_absent": "SELECT NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(%(t)s) AND attname = %(c)s"
    " AND NOT attisdropped)",
    "column_not_null": "SELECT attnotnull FROM pg_attribute WHERE attrelid = to_regclass(%(t)s) AND attname = %(c)s",
    "trigger_exists": "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s) AND tgname = %(n)s)",
    "trigger_absent": "SELECT NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = to_regclass(%(t)s) AND tgname = %(n)s)",
    "index_valid": "SELECT indisvalid FROM pg_index JOIN pg_class i ON i.oid = indexrelid "
    "WHERE indrelid = to_regclass(%(t)s) AND i.relname = %(n)s",
    "constraint_validated": "SELECT convalidated FROM pg_constraint WHERE conrelid = to_regclass(%(t)s) AND conname = %(n)s",
}


def holds(conn: psycopg.Connection[Any], check: Check) -> bool:
    """Whether a plan's check holds in the database (the way apply and the coordinator verify it)."""
    if check.kind == "no_rows":
        return conn.execute(check.sql).fetchall() == []  # type: ignore[arg-type]
    table = ".".join(f'"{part}"' for part in check.table.split("."))
    row = conn.execute(_CHECKS[check.kind], {"t": table, "c": check.column, "n": check.name}).fetchone()  # type: ignore[arg-type]
    return row is not None and row[0] is True


def run_sql(dsn: str, *texts: str) -> None:
    """Run SQL files statement by statement, as psql does (CONCURRENTLY needs its own statement)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for text in texts:
            for stmt in split_sql(text):
                conn.execute(stmt.text)  # type: ignore[arg-type]


_CATALOG = {
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate') AND c.relkind IN ('r', 'v', 'p') AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.convalidated
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate')""",
    "indexes": """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisvalid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate')""",
    "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal",
    "functions": """SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate')""",
    "relations": """
        SELECT c.relname, c.relkind, CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate') AND c.relkind IN ('r', 'v', 'S', 'p')""",
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE d.deptype IN ('a', 'i')""",
}


def schema_of(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Columns, constraints, indexes, triggers, functions, relations and sequence owners, from the catalogs."""
    with psycopg.connect(dsn) as conn:
        return {key: sorted(conn.execute(sql).fetchall(), key=repr) for key, sql in _CATALOG.items()}  # type: ignore[arg-type]


@pytest.mark.parametrize("name", CASES)
def test_phases_leave_the_schema_the_original_intended(name: str, pg_dsn: str, pg_server: Any) -> None:
    case = load_case(name)
    plan = case.plan()
    run_sql(pg_dsn, *(m.text for m in case.setup), case.data)
    apply_plan(pg_dsn, plan)
    direct = pg_server.create_database()
    try:
        run_sql(direct, *(m.text for m in case.setup), case.migration.text)
        assert schema_of(pg_dsn) == schema_of(direct)
    finally:
        pg_server.drop_database(direct)


def test_the_planner_docstring_examples_hold() -> None:
    """Every pass and helper of the planner carries a doctest; run them all here."""
    import doctest
    import importlib
    import pkgutil

    import bgmigrate.plan

    failures = 0
    for info in pkgutil.iter_modules(bgmigrate.plan.__path__):
        module = importlib.import_module(f"bgmigrate.plan.{info.name}")
        failures += doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed
    assert failures == 0


@pytest.mark.parametrize("name", CASES)
def test_plan_json_round_trips(name: str) -> None:
    plan = load_case(name).plan()
    assert Plan.from_json(plan.to_json()) == plan
