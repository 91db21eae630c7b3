"""One recipe per hazard: lint's fix text is the planner's rewrite of the statement (issue 13).

The agreement test lints every bad example of every rule the planner rewrites, the way
`bgmigrate lint` does (the recipe source handed in), runs `bgmigrate plan` on the same SQL in a
folder (its setup as the earlier migration), and checks the finding's fix against plan.json:
every phase and every statement of the steps that came from the finding's line, or the
planner's refusal.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.examples import _migration
from bgmigrate.lint.catalogue import Example, load_catalogue
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.findings import Finding
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.lint_recipes import MAX_LINES, PLACEHOLDER, RULES, PlannerRecipes
from bgmigrate.sql.statements import split_sql

CATALOGUE = load_catalogue()
HEADER = "bgmigrate plan rewrites it:"


def _cases() -> list[tuple[str, int, Example]]:
    return [
        (rule, n, example)
        for rule in sorted(RULES)
        for n, example in enumerate(CATALOGUE.entries[rule].bad)
        if example.format == "sql" and not example.schema and not example.observed
    ]


def lint_with_recipes(example: Example, rule: str) -> list[Finding]:
    """The example linted as `bgmigrate lint` lints it: setup first, the planner's recipes handed in."""
    settings = LintSettings(
        pg_version=example.pg_version or 15, assume_in_transaction=bool(example.assume_in_transaction), select=(rule,)
    )
    migrations = [load_sql("setup.sql", example.setup, assume_in_transaction=False)] if example.setup.strip() else []
    migrations.append(_migration(example, settings))
    findings, _ = lint_migrations(
        migrations, CATALOGUE, settings, select_rules(CATALOGUE, settings),
        report={migrations[-1].path}, recipes=PlannerRecipes(),
    )  # fmt: skip
    return [f for f in findings if f.rule == rule]


def run_plan(tmp_path: Path, example: Example) -> tuple[int, str, dict[str, object] | None]:
    """`bgmigrate plan` on the example in a folder: exit status, output, plan.json.

    Where the planner asks for ``--backfill COL=SQL_EXPR``, it is given the placeholder lint's
    recipe shows, as a person would give the real value.
    """
    folder = tmp_path / "migrations"
    folder.mkdir()
    if example.setup.strip():
        (folder / "0001_setup.sql").write_text(example.setup, encoding="utf-8")
    (folder / "0002_change.sql").write_text(example.sql, encoding="utf-8")
    args = ["plan", str(folder / "0002_change.sql"), "--out", str(tmp_path / "out")]
    if example.pg_version:
        args += ["--pg-version", str(example.pg_version)]
    for _ in range(4):
        done = CliRunner().invoke(main, args)
        asked = re.search(r"give --backfill (\S+?)=SQL_EXPR", done.output)
        if done.exit_code == 0 or asked is None:
            break
        args += ["--backfill", f"{asked[1]}={PLACEHOLDER}"]
    plan_json = tmp_path / "out" / "plan.json"
    plan = json.loads(plan_json.read_text(encoding="utf-8")) if done.exit_code == 0 else None
    return done.exit_code, done.output, plan


def statement_heads(sql: str) -> list[str]:
    """The start of each statement's first line (what an abbreviated recipe must show)."""
    heads = []
    for statement in split_sql(sql):
        lines = [line for line in statement.text.splitlines() if line.strip() and not line.lstrip().startswith("--")]
        if lines and not lines[0].upper().startswith("DO "):
            heads.append(lines[0].strip().rstrip(";")[:40])
    return heads


def steps_from(plan: dict[str, object], line: int) -> list[tuple[str, list[str]]]:
    """(phase, statement heads) of the steps the plan made of the statement at ``line``."""
    found = []
    phases = plan["phases"]
    assert isinstance(phases, list)
    for phase in phases:
        heads: list[str] = []
        for step in phase["steps"]:
            if step["source_line"] != line:
                continue
            fill = step["backfill"]
            heads += [f"UPDATE {fill['table']} SET"] if fill else statement_heads(step["sql"])
        if heads:
            found.append((phase["name"], heads))
    return found


