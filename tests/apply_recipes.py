"""The planner's recipes as the apply tests drive them: schema, rows, migration, and two app shapes.

Each recipe is a starting schema (``setup``, replayed to the planner as the migration before this
one), the rows already there (``seed``: the backfill's work), the original unsafe migration, the
``bgmigrate plan`` options it needs (``--backfill``), and how the old and the new app version see
the table. The plan itself always comes from the planner: ``plan_into`` runs ``bgmigrate plan``
on a migrations folder, as users do; ``plan`` calls the pure planner for tests without a folder.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.linter import parse_migration
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.model import Plan
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.request import PlanRequest, parse_backfill
from bgmigrate.sql_source import load_sql

Generator = Callable[[random.Random], object]

# Small batches, so the backfill of the 2,000 seeded rows takes several while both versions write.
BATCH_SIZE = 250


@dataclass(frozen=True)
class Shape:
    """How one app version sees the table: logical field -> column, and what it writes."""

    columns: dict[str, str]
    writes: dict[str, Generator]  # fields it sets on insert and may update
    implied: dict[str, object] = field(default_factory=dict)  # what the schema fills in for it
    table: str = ""  # the name it uses for the table, if not the recipe's (rename table)
    # Writes that only work once contract has run (a value only the new type holds).
    contracted_writes: dict[str, Generator] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    table: str
    setup: str  # the starting schema, without rows
    seed: str  # rows that exist before anything runs (the backfill's work)
    migration: str  # the original migration the planner rewrites
    old: Shape
    new: Shape
    backfill: tuple[str, ...] = ()  # ``--backfill COL=SQL_EXPR`` values
    # (field, expected, actual) -> acceptable; for values the schema rewrites (a NULL filled in).
    same: Callable[[str, object, object], bool] = lambda _f, expected, actual: expected == actual

    @property
    def plan_id(self) -> str:
        return f"0002_{self.name}"

    def write_migrations(self, folder: Path) -> Path:
        """``0001_setup.sql`` and the migration after it; returns the migration's path."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "0001_setup.sql").write_text(textwrap.dedent(self.setup).strip() + "\n", encoding="utf-8")
        path = folder / f"{self.plan_id}.sql"
        path.write_text(self.migration + ";\n", encoding="utf-8")
        return path

    def plan_into(self, folder: Path) -> Path:
        """Run ``bgmigrate plan`` on the migration (schema replayed from the folder); returns the plan dir."""
        migration = self.write_migrations(folder / "migrations")
        options = [a for b in self.backfill for a in ("--backfill", b)]
        out = folder / "plan"
        result = CliRunner().invoke(
            main, ["plan", str(migration), "--out", str(out), "--batch-size", str(BATCH_SIZE), *options]
        )
        assert result.exit_code == 0, result.output
        assert "lint of the phases: clean" in result.output, result.output
        return out

    def plan(self) -> Plan:
        """The same plan from the pure planner, for tests that need no files."""
        if self.name not in _PLANS:
            _PLANS[self.name] = _plan(self)
        return _PLANS[self.name]


_PLANS: dict[str, Plan] = {}  # by recipe name (a Recipe holds dicts, so it cannot key a cache)


def _plan(recipe: Recipe) -> Plan:
    setup = load_sql("migrations/0001_setup.sql", recipe.setup)
    migration = load_sql(f"migrations/{recipe.plan_id}.sql", recipe.migration + ";\n")
    knowledge = Knowledge()
    knowledge.learn_all(parse_migration(setup)[0], setup.path)
    operations, errors = parse_migration(migration)
    assert not errors, errors
    request = PlanRequest(
        id=recipe.plan_id,
        source=migration.path,
        backfill=tuple(parse_backfill(b) for b in recipe.backfill),
        batch_size=BATCH_SIZE,
    )
    return plan_operations(operations, knowledge, request)


def _status(rng: random.Random) -> object:
    return rng.choice(["new", "active", "suspended", "closed"])


