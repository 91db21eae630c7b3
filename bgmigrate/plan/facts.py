"""What the planner knows about the schema just before each operation of a migration.

The lint core's replay builds tables, columns, constraints and indexes. The planner needs a
little more to carry a column's properties over to a replacement: the text that created each
index (method, predicate, expressions) and the column-level CHECKs of CREATE TABLE, which
replay does not record. ``Knowledge`` holds both; ``timeline`` snapshots it before every
operation so a recipe sees the table exactly as its statement will find it.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bgmigrate.lint.engine import track_new_tables
from bgmigrate.model import operations as ops
from bgmigrate.model.replay import apply
from bgmigrate.model.schema import Column, Constraint, Index, Schema, Table
from bgmigrate.plan.columns import split_column
from bgmigrate.sql.implicit_names import constraint_name
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.tokens import tokenize


@dataclass
class Knowledge:
    """A schema plus the index definitions seen while building it (mutable while learning)."""

    schema: Schema = field(default_factory=Schema)
    index_sql: dict[tuple[str, str], str] = field(default_factory=dict)

    def learn(self, op: ops.Operation, migration: str = "") -> None:
        """Replay ``op`` and keep what replay does not."""
        apply(self.schema, op, migration)
        if isinstance(op, ops.CreateIndex):
            # Keyed like replay names it, so a schema index finds its text.
            name = op.name or f"{op.target.name}_{'_'.join(op.columns)}_idx"
            self.index_sql[Name(name, op.target.schema).key] = op.stmt.text
        elif isinstance(op, ops.CreateTable):
            for spec in op.columns:
                _column_constraints(self.schema, op.target, spec)
            for con in op.constraints:
                _table_constraint(self.schema, op.target, con)
        elif isinstance(op, ops.AddColumn):
            _column_constraints(self.schema, op.target, op.column)
        elif isinstance(op, ops.AddConstraint):
            _table_constraint(self.schema, op.target, op.constraint)

    def learn_all(self, operations: Iterable[ops.Operation], migration: str = "") -> None:
        for op in operations:
            self.learn(op, migration)


def _rename(schema: Schema, target: Name, old: str, new: str) -> None:
    """Give a constraint replay named its own way the name PostgreSQL gives it (and its index)."""
    table = schema.table(target)
    if table is None or old == new or old not in table.constraints:
        return
    con = table.constraints.pop(old)
    con.name = new
    table.constraints[new] = con
    index = schema.indexes.pop(Name(old, target.schema).key, None)
    if index is not None:
        index.name = new
        schema.indexes[Name(new, target.schema).key] = index


def _replay_name(table: Name, kind: str, columns: tuple[str, ...]) -> str:
    suffix = {"primary_key": "pkey", "unique": "key", "foreign_key": "fkey", "check": "check"}.get(kind, kind)
    return f"{table.name}_{'_'.join(columns) or 'expr'}_{suffix}"


def _column_constraints(schema: Schema, target: Name, spec: ops.ColumnSpec) -> None:
    """Name a column's inline constraints as PostgreSQL does; keep its CHECK and full REFERENCES text."""
    table = schema.table(target)
    if table is None:
        return
    parts = split_column(spec.sql) if spec.sql else None
    for kind, clause_kind in (("primary_key", "primary_key"), ("unique", "unique"), ("foreign_key", "references")):
        clause = parts.clause(clause_kind) if parts else None
        if clause is not None:
            default = constraint_name(target.name, kind, (spec.name,))
            _rename(schema, target, _replay_name(target, kind, (spec.name,)), clause.name or default)
    if spec.check is not None:
        clause = parts.clause("check") if parts else None
        name = (clause.name if clause else None) or constraint_name(target.name, "check", (spec.name,))
        table.constraints[name] = Constraint(name, "check", (spec.name,), True, f"CHECK ({spec.check})")
    references = parts.clause("references") if parts and spec.references else None
    for con in table.constraints.values():
        if references and con.kind == "foreign_key" and con.columns == (spec.name,) and not con.definition:
            con.definition = f"FOREIGN KEY ({quote_ident(spec.name)}) {references.text}"


def _table_constraint(schema: Schema, target: Name, spec: ops.ConstraintSpec) -> None:
    """An unnamed table constraint gets PostgreSQL's name (a CHECK is named after its first column)."""
    table = schema.table(target)
    if table is None or spec.name:
        return
    columns = spec.columns
    if spec.kind == "check" and spec.expression:
        first = next(
            (t.ident for t in tokenize(spec.expression) if t.kind in ("word", "qident") and t.ident in table.columns),
            None,
        )
        columns = (first,) if first else ()
    _rename(
        schema, target, _replay_name(target, spec.kind, spec.columns), constraint_name(target.name, spec.kind, columns)
    )


