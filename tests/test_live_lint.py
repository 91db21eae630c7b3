"""Linting against a real database: sizes, live types and checks, unknown and existing objects."""

from __future__ import annotations

from pathlib import Path

from live_support import by_rule, cli, execute, fill, lint

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.settings import LintSettings
from bgmigrate.live.base import load_base_schema
from bgmigrate.live.introspect import read_live_schema
from bgmigrate.model.schema import Schema

TABLES = """
CREATE TABLE big (id bigint PRIMARY KEY, note text, code varchar(20), qty integer);
CREATE TABLE small (id bigint PRIMARY KEY, note text);
"""
INDEX_BIG = "CREATE INDEX big_note_idx ON big (note);"
INDEX_SMALL = "CREATE INDEX small_note_idx ON small (note);"


def _sized(pg_dsn: str) -> Schema:
    execute(pg_dsn, TABLES)
    fill(pg_dsn, "big", 20_000)
    fill(pg_dsn, "small", 50)
    return read_live_schema(pg_dsn)


def test_table_size_decides_the_severity_of_lock_findings(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    [big] = by_rule(lint(base, INDEX_BIG), "non-concurrent-index")
    assert big.severity == Severity.ERROR
    assert "(big: ~20 k rows, " in big.message and "MB)" in big.message
    [small] = by_rule(lint(base, INDEX_SMALL), "non-concurrent-index")
    assert small.severity == Severity.INFO
    assert "small: ~50 rows" in small.message and "below the small-table threshold" in small.message


def test_the_small_table_threshold_moves_severities_both_ways(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    strict = LintSettings(small_table_rows=10)  # 50 rows is no longer small
    [small] = by_rule(lint(base, INDEX_SMALL, settings=strict), "non-concurrent-index")
    assert small.severity == Severity.ERROR and "small: ~50 rows" in small.message
    lenient = LintSettings(small_table_rows=1_000_000)  # 20,000 rows now counts as small
    [big] = by_rule(lint(base, INDEX_BIG, settings=lenient), "non-concurrent-index")
    assert big.severity == Severity.INFO


def test_without_a_database_nothing_is_weighed() -> None:
    [plain] = by_rule(lint(None, "CREATE TABLE big (id bigint, note text);", INDEX_BIG), "non-concurrent-index")
    assert plain.severity == Severity.ERROR and "rows" not in plain.message


def test_type_changes_are_judged_against_the_live_type(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    # varchar(20) → text and → varchar(40) are binary-coercible: no rewrite, no finding.
    for sql in ("ALTER TABLE big ALTER COLUMN code TYPE text;", "ALTER TABLE big ALTER COLUMN code TYPE varchar(40);"):
        findings = lint(base, sql)
        assert not by_rule(findings, "change-column-type"), sql
    # integer → bigint and varchar(20) → varchar(10) rewrite the table.
    [widen] = by_rule(lint(base, "ALTER TABLE big ALTER COLUMN qty TYPE bigint;"), "change-column-type")
    assert widen.severity == Severity.ERROR and "from integer to bigint" in widen.message
    [narrow] = by_rule(lint(base, "ALTER TABLE big ALTER COLUMN code TYPE varchar(10);"), "change-column-type")
    assert "from character varying(20)" in narrow.message


def test_set_not_null_is_safe_behind_a_validated_live_check(pg_dsn: str) -> None:
    execute(pg_dsn, TABLES)
    execute(pg_dsn, "ALTER TABLE big ADD CONSTRAINT big_note_nn CHECK (note IS NOT NULL) NOT VALID;")
    sql = "ALTER TABLE big ALTER COLUMN note SET NOT NULL;"
    assert by_rule(lint(read_live_schema(pg_dsn), sql), "set-not-null"), "NOT VALID check: still a scan"
    execute(pg_dsn, "ALTER TABLE big VALIDATE CONSTRAINT big_note_nn;")
    assert not by_rule(lint(read_live_schema(pg_dsn), sql), "set-not-null")


def test_the_server_version_replaces_the_configured_one(pg_dsn: str) -> None:
    execute(pg_dsn, TABLES)
    execute(pg_dsn, "ALTER TABLE big ADD CONSTRAINT big_note_nn CHECK (note IS NOT NULL);")
    base = read_live_schema(pg_dsn)
    old = LintSettings(pg_version=11)  # before 12 a valid CHECK does not spare the scan
    assert by_rule(
        lint(
            None,
            TABLES,
            "ALTER TABLE big ADD CONSTRAINT big_note_nn CHECK (note IS NOT NULL);"
            "ALTER TABLE big ALTER COLUMN note SET NOT NULL;",
            settings=old,
        ),
        "set-not-null",
    )
    assert not by_rule(lint(base, "ALTER TABLE big ALTER COLUMN note SET NOT NULL;", settings=old), "set-not-null")


def test_unknown_objects_are_errors_only_against_a_live_schema(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    cases = {
        "ALTER TABLE bgi ADD COLUMN x int;": "Table bgi",
        "ALTER TABLE big DROP COLUMN nope;": "Column big.nope",
        "CREATE INDEX CONCURRENTLY big_x_idx ON big (notes);": "Column big.notes",
        "DROP INDEX CONCURRENTLY big_missing_idx;": "Index big_missing_idx",
        "UPDATE smal SET note = 'x' WHERE id = 1;": "Table smal",
        "ALTER TYPE mood ADD VALUE 'meh';": "Enum type mood",
    }
    for sql, what in cases.items():
        found = by_rule(lint(base, sql), "unknown-object")
        assert found and found[0].severity == Severity.ERROR, sql
        assert what in found[0].message, (sql, found[0].message)
    [typo] = by_rule(lint(base, "ALTER TABLE bgi ADD COLUMN x int;"), "unknown-object")
    assert "Did you mean big?" in typo.message
    assert not by_rule(lint(None, "ALTER TABLE bgi ADD COLUMN x int;"), "unknown-object")


def test_objects_from_earlier_migrations_are_known(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    first = "CREATE TABLE fresh (id bigint PRIMARY KEY); ALTER TABLE big ADD COLUMN extra text;"
    second = (
        "ALTER TABLE fresh ADD COLUMN note text;\n"
        "CREATE INDEX CONCURRENTLY big_extra_idx ON big (extra);\n"
        "ALTER TABLE big DROP COLUMN IF EXISTS gone;\n"
        "DROP TABLE IF EXISTS nothing;\n"
    )
    assert not by_rule(lint(base, first, second), "unknown-object")


def test_changes_the_database_already_has_are_info(pg_dsn: str) -> None:
    base = _sized(pg_dsn)
    cases = {
        "ALTER TABLE big ADD COLUMN note text;": "column big.note",
        "ALTER TABLE big ADD COLUMN IF NOT EXISTS note text;": "IF NOT EXISTS makes this statement do nothing",
        "CREATE TABLE small (id bigint PRIMARY KEY);": "table small",
        "ALTER TABLE big ALTER COLUMN id SET NOT NULL;": "NOT NULL",
    }
    for sql, what in cases.items():
        [found] = by_rule(lint(base, sql), "already-in-database")
        assert found.severity == Severity.INFO and what in found.message, (sql, found.message)
    assert not by_rule(lint(base, "ALTER TABLE big ADD COLUMN fresh text;"), "already-in-database")


def test_foreign_key_without_index_live_and_static(pg_dsn: str) -> None:
    execute(
        pg_dsn,
        TABLES + "CREATE TABLE lines (id bigint PRIMARY KEY, big_id bigint, small_id bigint);"
        "CREATE INDEX lines_small_idx ON lines (small_id, id);",
    )
    base = read_live_schema(pg_dsn)
    add = "ALTER TABLE lines ADD CONSTRAINT lines_{0}_fkey FOREIGN KEY ({0}_id) REFERENCES {0} (id) NOT VALID;"
    [missing] = by_rule(lint(base, add.format("big")), "foreign-key-without-index")
    assert missing.severity == Severity.WARNING and "no index on lines(big_id)" in missing.message
    assert "CREATE INDEX CONCURRENTLY" in missing.fix
    assert not by_rule(lint(base, add.format("small")), "foreign-key-without-index")
    later = add.format("big") + "\nCREATE INDEX CONCURRENTLY lines_big_idx ON lines (big_id);"
    assert not by_rule(lint(base, later), "foreign-key-without-index")
    # Without a database: known when the replayed migrations created the table, silent otherwise.
    static = "CREATE TABLE a (id bigint PRIMARY KEY); CREATE TABLE b (id bigint PRIMARY KEY, a_id bigint REFERENCES a);"
    assert by_rule(lint(None, static), "foreign-key-without-index")
    assert not by_rule(lint(None, add.format("big")), "foreign-key-without-index")


MIGRATIONS = [
    "CREATE TABLE invoices (id bigint PRIMARY KEY, big_id bigint REFERENCES big (id));",
    "ALTER TABLE big ALTER COLUMN qty TYPE bigint;\n"
    "ALTER TABLE big ALTER COLUMN code TYPE text;\n"
    "CREATE INDEX big_note_idx ON big (note);\n"
    "CREATE INDEX small_note_idx ON small (note);\n"
    "ALTER TABLE big ADD COLUMN note text;\n"
    "ALTER TABLE bgi DROP COLUMN x;\n"
    "ALTER TABLE invoices ADD COLUMN paid boolean;\n",
]


def test_a_snapshot_gives_the_verdicts_the_live_database_gives(pg_dsn: str, tmp_path: Path) -> None:
    _sized(pg_dsn)
    out = tmp_path / "snapshot.json"
    assert cli("inspect", "--dsn", pg_dsn, "--out", str(out)).returncode == 0
    live = lint(load_base_schema(pg_dsn, None), *MIGRATIONS)
    snapshot = lint(load_base_schema(None, str(out)), *MIGRATIONS)
    assert [f.to_dict() for f in live] == [f.to_dict() for f in snapshot]
    rules = {f.rule for f in live}
    assert {"unknown-object", "already-in-database", "non-concurrent-index", "change-column-type"} <= rules
