"""Hostile names, planned and applied on a real PostgreSQL: no name ever becomes executable SQL.

hypothesis makes table, column and index names out of newlines, carriage returns, ``*/``, ``--``,
``;``, quotes, dollar quotes, backslashes, escape sequences, ``%`` and multibyte characters up
to the 63-byte limit. For three migrations (rename a column, change its type, add a required
column) each example runs ``bgmigrate plan --dsn`` and ``bgmigrate apply`` for every phase in a
fresh database, writes through both shapes while the trigger is installed, and then asserts:

* the catalog holds exactly the intended objects after expand and after contract (pg_class,
  pg_attribute, pg_trigger, pg_proc, pg_constraint), and a decoy table the names try to drop
  is still there with its row;
* every phase file runs exactly the plan's statements (no comment spilled into code), every
  Alembic revision is the same Python module shape as for plain names, and PLAN.md and every
  printed message have as many lines as for plain names, with no control character.
"""

from __future__ import annotations

import ast
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st
from pg import PgServer
from psycopg import sql

from bgmigrate.cli import main
from bgmigrate.plan.contract_guard import contract_guard
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.render_alembic import render_alembic
from bgmigrate.plan.render_sql import HEADER_SET, backfill_sql
from bgmigrate.sql.implicit_names import constraint_name
from bgmigrate.sql.statements import split_sql

HOSTILE = [
    "\n", "\r", "\r\n", "*/", "/*", "--", ";", "'", '"', "$$", "$bgmigrate$", "\\", " ", "\t", "DROP TABLE decoy;",
    "é", "€", "😀", "\u2028", "\u202e", "\x1b[2J", ".", "`", "[bold]", "%s", "%(upper)s", ":x", "#", "A", "_",
    "select", "$1", "\"\"\"", "\\N",
]  # fmt: skip
MAX_BYTES = 63
_fragment = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=4),
)


def _fits(name: str) -> bool:
    return 0 < len(name.encode()) <= MAX_BYTES


def _pad_to_limit(name: str) -> str:
    """``name`` padded with two-byte characters to 62 or 63 bytes: a derived name must cut it safely."""
    while len(name.encode()) + 2 <= MAX_BYTES:
        name += "é"
    return name


def _past_limit(name: str) -> str:
    """``name`` padded past 63 bytes: PostgreSQL cuts it (and bgmigrate must cut it alike)."""
    while len(name.encode()) <= MAX_BYTES + 8:
        name += "€"
    return name


_short = st.lists(_fragment, min_size=1, max_size=6).map("".join).filter(_fits)
NAMES = st.one_of(_short, _short.map(_pad_to_limit).filter(_fits))
ANY_LENGTH = st.one_of(NAMES, _short.map(_past_limit))


def stored(name: str) -> str:
    """The name as PostgreSQL stores it: its first 63 bytes, never half a character."""
    return name.encode()[:MAX_BYTES].decode(errors="ignore")


ROWS = [(1, 10), (2, None), (3, 30)]
PHASES = ("expand", "migrate", "contract")


@dataclass
class Catalog:
    """What the test database holds, by name (bgmigrate's own state schema left out)."""

    classes: set[tuple[str, str]] = field(default_factory=set)
    columns: set[tuple[str, str, str, bool]] = field(default_factory=set)
    triggers: set[tuple[str, str]] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    constraints: set[tuple[str, str, str]] = field(default_factory=set)


_USER = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'bgmigrate')"


def catalog(dsn: str) -> Catalog:
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = Catalog()
        for relname, kind in conn.execute(
            f"SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER}"
        ):
            found.classes.add((str(relname), str(kind)))
        for relname, attname, typ, notnull in conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE {_USER} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
        ):
            found.columns.add((str(relname), str(attname), str(typ), bool(notnull)))
        for relname, tgname in conn.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER} AND NOT t.tgisinternal"
        ):
            found.triggers.add((str(relname), str(tgname)))
        for (proname,) in conn.execute(
            f"SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER}"
        ):
            found.functions.add(str(proname))
        for relname, conname, contype in conn.execute(
            "SELECT c.relname, k.conname, k.contype::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER}"
        ):
            found.constraints.add((str(relname), str(conname), str(contype)))
        return found