def mentions(expression: str, column: str) -> bool:
    """Whether SQL text refers to ``column`` (by a bare or quoted identifier).

    >>> mentions("(status IN ('a', 'b'))", "status"), mentions("('status' <> x)", "status")
    (True, False)
    """
    return any(t.kind in ("word", "qident") and t.ident == column for t in tokenize(expression))


@dataclass(frozen=True)
class Facts:
    """The schema as one operation finds it. Read-only for recipes."""

    schema: Schema
    index_sql: dict[tuple[str, str], str]
    new_tables: frozenset[tuple[str, str]] = frozenset()
    live: bool = False  # the base came from a database or snapshot: unknown tables are errors

    def table(self, name: Name) -> Table | None:
        return self.schema.table(name)

    def is_new(self, name: Name | None) -> bool:
        """Created earlier in this migration: no traffic reaches it yet."""
        return name is not None and name.key in self.new_tables

    def column(self, name: Name, column: str) -> Column | None:
        column_found = self.schema.column(name, column)
        return None if column_found is None or column_found.type == "unknown" else column_found

    def primary_key(self, name: Name) -> str | None:
        """The table's single-column primary key, if it has exactly one."""
        table = self.table(name)
        keys = [c for c in (table.constraints.values() if table else ()) if c.kind == "primary_key"]
        return keys[0].columns[0] if len(keys) == 1 and len(keys[0].columns) == 1 else None

    def indexes_on(self, name: Name, column: str) -> list[Index]:
        """Indexes whose key or predicate uses the column, constraint-backed ones excluded."""
        owned = {c.name for c in self._constraints(name) if c.kind in ("primary_key", "unique")}
        found = []
        for index in self.schema.indexes_on(name):
            sql = self.index_sql.get(Name(index.name, name.schema).key, "")
            if index.name not in owned and (column in index.columns or (sql and mentions(sql, column))):
                found.append(index)
        return sorted(found, key=lambda i: i.name)

    def constraints_on(self, name: Name, column: str) -> list[Constraint]:
        """Constraints of the table that involve the column (by column list or expression)."""
        return [
            c for c in self._constraints(name)
            if column in c.columns or (c.kind == "check" and c.definition and mentions(c.definition, column))
        ]  # fmt: skip

    def referenced_by(self, name: Name, column: str) -> list[str]:
        """Foreign keys of other tables known to reference this table's column (or its key)."""
        found = []
        for table in self.schema.tables.values():
            for con in table.constraints.values():
                if con.kind == "foreign_key" and con.references and con.references.key == name.key:
                    refs = _referenced_columns(con.definition)
                    if column in refs or (not refs and self.primary_key(name) == column):
                        found.append(f"{table.name}.{con.name}")
        return sorted(found)

    def _constraints(self, name: Name) -> list[Constraint]:
        table = self.table(name)
        return sorted(table.constraints.values(), key=lambda c: c.name) if table else []


@functools.lru_cache(maxsize=4096)
def _referenced_columns(definition: str) -> tuple[str, ...]:
    """The column list after REFERENCES in a constraint definition ((): the referenced key).

    Remembered by text: ``referenced_by`` reads every foreign key of the schema, and many tables
    hold the same one (``FOREIGN KEY (hub_id) REFERENCES hub (id)``).
    """
    toks = tokenize(definition)
    words = [t.upper for t in toks]
    if "REFERENCES" not in words:
        return ()
    i = words.index("REFERENCES") + 1
    while i < len(toks) and toks[i].text != "(":
        i += 1
    columns = []
    for tok in toks[i + 1 :]:
        if tok.text == ")":
            break
        if tok.kind in ("word", "qident"):
            columns.append(tok.ident)
    return tuple(columns)


def timeline(base: Knowledge, operations: Sequence[ops.Operation], *, live: bool = False) -> list[Facts]:
    """The facts just before each operation, replaying them onto a copy of ``base``."""
    knowledge = copy.deepcopy(base)
    new_tables: set[tuple[str, str]] = set()
    snapshots: list[Facts] = []
    for op in operations:
        snapshots.append(Facts(copy.deepcopy(knowledge.schema), dict(knowledge.index_sql), frozenset(new_tables), live))
        track_new_tables(op, new_tables)
        knowledge.learn(op, "(planned)")
    return snapshots
