"""Locking and style rules beyond the catalogue examples: edge cases, names in messages, recipes.

The recipe tests at the end run the SQL a finding recommends on a real PostgreSQL, so a fix that
is not valid PostgreSQL (or does not reach the intended end state) fails here.
"""

from __future__ import annotations

import re
from dataclasses import replace

import psycopg
import pytest

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.findings import Finding, Severity
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model.migration import Migration
from bgmigrate.parse.source import load_sql
from bgmigrate.sql.statements import split_sql

CATALOGUE = load_catalogue()
LOCKING = (
    "non-concurrent-index", "concurrent-index-if-not-exists", "validating-constraint", "unique-without-index",
    "exclusion-constraint", "table-rewrite", "blocking-statement", "concurrently-in-transaction",
    "statement-fails-in-transaction", "enum-add-value-in-transaction", "missing-lock-timeout",
    "lock-held-across-statements", "unbatched-data-change",
)  # fmt: skip
STYLE = (
    "prefer-bigint",
    "prefer-identity",
    "prefer-timestamptz",
    "prefer-text",
    "prefer-jsonb",
    "prefer-if-exists",
)


def lint(
    sql: str,
    *,
    setup: str = "",
    pg: int = 15,
    tx: bool = False,
    alembic: bool = False,
    select: tuple[str, ...] = LOCKING + STYLE,
) -> list[Finding]:
    settings = LintSettings(pg_version=pg, assume_in_transaction=tx, select=select)
    migrations: list[Migration] = []
    if setup:
        migrations.append(load_sql("setup.sql", setup))
    migration = load_sql("m.sql", sql, assume_in_transaction=tx)
    if alembic:
        migration = replace(migration, kind="alembic", implicit_transaction=True)
    migrations.append(migration)
    findings, errors = lint_migrations(
        migrations, CATALOGUE, settings, select_rules(CATALOGUE, settings), report={"m.sql"}
    )
    assert errors == []
    return findings


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def one(findings: list[Finding], rule: str) -> Finding:
    found = only(findings, rule)
    assert len(found) == 1, [f.message for f in found]
    return found[0]


# ---- catalogue shape ---------------------------------------------------------------------------


def test_codes_and_groups() -> None:
    for name in LOCKING:
        entry = CATALOGUE.entries[name]
        assert entry.code.startswith("BG2") and entry.group == "locking" and entry.enabled
    for name in STYLE:
        entry = CATALOGUE.entries[name]
        assert entry.code.startswith("BG5") and entry.group == "style" and not entry.enabled


def test_style_rules_are_off_by_default() -> None:
    findings = lint("CREATE TABLE t (id serial PRIMARY KEY, at timestamp, j json);", select=())
    assert not [f for f in findings if f.rule in STYLE]


# ---- non-concurrent-index ------------------------------------------------------------------------


def test_create_index_message_and_fix_keep_the_users_names() -> None:
    f = one(lint('CREATE UNIQUE INDEX "Idx" ON shop."Order" ("Code");'), "non-concurrent-index")
    assert "SHARE lock" in f.message and "shop.Order" in f.message
    assert 'CREATE UNIQUE INDEX CONCURRENTLY "Idx" ON shop."Order" ("Code");' in f.fix
    assert 'DROP INDEX CONCURRENTLY IF EXISTS shop."Idx";' in f.fix
    assert f.severity == Severity.ERROR


def test_unnamed_index_gets_postgres_default_name_in_the_cleanup_step() -> None:
    f = one(lint("CREATE INDEX ON orders (customer_id, created_at);"), "non-concurrent-index")
    assert "DROP INDEX CONCURRENTLY IF EXISTS orders_customer_id_created_at_idx;" in f.fix


def test_drop_index_resolves_its_table_from_earlier_migrations() -> None:
    setup = "CREATE TABLE orders (id bigint PRIMARY KEY, s text); CREATE INDEX orders_s_idx ON orders (s);"
    f = one(lint("DROP INDEX orders_s_idx;", setup=setup), "non-concurrent-index")
    assert "ACCESS EXCLUSIVE" in f.message and "orders" in f.message
    assert "DROP INDEX CONCURRENTLY orders_s_idx;" in f.fix


