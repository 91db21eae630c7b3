"""Rendering lint's fix texts from the planner leaves lint's schema alone, and skips only what no check reads.

Recipes read the schema lint replays (a focused view of it, decided table by table) and the
name guard copies it only to replay a step a later claim depends on. These tests hold the
shortcuts to their promises: the schema handed to the recipe source is the same, value for
value, after every fix; the view holds what filtering the schema at once would; and a step the
guard does not parse creates no name.
"""

from __future__ import annotations

import copy

import pytest

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Schema
from bgmigrate.model.schema_codec import schema_to_data
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.collisions import claims, may_claim
from bgmigrate.plan.lint_recipes import Admitted, PlannerRecipes, focus
from bgmigrate.plan.phases import Step
from bgmigrate.plan.testing import knowledge_of, operations_of

CATALOGUE = load_catalogue()

# Foreign keys both ways, a view renamed (an operation on no table), a column renamed under an index.
HISTORY = """
CREATE TABLE hub (id bigint PRIMARY KEY, code text UNIQUE, a int);
CREATE TABLE spoke (id bigint PRIMARY KEY, hub_id bigint REFERENCES hub (id), code text);
ALTER TABLE spoke ADD CONSTRAINT spoke_code_fkey FOREIGN KEY (code) REFERENCES hub (code);
CREATE TABLE alone (id bigint PRIMARY KEY, n int);
CREATE INDEX hub_a_idx ON hub (a);
CREATE VIEW hub_view AS SELECT id FROM hub;
"""
CHANGES = """
ALTER TABLE hub RENAME COLUMN a TO b;
ALTER TABLE hub ALTER COLUMN code TYPE varchar(50);
ALTER TABLE hub ADD COLUMN c int NOT NULL;
CREATE INDEX hub_b_idx ON hub (b);
DROP INDEX hub_a_idx;
ALTER TABLE spoke DROP COLUMN hub_id;
ALTER TABLE alone RENAME TO lonely;
ALTER VIEW hub_view RENAME TO hub_view2;
ALTER TABLE hub ALTER COLUMN c DROP DEFAULT;
DROP TABLE lonely;
"""


class Watched:
    """The planner's recipe source, checking that no call changes the schema it is given."""

    def __init__(self) -> None:
        self.inner = PlannerRecipes()
        self.key, self.rules, self.migration_ops = self.inner.key, self.inner.rules, self.inner.migration_ops
        self.rendered = 0

    def __call__(self, rule: str, op: ops.Operation, schema: Schema, settings: LintSettings) -> str | None:
        before = schema_to_data(schema)
        fix = self.inner(rule, op, schema, settings)
        assert schema_to_data(schema) == before, (rule, op.stmt.text)
        self.rendered += fix is not None
        return fix


def _lint(*texts: str, source: Watched) -> None:
    settings = LintSettings(pg_version=15)
    migrations = [load_sql(f"{n:03d}.sql", text) for n, text in enumerate(texts)]
    lint_migrations(migrations, CATALOGUE, settings, select_rules(CATALOGUE, settings), recipes=source)


def test_rendering_fixes_never_changes_the_schema_lint_keeps() -> None:
    source = Watched()
    _lint(HISTORY, CHANGES, source=source)
    for rule in sorted(source.rules):
        for example in CATALOGUE.entries[rule].bad:
            if example.format == "sql" and not example.schema:
                _lint(example.setup, example.sql, source=source)
    assert source.rendered > 40  # the fixes were the planner's, not the rules' own


@pytest.mark.parametrize("sql", [s for s in CHANGES.strip().splitlines() if "VIEW" not in s and "INDEX hub_a" not in s])
def test_the_focused_view_holds_what_filtering_at_once_would(sql: str) -> None:
    schema = knowledge_of(HISTORY).schema
    op = operations_of(sql)[0]
    view = focus(schema, op)
    assert isinstance(view.tables, Admitted)
    eager = _eager_focus(schema, op)
    in_order = [key for key in schema.tables if key in eager.tables]
    probe = focus(schema, op)  # asked one key at a time first, then whole
    assert [key for key in schema.tables if probe.tables.get(key) is not None] == in_order
    assert list(probe.tables) == in_order and dict(probe.tables) == eager.tables
    assert dict(view.tables) == eager.tables and list(view.indexes) == list(eager.indexes)
    assert copy.deepcopy(view.tables) == eager.tables and type(copy.deepcopy(view.tables)) is dict
    with pytest.raises(TypeError):
        view.tables[("public", "x")] = schema.tables[("public", "hub")]


def _eager_focus(schema: Schema, op: ops.Operation) -> Schema:
    """``focus`` as it was written before it was made lazy: every table scanned for foreign keys."""
    from bgmigrate.plan.lint_recipes import _named_by

    assert op.table is not None
    keys = {op.table.key, *_named_by(op)}
    for other in schema.tables.values():
        for con in other.constraints.values():
            if con.references is not None and op.table.key in (con.references.key, other.name.key):
                keys.update((other.name.key, con.references.key))
    return Schema(
        tables={key: schema.tables[key] for key in keys if key in schema.tables},
        indexes={key: index for key, index in schema.indexes.items() if index.table.key in keys},
    )