@pytest.mark.parametrize(("rule", "n", "example"), _cases(), ids=[f"{r}-{n}" for r, n, _ in _cases()])
def test_fix_is_what_plan_writes_for_the_same_sql(tmp_path: Path, rule: str, n: int, example: Example) -> None:
    findings = lint_with_recipes(example, rule)
    assert findings, f"bad example {n} of {rule} raises no finding"
    finding = findings[-1]
    if "created again" in finding.message:
        # Judged with a later statement of the migration (an object dropped and created again in
        # another shape): no recipe planned from the drop alone may stand in for the rule's own.
        assert not finding.fix.startswith(HEADER), finding.fix
        return
    status, output, plan = run_plan(tmp_path, example)
    if plan is None:
        assert status == 2, output
        reason = output.removeprefix("bgmigrate: error: ").strip()
        if "would ship" in reason:
            # The planner carries the statement over and its own lint of the phases refuses:
            # no rewrite exists, and the rule's recipe (which the refusal points to) stands.
            assert not finding.fix.startswith(("No safe plan", HEADER)), finding.fix
            return
        refusal = re.sub(r"^(lines? [^:]+: )?(no safe plan: )?", "", reason)
        assert finding.fix.startswith("No safe plan for this statement:"), finding.fix
        assert refusal[:60] in " ".join(finding.fix.split()), (refusal, finding.fix)
        return
    phases = steps_from(plan, finding.line)
    as_written = all(name == "expand" for name, _ in phases) and plan["rewrites"] == []
    if not phases or (as_written and len(phases[0][1]) == 1 and not finding.fix.startswith(HEADER)):
        return  # carried over as written: the rule keeps its own fix
    assert finding.fix.startswith(HEADER), finding.fix
    lines = finding.fix.splitlines()
    shown = 0
    for name, heads in phases:
        assert any(line.startswith(f"{name} (") for line in lines), (name, finding.fix)
        for head in heads:
            if shown < MAX_LINES:
                assert head in finding.fix, (head, finding.fix)
            shown += 1


def test_every_rewritten_rule_is_exercised() -> None:
    """Each rule the planner rewrites has a bad example the agreement test runs."""
    assert {rule for rule, _, _ in _cases()} == RULES


# ---- the text stays readable -----------------------------------------------------------------


def test_long_recipes_are_capped_and_point_to_plan() -> None:
    indexes = "".join(f"CREATE INDEX orders_status_{i}_idx ON orders (status, id);\n" for i in range(15))
    example = Example(
        kind="bad",
        setup=f"CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL);\n{indexes}",
        sql="ALTER TABLE orders RENAME COLUMN status TO state;",
    )
    (finding,) = lint_with_recipes(example, "rename-column")
    lines = finding.fix.splitlines()
    assert any(line.strip().startswith("… ") and line.strip().endswith(" more") for line in lines), finding.fix
    assert len([line for line in lines if line.startswith("   ") and not line.startswith("   … ")]) == MAX_LINES
    assert lines[-1] == "Every step with its locks and checks: bgmigrate plan FILE --out DIR"
    assert all(len(line) <= 100 for line in lines)


def test_a_refusal_is_the_planners_and_names_the_general_recipe() -> None:
    example = Example(kind="bad", sql="ALTER TABLE users RENAME COLUMN email TO email_address;")
    (finding,) = lint_with_recipes(example, "rename-column")
    assert finding.fix == (
        "No safe plan for this statement: the type of users.email is not known: give --schema/--dsn, or plan the "
        "migration inside the folder whose earlier migrations create the table\n"
        "The general recipe: bgmigrate explain rename-column"
    )


def test_a_value_only_the_user_knows_is_a_placeholder() -> None:
    example = Example(
        kind="bad",
        setup="CREATE TABLE orders (id bigint PRIMARY KEY);",
        sql="ALTER TABLE orders ADD COLUMN currency char(3) NOT NULL;",
    )
    (finding,) = lint_with_recipes(example, "add-required-column")
    assert "UPDATE orders SET currency = <value> WHERE currency IS NULL;  -- batches of 1000" in finding.fix
    assert "<value>: the value for rows where currency is NULL (plan --backfill COL=SQL_EXPR)" in finding.fix