def test_drop_index_of_an_unknown_index_is_treated_as_existing() -> None:
    f = one(lint("DROP INDEX IF EXISTS legacy_idx;"), "non-concurrent-index")
    assert "DROP INDEX CONCURRENTLY IF EXISTS legacy_idx;" in f.fix


def test_indexes_on_a_table_created_in_the_same_migration_are_quiet() -> None:
    sql = """
    CREATE TABLE t (id bigint PRIMARY KEY, a int);
    CREATE INDEX t_a_idx ON t (a);
    REINDEX INDEX t_a_idx;
    REINDEX TABLE t;
    DROP INDEX t_a_idx;
    """
    assert not only(lint(sql), "non-concurrent-index")


def test_reindex_before_12_recommends_build_new_then_drop() -> None:
    setup = "CREATE TABLE orders (id bigint PRIMARY KEY, s text); CREATE INDEX orders_s_idx ON orders (s);"
    f = one(lint("REINDEX INDEX orders_s_idx;", setup=setup, pg=11), "non-concurrent-index")
    assert "CREATE INDEX CONCURRENTLY orders_s_idx_new ON orders (s);" in f.fix
    assert "ALTER INDEX orders_s_idx_new RENAME TO orders_s_idx;" in f.fix
    assert "REINDEX INDEX CONCURRENTLY" not in f.fix
    f12 = one(lint("REINDEX INDEX orders_s_idx;", setup=setup, pg=12), "non-concurrent-index")
    assert "REINDEX INDEX CONCURRENTLY orders_s_idx;" in f12.fix


def test_reindex_concurrently_before_12_fails() -> None:
    f = one(lint("REINDEX TABLE CONCURRENTLY orders;", pg=11), "non-concurrent-index")
    assert "needs PostgreSQL 12" in f.message


def test_reindex_system_has_no_online_form() -> None:
    f = one(lint("REINDEX SYSTEM app;"), "non-concurrent-index")
    assert "no concurrent form" in f.fix


def test_create_index_in_alembic_mentions_autocommit_block() -> None:
    f = one(lint("CREATE INDEX ix ON orders (a);", alembic=True), "non-concurrent-index")
    assert "autocommit_block" in f.fix and "postgresql_concurrently=True" in f.fix


def test_concurrent_if_not_exists() -> None:
    f = one(lint("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (a);"), "concurrent-index-if-not-exists")
    assert "INVALID" in f.message
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix;\n   CREATE INDEX CONCURRENTLY ix ON orders (a);" in f.fix
    assert not only(lint("CREATE INDEX IF NOT EXISTS ix ON orders (a);"), "concurrent-index-if-not-exists")


# ---- constraints ---------------------------------------------------------------------------------


def test_foreign_key_names_both_tables() -> None:
    sql = 'ALTER TABLE shop."Order" ADD FOREIGN KEY (customer_id) REFERENCES shop.customers (id);'
    f = one(lint(sql), "validating-constraint")
    assert "shop.Order" in f.message and "shop.customers" in f.message and "SHARE ROW EXCLUSIVE" in f.message
    assert (
        'ALTER TABLE shop."Order" ADD CONSTRAINT "Order_customer_id_fkey" FOREIGN KEY (customer_id) '
        "REFERENCES shop.customers (id) NOT VALID;" in f.fix
    )
    assert 'ALTER TABLE shop."Order" VALIDATE CONSTRAINT "Order_customer_id_fkey";' in f.fix


def test_check_without_name_gets_postgres_style_name() -> None:
    f = one(lint("ALTER TABLE orders ADD CHECK (char_length(code) > 0);"), "validating-constraint")
    assert "ACCESS EXCLUSIVE" in f.message
    assert "ADD CONSTRAINT orders_code_check CHECK (char_length(code) > 0) NOT VALID;" in f.fix