def run(dsn: str, *statements: sql.Composable | str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def fetch(dsn: str, query: sql.Composable) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(query).fetchall()


@dataclass
class Scenario:
    """One migration over hostile names, and what must hold after expand and after contract."""

    table: str
    column: str
    other: str  # the new column (rename, add) or the index on the column (type change)
    kind: str

    def ident(self, *names: str) -> sql.Identifier:
        return sql.Identifier(*names)

    def setup(self, dsn: str) -> None:
        t, c = self.ident(self.table), self.ident(self.column)
        statements: list[sql.Composable] = [
            sql.SQL("CREATE TABLE decoy (id int); INSERT INTO decoy VALUES (1)"),
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, {} integer)").format(t, c),
        ]
        if self.kind == "type":
            statements.append(sql.SQL("CREATE INDEX {} ON {} ({})").format(self.ident(self.other), t, c))
        run(dsn, *statements)
        # Values as literals: psycopg reads a "%" inside a quoted name as a placeholder.
        for row in ROWS:
            run(dsn, sql.SQL("INSERT INTO {} VALUES ({}, {})").format(t, *map(sql.Literal, row)))

    def migration(self, conn: psycopg.Connection[Any]) -> str:
        t, c, o = (self.ident(n).as_string(conn) for n in (self.table, self.column, self.other))
        return {
            "rename": f"ALTER TABLE {t} RENAME COLUMN {c} TO {o};\n",
            "type": f"ALTER TABLE {t} ALTER COLUMN {c} TYPE bigint;\n",
            "add": f"ALTER TABLE {t} ADD COLUMN {o} integer NOT NULL;\n",
        }[self.kind]

    def plan_options(self, conn: psycopg.Connection[Any]) -> list[str]:
        if self.kind != "add":
            return []
        return ["--backfill", f"{self.other}=coalesce({self.ident(self.column).as_string(conn)}, 0) + 1"]

    def write_as_both_versions(self, dsn: str) -> None:
        """After expand, the old version writes its shape (and the new one its own, where it has one)."""
        t, c = self.ident(self.table), self.ident(self.column)
        run(dsn, sql.SQL("INSERT INTO {} (id, {}) VALUES (4, 40)").format(t, c))
        run(dsn, sql.SQL("UPDATE {} SET {} = 11 WHERE id = 1").format(t, c))
        if self.kind == "rename":
            run(dsn, sql.SQL("INSERT INTO {} (id, {}) VALUES (5, 50)").format(t, self.ident(self.other)))

    def expected_after_expand(self, before: Catalog) -> Callable[[Catalog], None]:
        def check(after: Catalog) -> None:
            assert after.classes >= before.classes
            new_classes = after.classes - before.classes
            assert new_classes == set(), new_classes  # no index is built on a new column in these cases
            assert {t for t, _ in after.triggers} == {stored(self.table)}
            assert len(after.triggers) == 1 and len(after.functions) == 1
            assert all(f.startswith("bgm_") for f in after.functions)

        return check

    def expected_after_contract(self, before: Catalog) -> Catalog:
        t, column, other = stored(self.table), stored(self.column), stored(self.other)
        columns = set(before.columns)
        if self.kind == "rename":
            columns = {(t, other if col == column else col, typ, nn) if tab == t else (tab, col, typ, nn)
                       for tab, col, typ, nn in columns}  # fmt: skip
        elif self.kind == "type":
            columns = {(tab, col, "bigint" if (tab, col) == (t, column) else typ, nn)
                       for tab, col, typ, nn in columns}  # fmt: skip
        else:
            columns.add((t, other, "integer", True))
        return Catalog(before.classes, columns, set(), set(), before.constraints)

    def check_rows(self, dsn: str) -> None:
        t = self.ident(self.table)
        final = self.other if self.kind == "rename" else self.column
        got = dict(fetch(dsn, sql.SQL("SELECT id, {} FROM {} ORDER BY id").format(self.ident(final), t)))
        expected = {1: 11, 2: None, 3: 30, 4: 40} | ({5: 50} if self.kind == "rename" else {})
        assert got == expected
        if self.kind == "add":
            added = dict(fetch(dsn, sql.SQL("SELECT id, {} FROM {} ORDER BY id").format(self.ident(self.other), t)))
            assert added == {1: 12, 2: 1, 3: 31, 4: 41}