def _amount(rng: random.Random) -> object:
    return rng.randint(-1_000_000, 1_000_000)


def _big_amount(rng: random.Random) -> object:
    """Beyond integer: writable only once the column really is bigint."""
    return rng.choice((-1, 1)) * rng.randint(2**31, 2**40)


def _unique_code(rng: random.Random) -> object:
    # 64 random bits: no two writes collide, so a unique constraint never rejects a correct app.
    return f"c-{rng.getrandbits(64):016x}"


# --------------------------------------------------------------------------- rename column

RENAME = Recipe(
    name="rename_column",
    table="users",
    setup="""
        CREATE TABLE users (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            status text NOT NULL DEFAULT 'new'
        );
        CREATE INDEX users_status_idx ON users (status);
    """,
    seed="INSERT INTO users (name, status) SELECT 'seed ' || g, (ARRAY['new','active'])[1 + g % 2] "
    "FROM generate_series(1, 2000) g",
    migration="ALTER TABLE users RENAME COLUMN status TO state",
    old=Shape(columns={"name": "name", "state": "status"}, writes={"name": lambda _rng: "old", "state": _status}),
    new=Shape(columns={"name": "name", "state": "state"}, writes={"name": lambda _rng: "new", "state": _status}),
)

# --------------------------------------------------------------------------- rename table

# The planner renames the table in expand and leaves a view under the old name until contract:
# the old version keeps using `carts` (the view), the new one `baskets` (the table) from expand on.
RENAME_TABLE = Recipe(
    name="rename_table",
    table="baskets",
    setup="""
        CREATE TABLE carts (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            owner text NOT NULL,
            items integer NOT NULL DEFAULT 0
        );
        CREATE INDEX carts_owner_idx ON carts (owner);
    """,
    seed="INSERT INTO carts (owner, items) SELECT 'seed ' || g, g % 7 FROM generate_series(1, 2000) g",
    migration="ALTER TABLE carts RENAME TO baskets",
    old=Shape(
        table="carts",
        columns={"owner": "owner", "items": "items"},
        writes={"owner": lambda _rng: "old", "items": lambda rng: rng.randint(0, 50)},
    ),
    new=Shape(
        columns={"owner": "owner", "items": "items"},
        writes={"owner": lambda _rng: "new", "items": lambda rng: rng.randint(0, 50)},
    ),
)

# --------------------------------------------------------------------------- add required column

ADD_REQUIRED = Recipe(
    name="add_required_column",
    table="orders",
    setup="CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, total integer NOT NULL)",
    seed="INSERT INTO orders (total) SELECT g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE orders ADD COLUMN currency text NOT NULL",
    backfill=("currency='EUR'",),
    old=Shape(columns={"total": "total"}, writes={"total": _amount}, implied={"currency": "EUR"}),
    new=Shape(
        columns={"total": "total", "currency": "currency"},
        writes={"total": _amount, "currency": lambda rng: rng.choice(["EUR", "USD", "GBP"])},
    ),
)

# --------------------------------------------------------------------------- set not null

FILL_EMAIL = "unknown@example.invalid"

NOT_NULL = Recipe(
    name="set_not_null",
    table="accounts",
    setup="CREATE TABLE accounts (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, email text)",
    seed="INSERT INTO accounts (email) SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE 'a' || g || '@example.com' END "
    "FROM generate_series(1, 2000) g",
    migration="ALTER TABLE accounts ALTER COLUMN email SET NOT NULL",
    backfill=(f"email='{FILL_EMAIL}'",),
    old=Shape(
        columns={"email": "email"},
        writes={"email": lambda rng: None if rng.random() < 0.3 else f"old{rng.randint(1, 10**6)}@example.com"},
    ),
    new=Shape(columns={"email": "email"}, writes={"email": lambda rng: f"new{rng.randint(1, 10**6)}@example.com"}),
    # A NULL the old version writes comes back as the fill value once the trigger is in place.
    same=lambda _f, expected, actual: expected == actual or (expected is None and actual == FILL_EMAIL),
)