def test_not_valid_constraints_and_new_tables_are_quiet() -> None:
    sql = """
    ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT c;
    CREATE TABLE t (id bigint PRIMARY KEY, o bigint);
    ALTER TABLE t ADD FOREIGN KEY (o) REFERENCES orders (id);
    ALTER TABLE t ADD COLUMN p bigint REFERENCES orders;
    """
    assert not only(lint(sql), "validating-constraint")


def test_inline_references_and_check_on_new_column() -> None:
    sql = (
        "ALTER TABLE orders ADD COLUMN coupon_id bigint"
        " REFERENCES coupons (id) ON DELETE SET NULL CHECK (coupon_id > 0);"
    )
    f = one(lint(sql), "validating-constraint")
    assert "coupon_id" in f.message and "coupons" in f.message
    assert "ALTER TABLE orders ADD COLUMN coupon_id bigint;" in f.fix
    assert (
        "ADD CONSTRAINT orders_coupon_id_fkey FOREIGN KEY (coupon_id) "
        "REFERENCES coupons (id) ON DELETE SET NULL "
        "NOT VALID;" in f.fix
    )
    assert "ADD CONSTRAINT orders_coupon_id_check CHECK (coupon_id > 0) NOT VALID;" in f.fix


def test_unique_recipe_uses_using_index() -> None:
    f = one(lint("ALTER TABLE users ADD UNIQUE (email);"), "unique-without-index")
    assert "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);" in f.fix
    assert "ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;" in f.fix
    assert not only(lint("ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX k;"), "unique-without-index")


def test_primary_key_recipe_proves_not_null_only_when_needed() -> None:
    nullable = one(lint("ALTER TABLE events ADD PRIMARY KEY (id);"), "unique-without-index")
    assert "CHECK (id IS NOT NULL) NOT VALID" in nullable.fix
    setup = "CREATE TABLE events (id bigint NOT NULL, body text);"
    known = one(lint("ALTER TABLE events ADD PRIMARY KEY (id);", setup=setup), "unique-without-index")
    assert "IS NOT NULL" not in known.fix
    assert "ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;" in known.fix


def test_nulls_not_distinct_is_kept_on_the_index() -> None:
    f = one(lint("ALTER TABLE t ADD CONSTRAINT k UNIQUE NULLS NOT DISTINCT (a);"), "unique-without-index")
    assert "ON t (a) NULLS NOT DISTINCT;" in f.fix


def test_exclusion_constraint_says_not_valid_is_impossible() -> None:
    sql = "ALTER TABLE b ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&) NOT VALID;"
    f = one(lint(sql), "exclusion-constraint")
    assert "no online form" in f.message and "fails as written" in f.message
    assert "ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&);" in f.fix  # NOT VALID removed


# ---- table-rewrite -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    ["n bigserial", "n serial8", "n int GENERATED ALWAYS AS IDENTITY", "n uuid DEFAULT gen_random_uuid()",
     "n timestamptz DEFAULT clock_timestamp()", "n int GENERATED ALWAYS AS (a + 1) STORED"],
)  # fmt: skip
def test_per_row_values_rewrite(column: str) -> None:
    f = one(lint(f"ALTER TABLE orders ADD COLUMN {column};"), "table-rewrite")
    assert "rewrites the whole table" in f.message and "orders" in f.message


def test_constant_default_rewrites_only_before_11() -> None:
    sql = "ALTER TABLE orders ADD COLUMN priority int NOT NULL DEFAULT 0;"
    assert not only(lint(sql, pg=11), "table-rewrite")
    f = one(lint(sql, pg=10), "table-rewrite")
    assert "before PostgreSQL 11" in f.message
    assert not only(lint("ALTER TABLE orders ADD COLUMN p int DEFAULT NULL;", pg=10), "table-rewrite")


