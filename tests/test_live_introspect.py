"""Reading a real database: what the introspector sees, in how many queries, and its snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from live_support import cli, execute, fill

from bgmigrate.dsn import connect
from bgmigrate.live.base import BaseSchemaError, load_base_schema
from bgmigrate.live.introspect import QUERY_NAMES, inspect_database, read_snapshot
from bgmigrate.live.snapshot import dumps, load, schema_from_dict, schema_to_dict
from bgmigrate.sql.names import Name

SHOP = """
CREATE SCHEMA shop;
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE customers (id bigint PRIMARY KEY, email varchar(120) NOT NULL);
CREATE UNIQUE INDEX customers_email_idx ON customers (lower(email));
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint REFERENCES customers (id),
    note text DEFAULT 'none',
    qty integer CHECK (qty > 0),
    total numeric(10, 2) GENERATED ALWAYS AS (qty * 2) STORED,
    feeling mood
);
ALTER TABLE orders ADD CONSTRAINT orders_note_not_null CHECK (note IS NOT NULL) NOT VALID;
CREATE INDEX orders_customer_recent_idx ON orders (customer_id, id) WHERE qty > 1;
CREATE TABLE shop.items (id serial PRIMARY KEY, name text);
CREATE VIEW order_view AS SELECT id FROM orders;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TABLE events (id bigint, at date NOT NULL, note text) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
"""


def test_reads_tables_columns_constraints_indexes_and_objects(pg_dsn: str) -> None:
    execute(pg_dsn, SHOP)
    execute(pg_dsn, "INSERT INTO events SELECT g, DATE '2024-03-01' + (g % 500), 'x' FROM generate_series(1, 3000) g")
    execute(pg_dsn, "ANALYZE")
    schema = schema_from_dict(inspect_database(pg_dsn))
    assert schema.from_live and schema.server_version is not None and schema.server_version >= 12

    orders = schema.tables[("public", "orders")]
    assert orders.live
    cols = orders.columns
    assert list(cols) == ["id", "customer_id", "note", "qty", "total", "feeling"]
    assert cols["id"].identity and not cols["id"].nullable
    assert cols["note"].default == "'none'::text"
    assert cols["total"].generated and cols["total"].default is None
    assert cols["feeling"].type == "mood"
    assert schema.tables[("public", "customers")].columns["email"].type == "character varying(120)"

    cons = orders.constraints
    assert cons["orders_customer_id_fkey"].kind == "foreign_key"
    assert cons["orders_customer_id_fkey"].references == Name("customers", "public")
    assert cons["orders_qty_check"].kind == "check" and cons["orders_qty_check"].columns == ("qty",)
    assert not cons["orders_note_not_null"].validated
    assert cons["orders_note_not_null"].not_null_column == "note"

    recent = schema.indexes[("public", "orders_customer_recent_idx")]
    assert recent.columns == ("customer_id", "id") and recent.partial and not recent.unique
    email = schema.indexes[("public", "customers_email_idx")]
    assert email.unique and email.expression

    assert schema.enums[("public", "mood")] == ["happy", "sad"]
    assert ("shop", "items") in schema.tables
    assert ("public", "order_view") in schema.objects["view"]
    assert ("public", "orders_touch") in schema.objects["trigger"]
    assert orders.triggers == {"orders_touch"} and schema.tables["public", "customers"].triggers == set()
    assert ("shop", "items_id_seq") in schema.objects["sequence"]
    assert Name("shop").key in schema.objects["schema"]

    events = schema.tables[("public", "events")]
    parts = [schema.tables[("public", p)] for p in ("events_2024", "events_2025")]
    assert events.rows_estimate == sum(p.rows_estimate or 0 for p in parts) > 0
    assert events.size_bytes == sum(p.size_bytes or 0 for p in parts) > 0


def test_sizes_are_estimates_from_the_last_analyze(pg_dsn: str) -> None:
    execute(pg_dsn, "CREATE TABLE big (id bigint PRIMARY KEY, note text); CREATE TABLE fresh (id bigint, note text)")
    fill(pg_dsn, "big", 20_000)
    execute(pg_dsn, "INSERT INTO fresh SELECT g, 'x' FROM generate_series(1, 100) g")  # never analysed
    schema = schema_from_dict(inspect_database(pg_dsn))
    big = schema.tables[("public", "big")]
    assert big.rows_estimate is not None and 19_000 <= big.rows_estimate <= 21_000
    assert big.size_bytes is not None and big.size_bytes > 20_000 * 20
    fresh = schema.tables[("public", "fresh")]
    assert fresh.rows_estimate is None and fresh.size_bytes is None


class _Counting(psycopg.Connection[Any]):
    """A real connection that counts the statements sent through it."""

    sent = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        type(self).sent += 1
        return super().execute(*args, **kwargs)


def _queries_for(dsn: str) -> int:
    _Counting.sent = 0
    with _Counting.connect(dsn) as conn:
        conn.read_only = True
        read_snapshot(conn)
        conn.rollback()
    return _Counting.sent


def test_a_fixed_number_of_queries_however_many_tables(pg_dsn: str) -> None:
    execute(pg_dsn, "CREATE TABLE t0 (id bigint PRIMARY KEY)")
    few = _queries_for(pg_dsn)
    execute(
        pg_dsn,
        "".join(
            f"CREATE TABLE t{i} (id bigint PRIMARY KEY, ref bigint REFERENCES t0, note text);"
            f"CREATE INDEX ON t{i} (ref);"
            for i in range(1, 60)
        ),
    )
    assert _queries_for(pg_dsn) == few == 1 + len(QUERY_NAMES)


def test_snapshot_round_trip_is_exact(pg_dsn: str) -> None:
    execute(pg_dsn, SHOP)
    data = inspect_database(pg_dsn)
    text = dumps(data)
    assert json.loads(text) == data
    schema = schema_from_dict(json.loads(text))
    assert schema_to_dict(schema) == data
    assert dumps(schema_to_dict(schema)) == text


def test_inspect_cli_writes_the_snapshot_lint_reads(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SHOP)
    out = tmp_path / "snapshot.json"
    done = cli("inspect", "--dsn", pg_dsn, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote json for" in done.stderr
    assert out.read_text(encoding="utf-8") == dumps(inspect_database(pg_dsn))
    assert load(out) == load_base_schema(pg_dsn, None)
    assert load_base_schema(None, str(out)) == load(out)


def test_inspect_text_is_for_people(pg_dsn: str) -> None:
    execute(pg_dsn, SHOP)
    fill_sql = "CREATE TABLE audit (id bigint, note text, customer_id bigint REFERENCES customers (id))"
    execute(pg_dsn, fill_sql)
    done = cli("inspect", "--dsn", pg_dsn, "--no-color")
    assert done.returncode == 0, done.stderr
    assert "PostgreSQL" in done.stdout and "Largest tables" in done.stdout
    assert "public.orders" in done.stdout
    assert "Foreign keys without an index" in done.stdout and "public.audit(customer_id)" in done.stdout
    assert "\x1b[" not in done.stdout


def test_base_schema_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "snapshot.json"
    bad.write_text('{"tables": [{"name": 3}]}', encoding="utf-8")
    for dsn, snapshot, expected in (
        ("postgresql://x", str(bad), "not both"),
        (None, str(bad), "snapshot.tables[0].name: expected a string"),
        (None, str(tmp_path / "missing.json"), "cannot read the snapshot"),
    ):
        try:
            load_base_schema(dsn, snapshot)
        except BaseSchemaError as exc:
            assert expected in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError("no error")
    assert load_base_schema(None, None) is None


def test_nothing_is_written_while_inspecting(pg_dsn: str) -> None:
    execute(pg_dsn, SHOP)
    conn = connect(pg_dsn)
    try:
        read_snapshot(conn)
        row = conn.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()
        assert row is not None and row[0] is None  # no transaction id: nothing was written
    finally:
        conn.close()


def test_reading_a_snapshot_needs_no_database_driver(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SHOP)
    out = tmp_path / "snapshot.json"
    out.write_text(dumps(inspect_database(pg_dsn)), encoding="utf-8")
    probe = (
        "import sys\n"
        "from bgmigrate.live.base import load_base_schema\n"
        f"schema = load_base_schema(None, {str(out)!r})\n"
        "assert schema is not None and ('public', 'orders') in schema.tables\n"
        "print('psycopg' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # CI without database access needs no driver
