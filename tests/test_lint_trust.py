"""Errors people trust: rollbacks, drop-and-recreate, targeted data changes, parser gaps.

Each test is one member of a class of false (or missed) findings seen on real projects'
migration histories; several members per class.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.findings import Finding, Severity
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model.schema import Schema, Table
from bgmigrate.parse.source import load_sql
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint
from bgmigrate.project.sources import SourceFile
from bgmigrate.sql.names import Name

CATALOGUE = load_catalogue()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def lint_dir(*paths: Path) -> LintResult:
    result, _ = run_lint(LintRequest(paths=tuple(str(p) for p in paths), use_cache=False, jobs=1))
    assert result.errors == []
    return result


def rules_at(result: LintResult) -> set[tuple[str, str, int]]:
    return {(Path(f.path).name, f.rule, f.line) for f in result.findings}


def lint(sql: str, *, setup: str = "", schema: Schema | None = None, tx: bool = False) -> list[Finding]:
    settings = LintSettings(assume_in_transaction=tx)
    migrations = [load_sql("setup.sql", setup)] if setup else []
    migrations.append(load_sql("m.sql", textwrap.dedent(sql), assume_in_transaction=tx))
    findings, errors = lint_migrations(
        migrations, CATALOGUE, settings, select_rules(CATALOGUE, settings), schema=schema, report={"m.sql"}
    )
    assert errors == []
    return findings


def named(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


# ---- 1. down migrations -------------------------------------------------------------------------

_GOLANG = {
    "m/1_users.up.sql": "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    "m/1_users.down.sql": "DROP TABLE users;\n",
    "m/2_email.up.sql": "SET lock_timeout = '1s';\nALTER TABLE users ADD COLUMN email text;\n",
    "m/2_email.down.sql": "SET lock_timeout = '1s';\nALTER TABLE users DROP COLUMN email;\n",
}


def test_golang_migrate_down_files_are_not_linted_as_forward_changes(tmp_path: Path) -> None:
    write(tmp_path, _GOLANG)
    result = lint_dir(tmp_path / "m")
    assert result.findings == []
    assert result.files == 2
    assert any("2 rollback scripts" in n and "1_users.down.sql" in n for n in result.notes), result.notes


@pytest.mark.parametrize(
    "files",
    [
        {"V1__users.sql": "CREATE TABLE users (id int);", "U1__users.sql": "DROP TABLE users;"},  # Flyway undo
        {"001_users.sql": "CREATE TABLE users (id int);", "001_users_down.sql": "DROP TABLE users;"},
        {"001_users.sql": "CREATE TABLE users (id int);", "001_users.undo.sql": "DROP TABLE users;"},
        {"1/up.sql": "CREATE TABLE users (id int);", "1/down.sql": "DROP TABLE users;"},  # diesel
    ],
)
def test_other_down_layouts_are_recognised(tmp_path: Path, files: dict[str, str]) -> None:
    write(tmp_path, {f"m/{name}": text for name, text in files.items()})
    result = lint_dir(tmp_path / "m")
    assert named(result.findings, "drop-table") == []
    assert any("rollback script" in n for n in result.notes)


def test_sqitch_revert_and_verify_are_left_out_and_joined_to_deploy(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "db/sqitch.plan": "%project=x\nusers 2024-01-01T00:00:00Z a <a@b> # users\n",
            "db/deploy/users.sql": "CREATE TABLE users (id int);\n",
            "db/revert/users.sql": "DROP TABLE users;\n",
            "db/verify/users.sql": "SELECT id FROM users WHERE false;\n",
        },
    )
    result = lint_dir(tmp_path / "db")
    assert result.findings == []
    notes = " ".join(result.notes)
    assert "1 rollback script (" in notes and "revert/users.sql" in notes
    assert "1 verify script (" in notes


def test_up_and_down_folders_replay_as_one_sequence(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "db/up/001_orders.sql": "CREATE TABLE orders (id int, note text);\n",
            "db/up/002_note.sql": "SET lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN tag text;\n",
            "db/down/002_note.sql": "SET lock_timeout = '1s';\nALTER TABLE orders DROP COLUMN tag;\n",
        },
    )
    assert lint_dir(tmp_path / "db").findings == []
    (tmp_path / "bgmigrate.toml").write_text('[lint]\ndown-migrations = "lint"\n', encoding="utf-8")
    # Judged as a rollback: after the ups, against the schema they built (orders is known).
    assert rules_at(lint_dir(tmp_path / "db")) == {("002_note.sql", "drop-column", 2)}


def test_dbmate_down_section_is_cut_and_can_be_linted_as_a_rollback(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "m/20240101_orders.sql": "CREATE TABLE orders (id int, note text);\n",
            "m/20240102_note.sql": """
                -- migrate:up
                SET lock_timeout = '1s';
                ALTER TABLE orders ADD COLUMN status text;

                -- migrate:down
                SET lock_timeout = '1s';
                ALTER TABLE orders DROP COLUMN status;
                """,
        },
    )
    skipped = lint_dir(tmp_path / "m")
    assert skipped.findings == []
    assert any("-- migrate:down section" in n for n in skipped.notes)

    (tmp_path / "bgmigrate.toml").write_text('[lint]\ndown-migrations = "lint"\n', encoding="utf-8")
    linted = lint_dir(tmp_path / "m")
    # The rollback is judged after the up, at its own line; the up part stays clean.
    assert rules_at(linted) == {("20240102_note.sql", "drop-column", 7)}


def test_rollbacks_replay_after_every_forward_migration_newest_first() -> None:
    from bgmigrate.project.rollbacks import arrange_rollbacks

    names = ["1_a.up.sql", "1_a.down.sql", "2_b.up.sql", "2_b.down.sql", "3_c.sql"]
    sources = [SourceFile(Path(n), n, b"SELECT 1;") for n in names]
    ordered, notes = arrange_rollbacks(sources, "lint", set(names))
    assert [s.shown for s in ordered] == ["1_a.up.sql", "2_b.up.sql", "3_c.sql", "2_b.down.sql", "1_a.down.sql"]
    assert notes == []


def test_a_down_file_named_on_the_command_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, _GOLANG)
    result = lint_dir(tmp_path / "m" / "2_email.down.sql")
    assert result.findings == [] and result.files == 0
    assert any("2_email.down.sql" in n for n in result.notes)


# ---- 5. files with other SQL endings ------------------------------------------------------------


def test_other_sql_endings_are_reported_and_can_be_configured(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "m/1_init.sql": "CREATE TABLE t (id int);\n",
            "m/2_drop.pgsql": "DROP TABLE t;\n",
            "m/3_drop.sql.postgres": "DROP TABLE t2;\n",
            "m/README.md": "not sql\n",
        },
    )
    result = lint_dir(tmp_path / "m")
    assert result.findings == []
    assert any("2 files whose name ends in none of sql-extensions" in n for n in result.notes), result.notes

    (tmp_path / "bgmigrate.toml").write_text('[lint]\nsql-extensions = [".sql", ".pgsql", "sql.postgres"]\n')
    configured = lint_dir(tmp_path / "m")
    assert {(name, rule) for name, rule, _ in rules_at(configured)} >= {
        ("2_drop.pgsql", "drop-table"),
        ("3_drop.sql.postgres", "drop-table"),
    }
    assert configured.notes == []


def test_config_rejects_bad_order_and_extensions(tmp_path: Path) -> None:
    from bgmigrate.project.config import ConfigError, load_config

    for text in ('order = "alphabetical"', "sql-extensions = []", 'down-migrations = "maybe"'):
        path = tmp_path / "bgmigrate.toml"
        path.write_text(f"[lint]\n{text}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"bgmigrate.toml:2: \[lint\] key"):
            load_config(path)


# ---- 2. drop then recreate ------------------------------------------------------------------------


_SHAPES = """
CREATE VIEW order_totals AS SELECT 1 AS total;
CREATE MATERIALIZED VIEW weekly AS SELECT 1 AS week;
CREATE FUNCTION total(int) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
"""


def test_view_and_trigger_dropped_and_recreated_in_a_transaction_are_not_removals() -> None:
    findings = lint(
        setup=_SHAPES,
        sql="""
        BEGIN;
        SET LOCAL lock_timeout = '1s';
        DROP VIEW order_totals;
        CREATE VIEW order_totals AS SELECT 1 AS total;
        DROP MATERIALIZED VIEW IF EXISTS weekly;
        CREATE MATERIALIZED VIEW weekly AS SELECT 1 AS week;
        DROP TRIGGER orders_touch ON orders;
        CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
        DROP FUNCTION total(int);
        CREATE FUNCTION total(a integer) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
        COMMIT;
        """,
    )
    assert named(findings, "drop-object") == []


def test_recreated_function_with_other_arguments_still_breaks_old_callers() -> None:
    findings = lint(
        """
        BEGIN;
        DROP FUNCTION price(bigint);
        CREATE FUNCTION price(item bigint, currency text) RETURNS numeric LANGUAGE sql AS $$ SELECT 1 $$;
        COMMIT;
        """
    )
    (found,) = named(findings, "drop-object")
    assert "(bigint, text) instead of (bigint)" in found.message
    assert found.severity == Severity.ERROR


def test_recreated_outside_a_transaction_leaves_a_gap_and_says_so() -> None:
    findings = lint("DROP VIEW v;\nCREATE VIEW v AS SELECT 1 AS x;\n")
    (found,) = named(findings, "drop-object")
    assert found.severity == Severity.WARNING and "not inside a transaction" in found.message
    again = lint("DROP VIEW v;\nCREATE VIEW v AS SELECT 1 AS x;\n", setup="CREATE VIEW v AS SELECT 2 AS x;", tx=True)
    assert named(again, "drop-object") == []


_VIEW = "CREATE VIEW totals AS SELECT o.id AS order_id, o.total::numeric AS total, o.note FROM orders o;\n"


def _recreated_view(select: str, create: str = "CREATE VIEW") -> list[Finding]:
    sql = f"BEGIN;\nDROP VIEW totals;\n{create} totals AS SELECT {select} FROM orders o;\nCOMMIT;\n"
    return named(lint(sql, setup=_VIEW), "drop-object")


@pytest.mark.parametrize("create", ["CREATE VIEW", "CREATE OR REPLACE VIEW"])
@pytest.mark.parametrize(
    ("select", "change"),
    [
        ("o.id AS order_id, o.total::numeric AS total", "without column note"),
        ("o.id AS order_id, o.total::numeric AS total, o.note AS remark", "with note renamed to remark"),
        ("o.id AS order_id, o.total::text AS total, o.note", "with total of type text instead of numeric"),
        ("o.id AS order_id, o.note", "without column total"),
    ],
)
def test_a_view_recreated_without_its_old_columns_breaks_the_old_version(select: str, change: str, create: str) -> None:
    (found,) = _recreated_view(select, create)
    assert found.severity == Severity.ERROR and f"created again {change}" in found.message, found.message
    assert "Old columns: (order_id, total, note)" in found.message
    assert "new columns: (" in found.message and found.line == 2


@pytest.mark.parametrize(
    "select",
    [
        "o.id AS order_id, o.total::numeric AS total, o.note",
        "o.id AS order_id, o.total::numeric AS total, o.note, o.currency, now() AS seen_at",
        "o.note, o.id AS order_id, o.total::numeric AS total",  # reordered: names still resolve
    ],
)
def test_a_view_recreated_with_its_columns_or_more_at_the_end_is_fine(select: str) -> None:
    assert _recreated_view(select) == []


@pytest.mark.parametrize(
    ("setup", "select", "why"),
    [
        ("", "o.id AS order_id", "its earlier definition was not seen"),
        (_VIEW, "*", "its new select list could not be read"),
        ("CREATE VIEW totals AS SELECT o.* FROM orders o;", "o.id", "its earlier select list could not be read"),
        (_VIEW, "o.id AS order_id, o.total::numeric AS total, o.note, o.a + o.b", "new select list could not"),
    ],
)
def test_a_view_whose_shape_cannot_be_read_is_reported_as_not_analysed(setup: str, select: str, why: str) -> None:
    sql = f"BEGIN;\nDROP VIEW totals;\nCREATE VIEW totals AS SELECT {select} FROM orders o;\nCOMMIT;\n"
    (found,) = named(lint(sql, setup=setup), "drop-object")
    assert found.severity == Severity.INFO and why in found.message and "not analysed" in found.message


_PRICE = "CREATE FUNCTION price(bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT 1 $$;\n"


@pytest.mark.parametrize(
    ("drop", "create", "expected"),
    [
        ("price(bigint)", "price(id bigint) RETURNS text", "returning text instead of numeric"),
        ("price", "price(id bigint) RETURNS SETOF numeric", "returning setof numeric instead of numeric"),
        ("price", "price(id bigint, c text) RETURNS numeric", "(bigint, text) instead of (bigint)"),
        ("price(bigint)", "price(id bigint) RETURNS numeric", None),
        ("price", "price(bigint) RETURNS NUMERIC", None),
    ],
)
def test_a_function_is_judged_by_its_whole_signature(drop: str, create: str, expected: str | None) -> None:
    sql = f"BEGIN;\nDROP FUNCTION {drop};\nCREATE FUNCTION {create} LANGUAGE sql AS $$ SELECT 1 $$;\nCOMMIT;\n"
    found = named(lint(sql, setup=_PRICE), "drop-object")
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0].message and found[0].severity == Severity.ERROR, found


def test_unique_constraint_dropped_and_added_again_is_not_a_removal() -> None:
    setup = "CREATE TABLE orders (id int, code text CONSTRAINT orders_code_key UNIQUE);"
    same = """
        BEGIN;
        ALTER TABLE orders DROP CONSTRAINT orders_code_key, ADD CONSTRAINT orders_code_key UNIQUE (code);
        COMMIT;
        """
    assert named(lint(same, setup=setup), "drop-unique-constraint") == []
    other = same.replace("UNIQUE (code)", "UNIQUE (code, id)")
    (changed,) = named(lint(other, setup=setup), "drop-unique-constraint")
    assert "(code)" in changed.message and "created again over (code, id)" in changed.message
    gone = "BEGIN;\nALTER TABLE orders DROP CONSTRAINT orders_code_key;\nCOMMIT;\n"
    assert len(named(lint(gone, setup=setup), "drop-unique-constraint")) == 1


# ---- 4. unbatched-data-change ---------------------------------------------------------------------

_ORDERS = """
CREATE TABLE orders (id bigserial PRIMARY KEY, code text UNIQUE, status text, a int, b int, UNIQUE (a, b));
"""


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE orders SET status = 'x' WHERE id = 3",
        "UPDATE orders SET status = 'x' WHERE orders.id IN (1, 2, 3)",
        "DELETE FROM orders WHERE id = 7",
        "UPDATE orders SET status = 'x' WHERE code = 'abc'::text",
        "UPDATE orders SET status = 'x' WHERE a = 1 AND b = 2 AND status <> 'y'",
        "UPDATE orders SET status = 'x' WHERE 42 = id",
        "UPDATE lookup SET label = 'Paid' WHERE id = 2",  # never seen: its id is taken as its key
    ],
)
def test_targeted_changes_are_not_unbatched(statement: str) -> None:
    assert named(lint(f"SET lock_timeout = '1s';\n{statement};\n", setup=_ORDERS), "unbatched-data-change") == []


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE orders SET status = 'x' WHERE status = 'y'",
        "UPDATE orders SET status = 'x' WHERE a = 1",
        "UPDATE orders SET status = 'x' WHERE id = 3 OR status = 'y'",
        "UPDATE orders SET status = 'x' WHERE id IN (SELECT id FROM old)",
        "DELETE FROM orders WHERE id > 3",
        "UPDATE orders SET status = 'x'",
    ],
)
def test_changes_over_many_rows_are_still_unbatched(statement: str) -> None:
    found = named(lint(f"SET lock_timeout = '1s';\n{statement};\n", setup=_ORDERS), "unbatched-data-change")
    assert len(found) == 1


def test_known_small_tables_are_quiet_and_large_ones_are_not() -> None:
    def schema(rows: int) -> Schema:
        base = Schema()
        base.tables[("public", "statuses")] = Table(Name("statuses"), rows_estimate=rows, size_bytes=8192, live=True)
        return base

    sql = "SET lock_timeout = '1s';\nUPDATE statuses SET label = upper(label);\n"
    assert named(lint(sql, schema=schema(12)), "unbatched-data-change") == []
    assert len(named(lint(sql, schema=schema(5_000_000)), "unbatched-data-change")) == 1


# ---- 5. parser gaps -------------------------------------------------------------------------------


def test_column_references_with_actions_parse() -> None:
    from bgmigrate.model import operations as ops
    from bgmigrate.parse.parser import parse_statement
    from bgmigrate.sql.statements import split_sql

    for tail in (
        "ON DELETE SET NULL ON UPDATE CASCADE",
        "ON UPDATE SET DEFAULT ON DELETE RESTRICT MATCH FULL",
        "MATCH SIMPLE ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED",
        "ON DELETE SET NULL (customer_id) NOT DEFERRABLE",
    ):
        sql = f"ALTER TABLE orders ADD COLUMN customer_id bigint REFERENCES customers (id) {tail} NOT NULL"
        (op,) = parse_statement(split_sql(sql)[0])
        assert isinstance(op, ops.AddColumn), tail
        assert op.column.references == Name("customers") and op.column.default is None
        assert op.column.nullable is False


def test_schema_qualified_types_are_the_same_types() -> None:
    setup = "CREATE TABLE users (id int, email citext, n int4);"
    for sql in (
        "ALTER TABLE users ALTER COLUMN email TYPE public.citext;",
        "ALTER TABLE users ALTER n TYPE pg_catalog.int4;",
    ):
        assert named(lint(f"SET lock_timeout = '1s';\n{sql}\n", setup=setup), "change-column-type") == []
    findings = lint('CREATE TABLE x (a "my schema".mytype NOT NULL, b public.citext);')
    assert named(findings, "unparsed-statement") == []


def test_alter_domain_add_constraint_validates_unless_not_valid() -> None:
    (found,) = named(
        lint("ALTER DOMAIN positive ADD CONSTRAINT positive_check CHECK (VALUE > 0);"), "validating-constraint"
    )
    assert "SHARE lock" in found.message and "NOT VALID" in found.fix
    assert (
        named(lint("ALTER DOMAIN positive ADD CONSTRAINT c CHECK (VALUE > 0) NOT VALID;"), "validating-constraint")
        == []
    )
    assert len(named(lint("ALTER DOMAIN positive SET NOT NULL;"), "validating-constraint")) == 1


@pytest.mark.parametrize("action", ["ENABLE TRIGGER orders_touch", "DISABLE TRIGGER ALL", "ENABLE ALWAYS TRIGGER t"])
def test_enable_disable_trigger_names_its_lock(action: str) -> None:
    (found,) = named(lint(f"ALTER TABLE orders {action};"), "missing-lock-timeout")
    assert "SHARE ROW EXCLUSIVE" in found.message


@pytest.mark.parametrize(
    "sql",
    [
        "DO LANGUAGE plpgsql $$ BEGIN ALTER TABLE orders DROP COLUMN note; END $$;",
        "DO LANGUAGE 'plpgsql' $$ BEGIN ALTER TABLE orders DROP COLUMN note; END $$;",
        "DO $body$ BEGIN ALTER TABLE orders DROP COLUMN note; END $body$ LANGUAGE plpgsql;",
    ],
)
def test_do_block_language_may_come_first_or_last(sql: str) -> None:
    assert len(named(lint(sql), "drop-column")) == 1


# ---- 6. strict parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE orders FROBNICATE status",
        "ALTER TABLE orders DROP COLUMN note oops",
        "ALTER TABLE orders ADD COLUMN note text text",
        "ALTER TABLE orders ALTER COLUMN note SET DEFAULT now now()",
        "ALTER TABLE orders OWNER TO bob extra",
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (a > 0) garbage",
        "ALTER TABLE orders ALTER COLUMN note SET STORAGE plain nonsense",
        "CREATE INDEX CONCURRENTLY i ON orders (status) whatever",
        "CREATE TABLE t (id int) WITHOUT ROWID",
    ],
)
def test_text_not_fully_understood_is_reported_not_passed(sql: str) -> None:
    findings = lint(f"SET lock_timeout = '1s';\n{sql};\n")
    assert [f.rule for f in findings if f.rule == "unparsed-statement"] == ["unparsed-statement"], findings
    assert named(findings, "unparsed-statement")[0].severity == Severity.WARNING


@pytest.mark.parametrize(
    ("create", "columns"),
    [
        ("CREATE VIEW v AS SELECT u.id, lower(email) AS e, n::int, count(*) c FROM u", "id e n:integer c"),
        ("CREATE OR REPLACE VIEW s.v (a, b) AS SELECT 1, x + y FROM t", "a b"),
        ("CREATE VIEW v AS WITH w AS (SELECT 1) SELECT CAST(z AS text), x::timestamp with time zone FROM w",
         "z:text x:timestamptz"),
        ("CREATE VIEW v AS SELECT a::int + b AS s, (a::int) AS p, c::numeric(10, 2) FROM t", "s p c:numeric(10,2)"),
        ("CREATE VIEW v AS SELECT 1 AS a WITH LOCAL CHECK OPTION", "a"),
        ("CREATE MATERIALIZED VIEW v AS SELECT DISTINCT ON (a) a, b FROM t WITH NO DATA", "a b"),
        ("CREATE VIEW v AS SELECT * FROM t", None),
        ("CREATE VIEW v AS SELECT t.*, 1 AS x FROM t", None),
        ("CREATE VIEW v AS SELECT a IS NULL FROM t", None),  # PostgreSQL makes the name up
        ("CREATE VIEW v AS VALUES (1)", None),
    ],
)  # fmt: skip
def test_view_columns_are_read_from_the_select_list(create: str, columns: str | None) -> None:
    from bgmigrate.lint.rules.shapes import view_columns

    found = view_columns(create)
    shown = None if found is None else " ".join(c.name + (f":{c.type}" if c.type else "") for c in found)
    assert shown == columns