def test_backfill_uses_the_known_primary_key() -> None:
    setup = 'CREATE TABLE "Order" (order_no bigint PRIMARY KEY, a int);'
    f = one(lint('ALTER TABLE "Order" ADD COLUMN u uuid DEFAULT gen_random_uuid();', setup=setup), "table-rewrite")
    assert 'SELECT min(order_no), max(order_no) INTO batch_start, last_key FROM "Order";' in f.fix
    assert 'UPDATE "Order" SET u = gen_random_uuid() WHERE order_no >= batch_start' in f.fix


@pytest.mark.parametrize(
    "sql",
    ["VACUUM FULL orders;", "VACUUM (FULL) ;", "CLUSTER orders USING orders_pkey;", "CLUSTER;",
     "ALTER TABLE orders SET TABLESPACE fast;", "ALTER TABLE orders SET LOGGED;",
     "ALTER TABLE orders SET UNLOGGED;", "ALTER TABLE orders SET ACCESS METHOD heap2;"],
)  # fmt: skip
def test_whole_table_rewrites(sql: str) -> None:
    assert one(lint(sql), "table-rewrite")


def test_storage_parameters_and_new_tables_do_not_rewrite() -> None:
    sql = """
    ALTER TABLE orders SET (fillfactor = 70);
    CREATE TABLE t (id bigint PRIMARY KEY);
    ALTER TABLE t ADD COLUMN n bigserial;
    VACUUM FULL t;
    ALTER TABLE t SET UNLOGGED;
    """
    assert not only(lint(sql), "table-rewrite")


# ---- blocking-statement --------------------------------------------------------------------------


def test_lock_table_modes() -> None:
    f = one(lint("LOCK TABLE orders;"), "blocking-statement")
    assert "ACCESS EXCLUSIVE" in f.message and "orders" in f.message
    assert not only(lint("LOCK TABLE orders IN ROW EXCLUSIVE MODE;"), "blocking-statement")
    assert len(only(lint("LOCK TABLE a, b IN SHARE MODE;"), "blocking-statement")) == 2


def test_detach_partition_versions() -> None:
    f14 = one(lint("ALTER TABLE m DETACH PARTITION m_2020;", pg=14), "blocking-statement")
    assert f14.severity == Severity.ERROR and "DETACH PARTITION m_2020 CONCURRENTLY;" in f14.fix
    f13 = one(lint("ALTER TABLE m DETACH PARTITION m_2020;", pg=13), "blocking-statement")
    assert f13.severity == Severity.WARNING and "no concurrent form" in f13.message


def test_refresh_materialized_view_is_a_warning() -> None:
    f = one(lint("REFRESH MATERIALIZED VIEW stats;"), "blocking-statement")
    assert f.severity == Severity.WARNING and "REFRESH MATERIALIZED VIEW CONCURRENTLY stats;" in f.fix


def test_the_table_a_reindex_locks() -> None:
    from bgmigrate.lint.rules.api import OpContext
    from bgmigrate.model import operations as ops
    from bgmigrate.model.schema import Schema
    from bgmigrate.sql.names import Name

    ctx = OpContext(Schema(), Migration(path="m.sql", kind="sql", statements=()), LintSettings(), False, False)
    stmt = split_sql("REINDEX TABLE orders;")[0]
    assert ctx.lock_table(ops.Reindex(stmt, kind="table", target_name=Name("orders"))) == Name("orders")
    assert ctx.lock_table(ops.Reindex(stmt, kind="database", target_name=Name("app"))) is None


def test_refreshing_a_view_created_and_renamed_here_is_quiet() -> None:
    sql = (
        "CREATE MATERIALIZED VIEW stats_new AS SELECT 1 AS n;\n"
        "ALTER MATERIALIZED VIEW stats_new RENAME TO stats;\n"
        "REFRESH MATERIALIZED VIEW stats;"
    )
    found = lint(sql)
    assert not only(found, "blocking-statement") and not only(found, "missing-lock-timeout")


# ---- transactions ----------------------------------------------------------------------------------


def test_concurrently_outside_transaction_is_fine() -> None:
    sql = "CREATE INDEX CONCURRENTLY ix ON t (a); DROP INDEX CONCURRENTLY ix;"
    assert not only(lint(sql), "concurrently-in-transaction")
    assert len(only(lint(sql, tx=True), "concurrently-in-transaction")) == 2


