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
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.lint.engine import parse_migration
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.request import PlanRequest, parse_backfill

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
    # (writer, the row's values after its write) -> every field either version sees, where one
    # version's fields are derived from the other's (a split column); None: the fields stand alone.
    derive: Callable[[str, dict[str, object]], dict[str, object]] | None = None

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

# --------------------------------------------------------------------------- narrowing type changes

# A narrowing change converts with casts that would truncate or round: the plan counts rows that do
# not fit before expand, the trigger refuses such a write, the backfill never converts one (issue 9
# C3). Correct apps write values that fit; tests/test_dual_version.py writes ones that do not.


def _label(rng: random.Random) -> object:
    return "l" * rng.randint(1, 20)


NARROW_VARCHAR = Recipe(
    name="narrow_varchar",
    table="tags",
    setup="CREATE TABLE tags (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, label varchar(50) NOT NULL)",
    seed="INSERT INTO tags (label) SELECT 'seed ' || g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE tags ALTER COLUMN label TYPE varchar(20)",
    old=Shape(columns={"label": "label"}, writes={"label": _label}),
    new=Shape(columns={"label": "label"}, writes={"label": _label}),
)


def _price(rng: random.Random) -> object:
    return Decimal(rng.randint(-(10**6), 10**6)) / 100


NARROW_NUMERIC = Recipe(
    name="narrow_numeric",
    table="prices",
    setup="CREATE TABLE prices (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, amount numeric(14,4))",
    seed="INSERT INTO prices (amount) SELECT g / 100.0 FROM generate_series(1, 2000) g",
    migration="ALTER TABLE prices ALTER COLUMN amount TYPE numeric(10,2)",
    old=Shape(columns={"amount": "amount"}, writes={"amount": _price}),
    new=Shape(columns={"amount": "amount"}, writes={"amount": _price}),
)

NARROW_BIGINT = Recipe(
    name="narrow_bigint",
    table="counters",
    setup="CREATE TABLE counters (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, hits bigint NOT NULL)",
    seed="INSERT INTO counters (hits) SELECT g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE counters ALTER COLUMN hits TYPE integer",
    old=Shape(columns={"hits": "hits"}, writes={"hits": _amount}),
    new=Shape(columns={"hits": "hits"}, writes={"hits": _amount}),
)

# --------------------------------------------------------------------------- replace column, drop column

REPLACE = Recipe(
    name="replace_column",
    table="tickets",
    setup="""
        CREATE TYPE ticket_state AS ENUM ('new', 'active', 'suspended', 'closed');
        CREATE TABLE tickets (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, status text NOT NULL);
    """,
    seed="INSERT INTO tickets (status) SELECT (ARRAY['new','active'])[1 + g % 2] FROM generate_series(1, 2000) g",
    migration="ALTER TABLE tickets ADD COLUMN new_status ticket_state;\n"
    "UPDATE tickets SET new_status = status::ticket_state;\n"
    "ALTER TABLE tickets ALTER COLUMN new_status SET NOT NULL;\n"
    "ALTER TABLE tickets DROP COLUMN status;\n"
    "ALTER TABLE tickets RENAME COLUMN new_status TO status",
    old=Shape(columns={"status": "status"}, writes={"status": _status}),
    new=Shape(columns={"status": "status"}, writes={"status": _status}),
)

DROP_COLUMN = Recipe(
    name="drop_column",
    table="notes",
    setup="CREATE TABLE notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body text NOT NULL, legacy text)",
    seed="INSERT INTO notes (body, legacy) SELECT 'seed ' || g, 'l' FROM generate_series(1, 2000) g",
    migration="ALTER TABLE notes DROP COLUMN legacy",
    old=Shape(
        columns={"body": "body", "legacy": "legacy"}, writes={"body": lambda _r: "old", "legacy": lambda _r: "x"}
    ),
    new=Shape(columns={"body": "body"}, writes={"body": lambda _r: "new"}),
)

# --------------------------------------------------------------------------- split column (issue 9 C2)


def _word(rng: random.Random) -> object:
    return rng.choice(["ada", "alan", "grace", "edsger", "barbara", "ken"]) + str(rng.randint(1, 999))


def _full_name(rng: random.Random) -> object:
    return f"{_word(rng)} {_word(rng)}"


def _given_names(rng: random.Random) -> object:
    """Sometimes two words: ``name`` then splits differently, so only the backfill's "still unset" guard
    keeps it from overwriting what the new version wrote."""
    return f"{_word(rng)} {_word(rng)}" if rng.random() < 0.3 else _word(rng)


def _split_names(writer: str, values: dict[str, object]) -> dict[str, object]:
    """The old version writes ``name``, the new one ``first``/``last``: each derives the other's fields."""
    if writer in ("old", "seed"):
        first, _, last = str(values["name"]).partition(" ")
        return {**values, "first": first, "last": last}
    return {**values, "name": f"{values['first']} {values['last']}"}


SPLIT = Recipe(
    name="split_column",
    table="people",
    setup="CREATE TABLE people (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL)",
    seed="INSERT INTO people (name) SELECT 'seed' || g || ' person' || g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE people ADD COLUMN first_name text;\nALTER TABLE people ADD COLUMN last_name text;\n"
    "UPDATE people SET first_name = split_part(name, ' ', 1), last_name = split_part(name, ' ', 2);\n"
    "ALTER TABLE people DROP COLUMN name",
    backfill=("name=first_name || ' ' || last_name",),
    old=Shape(columns={"name": "name"}, writes={"name": _full_name}),
    new=Shape(columns={"first": "first_name", "last": "last_name"}, writes={"first": _given_names, "last": _word}),
    derive=_split_names,
)

RECIPES = (
    RENAME, RENAME_TABLE, ADD_REQUIRED, NOT_NULL, CHANGE_TYPE, INDEX, ADD_FOREIGN_KEY, ADD_CHECK, ADD_UNIQUE,
    NARROW_VARCHAR, NARROW_NUMERIC, NARROW_BIGINT, REPLACE, DROP_COLUMN, SPLIT,
)  # fmt: skip
