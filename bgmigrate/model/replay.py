"""Replay operations onto a schema, so each migration is judged against what came before it.

``HANDLERS`` has one entry per operation kind; a kind that leaves the schema model as it is
says so with ``_no_model_change`` and a reason, so a new kind without an entry is an error
(``tests/test_exhaustive.py``), never a silent no-op.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Column, Constraint, Index, Schema, Table
from bgmigrate.sql.implicit_names import constraint_name, index_name
from bgmigrate.sql.names import Name


class MissingReplayHandler(LookupError):
    """An operation kind with no entry in ``HANDLERS`` (a bgmigrate bug)."""


def apply(schema: Schema, op: ops.Operation, migration: str) -> None:
    """Change ``schema`` in place as ``op`` would; ``migration`` labels tables it creates."""
    handler = HANDLERS.get(type(op))
    if handler is None:
        raise MissingReplayHandler(f"no replay handler for operation kind {type(op).__name__} (a bgmigrate bug)")
    handler(schema, op, migration)


def _no_model_change(schema: Schema, op: ops.Operation, migration: str) -> None:
    """An operation that changes nothing the schema model records (each entry says why)."""


def _ensure_table(schema: Schema, name: Name) -> Table:
    """The table, or a stand-in for a table never seen (treated as existing)."""
    table = schema.table(name)
    if table is None:
        table = Table(Name(name.name, name.schema or "public"))
        schema.tables[name.key] = table
    return table


def _column_from_spec(spec: ops.ColumnSpec) -> Column:
    return Column(
        name=spec.name,
        type=spec.type,
        nullable=spec.nullable,
        default=spec.default if spec.default is not None else ("nextval()" if spec.serial else None),
        identity=spec.identity,
        generated=spec.generated_stored,
    )


def _constraint_name(table: Table, spec: ops.ConstraintSpec) -> str:
    """The name PostgreSQL gives an unnamed constraint.

    >>> t = Table(Name("orders"), columns={"total": Column("total", "numeric")})
    >>> _constraint_name(t, ops.ConstraintSpec("primary_key", columns=("id",)))
    'orders_pkey'
    >>> _constraint_name(t, ops.ConstraintSpec("check", expression="total >= 0"))
    'orders_total_check'
    """
    if spec.name:
        return spec.name
    columns = spec.columns or _mentioned_columns(table, spec.expression or "")
    return constraint_name(table.name.name, spec.kind, columns[:1] if spec.kind == "check" else columns)


def _mentioned_columns(table: Table, expression: str) -> tuple[str, ...]:
    """Columns of ``table`` an expression mentions, in order (a CHECK is named after the first)."""
    from bgmigrate.sql.tokens import tokenize

    found: list[str] = []
    for tok in tokenize(expression):
        if tok.kind in ("word", "qident") and tok.ident in table.columns and tok.ident not in found:
            found.append(tok.ident)
    return tuple(found)


def _constraint_from_spec(table: Table, spec: ops.ConstraintSpec) -> Constraint:
    return Constraint(
        name=_constraint_name(table, spec),
        kind=spec.kind,
        columns=spec.columns,
        validated=not spec.not_valid,
        definition=spec.sql,
        references=spec.references,
        not_null_column=spec.not_null_column,
    )


def _create_table(schema: Schema, op: ops.CreateTable, migration: str) -> None:
    existing = schema.table(op.target)
    # A table the live database already has stays as it is (with its size): this CREATE is an
    # applied migration replayed, and must judge what follows as linting that file alone would.
    if existing is not None and (op.if_not_exists or existing.live):
        return
    name = Name(op.target.name, op.target.schema or "public")
    table = Table(name, created_by=migration)
    for spec in op.columns:
        table.columns[spec.name] = _column_from_spec(spec)
    for spec in op.columns:
        _column_constraints(schema, table, spec)
    for con in op.constraints:
        _add_constraint(schema, table, con)
    schema.tables[name.key] = table


def _column_constraints(schema: Schema, table: Table, spec: ops.ColumnSpec) -> None:
    """Constraints declared inline with a column, named as PostgreSQL names them."""
    if spec.primary_key:
        _add_constraint(schema, table, ops.ConstraintSpec("primary_key", columns=(spec.name,)))
    if spec.unique:
        _add_constraint(schema, table, ops.ConstraintSpec("unique", columns=(spec.name,)))
    if spec.references:
        sql = f"FOREIGN KEY ({spec.name}) {spec.references_sql}".strip()
        fk = ops.ConstraintSpec("foreign_key", columns=(spec.name,), references=spec.references, sql=sql)
        _add_constraint(schema, table, fk)
    if spec.check:
        check = ops.ConstraintSpec("check", columns=(spec.name,), expression=spec.check, sql=f"CHECK ({spec.check})")
        _add_constraint(schema, table, check)


def _add_constraint(schema: Schema, table: Table, spec: ops.ConstraintSpec) -> None:
    constraint = _constraint_from_spec(table, spec)
    if spec.using_index:
        index = schema.indexes.pop(Name(spec.using_index, table.name.schema).key, None)
        if index is not None:
            constraint.columns = index.columns
    table.constraints[constraint.name] = constraint
    if spec.kind in ("primary_key", "unique"):
        # Both are backed by a unique index of the same name.
        schema.indexes[Name(constraint.name, table.name.schema).key] = Index(
            constraint.name, table.name, constraint.columns, unique=True
        )
    if spec.kind in ("primary_key", "not_null"):
        for col in constraint.columns:
            if col in table.columns:
                table.columns[col].nullable = False


def _drop_table(schema: Schema, op: ops.DropTable, migration: str) -> None:
    schema.tables.pop(op.target.key, None)
    indexes = _indexes(schema)
    for key in [k for k in indexes.keys_on(op.target.key) if indexes[k].table.key == op.target.key]:
        del indexes[key]


def _rename_table(schema: Schema, op: ops.RenameTable, migration: str) -> None:
    table = schema.tables.pop(op.target.key, None) or Table(op.target)
    new = Name(op.new_name, op.target.schema or "public")
    table.name = new
    schema.tables[new.key] = table
    indexes = _indexes(schema)
    for key in indexes.keys_on(op.target.key):
        if indexes[key].table.key == op.target.key:
            indexes[key].table = new
    indexes.forget_tables()  # an index's table changed in place


def _add_column(schema: Schema, op: ops.AddColumn, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    if op.if_not_exists and op.column.name in table.columns:
        return
    table.columns[op.column.name] = _column_from_spec(op.column)
    _column_constraints(schema, table, op.column)


def _drop_column(schema: Schema, op: ops.DropColumn, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    table.columns.pop(op.column, None)
    # PostgreSQL drops every constraint involving the column, a table CHECK naming it in its expression too.
    constraints = _constraints(table)
    for name in constraints.names_over(op.column):
        if _drops_with(constraints[name], op.column):
            del constraints[name]
    indexes = _indexes(schema)
    for key in indexes.keys_on_column(op.target.key, op.column):
        del indexes[key]


class IndexTable(dict[tuple[str, str], Index]):
    """A schema's indexes, with each table's index keys kept beside them.

    ``DROP COLUMN`` and ``DROP TABLE`` ask for one table's indexes; scanning every index of the
    folder for each made a cold lint grow with the square of the folder. Item assignment and
    deletion keep the per-table keys up to date; any other change forgets them (rebuilt on the
    next question).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._by_table: dict[tuple[str, str], set[tuple[str, str]]] | None = None
        # (table, column) → keys of the indexes over it: DROP COLUMN asks once per statement.
        self._by_column: dict[tuple[tuple[str, str], str], set[tuple[str, str]]] | None = None

    def keys_on(self, table: tuple[str, str]) -> list[tuple[str, str]]:
        """The keys of the indexes on ``table`` (a list: the caller may delete while going)."""
        if self._by_table is None:
            self._by_table = {}
            for key, index in self.items():
                self._by_table.setdefault(index.table.key, set()).add(key)
        return sorted(self._by_table.get(table, ()))

    def keys_on_column(self, table: tuple[str, str], column: str) -> list[tuple[str, str]]:
        """The keys of the indexes on ``table`` that include ``column``."""
        if self._by_column is None:
            self._by_column = {}
            for key, index in self.items():
                for col in index.columns:
                    self._by_column.setdefault((index.table.key, col), set()).add(key)
        return sorted(self._by_column.get((table, column), ()))

    def rename_column(self, table: tuple[str, str], old: str, new: str) -> None:
        """Rename a column in the indexes over it, keeping the per-column keys up to date."""
        for key in self.keys_on_column(table, old):
            index = self[key]
            self._unlink(key)
            index.columns = tuple(new if c == old else c for c in index.columns)
            self._link(key, index)

    def forget_tables(self) -> None:
        """Forget the per-table and per-column keys (an index's table or columns changed in place)."""
        self._by_table = None
        self._by_column = None

    def __setitem__(self, key: tuple[str, str], index: Index) -> None:
        self._unlink(key)
        super().__setitem__(key, index)
        self._link(key, index)

    def _link(self, key: tuple[str, str], index: Index) -> None:
        if self._by_table is not None:
            self._by_table.setdefault(index.table.key, set()).add(key)
        if self._by_column is not None:
            for col in index.columns:
                self._by_column.setdefault((index.table.key, col), set()).add(key)

    def __delitem__(self, key: tuple[str, str]) -> None:
        self._unlink(key)
        super().__delitem__(key)

    def pop(self, key: tuple[str, str], *default: Any) -> Any:
        self._unlink(key)
        return super().pop(key, *default)

    def _unlink(self, key: tuple[str, str]) -> None:
        old = self.get(key)
        if old is not None and self._by_table is not None:
            self._by_table.get(old.table.key, set()).discard(key)
        if old is not None and self._by_column is not None:
            for col in old.columns:
                self._by_column.get((old.table.key, col), set()).discard(key)

    # Everything else that changes the dict: forget the per-table keys.
    def clear(self) -> None:
        self.forget_tables()
        super().clear()

    def popitem(self) -> tuple[tuple[str, str], Index]:
        self.forget_tables()
        return super().popitem()

    def setdefault(self, key: tuple[str, str], default: Index) -> Index:
        self.forget_tables()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.forget_tables()
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> IndexTable:  # type: ignore[override,misc]
        self.forget_tables()
        super().__ior__(other)
        return self

    def __reduce__(self) -> Any:
        # Copies (deepcopy of a base schema) rebuild the per-table keys when first asked.
        return (IndexTable, (dict(self),))