def test_alembic_concurrently_fix_names_the_call() -> None:
    f = one(lint("CREATE INDEX CONCURRENTLY ix_a ON shop.t (a);", alembic=True), "concurrently-in-transaction")
    assert "with op.get_context().autocommit_block():" in f.fix
    assert 'op.create_index("ix_a", "t", ["a"], schema="shop", postgresql_concurrently=True)' in f.fix


def test_alembic_autocommit_block_statements_are_outside_the_transaction() -> None:
    migration = load_sql("m.sql", "ALTER TABLE t ADD COLUMN c int;\nCREATE INDEX CONCURRENTLY ix ON t (c);\n")
    stmts = (migration.statements[0], replace(migration.statements[1], in_autocommit_block=True))
    migration = replace(migration, kind="alembic", implicit_transaction=True, statements=stmts)
    settings = LintSettings(select=LOCKING)
    findings, _ = lint_migrations([migration], CATALOGUE, settings, select_rules(CATALOGUE, settings))
    assert not only(findings, "concurrently-in-transaction")
    assert not only(findings, "lock-held-across-statements")


def test_detach_finalize_may_run_in_a_transaction() -> None:
    assert not only(lint("ALTER TABLE m DETACH PARTITION p FINALIZE;", tx=True), "concurrently-in-transaction")


def test_statement_fails_in_transaction_kinds() -> None:
    sql = "VACUUM t; VACUUM FULL t; CLUSTER; REINDEX DATABASE app; CREATE DATABASE x; ALTER SYSTEM SET a = 1;"
    assert len(only(lint(sql, tx=True), "statement-fails-in-transaction")) == 6
    assert not only(lint(sql), "statement-fails-in-transaction")


def test_enum_value_before_12_allowed_for_a_type_created_in_the_same_transaction() -> None:
    sql = "CREATE TYPE mood AS ENUM ('sad'); ALTER TYPE mood ADD VALUE 'ok';"
    assert not only(lint(sql, pg=11, tx=True), "enum-add-value-in-transaction")
    f = one(lint("ALTER TYPE mood ADD VALUE 'ok';", pg=11, tx=True), "enum-add-value-in-transaction")
    assert "mood" in f.message and "PostgreSQL 12" in f.message


def test_enum_value_used_later_in_the_transaction() -> None:
    sql = """BEGIN;
    ALTER TYPE mood ADD VALUE 'ok';
    ALTER TYPE mood ADD VALUE 'great' AFTER 'ok';
    ALTER TABLE t ALTER COLUMN m SET DEFAULT 'ok';
    INSERT INTO t (m) VALUES ('ok');
    COMMIT;"""
    f = one(lint(sql), "enum-add-value-in-transaction")
    assert f.line == 4 and "'ok'" in f.message and "line 2" in f.message
    assert "COMMIT; then BEGIN;" in f.fix


# ---- missing-lock-timeout -------------------------------------------------------------------------


def test_lock_timeout_once_per_statement() -> None:
    findings = only(lint("ALTER TABLE t ADD COLUMN a int, ADD COLUMN b int; DROP INDEX x, y;"), "missing-lock-timeout")
    assert [f.line for f in findings] == [1, 1] and len({f.message for f in findings}) == 2


def test_lock_timeout_counts_strong_locks_on_existing_tables_only() -> None:
    sql = """
    UPDATE t SET a = 1 WHERE id < 10;
    CREATE INDEX CONCURRENTLY i ON t (a);
    ALTER TABLE t VALIDATE CONSTRAINT c;
    CREATE TABLE n (id bigint PRIMARY KEY);
    ALTER TABLE n ADD COLUMN x int;
    """
    assert not only(lint(sql), "missing-lock-timeout")
    f = one(
        lint("CREATE TRIGGER tr BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f();"),
        "missing-lock-timeout",
    )
    assert "SHARE ROW EXCLUSIVE on orders" in f.message


