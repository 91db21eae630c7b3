"""Hand-written plans for the planner's recipes, with the schema and app shapes each one serves.

Until the planner lands these stand in for its output: each recipe is a starting schema, the
original (unsafe) migration, the phased plan a careful DBA would write for it, and how the old
and the new app version see the table. The apply tests drive the plan with both versions live
and compare the result with the original migration run on an empty copy of the schema.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bgmigrate.plan.model import Backfill, Check, Phase, Plan, Step

Generator = Callable[[random.Random], object]


@dataclass(frozen=True)
class Shape:
    """How one app version sees the table: logical field -> column, and what it writes."""

    columns: dict[str, str]
    writes: dict[str, Generator]  # fields it sets on insert and may update
    implied: dict[str, object] = field(default_factory=dict)  # what the schema fills in for it


@dataclass(frozen=True)
class Recipe:
    name: str
    table: str
    setup: str  # the starting schema, without rows
    seed: str  # rows that exist before anything runs (the backfill's work)
    migration: str  # the original migration the plan replaces
    plan: Plan
    old: Shape
    new: Shape
    # (field, expected, actual) -> acceptable; for values the schema rewrites (a NULL filled in).
    same: Callable[[str, object, object], bool] = lambda _f, expected, actual: expected == actual

    def write_plan(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "plan.json").write_text(self.plan.to_json(), encoding="utf-8")
        return folder


def sql(description: str, text: str, *, rollback: str = "", lock: str = "", concurrent: bool = False) -> Step:
    return Step(
        kind="sql",
        description=description,
        sql=text,
        transactional=not concurrent,
        takes_lock=lock,
        rollback_sql=rollback,
    )


def index_step(description: str, name: str, definition: str) -> Step:
    """CREATE INDEX CONCURRENTLY with the drop that clears an INVALID leftover before a retry."""
    drop = f"DROP INDEX CONCURRENTLY IF EXISTS {name}"
    return Step(
        kind="sql",
        description=description,
        sql=f"CREATE INDEX CONCURRENTLY {name} ON {definition}",
        transactional=False,
        takes_lock="SHARE UPDATE EXCLUSIVE",
        rollback_sql=drop,
        retry_sql=drop,
    )


def backfill(table: str, assignments: tuple[tuple[str, str], ...], where: str, batch_size: int = 250) -> Step:
    return Step(
        kind="backfill",
        description=f"backfill {table}",
        table=table,
        backfill=Backfill(table=table, key="id", assignments=assignments, where=where, batch_size=batch_size),
    )


def not_null_steps(table: str, column: str) -> tuple[Step, ...]:
    """NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID, VALIDATE, SET NOT NULL, drop the CHECK."""
    check = f"{table}_{column}_not_null"
    return (
        sql(
            f"add {check} NOT VALID",
            f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({column} IS NOT NULL) NOT VALID",
            lock="ACCESS EXCLUSIVE",
        ),
        sql(f"validate {check}", f"ALTER TABLE {table} VALIDATE CONSTRAINT {check}", lock="SHARE UPDATE EXCLUSIVE"),
        sql(
            f"set {column} NOT NULL", f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL", lock="ACCESS EXCLUSIVE"
        ),
        sql(f"drop {check}", f"ALTER TABLE {table} DROP CONSTRAINT {check}", lock="ACCESS EXCLUSIVE"),
    )


def trigger_steps(table: str, name: str, body: str) -> Step:
    return sql(
        f"trigger {name}",
        f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body}\n  RETURN NEW;\nEND\n$$;\n"
        f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
        rollback=f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}()",
        lock="SHARE ROW EXCLUSIVE",
    )


def drop_trigger(table: str, name: str) -> Step:
    return sql(
        f"drop trigger {name}", f"DROP TRIGGER {name} ON {table}; DROP FUNCTION {name}()", lock="SHARE ROW EXCLUSIVE"
    )


def check(kind: str, table: str = "", column: str = "", name: str = "", query: str = "") -> Check:
    return Check(kind=kind, table=table, column=column, name=name, sql=query, description=kind)


def _words(rng: random.Random) -> object:
    return rng.choice(["new", "active", "suspended", "closed"])


def _amount(rng: random.Random) -> object:
    return rng.randint(-1_000_000, 1_000_000)


# --------------------------------------------------------------------------- rename column

RENAME_SYNC = """  IF TG_OP = 'INSERT' THEN
    IF NEW.state IS NULL THEN NEW.state := NEW.status; ELSE NEW.status := NEW.state; END IF;
  ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
    NEW.status := NEW.state;
  ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.state IS NULL THEN
    NEW.state := NEW.status;
  END IF;"""

RENAME_EXPAND_CHECKS = (
    check("column_exists", "users", "status"),
    check("column_exists", "users", "state"),
    check("trigger_exists", "users", name="bgm_users_sync_state"),
)

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
    plan=Plan(
        id="0001_rename_status",
        source="migrations/0001_rename_status.sql",
        preconditions=(check("column_exists", "users", "status"), check("column_absent", "users", "state")),
        phases=(
            Phase(
                name="expand",
                serves=("old", "new"),
                steps=(
                    sql(
                        "add column state",
                        "ALTER TABLE users ADD COLUMN state text",
                        rollback="ALTER TABLE users DROP COLUMN IF EXISTS state",
                        lock="ACCESS EXCLUSIVE",
                    ),
                    trigger_steps("users", "bgm_users_sync_state", RENAME_SYNC),
                ),
                checks=RENAME_EXPAND_CHECKS,
            ),
            Phase(
                name="migrate",
                serves=("old", "new"),
                steps=(backfill("users", (("state", "status"),), "state IS NULL"),),
                checks=(
                    *RENAME_EXPAND_CHECKS,
                    check("no_rows", query="SELECT 1 FROM users WHERE state IS DISTINCT FROM status"),
                ),
            ),
            Phase(
                name="contract",
                serves=("new",),
                steps=(
                    sql("default for state", "ALTER TABLE users ALTER COLUMN state SET DEFAULT 'new'"),
                    *not_null_steps("users", "state"),
                    index_step("index state", "users_state_idx", "users (state)"),
                    drop_trigger("users", "bgm_users_sync_state"),
                    sql("drop column status", "ALTER TABLE users DROP COLUMN status", lock="ACCESS EXCLUSIVE"),
                    sql("rename index", "ALTER INDEX users_state_idx RENAME TO users_status_idx"),
                ),
                checks=(
                    check("column_absent", "users", "status"),
                    check("column_not_null", "users", "state"),
                    check("trigger_absent", "users", name="bgm_users_sync_state"),
                    check("index_valid", "users", name="users_status_idx"),
                ),
            ),
        ),
    ),
    old=Shape(columns={"name": "name", "state": "status"}, writes={"name": lambda _rng: "old", "state": _words}),
    new=Shape(columns={"name": "name", "state": "state"}, writes={"name": lambda _rng: "new", "state": _words}),
)

# --------------------------------------------------------------------------- add required column

REQUIRED_EXPAND_CHECKS = (
    check("column_exists", "orders", "currency"),
    check("trigger_exists", "orders", name="bgm_orders_fill_currency"),
)

ADD_REQUIRED = Recipe(
    name="add_required_column",
    table="orders",
    setup="CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, total integer NOT NULL)",
    seed="INSERT INTO orders (total) SELECT g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE orders ADD COLUMN currency text NOT NULL",
    plan=Plan(
        id="0002_add_currency",
        source="migrations/0002_add_currency.sql",
        preconditions=(check("table_exists", "orders"), check("column_absent", "orders", "currency")),
        phases=(
            Phase(
                name="expand",
                serves=("old", "new"),
                steps=(
                    sql(
                        "add column currency (nullable)",
                        "ALTER TABLE orders ADD COLUMN currency text",
                        rollback="ALTER TABLE orders DROP COLUMN IF EXISTS currency",
                        lock="ACCESS EXCLUSIVE",
                    ),
                    trigger_steps(
                        "orders",
                        "bgm_orders_fill_currency",
                        "  IF NEW.currency IS NULL THEN NEW.currency := 'EUR'; END IF;",
                    ),
                ),
                checks=REQUIRED_EXPAND_CHECKS,
            ),
            Phase(
                name="migrate",
                serves=("old", "new"),
                steps=(backfill("orders", (("currency", "'EUR'"),), "currency IS NULL"),),
                checks=(
                    *REQUIRED_EXPAND_CHECKS,
                    check("no_rows", query="SELECT 1 FROM orders WHERE currency IS NULL"),
                ),
            ),
            Phase(
                name="contract",
                serves=("new",),
                steps=(*not_null_steps("orders", "currency"), drop_trigger("orders", "bgm_orders_fill_currency")),
                checks=(
                    check("column_not_null", "orders", "currency"),
                    check("trigger_absent", "orders", name="bgm_orders_fill_currency"),
                ),
            ),
        ),
    ),
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
    plan=Plan(
        id="0003_email_not_null",
        source="migrations/0003_email_not_null.sql",
        preconditions=(check("column_exists", "accounts", "email"),),
        phases=(
            Phase(
                name="expand",
                serves=("old", "new"),
                steps=(
                    trigger_steps(
                        "accounts",
                        "bgm_accounts_fill_email",
                        f"  IF NEW.email IS NULL THEN NEW.email := '{FILL_EMAIL}'; END IF;",
                    ),
                ),
                checks=(check("trigger_exists", "accounts", name="bgm_accounts_fill_email"),),
            ),
            Phase(
                name="migrate",
                serves=("old", "new"),
                steps=(backfill("accounts", (("email", f"'{FILL_EMAIL}'"),), "email IS NULL"),),
                checks=(
                    check("trigger_exists", "accounts", name="bgm_accounts_fill_email"),
                    check("no_rows", query="SELECT 1 FROM accounts WHERE email IS NULL"),
                ),
            ),
            Phase(
                name="contract",
                serves=("new",),
                steps=(*not_null_steps("accounts", "email"), drop_trigger("accounts", "bgm_accounts_fill_email")),
                checks=(
                    check("column_not_null", "accounts", "email"),
                    check("trigger_absent", "accounts", name="bgm_accounts_fill_email"),
                ),
            ),
        ),
    ),
    old=Shape(
        columns={"email": "email"},
        writes={"email": lambda rng: None if rng.random() < 0.3 else f"old{rng.randint(1, 10**6)}@example.com"},
    ),
    new=Shape(columns={"email": "email"}, writes={"email": lambda rng: f"new{rng.randint(1, 10**6)}@example.com"}),
    # A NULL the old version writes comes back as the fill value once the trigger is in place.
    same=lambda _f, expected, actual: expected == actual or (expected is None and actual == FILL_EMAIL),
)

# --------------------------------------------------------------------------- change column type

TYPE_EXPAND_CHECKS = (
    check("column_exists", "events", "amount_new"),
    check("trigger_exists", "events", name="bgm_events_sync_amount"),
)

CHANGE_TYPE = Recipe(
    name="change_column_type",
    table="events",
    setup="""
        CREATE TABLE events (
            id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            amount integer NOT NULL DEFAULT 0
        )
    """,
    seed="INSERT INTO events (amount) SELECT g FROM generate_series(1, 2000) g",
    migration="ALTER TABLE events ALTER COLUMN amount TYPE bigint",
    plan=Plan(
        id="0004_amount_bigint",
        source="migrations/0004_amount_bigint.sql",
        preconditions=(check("column_exists", "events", "amount"), check("column_absent", "events", "amount_new")),
        phases=(
            Phase(
                name="expand",
                serves=("old", "new"),
                steps=(
                    sql(
                        "add column amount_new bigint",
                        "ALTER TABLE events ADD COLUMN amount_new bigint",
                        rollback="ALTER TABLE events DROP COLUMN IF EXISTS amount_new",
                        lock="ACCESS EXCLUSIVE",
                    ),
                    # Both versions write `amount` (values fit both types), so one direction suffices.
                    trigger_steps("events", "bgm_events_sync_amount", "  NEW.amount_new := NEW.amount;"),
                ),
                checks=TYPE_EXPAND_CHECKS,
            ),
            Phase(
                name="migrate",
                serves=("old", "new"),
                steps=(backfill("events", (("amount_new", "amount"),), "amount_new IS NULL"),),
                checks=(
                    *TYPE_EXPAND_CHECKS,
                    check("no_rows", query="SELECT 1 FROM events WHERE amount_new IS DISTINCT FROM amount"),
                ),
            ),
            Phase(
                name="contract",
                serves=("new",),
                steps=(
                    sql("default for amount_new", "ALTER TABLE events ALTER COLUMN amount_new SET DEFAULT 0"),
                    *not_null_steps("events", "amount_new"),
                    sql(
                        "swap amount_new in for amount",
                        "DROP TRIGGER bgm_events_sync_amount ON events; DROP FUNCTION bgm_events_sync_amount();"
                        " ALTER TABLE events DROP COLUMN amount;"
                        " ALTER TABLE events RENAME COLUMN amount_new TO amount",
                        lock="ACCESS EXCLUSIVE",
                    ),
                ),
                checks=(
                    check("column_absent", "events", "amount_new"),
                    check("column_not_null", "events", "amount"),
                    check("trigger_absent", "events", name="bgm_events_sync_amount"),
                ),
            ),
        ),
    ),
    old=Shape(columns={"amount": "amount"}, writes={"amount": _amount}),
    new=Shape(columns={"amount": "amount"}, writes={"amount": _amount}),
)

# --------------------------------------------------------------------------- create index

INDEX = Recipe(
    name="create_index",
    table="items",
    setup="CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sku text NOT NULL, qty integer)",
    seed="INSERT INTO items (sku, qty) SELECT 'sku-' || g, g FROM generate_series(1, 2000) g",
    migration="CREATE INDEX items_sku_idx ON items (sku)",
    plan=Plan(
        id="0005_items_sku_idx",
        source="migrations/0005_items_sku_idx.sql",
        preconditions=(check("table_exists", "items"),),
        phases=(
            Phase(
                name="expand",
                serves=("old", "new"),
                steps=(index_step("index items.sku", "items_sku_idx", "items (sku)"),),
                checks=(check("index_valid", "items", name="items_sku_idx"),),
            ),
            Phase(name="migrate", serves=("old", "new"), checks=(check("index_valid", "items", name="items_sku_idx"),)),
            Phase(name="contract", serves=("new",), checks=(check("index_valid", "items", name="items_sku_idx"),)),
        ),
    ),
    old=Shape(
        columns={"sku": "sku", "qty": "qty"},
        writes={"sku": lambda rng: f"sku-{rng.randint(1, 10**6)}", "qty": lambda rng: rng.randint(0, 99)},
    ),
    new=Shape(
        columns={"sku": "sku", "qty": "qty"},
        writes={"sku": lambda rng: f"sku-{rng.randint(1, 10**6)}", "qty": lambda rng: rng.randint(0, 99)},
    ),
)

RECIPES = (RENAME, ADD_REQUIRED, NOT_NULL, CHANGE_TYPE, INDEX)
