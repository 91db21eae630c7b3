"""Which constraints a DROP or RENAME COLUMN touches: found through the per-column index, as a
scan of every constraint of the table finds them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgmigrate.lint.engine import parse_migration
from bgmigrate.model import operations as ops
from bgmigrate.model import replay
from bgmigrate.model.schema import Schema, Table
from bgmigrate.model.schema_codec import schema_to_data
from bgmigrate.parse.source import load_sql

COLUMNS = ["a", "b", "c", "d", '"D"']


def _scan_drop_column(schema: Schema, op: ops.DropColumn, migration: str) -> None:
    """DROP COLUMN as replay did it before the index: every constraint of the table read."""
    table = replay._ensure_table(schema, op.target)
    table.columns.pop(op.column, None)
    doomed = [
        name
        for name, c in table.constraints.items()
        if op.column in c.columns or (c.kind == "check" and op.column in replay._identifiers(c.definition))
    ]
    for name in doomed:
        del table.constraints[name]
    indexes = replay._indexes(schema)
    for key in indexes.keys_on_column(op.target.key, op.column):
        del indexes[key]


def _scan_rename_column(schema: Schema, op: ops.RenameColumn, migration: str) -> None:
    table = replay._ensure_table(schema, op.target)
    column = table.columns.pop(op.column, None) or replay.Column(op.new_name, "unknown")
    column.name = op.new_name
    table.columns[op.new_name] = column
    for con in table.constraints.values():
        con.columns = tuple(op.new_name if c == op.column else c for c in con.columns)
        if con.not_null_column == op.column:
            con.not_null_column = op.new_name
    replay._indexes(schema).rename_column(op.target.key, op.column, op.new_name)


def _statement(draw: st.DrawFn, n: int) -> str:
    x, y = draw(st.sampled_from(COLUMNS)), draw(st.sampled_from(COLUMNS))
    return draw(
        st.sampled_from(
            [
                f"ALTER TABLE t ADD CONSTRAINT k{n} CHECK ({x} > {y})",
                f"ALTER TABLE t ADD CONSTRAINT n{n} CHECK ({x} IS NOT NULL)",
                f"ALTER TABLE t ADD CONSTRAINT u{n} UNIQUE ({x}, {y})",
                f"ALTER TABLE t ADD CHECK ({x} <> 0)",
                f"ALTER TABLE t DROP COLUMN {x}",
                f"ALTER TABLE t RENAME COLUMN {x} TO {y}",
                f"ALTER TABLE t RENAME CONSTRAINT k{max(n - 1, 0)} TO r{n}",
                f"ALTER TABLE t DROP CONSTRAINT IF EXISTS k{max(n - 2, 0)}",
                f"ALTER TABLE t ADD COLUMN {x} int",
            ]
        )
    )


@st.composite
def _migrations(draw: st.DrawFn) -> str:
    head = 'CREATE TABLE t (a int, b int, c int, d int, "D" int, CHECK (a > b));\n'
    return head + "".join(_statement(draw, n) + ";\n" for n in range(draw(st.integers(1, 25))))


def _replayed(sql: str) -> dict[str, object]:
    operations, errors = parse_migration(load_sql("m.sql", sql))
    assert not errors
    schema = Schema()
    for op in operations:
        replay.apply(schema, op, "m.sql")
    return schema_to_data(schema)  # type: ignore[return-value]


@settings(max_examples=300, deadline=None)
@given(_migrations())
def test_the_index_finds_what_a_scan_finds(sql: str) -> None:
    indexed = _replayed(sql)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(replay.HANDLERS, ops.DropColumn, _scan_drop_column)
        patch.setitem(replay.HANDLERS, ops.RenameColumn, _scan_rename_column)
        scanned = _replayed(sql)
    assert indexed == scanned


def test_a_constraint_table_survives_copies_and_bulk_changes() -> None:
    import copy

    table = Table(replay.Name("t"))
    schema = Schema(tables={table.name.key: table})
    for op in parse_migration(
        load_sql("m.sql", "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0); ALTER TABLE t DROP COLUMN z;")
    )[0]:
        replay.apply(schema, op, "m.sql")
    constraints = table.constraints
    assert isinstance(constraints, replay.ConstraintTable) and constraints.names_over("a") == ["k"]
    clone = copy.deepcopy(constraints)
    assert clone.names_over("a") == ["k"] and clone == constraints
    constraints.update({"j": replay.Constraint("j", "check", definition="CHECK (a < 9)")})
    assert constraints.names_over("a") == ["j", "k"], "a bulk change rebuilds the index"