def test_lock_timeout_set_local_in_transaction_and_reset() -> None:
    assert not only(
        lint("BEGIN; SET LOCAL lock_timeout = '1s'; ALTER TABLE t ADD COLUMN a int; COMMIT;"),
        "missing-lock-timeout",
    )
    # SET LOCAL ends with its transaction.
    assert one(
        lint("BEGIN; SET LOCAL lock_timeout = '1s'; COMMIT; ALTER TABLE t ADD COLUMN a int;"),
        "missing-lock-timeout",
    )
    assert only(lint("SET lock_timeout = 0; ALTER TABLE t ADD COLUMN a int;"), "missing-lock-timeout")


def test_lock_timeout_skips_tables_the_transaction_already_holds() -> None:
    findings = only(
        lint("ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ADD COLUMN b int;\n", tx=True),
        "missing-lock-timeout",
    )
    assert [f.line for f in findings] == [1]
    assert "SET LOCAL lock_timeout" in findings[0].fix


def test_lock_timeout_alembic_fix() -> None:
    f = one(lint("ALTER TABLE t ADD COLUMN a int;", alembic=True), "missing-lock-timeout")
    assert "op.execute(\"SET lock_timeout = '300ms'\")" in f.fix


# ---- lock-held-across-statements ----------------------------------------------------------------------


def test_lock_held_reported_once_per_transaction_naming_the_holder() -> None:
    sql = """BEGIN;
ALTER TABLE orders ADD COLUMN a int;
ALTER TABLE orders ADD COLUMN b int;
CREATE INDEX i ON orders (a);
UPDATE orders SET a = 1;
COMMIT;
BEGIN;
ALTER TABLE users DROP COLUMN legacy;
ALTER TABLE orders ADD COLUMN c int;
COMMIT;"""
    findings = only(lint(sql), "lock-held-across-statements")
    assert [f.line for f in findings] == [4, 9]
    assert "line 2" in findings[0].message and "orders" in findings[0].message
    assert "line 8" in findings[1].message and "users" in findings[1].message


def test_lock_held_ignores_binary_coercible_type_changes_and_new_tables() -> None:
    setup = "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(10));"
    sql = """
    ALTER TABLE t ADD COLUMN a int;
    ALTER TABLE t ALTER COLUMN v TYPE varchar(20);
    CREATE TABLE n (id bigint PRIMARY KEY);
    CREATE INDEX n_idx ON n (id);
    INSERT INTO n VALUES (1);
    """
    assert not only(lint(sql, setup=setup, tx=True), "lock-held-across-statements")


def test_lock_held_judges_type_changes_by_the_type_before_them() -> None:
    setup = "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(10), n int);"
    rewrite = "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ALTER COLUMN n TYPE bigint;\n"
    assert [f.line for f in only(lint(rewrite, setup=setup, tx=True), "lock-held-across-statements")] == [2]
    sql = (
        "ALTER TABLE t ADD COLUMN a int;\nALTER TABLE t ALTER COLUMN v TYPE text;\n"
        "ALTER TABLE t ALTER COLUMN n TYPE bigint;\nCREATE INDEX i ON t (a);\n"
    )
    assert [f.line for f in only(lint(sql, setup=setup, tx=True), "lock-held-across-statements")] == [3]


# ---- unbatched-data-change --------------------------------------------------------------------------


def test_unbatched_recipe_keeps_the_users_statement() -> None:
    setup = "CREATE TABLE orders (order_no bigint PRIMARY KEY, status text);"
    sql = "UPDATE orders SET status = 'where?' WHERE status IS NULL OR (status = 'x') RETURNING order_no;"
    f = one(lint(sql, setup=setup), "unbatched-data-change")
    assert "orders" in f.message and "locked" in f.message and "replica" in f.message
    assert (
        "UPDATE orders SET status = 'where?' "
        "WHERE order_no >= batch_start AND order_no < batch_start + 10000 "
        "AND (status IS NULL OR (status = 'x'));" in f.fix
    )
    assert "RETURNING" not in f.fix


