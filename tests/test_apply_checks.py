"""Every Check kind evaluated against real catalogs, holding and not holding."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from apply_helpers import execute

from bgmigrate.apply import verify_checks
from bgmigrate.apply.connect import Connection, connect
from bgmigrate.plan.phases import Check

SCHEMA = """
    CREATE SCHEMA shop;
    CREATE TABLE shop."Orders" (id int PRIMARY KEY, total int NOT NULL, note text);
    CREATE TABLE plain (id int PRIMARY KEY, v int);
    INSERT INTO plain VALUES (1, NULL), (2, 5);
    CREATE INDEX plain_v_idx ON plain (v);
    ALTER TABLE plain ADD CONSTRAINT plain_v_positive CHECK (v > 0) NOT VALID;
    ALTER TABLE plain ADD CONSTRAINT plain_id_positive CHECK (id > 0);
    CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    CREATE TRIGGER plain_noop BEFORE UPDATE ON plain FOR EACH ROW EXECUTE FUNCTION noop();
"""

CASES = [
    (Check("table_exists", table="plain"), True, "table plain exists"),
    (Check("table_exists", table="shop.Orders"), True, "table shop.Orders exists"),
    (Check("table_exists", table="shop.orders"), False, "table shop.orders does not exist"),
    (Check("table_absent", table="gone"), True, "table gone does not exist"),
    (Check("table_absent", table="plain"), False, "table plain exists"),
    (Check("column_exists", table="shop.Orders", column="total"), True, "column shop.Orders.total exists"),
    (Check("column_exists", table="plain", column="w"), False, "column plain.w does not exist"),
    (Check("column_exists", table="gone", column="w"), False, "table gone does not exist"),
    (Check("column_absent", table="plain", column="w"), True, "column plain.w does not exist"),
    (Check("column_absent", table="gone", column="w"), True, "table gone does not exist"),
    (Check("column_absent", table="plain", column="v"), False, "column plain.v exists"),
    (Check("column_not_null", table="shop.Orders", column="total"), True, "column shop.Orders.total is NOT NULL"),
    (Check("column_not_null", table="shop.Orders", column="note"), False, "column shop.Orders.note allows NULL"),
    (Check("trigger_exists", table="plain", name="plain_noop"), True, "trigger plain_noop on plain exists and is enabled"),
    (Check("trigger_absent", table="plain", name="plain_noop"), False, "trigger plain_noop on plain exists and is enabled"),
    (Check("trigger_absent", table="plain", name="other"), True, "trigger other on plain does not exist"),
    (Check("index_valid", table="plain", name="plain_v_idx"), True, "index plain_v_idx is valid"),
    (Check("index_valid", table="plain", name="missing_idx"), False, "index missing_idx does not exist"),
    (Check("constraint_validated", table="plain", name="plain_id_positive"), True, "constraint plain_id_positive on plain is validated"),
    (Check("constraint_validated", table="plain", name="plain_v_positive"), False, "constraint plain_v_positive on plain is NOT VALID"),
    (Check("constraint_validated", table="plain", name="nope"), False, "constraint nope on plain does not exist"),
    (Check("no_rows", sql="SELECT 1 FROM plain WHERE v > 100"), True, "no rows left behind"),
    (Check("no_rows", sql="SELECT id FROM plain WHERE v IS NULL;"), False, "1 row found (first keys: 1)"),
    (Check("kaboom"), False, "unknown check kind 'kaboom'"),
]  # fmt: skip


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[Connection]:
    execute(pg_dsn, SCHEMA)
    with connect(pg_dsn, "test") as connection:
        yield connection


def test_each_check_kind(conn: Connection) -> None:
    results = verify_checks(conn, [case[0] for case in CASES])
    assert [(r.ok, r.found) for r in results] == [(ok, found) for _check, ok, found in CASES]


def test_an_invalid_index_fails_index_valid(pg_dsn: str, conn: Connection) -> None:
    execute(pg_dsn, "INSERT INTO plain VALUES (3, 5)")
    with pytest.raises(psycopg.errors.UniqueViolation):  # a failed build leaves its index behind, INVALID
        execute(pg_dsn, "CREATE UNIQUE INDEX CONCURRENTLY plain_v_unique ON plain (v)")
    (result,) = verify_checks(conn, [Check("index_valid", table="plain", name="plain_v_unique")])
    assert not result.ok and "INVALID" in result.found


def test_no_rows_checks_never_change_data(conn: Connection) -> None:
    (result,) = verify_checks(conn, [Check("no_rows", sql="DELETE FROM plain RETURNING 1")])
    assert not result.ok and "query failed" in result.found  # only a query fits the wrapper; nothing deleted
    assert conn.execute("SELECT count(*) FROM plain").fetchone() == (2,)


@pytest.mark.parametrize(
    ("mode", "ok", "state"),
    [
        ("DISABLE", False, "exists but is DISABLED"),
        ("ENABLE REPLICA", False, "exists but is enabled for REPLICA sessions only"),
        ("ENABLE ALWAYS", True, "exists and is enabled ALWAYS"),
    ],
)
def test_a_trigger_is_in_place_only_while_it_fires(
    pg_dsn: str, conn: Connection, mode: str, ok: bool, state: str
) -> None:
    execute(pg_dsn, f"ALTER TABLE plain {mode} TRIGGER plain_noop")
    exists, absent = verify_checks(
        conn,
        [
            Check("trigger_exists", table="plain", name="plain_noop"),
            Check("trigger_absent", table="plain", name="plain_noop"),
        ],
    )
    assert exists.ok is ok and f"trigger plain_noop on plain {state}" in exists.found
    assert ok or "fix: ALTER TABLE plain ENABLE TRIGGER plain_noop" in exists.found
    assert not absent.ok  # disabled is not gone: contract has not removed it


def test_each_failing_kind_says_what_to_do(pg_dsn: str, conn: Connection) -> None:
    failing = [case[0] for case in CASES if not case[1] and case[0].kind != "kaboom"]
    results = verify_checks(conn, failing)
    assert [r.check.kind for r in results if not r.fix] == []
    validate = next(r for r in results if r.check.name == "plain_v_positive")
    assert validate.fix == "ALTER TABLE plain VALIDATE CONSTRAINT plain_v_positive"
    rows = next(r for r in results if r.check.kind == "no_rows")
    assert "SELECT id FROM plain WHERE v IS NULL" in rows.fix and rows.explain().startswith("no_rows: 1 row found")