def _printable_lines(text: str) -> list[str]:
    """The lines of an output, each checked to hold no control character."""
    lines = text.split("\n")
    bad = [line for line in lines if not line.isprintable()]
    assert bad == [], bad
    return lines


def _read(path: Path) -> str:
    """A file's text exactly: a CR inside a quoted name must not read back as a newline."""
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def _statements(text: str) -> list[str]:
    return [s.text for s in split_sql(text)]


def _check_phase_files(out: Path, plan: Plan) -> None:
    """Each phase file runs the plan's statements and nothing else."""
    for number, phase in enumerate(plan.phases, start=1):
        in_file = _statements(_read(out / f"{number:02d}_{phase.name}.sql"))
        in_file = [s for s in in_file if s not in ("BEGIN", "COMMIT", HEADER_SET.rstrip(";"))]
        guard = _statements("\n".join(contract_guard(plan.id))) if phase.name == "contract" else []
        assert in_file[: len(guard)] == guard, phase.name  # the contract file opens with its guard
        in_file = in_file[len(guard) :]
        planned: list[str] = []
        for step in phase.steps:
            planned += _statements(backfill_sql(step.backfill) if step.backfill is not None else step.sql)
        assert in_file == planned, phase.name


def _module_shape(source: str) -> list[str]:
    """The kinds of a revision's top-level statements and of each function's body."""
    tree = ast.parse(source)
    shape = [type(node).__name__ for node in tree.body]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            shape += [f"{node.name}:{type(inner).__name__}" for inner in ast.walk(node) if isinstance(inner, ast.stmt)]
    return shape


@dataclass
class Outcome:
    """Line counts and module shapes of everything the run wrote and printed."""

    printed: list[int]
    plan_md: int
    revisions: list[list[str]]


def fresh_schema(dsn: str) -> None:
    """Empty the database again: cheaper than a new database per example, and as clean."""
    run(dsn, "DROP SCHEMA IF EXISTS public, bgmigrate CASCADE", "CREATE SCHEMA public")


def run_scenario(dsn: str, scenario: Scenario) -> Outcome:
    fresh_schema(dsn)
    with tempfile.TemporaryDirectory() as tmp, psycopg.connect(dsn, autocommit=True) as conn:
        return _run_in(dsn, Path(tmp), scenario, conn)


def _run_in(dsn: str, tmp: Path, scenario: Scenario, conn: psycopg.Connection[Any]) -> Outcome:
    scenario.setup(dsn)
    before = catalog(dsn)
    migration = tmp / "0001_change.sql"
    migration.write_text(scenario.migration(conn))
    out = tmp / "plan"
    runner = CliRunner()
    planned = runner.invoke(
        main, ["plan", str(migration), "--out", str(out), "--dsn", dsn, *scenario.plan_options(conn)]
    )
    assert planned.exit_code == 0, planned.output
    printed = [len(_printable_lines(planned.output))]
    plan = Plan.from_json((out / "plan.json").read_text())
    _check_phase_files(out, plan)
    revisions = [_module_shape(text) for text in render_alembic(plan).values()]
    plan_md = len(_printable_lines(_read(out / "PLAN.md")))
    for phase in PHASES:
        extra = ["--confirm-old-version-retired"] if phase == "contract" else []
        applied = runner.invoke(main, ["apply", str(out), "--phase", phase, "--dsn", dsn, "--pause", "0", *extra])
        assert applied.exit_code == 0, f"{phase}: {applied.output}"
        printed.append(len(_printable_lines(applied.output)))
        if phase == "expand":
            scenario.expected_after_expand(before)(catalog(dsn))
            scenario.write_as_both_versions(dsn)
            assert catalog(dsn).classes >= {("decoy", "r")}
    after = catalog(dsn)
    assert after == scenario.expected_after_contract(before)
    assert fetch(dsn, sql.SQL("SELECT id FROM decoy")) == [(1,)]
    scenario.check_rows(dsn)
    return Outcome(printed, plan_md, revisions)