def test_batched_and_new_table_changes_are_quiet() -> None:
    sql = """
    UPDATE orders SET a = 1 WHERE id BETWEEN 1 AND 1000;
    DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE a = 0 LIMIT 1000);
    CREATE TABLE n (id bigint PRIMARY KEY, a int);
    UPDATE n SET a = 1;
    """
    assert not only(lint(sql), "unbatched-data-change")


# ---- style ---------------------------------------------------------------------------------------------


def test_style_rules_fire_when_selected() -> None:
    sql = """CREATE TABLE "Customer" (
        id serial PRIMARY KEY, account_id int4, visits integer,
        seen timestamp(3) without time zone, email varchar(255), country char(2), memo varchar,
        data json, doc jsonb, at timestamptz
    );"""
    findings = lint(sql, select=STYLE)
    assert [f.message.split(" ")[2] for f in only(findings, "prefer-bigint")] == [
        "Customer.id",
        "Customer.account_id",
    ]
    assert "bigserial" in only(findings, "prefer-bigint")[0].fix
    assert one(findings, "prefer-identity").fix.count("integer GENERATED BY DEFAULT AS IDENTITY") == 1
    assert "timestamptz(3)" in one(findings, "prefer-timestamptz").fix
    assert len(only(findings, "prefer-text")) == 2
    assert "CHECK (char_length(email) <= 255)" in only(findings, "prefer-text")[0].fix
    assert one(findings, "prefer-jsonb")


def test_prefer_if_exists_forms() -> None:
    sql = "DROP TABLE a; DROP INDEX CONCURRENTLY b; ALTER TABLE c DROP COLUMN d, DROP CONSTRAINT e;"
    sql += " DROP TABLE IF EXISTS f;"
    fixes = [f.fix for f in only(lint(sql, select=STYLE), "prefer-if-exists")]
    assert len(fixes) == 4
    assert any("DROP INDEX CONCURRENTLY IF EXISTS b;" in x for x in fixes)
    assert any("ALTER TABLE c DROP COLUMN IF EXISTS d;" in x for x in fixes)


# ---- the recipes run on a real PostgreSQL ----------------------------------------------------------------

_SQL_START = re.compile(r"(ALTER|CREATE|DROP|DO|UPDATE|DELETE|SET|REINDEX|SELECT|REFRESH)\b")


def recipe_sql(fix: str) -> list[str]:
    """The SQL statements a fix recommends, in order (prose lines skipped)."""
    lines: list[str] = []
    open_statement = False
    for line in fix.splitlines():
        if not line.startswith("   "):
            open_statement = False
            continue
        body = line[3:]
        if not open_statement and not _SQL_START.match(body):
            continue
        lines.append(body)
        text = "\n".join(lines)
        bare = re.sub(r"\s+--.*$", "", body)
        open_statement = text.count("$$") % 2 == 1 or not bare.rstrip().endswith(";")
    return [s.text for s in split_sql("\n".join(lines))]


