"""Every operation kind has a replay handler, a lock level and a planner entry; the new ones are right."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import psycopg
import pytest

from bgmigrate.model import operations as ops
from bgmigrate.model import replay
from bgmigrate.model.locks import LOCKS, MissingLockEntry, lock_mode, lock_taken
from bgmigrate.model.replay import HANDLERS, MissingReplayHandler
from bgmigrate.model.schema import Column, Index, Schema, Table
from bgmigrate.plan.passes import PASSES
from bgmigrate.plan.registry import PLANNING, missing_entries, operation_kinds, planning
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.testing import op_of
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement

_STMT = Statement("", 1, 1, 1, 1)


def test_every_operation_kind_has_every_entry() -> None:
    kinds = operation_kinds()
    assert len(kinds) >= 40 and ops.Unparsed in kinds and ops.Operation not in kinds
    assert missing_entries(kinds) == []


def test_the_check_reports_a_kind_that_lacks_entries() -> None:
    @dataclass(frozen=True)
    class Throwaway(ops.Operation):
        pass

    assert missing_entries([ops.AddColumn, Throwaway]) == [
        "Throwaway: replay",
        "Throwaway: lock",
        "Throwaway: planner",
    ]


def test_a_kind_without_entries_is_an_error_not_a_no_op() -> None:
    @dataclass(frozen=True)
    class Throwaway(ops.Operation):
        pass

    op = Throwaway(_STMT)
    with pytest.raises(MissingReplayHandler, match="Throwaway"):
        replay.apply(Schema(), op, "m")
    with pytest.raises(MissingLockEntry, match="Throwaway"):
        lock_mode(op)
    with pytest.raises(PlanError, match="Throwaway"):
        planning(op)


def test_registries_name_only_operation_kinds() -> None:
    kinds = set(operation_kinds())
    assert set(HANDLERS) == kinds and set(LOCKS) == kinds and set(PLANNING) == kinds


def test_planner_entries_name_real_passes() -> None:
    names = {p.__name__ for p in PASSES}
    listed = {recipe for entry in PLANNING.values() for recipe in entry.recipes}
    assert listed <= names, listed - names


# ---- lock levels: the table, and what PostgreSQL really takes --------------------------------

_LOCK_TABLE = [
    ("CREATE TABLE n (id int)", None),
    ("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10)", "ACCESS EXCLUSIVE"),
    ("ALTER DOMAIN d ADD CONSTRAINT pos CHECK (VALUE > 0)", "SHARE"),
    ("ALTER DOMAIN d ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID", None),
    ("ALTER DOMAIN d SET NOT NULL", "SHARE"),
    ("DROP INDEX ti", "ACCESS EXCLUSIVE"),
    ("DROP INDEX CONCURRENTLY ti", "SHARE UPDATE EXCLUSIVE"),
    ("REINDEX INDEX ti", "SHARE"),
    ("REINDEX TABLE t", "SHARE"),
    ("REINDEX INDEX CONCURRENTLY ti", "SHARE UPDATE EXCLUSIVE"),
    ("REFRESH MATERIALIZED VIEW mv", "ACCESS EXCLUSIVE"),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "EXCLUSIVE"),
    ("CREATE TYPE e2 AS ENUM ('x')", None),
    ("ALTER TYPE e ADD VALUE 'b'", None),
    ("ALTER TYPE e RENAME VALUE 'a' TO 'z'", None),
    ("ALTER VIEW v RENAME TO v2", "ACCESS EXCLUSIVE"),
    ("ALTER SEQUENCE s RENAME TO s2", "ACCESS EXCLUSIVE"),
    ("ALTER MATERIALIZED VIEW mv RENAME TO mv2", "ACCESS EXCLUSIVE"),
    ("ALTER FUNCTION f() RENAME TO g", None),
    ("DROP VIEW v", "ACCESS EXCLUSIVE"),
    ("DROP FUNCTION f()", None),
    ("DROP POLICY po ON t", "ACCESS EXCLUSIVE"),
    ("DROP RULE r ON t", "ACCESS EXCLUSIVE"),
    ("LOCK TABLE t IN SHARE MODE", "SHARE"),
    ("SET lock_timeout = '1s'", None),
    ("BEGIN", None),
    ("SELECT 1", None),
    ("VACUUM t", None),
]


@pytest.mark.parametrize(("sql", "mode"), _LOCK_TABLE)
def test_lock_level(sql: str, mode: str | None) -> None:
    assert lock_mode(op_of(sql)) == mode


def test_drop_rule_or_policy_locks_its_table() -> None:
    for sql in ("DROP RULE r ON t", "DROP POLICY po ON t"):
        taken = lock_taken(op_of(sql))
        assert taken is not None and taken.table == Name("t") and taken.mode == "ACCESS EXCLUSIVE"


def test_partition_of_locks_the_parent() -> None:
    taken = lock_taken(op_of("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10)"))
    assert taken is not None and taken.table == Name("p") and taken.mode == "ACCESS EXCLUSIVE"


def test_unknown_lock_mode_is_a_syntax_error_with_its_line() -> None:
    with pytest.raises(ValueError, match=r"m\.sql:1: syntax error: LOCK TABLE: unknown lock mode 'FANCY'"):
        op_of("LOCK TABLE t IN FANCY MODE")


_SETUP = """
CREATE TABLE t (id int PRIMARY KEY, a int); CREATE INDEX ti ON t (a);
CREATE TABLE p (id int) PARTITION BY RANGE (id);
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x; CREATE VIEW v AS SELECT * FROM t; CREATE SEQUENCE s;
CREATE DOMAIN d AS int; CREATE TABLE uses_d (x d); CREATE TYPE e AS ENUM ('a');
CREATE POLICY po ON t USING (true); CREATE RULE r AS ON INSERT TO t DO ALSO NOTHING;
"""
_PG_NAMES = {
    "ACCESS EXCLUSIVE": "AccessExclusiveLock", "EXCLUSIVE": "ExclusiveLock", "SHARE": "ShareLock",
    "SHARE UPDATE EXCLUSIVE": "ShareUpdateExclusiveLock",
}  # fmt: skip
# Statements that run in a transaction, and the relation whose lock the table names.
_TRACED = [
    ("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (1) TO (10)", "p"),
    ("ALTER DOMAIN d ADD CONSTRAINT pos CHECK (VALUE > 0)", "uses_d"),
    ("ALTER DOMAIN d SET NOT NULL", "uses_d"),
    ("DROP INDEX ti", "t"),
    ("REINDEX INDEX ti", "t"),
    ("REINDEX TABLE t", "t"),
    ("REFRESH MATERIALIZED VIEW mv", "mv"),
    ("ALTER VIEW v RENAME TO v2", "v2"),
    ("ALTER SEQUENCE s RENAME TO s2", "s2"),
    ("ALTER MATERIALIZED VIEW mv RENAME TO mv2", "mv2"),
    ("DROP POLICY po ON t", "t"),
    ("DROP RULE r ON t", "t"),
    ("CREATE TYPE e2 AS ENUM ('x')", None),
    ("ALTER TYPE e ADD VALUE 'b'", None),
    ("ALTER TYPE e RENAME VALUE 'a' TO 'z'", None),
    ("ALTER DOMAIN d ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID", None),
]
_HELD = """
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
"""
_STRENGTH = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
             "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]  # fmt: skip


def test_lock_levels_match_postgresql(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(_SETUP)
        for sql, relation in _TRACED:
            conn.execute("BEGIN")
            conn.execute(sql)
            held: dict[str, str] = {}
            for name, mode in conn.execute(_HELD).fetchall():
                if _STRENGTH.index(mode) > _STRENGTH.index(held.get(name, "AccessShareLock")):
                    held[name] = mode
            conn.execute("ROLLBACK")
            expected = lock_mode(op_of(sql))
            if relation is None:
                assert expected is None and held == {}, (sql, held)
            else:
                assert expected is not None and held.get(relation) == _PG_NAMES[expected], (sql, held)


# ---- replay: the kinds that change the model, and the ones that say they do not --------------


def _schema() -> Schema:
    schema = Schema()
    table = Table(Name("t", "public"), columns={"a": Column("a", "int")}, created_by="m0")
    schema.tables[table.name.key] = table
    schema.indexes[("public", "ti")] = Index("ti", Name("t", "public"), ("a",), valid=False)
    schema.enums[("public", "mood")] = ["sad"]
    schema.objects["view"] = {("public", "v")}
    return schema


def _replayed(*sqls: str) -> Schema:
    schema = _schema()
    for sql in sqls:
        replay.apply(schema, op_of(sql), "m1")
    return schema


def test_set_schema_moves_the_table_and_its_indexes() -> None:
    schema = _replayed("ALTER TABLE t SET SCHEMA archive")
    assert list(schema.tables) == [("archive", "t")] and schema.tables[("archive", "t")].name == Name("t", "archive")
    assert list(schema.indexes) == [("archive", "ti")] and schema.indexes[("archive", "ti")].table.key == (
        "archive",
        "t",
    )


def test_reindex_makes_an_invalid_index_valid() -> None:
    assert _replayed("REINDEX INDEX ti").indexes[("public", "ti")].valid
    assert _replayed("REINDEX TABLE t").indexes[("public", "ti")].valid
    assert not _replayed("REINDEX TABLE other").indexes[("public", "ti")].valid


def test_rename_object_renames_what_the_model_records() -> None:
    assert _replayed("ALTER VIEW v RENAME TO w").objects["view"] == {("public", "w")}
    assert _replayed("ALTER TYPE mood RENAME TO feeling").enums == {("public", "feeling"): ["sad"]}
    assert _replayed("ALTER TYPE mood SET SCHEMA s2").enums == {("s2", "mood"): ["sad"]}


def test_rename_schema_moves_everything_in_it() -> None:
    schema = _replayed("CREATE SCHEMA other", "ALTER SCHEMA public RENAME TO app")
    assert list(schema.tables) == [("app", "t")] and list(schema.indexes) == [("app", "ti")]
    assert list(schema.enums) == [("app", "mood")] and schema.objects["view"] == {("app", "v")}
    assert _replayed("CREATE SCHEMA s1", "ALTER SCHEMA s1 RENAME TO s2").objects["schema"] == {("public", "s2")}
    # Other schemas' entries stay as they are when "public" itself is renamed.
    assert schema.objects["schema"] == {("public", "other")}


@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE t", "ALTER TABLE t ALTER COLUMN a SET STATISTICS 100", "ALTER DOMAIN d SET NOT NULL",
        "VACUUM FULL t", "CLUSTER t", "LOCK TABLE t", "REFRESH MATERIALIZED VIEW mv",
        "ALTER TABLE p DETACH PARTITION t", "ALTER TABLE p ATTACH PARTITION t FOR VALUES FROM (1) TO (2)",
        "UPDATE t SET a = 1", "DELETE FROM t", "INSERT INTO t VALUES (1)", "SET lock_timeout = '1s'", "BEGIN",
        "SELECT 1", "ALTER TABLE t SET TABLESPACE fast",
    ],
)  # fmt: skip
def test_kinds_without_model_effect_leave_it_unchanged(sql: str) -> None:
    before = _schema()
    after = copy.deepcopy(before)
    replay.apply(after, op_of(sql), "m1")
    assert after == before
