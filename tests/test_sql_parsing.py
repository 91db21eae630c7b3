"""The SQL front-end reads real, messy migration files as PostgreSQL would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.model import operations as ops
from bgmigrate.parse.parser import StatementSyntaxError, parse_statement
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import split_sql


def parse(sql: str) -> list[ops.Operation]:
    return [op for stmt in split_sql(sql) for op in parse_statement(stmt)]


def kinds(sql: str) -> list[str]:
    return [type(op).__name__ for op in parse(sql)]


def test_statement_positions_are_one_based_and_span_lines() -> None:
    stmts = split_sql("SELECT 1;\n\n  ALTER TABLE t\n    DROP COLUMN c;\n")
    assert [(s.line, s.column, s.end_line) for s in stmts] == [(1, 1, 1), (3, 3, 4)]
    assert stmts[1].text == "ALTER TABLE t\n    DROP COLUMN c"


def test_comments_strings_and_function_bodies_hide_statements() -> None:
    sql = """
    -- DROP TABLE a;
    /* DROP TABLE b; /* nested; */ still comment; */
    SELECT 'DROP TABLE c; it''s text';
    SELECT E'\\'; DROP TABLE d';
    CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$ BEGIN DROP TABLE e; END $body$;
    CREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;
    """
    assert kinds(sql) == ["Other", "Other", "CreateObject", "CreateObject"]


def test_psql_meta_commands_and_variables() -> None:
    sql = "\\set ON_ERROR_STOP on\nALTER TABLE :tbl ADD COLUMN c int DEFAULT :'dflt';\n\\i other.sql\n"
    operations = parse(sql)
    assert [type(o).__name__ for o in operations] == ["Other", "AddColumn", "Unparsed"]
    add = operations[1]
    assert isinstance(add, ops.AddColumn) and add.target == Name("tbl") and add.column.default == "'dflt'"
    assert "not read" in operations[2].reason  # type: ignore[attr-defined]


def test_casts_are_not_psql_variables() -> None:
    op = parse("UPDATE orders SET total = total::numeric WHERE id = 1;")[0]
    assert isinstance(op, ops.UpdateRows) and op.target == Name("orders")


def test_adjacent_string_literals_across_lines() -> None:
    assert kinds("COMMENT ON TABLE t IS 'a'\n  'b';") == ["Other"]


def test_multi_object_drop_index() -> None:
    operations = parse("DROP INDEX CONCURRENTLY IF EXISTS a, public.b;")
    assert [(o.index, o.concurrently, o.if_exists) for o in operations] == [  # type: ignore[attr-defined]
        (Name("a"), True, True),
        (Name("b", "public"), True, True),
    ]


def test_pg18_not_null_table_constraint() -> None:
    table = parse("CREATE TABLE t (a int, b int, CONSTRAINT a_nn NOT NULL a);")[0]
    assert isinstance(table, ops.CreateTable)
    assert {c.name: c.nullable for c in table.columns} == {"a": False, "b": True}


def test_rename_without_column_keyword_is_a_column_rename() -> None:
    op = parse("ALTER TABLE orders RENAME status TO state;")[0]
    assert isinstance(op, ops.RenameColumn) and (op.column, op.new_name) == ("status", "state")
    assert isinstance(parse("ALTER TABLE orders RENAME TO purchases;")[0], ops.RenameTable)


def test_statements_sqlglot_leaves_opaque_become_structured() -> None:
    assert kinds(
        """
        ALTER TABLE t VALIDATE CONSTRAINT c;
        ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_id_idx;
        ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' AFTER 'ok';
        REINDEX (VERBOSE) TABLE CONCURRENTLY t;
        """
    ) == ["ValidateConstraint", "AddConstraint", "AddEnumValue", "Reindex"]
    reindex = parse("REINDEX (VERBOSE) TABLE CONCURRENTLY t;")[0]
    assert isinstance(reindex, ops.Reindex) and reindex.concurrently


def test_quoted_identifiers_keep_case_and_unquoted_fold() -> None:
    op = parse('ALTER TABLE Shop."Orders" DROP COLUMN "Status";')[0]
    assert isinstance(op, ops.DropColumn)
    assert op.target == Name("Orders", "shop") and op.column == "Status"


def test_alter_table_with_several_actions() -> None:
    operations = parse("ALTER TABLE t ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c SET NOT NULL;")
    assert [type(o).__name__ for o in operations] == ["AddColumn", "DropColumn", "SetNotNull"]
    assert len({id(o.stmt) for o in operations}) == 1


def test_column_definitions() -> None:
    op = parse("ALTER TABLE t ADD COLUMN IF NOT EXISTS id bigserial, ADD c uuid NOT NULL DEFAULT gen_random_uuid();")
    serial, uuid = op
    assert isinstance(serial, ops.AddColumn) and serial.column.serial and serial.column.type == "bigint"
    assert isinstance(uuid, ops.AddColumn)
    assert not uuid.column.nullable and uuid.column.default_volatile
    gen = parse("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED;")[0]
    assert isinstance(gen, ops.AddColumn) and gen.column.generated_stored


def test_batched_and_unbatched_updates() -> None:
    batched = parse("UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t WHERE a IS NULL LIMIT 1000);")[0]
    ranged = parse("DELETE FROM t WHERE id >= 1 AND id < 5000;")[0]
    whole = parse("UPDATE t SET a = 1;")[0]
    assert isinstance(batched, ops.UpdateRows) and batched.batched
    assert isinstance(ranged, ops.DeleteRows) and ranged.batched
    assert isinstance(whole, ops.UpdateRows) and not whole.batched and not whole.has_where


def test_settings_and_transactions() -> None:
    operations = parse(
        "BEGIN; SET LOCAL lock_timeout = '5s'; SELECT set_config('statement_timeout', '1min', true); COMMIT;"
    )
    assert kinds("START TRANSACTION; END;") == ["TransactionControl", "TransactionControl"]
    setting = operations[1]
    assert isinstance(setting, ops.SetConfig) and (setting.setting, setting.value, setting.local) == (
        "lock_timeout",
        "5s",
        True,
    )
    assert isinstance(operations[2], ops.SetConfig) and operations[2].local


@pytest.mark.parametrize(
    "sql",
    ["ALTR TABLE t ADD COLUMN a int", "ALTER TABLE t ADD COLUMN", "CREATE INDEX ON", "DROP"],
)
def test_syntax_errors_are_reported_not_guessed(sql: str) -> None:
    with pytest.raises(StatementSyntaxError):
        parse(sql + ";")


def test_one_bad_statement_does_not_hide_the_rest() -> None:
    from bgmigrate.lint.engine import parse_migration
    from bgmigrate.parse.source import load_sql

    operations, errors = parse_migration(load_sql("m.sql", "ALTR x;\nALTER TABLE t DROP COLUMN c;\n"))
    assert [e.line for e in errors] == [1]
    assert [type(o).__name__ for o in operations] == ["DropColumn"]


def test_unknown_but_valid_statements_are_unparsed_not_dropped() -> None:
    assert kinds("DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'x'; END $$;") == ["Unparsed"]
    assert kinds("DO LANGUAGE plperl $$ 1; $$;") == ["Unparsed"]
    assert kinds("DO $$ BEGIN FROB orders; END $$;") == ["Unparsed"]


def test_do_block_statements_are_operations_at_their_lines() -> None:
    sql = (
        "DO $$\n"
        "DECLARE\n"
        "    n int := 0;\n"
        "BEGIN\n"
        "    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attname = 'region') THEN\n"
        "        ALTER TABLE orders ADD COLUMN region text;\n"
        "    END IF;\n"
        "    n := n + 1;\n"
        "    CREATE INDEX orders_region_idx ON orders (region);\n"
        "EXCEPTION WHEN duplicate_column THEN\n"
        "    RAISE NOTICE 'already there';\n"
        "END\n"
        "$$;\n"
    )
    operations = parse(sql)
    assert [type(o).__name__ for o in operations] == ["AddColumn", "CreateIndex"]
    assert [(o.stmt.line, o.stmt.column) for o in operations] == [(6, 9), (9, 5)]
    assert all(o.stmt.owner is not None and o.stmt.owner.line == 1 for o in operations)
    assert kinds("DO $$ BEGIN PERFORM 1; END $$;") == ["Other"]


def test_do_block_runs_in_a_transaction_and_keeps_its_suppressions() -> None:
    from bgmigrate.lint.catalogue import load_catalogue
    from bgmigrate.lint.engine import lint_migrations
    from bgmigrate.lint.selection import select_rules
    from bgmigrate.lint.settings import LintSettings
    from bgmigrate.parse.source import load_sql

    sql = (
        "-- bgmigrate: ignore[missing-lock-timeout] deploy window\n"
        "DO $$ BEGIN\n"
        "  ALTER TABLE orders ADD COLUMN b int;\n"
        "  CREATE INDEX CONCURRENTLY orders_a_idx ON orders (a);\n"
        "END $$;\n"
    )
    catalogue, settings = load_catalogue(), LintSettings()
    findings, errors = lint_migrations([load_sql("m.sql", sql)], catalogue, settings, select_rules(catalogue, settings))
    rules = {(f.rule, f.line) for f in findings}
    assert errors == []
    assert ("concurrently-in-transaction", 4) in rules  # a DO block is one statement: one transaction
    assert not any(rule in ("missing-lock-timeout", "unused-ignore") for rule, _ in rules)


def test_set_schema_moves_are_renames() -> None:
    table, view = parse("ALTER TABLE t SET SCHEMA archive; ALTER VIEW v SET SCHEMA archive;")
    assert isinstance(table, ops.AlterTableSet) and table.new_schema == "archive"
    assert isinstance(view, ops.RenameObject) and (view.kind, view.new_schema) == ("view", "archive")


def test_drops_of_objects_without_plain_names() -> None:
    operator, config = parse("DROP OPERATOR IF EXISTS === (int, int); DROP TEXT SEARCH CONFIGURATION en_x;")
    assert isinstance(operator, ops.DropObject) and operator.kind == "operator" and operator.if_exists
    assert isinstance(config, ops.DropObject) and config.kind == "text search configuration"


def test_default_null_identity_and_serial_nullability() -> None:
    nul, ident, serial = parse(
        "ALTER TABLE t ADD COLUMN a int DEFAULT NULL, ADD COLUMN b int GENERATED BY DEFAULT AS IDENTITY,"
        " ADD COLUMN c serial;"
    )
    assert isinstance(nul, ops.AddColumn) and nul.column.default is None and nul.column.nullable
    assert isinstance(ident, ops.AddColumn) and ident.column.identity and not ident.column.nullable
    assert isinstance(serial, ops.AddColumn) and serial.column.serial and not serial.column.nullable


def test_truncate_and_drop_constraint_cascade() -> None:
    truncates = parse("TRUNCATE TABLE a, b CASCADE;")
    assert [(t.target.name, t.cascade) for t in truncates] == [("a", True), ("b", True)]  # type: ignore[attr-defined]
    drop = parse("ALTER TABLE t DROP CONSTRAINT c CASCADE;")[0]
    assert isinstance(drop, ops.DropConstraint) and drop.cascade


# ---- one unreadable statement never blinds the file; the lexer's CR and BOM (issue 11 B3, B4) ----

DEEP = "(" * 3000 + "1" + ")" * 3000
POISON = [
    "ALTER TYPE mood ADD VALUE U&'d\\0061t';",
    "ALTER TYPE mood ADD VALUE U&'d!0061t' UESCAPE '!';",
    "ALTER TYPE mood RENAME VALUE $x$a$x$ TO 'b';",
    f"SELECT {DEEP};",
    f"CREATE TABLE t2 (a int DEFAULT {DEEP});",
    f"ALTER TABLE orders ADD CONSTRAINT c CHECK ({DEEP} > 0);",
]


def _lint_file(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "0001_m.sql"
    path.write_text(text, encoding="utf-8")
    done = CliRunner().invoke(main, ["lint", str(path), "--format", "json"])
    assert done.exit_code in (0, 1), done.output
    report: dict[str, Any] = json.loads(done.output)
    return report


@pytest.mark.parametrize("poison", POISON)
def test_one_unreadable_statement_leaves_the_rest_of_the_file_analysed(tmp_path: Path, poison: str) -> None:
    report = _lint_file(tmp_path, f"{poison}\nDROP TABLE orders;\n")
    assert report["errors"] == []
    assert ("drop-table", 2) in {(f["rule"], f["line"]) for f in report["findings"]}


def test_several_poison_statements_in_one_file(tmp_path: Path) -> None:
    report = _lint_file(tmp_path, "\n".join([*POISON, "DROP TABLE orders;", ""]))
    rules = {(f["rule"], f["line"]) for f in report["findings"]}
    assert ("drop-table", len(POISON) + 1) in rules
    assert report["errors"] == []


def test_a_bare_carriage_return_ends_a_line_comment(tmp_path: Path) -> None:
    report = _lint_file(tmp_path, "SELECT 1; -- harmless\rDROP TABLE orders;\n-- a\r\nDROP TABLE customers;\n")
    dropped = sorted(f["message"].split()[2] for f in report["findings"] if f["rule"] == "drop-table")
    assert dropped == ["customers", "orders"]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    report = _lint_file(tmp_path, "\ufeffDROP TABLE orders;\n")
    assert report["errors"] == []
    [drop] = [f for f in report["findings"] if f["rule"] == "drop-table"]
    assert (drop["line"], drop["column"]) == (1, 1)