def run(dsn: str, statements: list[str]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def scalar(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE customers (id bigint PRIMARY KEY);
CREATE TABLE shop."Order" (order_no bigint PRIMARY KEY, customer_id bigint, total numeric, code text, a int);
INSERT INTO customers SELECT g FROM generate_series(1, 50) g;
INSERT INTO shop."Order" SELECT g, g % 50 + 1, g, 'c' || g, g FROM generate_series(1, 25000) g;
CREATE TABLE events (id bigint, body text);
INSERT INTO events SELECT g, 'x' FROM generate_series(1, 100) g;
"""


def _fix(sql: str, rule: str) -> str:
    return one(lint(sql, setup=SCHEMA), rule).fix


@pytest.mark.parametrize(
    ("rule", "sql", "check"),
    [
        ("validating-constraint",
         'ALTER TABLE shop."Order" ADD FOREIGN KEY (customer_id) REFERENCES customers (id);',
         "SELECT bool_and(convalidated) FROM pg_constraint WHERE conname = 'Order_customer_id_fkey'"),
        ("validating-constraint",
         'ALTER TABLE shop."Order" ADD COLUMN buyer bigint REFERENCES customers CHECK (buyer > 0);',
         "SELECT count(*) = 2 AND bool_and(convalidated) FROM pg_constraint "
         "WHERE conname LIKE 'Order_buyer_%'"),
        ("unique-without-index",
         'ALTER TABLE shop."Order" ADD UNIQUE (code);',
         "SELECT contype = 'u' FROM pg_constraint WHERE conname = 'Order_code_key'"),
        ("unique-without-index",
         "ALTER TABLE events ADD PRIMARY KEY (id);",
         "SELECT contype = 'p' FROM pg_constraint WHERE conname = 'events_pkey'"),
        ("table-rewrite",
         'ALTER TABLE shop."Order" ADD COLUMN seq bigserial;',
         'SELECT count(DISTINCT seq) = 25000 FROM shop."Order"'),
        ("table-rewrite",
         'ALTER TABLE shop."Order" ADD COLUMN pid uuid NOT NULL DEFAULT gen_random_uuid();',
         "SELECT attnotnull FROM pg_attribute "
         "WHERE attrelid = 'shop.\"Order\"'::regclass AND attname = 'pid'"),
        ("table-rewrite",
         'ALTER TABLE shop."Order" ADD COLUMN double_a int GENERATED ALWAYS AS (a * 2) STORED;',
         'SELECT count(*) = 0 FROM shop."Order" WHERE double_a IS DISTINCT FROM a * 2'),
        ("non-concurrent-index",
         'CREATE INDEX ON shop."Order" (customer_id);',
         "SELECT indisvalid FROM pg_index WHERE indexrelid = 'shop.\"Order_customer_id_idx\"'::regclass"),
        ("unbatched-data-change",
         "UPDATE shop.\"Order\" SET code = upper(code) WHERE code LIKE 'c%';",
         'SELECT count(*) = 0 FROM shop."Order" WHERE code LIKE \'c%\''),
    ],
)  # fmt: skip
def test_recipe_runs_on_postgres(pg_dsn: str, rule: str, sql: str, check: str) -> None:
    run(pg_dsn, [s.text for s in split_sql(SCHEMA)])
    statements = recipe_sql(_fix(sql, rule))
    if rule == "non-concurrent-index":
        statements = statements[:1]  # step 2 is the cleanup after a failed build
    assert statements
    run(pg_dsn, statements)
    assert scalar(pg_dsn, check) is True


def test_generated_column_trigger_keeps_new_rows_in_sync(pg_dsn: str) -> None:
    run(pg_dsn, [s.text for s in split_sql(SCHEMA)])
    fix = _fix(
        'ALTER TABLE shop."Order" ADD COLUMN double_a int GENERATED ALWAYS AS (a * 2) STORED;',
        "table-rewrite",
    )
    statements = [s.replace("NEW.double_a := (a * 2)", "NEW.double_a := (NEW.a * 2)") for s in recipe_sql(fix)]
    run(pg_dsn, statements)
    run(pg_dsn, ['INSERT INTO shop."Order" (order_no, a) VALUES (999999, 21)'])
    assert scalar(pg_dsn, 'SELECT double_a = 42 FROM shop."Order" WHERE order_no = 999999') is True


def test_an_unnamed_constraint_on_a_long_table_is_named_as_postgresql_cuts_it() -> None:
    # The recipe names the constraint it validates: the name must be the one the server gives it.
    from bgmigrate.sql.implicit_names import constraint_name

    table = "t" + "x" * 60
    setup = f"CREATE TABLE {table} (id int, amount_in_cents int);"
    findings = lint(f"ALTER TABLE {table} ADD CHECK (amount_in_cents > 0);", setup=setup)
    fix = next(f.fix for f in findings if f.rule == "validating-constraint")
    expected = constraint_name(table, "check", ("amount_in_cents",))
    assert len(expected.encode()) <= 63 and f"VALIDATE CONSTRAINT {expected};" in fix, fix