def test_quoted_names_are_the_users_and_quoted() -> None:
    example = Example(
        kind="bad",
        setup='CREATE TABLE shop."Order" (id bigint PRIMARY KEY, "Status" text);',
        sql='ALTER TABLE shop."Order" RENAME "Status" TO status;',
    )
    (finding,) = lint_with_recipes(example, "rename-column")
    assert 'ALTER TABLE shop."Order" ADD COLUMN status text;' in finding.fix
    assert 'ALTER TABLE shop."Order" DROP COLUMN "Status";' in finding.fix


# ---- through the command: the cache, and the layers ------------------------------------------

RENAME = "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"


def lint_json(cwd: Path, *extra: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "bgmigrate", "lint", "migrations", "--format", "json", *extra],
        capture_output=True, text=True, cwd=cwd, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_a_cache_hit_gives_the_planners_fix_like_a_cold_run(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001.sql").write_text(RENAME, encoding="utf-8")
    (folder / "0002.sql").write_text("ALTER TABLE users RENAME COLUMN email TO mail;\n", encoding="utf-8")
    cold, warm = lint_json(tmp_path), lint_json(tmp_path)
    uncached = lint_json(tmp_path, "--no-cache")
    assert cold == warm == uncached
    findings = cold["findings"]
    assert isinstance(findings, list)
    (rename,) = [f for f in findings if f["rule"] == "rename-column"]
    assert rename["fix"].startswith(HEADER) and "ALTER TABLE users ADD COLUMN mail text;" in rename["fix"]
    # A new file after a cached one: resumed from the stored schema, the same fix as cold.
    (folder / "0003.sql").write_text("ALTER TABLE users RENAME COLUMN id TO user_id;\n", encoding="utf-8")
    resumed, fresh = lint_json(tmp_path), lint_json(tmp_path, "--no-cache")
    assert resumed == fresh


def test_library_lint_without_a_recipe_source_keeps_the_rules_fix(tmp_path: Path) -> None:
    from bgmigrate.project.run import LintRequest, run_lint

    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001.sql").write_text(RENAME + "ALTER TABLE users RENAME COLUMN email TO mail;\n", encoding="utf-8")
    (folder / "0002.sql").write_text("ALTER TABLE users RENAME COLUMN email TO mail;\n", encoding="utf-8")
    (folder / "0002.sql").write_text("ALTER TABLE users DROP COLUMN mail;\n", encoding="utf-8")
    request = LintRequest(paths=(str(folder / "0002.sql"),), use_cache=False)
    plain, _ = run_lint(request)
    planned, _ = run_lint(request, recipes=PlannerRecipes())
    assert plain.findings[0].fix.startswith("1. Release code that no longer reads or writes mail")
    assert (
        planned.findings[0].fix.startswith(HEADER) and "ALTER TABLE users DROP COLUMN mail;" in planned.findings[0].fix
    )


def test_a_clean_lint_never_loads_the_planners_passes(tmp_path: Path) -> None:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001.sql").write_text(RENAME, encoding="utf-8")
    probe = (
        "import sys\nfrom bgmigrate.cli import main\n"
        "try:\n    main(['lint', 'migrations', '--no-cache'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('LOADED' if 'bgmigrate.plan.passes' in sys.modules else 'LIGHT')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.stdout.strip().splitlines()[-1] == "LIGHT", done.stdout + done.stderr


# ---- names the plan creates, checked against the whole schema ---------------------------------

# Lint plans a statement against only the tables it touches; the names its plan creates are
# still checked against every table and index, as `bgmigrate plan` checks them (issue: guard names).
ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, code text UNIQUE, status text);\n"
ELSEWHERE = "CREATE TABLE archive (id bigint PRIMARY KEY, x int);\n"

# (rule, setup where an unrelated object holds the name, statement, what plan says holds it)
CLASHES = [
    # the index a CREATE INDEX builds concurrently
    ("non-concurrent-index", "CREATE INDEX orders_status_idx ON archive (x);",
     "CREATE INDEX orders_status_idx ON orders (status);", "index orders_status_idx"),
    ("non-concurrent-index", "CREATE TABLE orders_status_idx (id int);",
     "CREATE INDEX orders_status_idx ON orders (status);", "table orders_status_idx"),
    # the index behind a UNIQUE constraint
    ("unique-without-index", "CREATE TABLE orders_status_key (id int);",
     "ALTER TABLE orders ADD CONSTRAINT orders_status_key UNIQUE (status);", "table orders_status_key"),
    # the temporary index the planner invents to carry a unique key over to a replacement column
    ("rename-column", "CREATE INDEX bgm_orders_code_key ON archive (x);",
     "ALTER TABLE orders RENAME COLUMN code TO sku;", "index bgm_orders_code_key"),
    # a table's new name
    ("rename-table", "CREATE INDEX purchases ON archive (x);",
     "ALTER TABLE orders RENAME TO purchases;", "index purchases"),
    # the sync function the planner installs (a zero-argument function of that name exists)
    ("rename-column", "CREATE FUNCTION bgm_sync_orders_sku() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;",
     "ALTER TABLE orders RENAME COLUMN code TO sku;",
     "function bgm_sync_orders_sku (PostgreSQL refuses a second one if it too takes no arguments)"),
    # a table's new name, held by a type (the table's row type would clash with it)
    ("rename-table", "CREATE TYPE purchases AS ENUM ('a');",
     "ALTER TABLE orders RENAME TO purchases;", "type purchases"),
    # the sync trigger's name, held by a trigger on the same table
    ("rename-column", "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
     "CREATE TRIGGER bgm_sync_sku BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f();",
     "ALTER TABLE orders RENAME COLUMN code TO sku;", "trigger bgm_sync_sku on orders"),
    # in another schema than public
    ("non-concurrent-index", "CREATE SCHEMA shop; CREATE TABLE shop.t (a int); CREATE INDEX i ON shop.t (a);\n"
     "CREATE TABLE shop.u (b int);", "CREATE INDEX i ON shop.u (b);", "index shop.i"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "held", "sql", "holder"), CLASHES, ids=[f"{c[0]}-{c[3]}" for c in CLASHES])
def test_a_name_held_elsewhere_in_the_schema_is_the_planners_refusal(
    tmp_path: Path, rule: str, held: str, sql: str, holder: str
) -> None:
    example = Example(kind="bad", setup=ORDERS + ELSEWHERE + held, sql=sql)
    status, output, plan = run_plan(tmp_path, example)
    assert status == 2 and plan is None, output
    assert f"while {holder} still exists" in output, output
    (finding,) = lint_with_recipes(example, rule)
    assert finding.fix.startswith("No safe plan for this statement:"), finding.fix
    assert f"while {holder} still exists" in " ".join(finding.fix.split()), finding.fix
    reason = re.sub(r"^bgmigrate: error: (lines? [^:]+: )?(no safe plan: )?", "", output.strip())
    assert " ".join(finding.fix.split()).startswith(f"No safe plan for this statement: {reason}"), (reason, finding.fix)


# Names PostgreSQL keeps per table (columns, CHECK constraints, triggers): the same name on an
# unrelated table holds nothing, and neither `bgmigrate plan` nor lint's fix refuses it.
PER_TABLE = [
    ("rename-column", "CREATE TABLE other (sku text);", "ALTER TABLE orders RENAME COLUMN code TO sku;"),
    ("rename-column",
     "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
     "CREATE TRIGGER bgm_sync_sku BEFORE INSERT ON archive FOR EACH ROW EXECUTE FUNCTION f();",
     "ALTER TABLE orders RENAME COLUMN code TO sku;"),
    ("set-not-null", "ALTER TABLE archive ADD CONSTRAINT bgm_orders_status_not_null CHECK (x IS NOT NULL);",
     "ALTER TABLE orders ALTER COLUMN status SET NOT NULL;"),
    # the unique key's own name: dropped and taken again on the same table, in contract
    ("rename-column", "", "ALTER TABLE orders RENAME COLUMN code TO sku;"),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "held", "sql"), PER_TABLE, ids=[f"{c[0]}-{n}" for n, c in enumerate(PER_TABLE)])
def test_a_name_another_table_holds_for_itself_is_free(tmp_path: Path, rule: str, held: str, sql: str) -> None:
    example = Example(kind="bad", setup=ORDERS + ELSEWHERE + held, sql=sql)
    status, output, plan = run_plan(tmp_path, example)
    assert status == 0 and plan is not None, output
    (finding,) = lint_with_recipes(example, rule)
    assert finding.fix.startswith(HEADER), finding.fix