# --------------------------------------------------------------------------- change column type

# The planner keeps the name: both versions read and write `amount` as the old type while a
# trigger converts into a hidden bgm_amount_new, which takes the name at contract (docs/planning.md).
# So the shapes agree; only once contract has run does the new version write values the old
# type cannot hold.
CHANGE_TYPE = Recipe(
    name="change_column_type",
    table="events",
    setup="""
        CREATE TABLE events (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            amount integer NOT NULL DEFAULT 0
        );
        CREATE INDEX events_amount_idx ON events (amount);
    """,
    seed="INSERT INTO events (amount) SELECT g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE events ALTER COLUMN amount TYPE bigint",
    old=Shape(columns={"amount": "amount"}, writes={"amount": _amount}),
    new=Shape(columns={"amount": "amount"}, writes={"amount": _amount}, contracted_writes={"amount": _big_amount}),
)

# --------------------------------------------------------------------------- create index

# Where the migration changes what the schema enforces, not its shape, both versions are alike.
ITEMS = Shape(
    columns={"sku": "sku", "qty": "qty"},
    writes={"sku": lambda rng: f"sku-{rng.randint(1, 10**6)}", "qty": lambda rng: rng.randint(0, 99)},
)

INDEX = Recipe(
    name="create_index",
    table="items",
    setup="CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sku text NOT NULL, qty integer)",
    seed="INSERT INTO items (sku, qty) SELECT 'sku-' || g, g FROM generate_series(1, 2000) g",
    migration="CREATE INDEX items_sku_idx ON items (sku)",
    old=ITEMS,
    new=ITEMS,
)

# --------------------------------------------------------------------------- constraints

# Correct apps only write rows the new constraints accept: the test is that the plan never
# rejects or stalls them, not that the constraints reject bad rows.
INVOICES = Shape(
    columns={"customer_id": "customer_id", "amount": "amount"},
    writes={"customer_id": lambda rng: rng.randint(1, 50), "amount": _amount},
)

ADD_FOREIGN_KEY = Recipe(
    name="add_foreign_key",
    table="invoices",
    setup="""
        CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
        CREATE TABLE invoices (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            customer_id bigint,
            amount integer NOT NULL
        );
        CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
    """,
    seed="INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g;"
    "INSERT INTO invoices (customer_id, amount) SELECT 1 + g % 50, g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE invoices ADD CONSTRAINT invoices_customer_id_fkey "
    "FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE",
    old=INVOICES,
    new=INVOICES,
)

STOCK = Shape(columns={"qty": "qty"}, writes={"qty": lambda rng: rng.randint(0, 1000)})

ADD_CHECK = Recipe(
    name="add_check",
    table="stock",
    setup="CREATE TABLE stock (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, qty integer NOT NULL)",
    seed="INSERT INTO stock (qty) SELECT g % 100 FROM generate_series(1, 2000) g",
    migration="ALTER TABLE stock ADD CONSTRAINT stock_qty_check CHECK (qty >= 0)",
    old=STOCK,
    new=STOCK,
)

PRODUCTS = Shape(
    columns={"code": "code", "price": "price"}, writes={"code": _unique_code, "price": lambda rng: rng.randint(1, 999)}
)

ADD_UNIQUE = Recipe(
    name="add_unique",
    table="products",
    setup="""
        CREATE TABLE products (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            code text NOT NULL,
            price integer NOT NULL
        );
    """,
    seed="INSERT INTO products (code, price) SELECT 'seed-' || g, g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE products ADD CONSTRAINT products_code_key UNIQUE (code)",
    old=PRODUCTS,
    new=PRODUCTS,
)

RECIPES = (RENAME, RENAME_TABLE, ADD_REQUIRED, NOT_NULL, CHANGE_TYPE, INDEX, ADD_FOREIGN_KEY, ADD_CHECK, ADD_UNIQUE)