def _forgetting(method: Any) -> Any:
    """``method`` of a ``ConstraintTable``, forgetting its index first (bulk changes)."""

    def changed(self: ConstraintTable, *args: Any, **kwargs: Any) -> Any:
        self.forget()
        return method(self, *args, **kwargs)

    return changed


class ConstraintTable(dict[str, Constraint]):
    """A table's constraints, with the names of those over each column kept beside them.

    ``DROP COLUMN`` drops every constraint whose columns, or whose CHECK expression, name the
    column: reading all of a table's constraints for each drop made a table with thousands of
    CHECKs cost the square of them. Item assignment and deletion keep the index up to date; any
    other change forgets it (rebuilt on the next question), and so must a constraint changed in
    place (``forget``).
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._by_column: dict[str, set[str]] | None = None

    def names_over(self, column: str) -> list[str]:
        """The names of the constraints that hold or name ``column`` (what dropping or renaming
        it may change; each caller keeps those it changes)."""
        if self._by_column is None:
            self._by_column = {}
            for name, constraint in self.items():
                self._link(name, constraint)
        return sorted(self._by_column.get(column, ()))

    def forget(self) -> None:
        """Forget the index (a constraint's columns or expression changed in place)."""
        self._by_column = None

    def change(self, name: str, change: Callable[[Constraint], None]) -> None:
        """Change constraint ``name`` in place, keeping the index (and the order) as it goes."""
        self._unlink(name)
        change(self[name])
        self._link(name, self[name])

    def _link(self, name: str, constraint: Constraint) -> None:
        if self._by_column is not None:
            for column in _over(constraint):
                self._by_column.setdefault(column, set()).add(name)

    def _unlink(self, name: str) -> None:
        old = self.get(name)
        if old is not None and self._by_column is not None:
            for column in _over(old):
                self._by_column.get(column, set()).discard(name)

    def __setitem__(self, name: str, constraint: Constraint) -> None:
        self._unlink(name)
        super().__setitem__(name, constraint)
        self._link(name, constraint)

    def __delitem__(self, name: str) -> None:
        self._unlink(name)
        super().__delitem__(name)

    def pop(self, name: str, *default: Any) -> Any:
        self._unlink(name)
        return super().pop(name, *default)

    def __reduce__(self) -> Any:
        return (ConstraintTable, (dict(self),))  # a copy rebuilds its index when first asked

    clear = _forgetting(dict.clear)
    update = _forgetting(dict.update)
    popitem = _forgetting(dict.popitem)
    setdefault = _forgetting(dict.setdefault)
    __ior__ = _forgetting(dict.__ior__)


def _drops_with(constraint: Constraint, column: str) -> bool:
    """Whether dropping ``column`` drops the constraint: it is over the column, or a CHECK naming it."""
    return column in constraint.columns or (
        constraint.kind == "check" and column in _identifiers(constraint.definition)
    )


def _over(constraint: Constraint) -> set[str]:
    """The columns a constraint is over: its own, those its CHECK expression names, and the one
    it keeps NOT NULL (renames follow that one)."""
    found = set(constraint.columns)
    if constraint.kind == "check":
        found |= _identifiers(constraint.definition)
    if constraint.not_null_column is not None:
        found.add(constraint.not_null_column)
    return found


def _constraints(table: Table) -> ConstraintTable:
    """The table's constraints as a ``ConstraintTable`` (installed on first use)."""
    if not isinstance(table.constraints, ConstraintTable):
        table.constraints = ConstraintTable(table.constraints)
    return table.constraints


def _indexes(schema: Schema) -> IndexTable:
    """The schema's indexes as an ``IndexTable`` (installed on first use)."""
    if not isinstance(schema.indexes, IndexTable):
        schema.indexes = IndexTable(schema.indexes)
    return schema.indexes


def _checks_column(constraint: Constraint, column: str) -> bool:
    """Whether a CHECK's expression names the column.

    >>> _checks_column(Constraint("c", "check", definition="CHECK (b > a)"), "a")
    True
    """
    if constraint.kind != "check":
        return False
    return column in _identifiers(constraint.definition)


@functools.lru_cache(maxsize=8192)
def _identifiers(sql: str) -> frozenset[str]:
    """The names an expression mentions (read once per text: every DROP COLUMN asks again)."""
    from bgmigrate.sql.tokens import tokenize

    return frozenset(t.ident for t in tokenize(sql) if t.kind in ("word", "qident"))


def _rename_column(schema: Schema, op: ops.RenameColumn, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    column = table.columns.pop(op.column, None) or Column(op.new_name, "unknown")
    column.name = op.new_name
    table.columns[op.new_name] = column
    constraints = _constraints(table)
    for name in constraints.names_over(op.column):  # the others neither hold nor name it
        constraints.change(name, functools.partial(_rename_in, old=op.column, new=op.new_name))
    _indexes(schema).rename_column(op.target.key, op.column, op.new_name)


def _rename_in(con: Constraint, old: str, new: str) -> None:
    con.columns = tuple(new if c == old else c for c in con.columns)
    if con.not_null_column == old:
        con.not_null_column = new


def _column(schema: Schema, target: Name, name: str) -> Column:
    table = _ensure_table(schema, target)
    if name not in table.columns:
        table.columns[name] = Column(name, "unknown")
    return table.columns[name]


def _alter_type(schema: Schema, op: ops.AlterColumnType, migration: str) -> None:
    _column(schema, op.target, op.column).type = op.new_type


def _set_not_null(schema: Schema, op: ops.SetNotNull, migration: str) -> None:
    _column(schema, op.target, op.column).nullable = False


def _drop_not_null(schema: Schema, op: ops.DropNotNull, migration: str) -> None:
    _column(schema, op.target, op.column).nullable = True


def _set_default(schema: Schema, op: ops.SetDefault, migration: str) -> None:
    _column(schema, op.target, op.column).default = op.default


def _drop_default(schema: Schema, op: ops.DropDefault, migration: str) -> None:
    _column(schema, op.target, op.column).default = None


def _add_constraint_op(schema: Schema, op: ops.AddConstraint, migration: str) -> None:
    _add_constraint(schema, _ensure_table(schema, op.target), op.constraint)


def _validate(schema: Schema, op: ops.ValidateConstraint, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    if op.name in table.constraints:
        table.constraints[op.name].validated = True


def _drop_constraint(schema: Schema, op: ops.DropConstraint, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    table.constraints.pop(op.name, None)
    schema.indexes.pop(Name(op.name, op.target.schema).key, None)


def _rename_constraint(schema: Schema, op: ops.RenameConstraint, migration: str) -> None:
    table = _ensure_table(schema, op.target)
    con = table.constraints.pop(op.name, None)
    if con is not None:
        con.name = op.new_name
        table.constraints[op.new_name] = con


def _create_index(schema: Schema, op: ops.CreateIndex, migration: str) -> None:
    name = op.name or index_name(op.target.name, op.columns)
    key = Name(name, op.target.schema).key
    if op.if_not_exists and key in schema.indexes:
        return
    schema.indexes[key] = Index(
        name, replace(op.target, schema=op.target.schema or "public"), op.columns, op.unique,
        partial=op.partial, expression=op.expression,
    )  # fmt: skip


def _drop_index(schema: Schema, op: ops.DropIndex, migration: str) -> None:
    schema.indexes.pop(op.index.key, None)


def _create_enum(schema: Schema, op: ops.CreateEnum, migration: str) -> None:
    schema.enums[op.type_name.key] = list(op.values)


def _add_enum_value(schema: Schema, op: ops.AddEnumValue, migration: str) -> None:
    values = schema.enums.setdefault(op.type_name.key, [])
    if op.value not in values:
        values.append(op.value)


def _rename_enum_value(schema: Schema, op: ops.RenameEnumValue, migration: str) -> None:
    values = schema.enums.setdefault(op.type_name.key, [])
    schema.enums[op.type_name.key] = [op.new_value if v == op.value else v for v in values]


# Kinds whose shape callers depend on: kept so a later DROP and CREATE can be compared.
_SHAPED = ("view", "materialized view", "function", "procedure")


def _create_object(schema: Schema, op: ops.CreateObject, migration: str) -> None:
    schema.objects.setdefault(op.kind, set()).add(op.name.key)
    table = schema.table(op.on_table) if op.kind == "trigger" and op.on_table is not None else None
    if table is not None:
        table.triggers.add(op.name.name)
    if op.kind in _SHAPED:
        schema.definitions[(op.kind, op.name.key)] = op.stmt.text


def _drop_object(schema: Schema, op: ops.DropObject, migration: str) -> None:
    schema.objects.get(op.kind, set()).discard(op.name.key)
    schema.definitions.pop((op.kind, op.name.key), None)
    table = schema.table(op.on_table) if op.kind == "trigger" and op.on_table is not None else None
    if table is not None:
        table.triggers.discard(op.name.name)
    if op.kind == "type":
        schema.enums.pop(op.name.key, None)
    if op.kind == "schema":
        for key in [k for k in schema.tables if k[0] == op.name.name]:
            del schema.tables[key]


def _move_table(schema: Schema, old: Name, new: Name) -> None:
    """Re-key a table (and its indexes, which follow it) under ``new``."""
    table = schema.tables.pop(old.key, None) or Table(old)
    table.name = new
    schema.tables[new.key] = table
    indexes = _indexes(schema)
    for key in indexes.keys_on(old.key):
        index = indexes.pop(key)
        index.table = new
        indexes[Name(index.name, new.schema).key] = index


def _alter_table_set(schema: Schema, op: ops.AlterTableSet, migration: str) -> None:
    # Only SET SCHEMA changes a name; tablespace, persistence and options are not modelled.
    if op.what == "schema" and op.new_schema:
        _move_table(schema, op.target, Name(op.target.name, op.new_schema))


def _reindex(schema: Schema, op: ops.Reindex, migration: str) -> None:
    # REINDEX rebuilds an invalid index (one a failed CREATE INDEX CONCURRENTLY left) into a valid one.
    if op.kind == "index":
        found = schema.index(op.target_name)
        rebuilt = [found] if found is not None else []
    elif op.kind == "table":
        rebuilt = schema.indexes_on(op.target_name)
    else:
        rebuilt = [i for i in schema.indexes.values() if op.kind != "schema" or i.table.key[0] == op.target_name.name]
    for index in rebuilt:
        index.valid = True


def _rename_object(schema: Schema, op: ops.RenameObject, migration: str) -> None:
    if op.kind == "schema":
        _rename_schema(schema, op.name.name, op.new_name)
        return
    new = Name(op.new_name, op.new_schema or op.name.schema)
    text = schema.definitions.pop((op.kind, op.name.key), None)
    if text is not None:  # a renamed view or function keeps its shape for a later comparison
        schema.definitions[(op.kind, new.key)] = text
    names = schema.objects.get(op.kind)
    if names is not None and op.name.key in names:
        names.discard(op.name.key)
        names.add(new.key)
    if op.kind in ("type", "domain") and op.name.key in schema.enums:
        schema.enums[new.key] = schema.enums.pop(op.name.key)


def _rename_schema(schema: Schema, old: str, new: str) -> None:
    """ALTER SCHEMA … RENAME TO: everything in it moves to the new schema name."""
    for key in [k for k in schema.tables if k[0] == old]:
        _move_table(schema, Name(key[1], old), Name(key[1], new))
    for key in [k for k in schema.enums if k[0] == old]:
        schema.enums[(new, key[1])] = schema.enums.pop(key)
    for kind, names in schema.objects.items():
        if kind == "schema":
            continue  # schemas are keyed ("public", name): renamed below
        for key in [k for k in names if k[0] == old]:
            names.discard(key)
            names.add((new, key[1]))
    for kind, key in [k for k in schema.definitions if k[1][0] == old]:
        schema.definitions[(kind, (new, key[1]))] = schema.definitions.pop((kind, key))
    if ("public", old) in schema.objects.get("schema", set()):
        schema.objects["schema"].discard(("public", old))
        schema.objects["schema"].add(("public", new))


HANDLERS: dict[type[ops.Operation], Callable[[Schema, Any, str], None]] = {
    ops.CreateTable: _create_table,
    ops.DropTable: _drop_table,
    ops.RenameTable: _rename_table,
    ops.AlterTableSet: _alter_table_set,
    ops.Truncate: _no_model_change,  # removes rows, not structure
    ops.AddColumn: _add_column,
    ops.DropColumn: _drop_column,
    ops.RenameColumn: _rename_column,
    ops.AlterColumnType: _alter_type,
    ops.SetNotNull: _set_not_null,
    ops.DropNotNull: _drop_not_null,
    ops.SetDefault: _set_default,
    ops.DropDefault: _drop_default,
    ops.AlterColumnOther: _no_model_change,  # statistics, storage, compression: not modelled
    ops.AddConstraint: _add_constraint_op,
    # Domains are not modelled: a column's type is kept as written, not resolved to its domain.
    ops.AlterDomainAddConstraint: _no_model_change,
    ops.ValidateConstraint: _validate,
    ops.DropConstraint: _drop_constraint,
    ops.RenameConstraint: _rename_constraint,
    ops.CreateIndex: _create_index,
    ops.DropIndex: _drop_index,
    ops.Reindex: _reindex,
    ops.VacuumFull: _no_model_change,  # rewrites the table's storage, same structure
    ops.Cluster: _no_model_change,  # reorders rows, same structure
    ops.LockTable: _no_model_change,  # a lock, held until the transaction ends
    ops.RefreshMaterializedView: _no_model_change,  # new rows, same view
    # Partitions are modelled as plain tables: attaching or detaching one keeps both tables.
    ops.DetachPartition: _no_model_change,
    ops.AttachPartition: _no_model_change,
    ops.UpdateRows: _no_model_change,  # data, not structure
    ops.DeleteRows: _no_model_change,
    ops.InsertRows: _no_model_change,
    ops.CreateEnum: _create_enum,
    ops.AddEnumValue: _add_enum_value,
    ops.RenameEnumValue: _rename_enum_value,
    ops.CreateObject: _create_object,
    ops.RenameObject: _rename_object,
    ops.DropObject: _drop_object,
    ops.SetConfig: _no_model_change,  # a session setting
    ops.TransactionControl: _no_model_change,  # replay follows statements, not commits
    ops.Other: _no_model_change,  # understood and judged irrelevant (SELECT, GRANT, COMMENT, …)
    # Not analysed: its effect is unknown, and the not-analysed finding says so.
    ops.Unparsed: _no_model_change,
}