BASELINE_NAMES = {"rename": ("t", "c", "n"), "type": ("t", "c", "i"), "add": ("t", "c", "n")}


@pytest.fixture(scope="module")
def database(pg_server: PgServer) -> Iterator[str]:
    """One database for the module; every example starts from an empty public schema."""
    dsn = pg_server.create_database()
    try:
        yield dsn
    finally:
        pg_server.drop_database(dsn)


@pytest.fixture(scope="module")
def baselines(database: str) -> dict[str, Outcome]:
    """The same runs with plain names: hostile names must not change the shape of any output."""
    return {kind: run_scenario(database, Scenario(*names, kind)) for kind, names in BASELINE_NAMES.items()}


def _distinct(*names: str) -> bool:
    kept = {stored(n) for n in names}
    return len(kept) == len(names) and not {"id", "decoy"} & kept


# No shrinking: each example costs a database and a dozen commands; a failure shows its names as drawn.
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _compare(outcome: Outcome, baseline: Outcome) -> None:
    assert outcome.printed == baseline.printed
    assert outcome.plan_md == baseline.plan_md
    assert outcome.revisions == baseline.revisions


@SETTINGS
@given(table=ANY_LENGTH, column=ANY_LENGTH, new=ANY_LENGTH)
@example(table="t%(upper)s", column="c%s\n-- x", new="n$bgmigrate$")  # placeholders psycopg must not read
def test_rename_column_with_hostile_names(
    database: str, baselines: dict[str, Outcome], table: str, column: str, new: str
) -> None:
    assume(_distinct(table, column, new))
    _compare(run_scenario(database, Scenario(table, column, new, "rename")), baselines["rename"])


@SETTINGS
@given(table=ANY_LENGTH, column=ANY_LENGTH, index=ANY_LENGTH)
@example(table="s.t", column='"\r\n', index="i */ DROP TABLE decoy; /*")
def test_change_type_with_hostile_names(
    database: str, baselines: dict[str, Outcome], table: str, column: str, index: str
) -> None:
    assume(_distinct(table, column, index) and stored(index) != constraint_name(stored(table), "primary_key", ()))
    _compare(run_scenario(database, Scenario(table, column, index, "type")), baselines["type"])


@SETTINGS
@given(table=ANY_LENGTH, column=ANY_LENGTH, new=NAMES)
@example(table="T;", column="c'\\", new="n$$ \x1b[2J")
def test_add_required_column_with_hostile_names(
    database: str, baselines: dict[str, Outcome], table: str, column: str, new: str
) -> None:
    # --backfill COL=EXPR cannot name a column holding "=" or starting or ending in white space.
    assume(_distinct(table, column, new) and "=" not in new and new == new.strip())
    _compare(run_scenario(database, Scenario(table, column, new, "add")), baselines["add"])


def test_the_reported_injection_is_planned_and_applied_harmlessly(database: str, baselines: dict[str, Outcome]) -> None:
    """The issue's example: a column whose name ends a generated comment and drops another table."""
    scenario = Scenario("t", "x\nDROP TABLE decoy; --*/", "y", "rename")
    _compare(run_scenario(database, scenario), baselines["rename"])


@pytest.mark.parametrize("kind", ["rename", "type"])
def test_names_past_63_bytes_are_cut_as_postgresql_cuts_them(
    database: str, baselines: dict[str, Outcome], kind: str
) -> None:
    """A migration may name a column by its full, uncut name; PostgreSQL (and the plan) use the first 63 bytes."""
    table, column = "t" + "€" * 30, "x\n" + "€" * 30  # 91 and 92 bytes; the cut falls inside a "€"
    _compare(run_scenario(database, Scenario(table, column, "y" + "é" * 40, kind)), baselines[kind])