def _every_statement() -> list[str]:
    found = [s for s in (HISTORY + CHANGES).split(";") if s.strip()]
    for entry in CATALOGUE.entries.values():
        for example in (*entry.bad, *entry.good):
            if example.format == "sql":
                found += [s.text for s in load_sql("x.sql", example.setup + "\n" + example.sql).statements]
    return found


def test_a_step_the_guard_does_not_parse_creates_no_name() -> None:
    claiming = 0
    for text in _every_statement():
        for op in operations_of(text):
            if claims(op):
                claiming += 1
                assert may_claim(Step("sql", "d", text)), text
    assert claiming > 50
    assert not may_claim(Step("sql", "d", "ALTER TABLE orders DROP COLUMN note; DROP INDEX CONCURRENTLY i"))


@pytest.mark.parametrize(
    "sql",
    [
        *[s for s in CHANGES.strip().splitlines()],
        "ALTER TABLE hub ADD CONSTRAINT hub_pk2 PRIMARY KEY USING INDEX hub_a_idx",
        "ALTER TABLE hub SET SCHEMA archive",
        "REINDEX TABLE hub",
        "DROP TABLE alone",
        "ALTER TABLE spoke RENAME CONSTRAINT spoke_code_fkey TO spoke_code_fk",
        "ALTER SCHEMA public RENAME TO old",
        "CREATE TYPE mood AS ENUM ('a'); ALTER TYPE mood ADD VALUE 'b'",
    ],
)
def test_the_guards_copy_replays_like_a_whole_copy_and_leaves_the_schema_alone(sql: str) -> None:
    from bgmigrate.model.replay import apply
    from bgmigrate.plan.lint_recipes import own_copy, own_for

    schema = knowledge_of(HISTORY + "CREATE TYPE mood2 AS ENUM ('x');").schema
    before = schema_to_data(schema)
    replayed = operations_of(sql)
    mine, whole = own_for(schema, replayed), own_copy(schema)
    for op in replayed:
        apply(mine, op, "(plan)")
        apply(whole, op, "(plan)")
    assert schema_to_data(mine) == schema_to_data(whole)
    assert schema_to_data(schema) == before


# Names held outside the focus: unrelated tables and indexes, some of them named like what a plan
# creates, removes (DROP CONSTRAINT, USING INDEX, DROP INDEX) or keeps (IF NOT EXISTS).
ELSEWHERE = """
CREATE TABLE orders (id bigint PRIMARY KEY, code text UNIQUE, status text);
CREATE TABLE archive (id bigint PRIMARY KEY, x int);
CREATE INDEX bgm_orders_code_key ON archive (x);
CREATE INDEX orders_status_idx ON archive (x);
CREATE INDEX orders_x_key ON archive (x);
CREATE TABLE purchases_old (id int);
CREATE INDEX purchases ON purchases_old (id);
"""
AGAINST_ELSEWHERE = [
    "ALTER TABLE orders RENAME COLUMN code TO sku",
    "CREATE INDEX orders_status_idx ON orders (status)",
    "CREATE INDEX IF NOT EXISTS orders_status_idx ON orders (status)",
    "ALTER TABLE orders ADD CONSTRAINT orders_status_key UNIQUE (status)",
    "ALTER TABLE orders ADD CONSTRAINT orders_pk2 UNIQUE USING INDEX orders_x_key",
    "ALTER TABLE orders DROP CONSTRAINT orders_x_key",
    "ALTER TABLE orders RENAME TO purchases",
    "ALTER TABLE orders ALTER COLUMN code TYPE varchar(20)",
    "ALTER TABLE orders ALTER COLUMN status SET NOT NULL",
    "ALTER TABLE orders ADD COLUMN n int NOT NULL",
]


def _cases_for_the_guard() -> list[tuple[str, str]]:
    found = [(HISTORY, sql) for sql in CHANGES.strip().splitlines()]
    found += [(ELSEWHERE, sql) for sql in AGAINST_ELSEWHERE]
    for rule in sorted(PlannerRecipes().rules):
        found += [(e.setup, e.sql) for e in CATALOGUE.entries[rule].bad if e.format == "sql" and not e.schema]
    return found


def test_fixes_planned_on_the_focus_name_what_the_whole_schema_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard, replaying onto the focus and asking the rest for names, says what it says on the whole schema."""
    from bgmigrate.plan import lint_recipes

    fixes = []
    for setup, sql in _cases_for_the_guard():
        schema = knowledge_of(setup).schema
        for op in operations_of(sql):
            fixes.append((sql, lint_recipes.recipe_for(op, schema, 15)))
    monkeypatch.setattr(lint_recipes, "focus", lambda schema, _op: schema)
    whole = []
    for setup, sql in _cases_for_the_guard():
        schema = knowledge_of(setup).schema
        whole += [(sql, lint_recipes.recipe_for(op, schema, 15)) for op in operations_of(sql)]
    assert fixes == whole
    refusals = [fix for _sql, fix in fixes if fix and "still exists" in fix]
    assert len(refusals) >= 4, refusals
