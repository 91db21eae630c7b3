"""Rules that judge a migration against what the database really holds.

``unknown-object`` and ``already-in-database`` speak only when the base schema came from a live
database or snapshot (``Schema.from_live``): only then is "not in the schema" a fact rather than
a gap in what bgmigrate has seen. ``foreign-key-without-index`` also works without a database,
whenever the replayed migrations created the referencing table and so declared all its indexes.
``unpredicted-lock`` is raised by ``bgmigrate trace``, which sees the locks a statement takes.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bgmigrate.lint.rules.api import Hit, OpContext, builtin_rule, migration_rule, op_rule
from bgmigrate.lint.rules.history import earlier_has
from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Schema, Table
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.type_facts import normalize_type

builtin_rule("unpredicted-lock")  # raised by `bgmigrate trace` (bgmigrate.trace.trace)

# Relations other than tables that a statement may name where a table can stand.
_RELATION_KINDS = ("view", "materialized view", "foreign table", "sequence")
# Object kinds a live schema lists completely, so a missing one is a fact.
_LISTED_KINDS = (*_RELATION_KINDS, "trigger", "schema")


def authoritative(table: Table | None) -> bool:
    """Whether every column, constraint and index of the table is known.

    True for tables read from the database and tables a replayed migration created with a
    column list; false for stand-ins of tables never seen and for ``CREATE TABLE … AS`` or
    ``PARTITION OF`` tables, whose columns the statement does not spell out.
    """
    return table is not None and (table.live or table.created_by != "") and bool(table.columns)


def _qualified(name: Name) -> str:
    return str(name) if name.schema else name.name


# ---- foreign-key-without-index -----------------------------------------------------------


@dataclass(frozen=True)
class _ForeignKey:
    """A foreign key an operation adds: its table, columns and referenced table."""

    table: Name
    columns: tuple[str, ...]
    references: Name | None


def _foreign_keys(op: ops.Operation) -> list[_ForeignKey]:
    if isinstance(op, ops.CreateTable):
        found = [_ForeignKey(op.target, (c.name,), c.references) for c in op.columns if c.references]
        found += [_ForeignKey(op.target, c.columns, c.references) for c in op.constraints if c.kind == "foreign_key"]
        return found
    if isinstance(op, ops.AddColumn) and op.column.references:
        return [_ForeignKey(op.target, (op.column.name,), op.column.references)]
    if isinstance(op, ops.AddConstraint) and op.constraint.kind == "foreign_key":
        return [_ForeignKey(op.target, op.constraint.columns, op.constraint.references)]
    return []


def covered(schema: Schema, table: Name, columns: Sequence[str]) -> bool:
    """Whether a valid, non-partial index leads with exactly these columns (in any order)."""
    wanted = set(columns)
    for index in schema.indexes_on(table):
        if index.valid and not index.partial and set(index.columns[: len(wanted)]) == wanted:
            return True
    return False


def _still_declared(table: Table, fk: _ForeignKey) -> bool:
    return any(c.kind == "foreign_key" and tuple(c.columns) == fk.columns for c in table.constraints.values())


def _index_fix(fk: _ForeignKey, new_table: bool) -> str:
    cols = ", ".join(quote_ident(c) for c in fk.columns)
    name = quote_ident(f"{fk.table.name}_{'_'.join(fk.columns)}_idx"[:63])
    if new_table:
        return (
            f"1. {fk.table} is created in this migration and has no traffic yet: add the index right after it:\n"
            f"   CREATE INDEX {name} ON {fk.table.sql()} ({cols});"
        )
    return (
        f"1. Build the index without blocking writes, in a migration that runs outside a transaction block:\n"
        f"   CREATE INDEX CONCURRENTLY {name} ON {fk.table.sql()} ({cols});\n"
        "2. If the build fails it leaves an INVALID index: drop it (DROP INDEX CONCURRENTLY) and run step 1 again."
    )


@migration_rule("foreign-key-without-index")
def foreign_key_without_index(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """A foreign key whose referencing columns no index leads with."""
    # Migration rules run after the whole migration was replayed: ctx.schema is the schema as
    # this migration leaves it, so an index created a few statements after the key counts.
    for op, ctx in seen:
        for fk in _foreign_keys(op):
            table = ctx.schema.table(fk.table)
            if not fk.columns or not authoritative(table) or table is None or not _still_declared(table, fk):
                continue
            if covered(ctx.schema, table.name, fk.columns):
                continue
            cols = ", ".join(fk.columns)
            parent = _qualified(fk.references) if fk.references else "the referenced table"
            yield Hit(
                op,
                f"Foreign key {fk.table}({cols}) → {parent} has no index on {fk.table}({cols}): every DELETE "
                f"from {parent}, and every UPDATE of its key, scans {fk.table} to look for referencing rows "
                f"(holding its locks while it does), and joins on {cols} scan too.",
                _index_fix(fk, ctx.is_new_table(fk.table) or table.created_by == ctx.migration.path),
            )


# ---- unknown-object ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    """Something an operation needs to exist: a relation, a column of one, or another object."""

    kind: str  # table | column | index | type | schema | view | materialized view | sequence | trigger
    name: Name
    column: str = ""
    on_table: Name | None = None  # triggers


_IF_EXISTS = re.compile(r"^\s*ALTER\s+TABLE\s+IF\s+EXISTS\b", re.IGNORECASE)
_PLAIN_COLUMN = re.compile(r'^[^\s()"]+$|^"(?:[^"]|"")+"$')


def _columns(table: Name, columns: Sequence[str]) -> list[_Ref]:
    return [_Ref("column", table, c) for c in columns if c and _PLAIN_COLUMN.match(c)]


def _create_table_refs(op: ops.CreateTable) -> list[_Ref]:
    refs: list[_Ref] = []
    if op.target.schema:
        refs.append(_Ref("schema", Name(op.target.schema)))
    if op.partition_of is not None:
        refs.append(_Ref("table", op.partition_of))
    for fk in _foreign_keys(op):
        if fk.references is not None and fk.references.key != op.target.key:
            refs.append(_Ref("table", fk.references))
    return refs


def _constraint_refs(op: ops.AddConstraint) -> list[_Ref]:
    con = op.constraint
    refs = [_Ref("table", op.target)]
    if con.kind in ("unique", "primary_key", "foreign_key", "not_null"):
        refs += _columns(op.target, con.columns)
    if con.using_index:
        refs.append(_Ref("index", Name(con.using_index, op.target.schema)))
    if con.kind == "foreign_key" and con.references is not None:
        refs += [_Ref("table", con.references), *_columns(con.references, con.ref_columns)]
    return refs


_COLUMN_OPS = (
    ops.AlterColumnType, ops.SetNotNull, ops.DropNotNull, ops.SetDefault, ops.DropDefault, ops.AlterColumnOther,
)  # fmt: skip
_TABLE_OPS = (
    ops.RenameTable, ops.AlterTableSet, ops.Truncate, ops.LockTable, ops.DeleteRows, ops.InsertRows,
    ops.AddColumn, ops.ValidateConstraint, ops.DropConstraint, ops.RenameConstraint,
)  # fmt: skip


def _object_refs(op: ops.Operation) -> list[_Ref]:
    """References of operations on objects other than tables and columns."""
    if isinstance(op, ops.DropIndex) and not op.if_exists:
        return [_Ref("index", op.index)]
    if isinstance(op, ops.Reindex) and op.kind in ("index", "table"):
        return [_Ref(op.kind, op.target_name)]
    if isinstance(op, ops.AddEnumValue | ops.RenameEnumValue):
        return [_Ref("type", op.type_name)]
    if isinstance(op, ops.CreateObject) and op.kind == "trigger" and op.on_table is not None:
        return [_Ref("table", op.on_table)]
    if isinstance(op, ops.DropObject) and not op.if_exists and op.kind in _LISTED_KINDS:
        on = [_Ref("table", op.on_table)] if op.on_table is not None else []
        return [*on, _Ref(op.kind, op.name, on_table=op.on_table)]
    if isinstance(op, ops.RenameObject) and op.kind in _LISTED_KINDS:
        return [_Ref(op.kind, op.name)]
    if isinstance(op, ops.RefreshMaterializedView):
        return [_Ref("materialized view", op.view)]
    return []


def _references(op: ops.Operation) -> list[_Ref]:
    """What ``op`` needs to exist already."""
    if isinstance(op, ops.CreateTable):
        return _create_table_refs(op)
    if isinstance(op, ops.AddConstraint):
        return _constraint_refs(op)
    if isinstance(op, ops.CreateIndex):
        return [_Ref("table", op.target), *_columns(op.target, op.columns)]
    if isinstance(op, ops.DropTable):
        return [] if op.if_exists else [_Ref("table", op.target)]
    if isinstance(op, ops.DropColumn):
        return [_Ref("table", op.target)] + ([] if op.if_exists else [_Ref("column", op.target, op.column)])
    if isinstance(op, (ops.RenameColumn, *_COLUMN_OPS)):
        return [_Ref("table", op.target), _Ref("column", op.target, op.column)]
    if isinstance(op, ops.UpdateRows):
        return [_Ref("table", op.target), *_columns(op.target, op.columns)]
    if isinstance(op, _TABLE_OPS):
        return [_Ref("table", op.target)]
    if isinstance(op, ops.VacuumFull | ops.Cluster) and op.target is not None:
        return [_Ref("table", op.target)]
    if isinstance(op, ops.AttachPartition | ops.DetachPartition):
        return [_Ref("table", op.target), _Ref("table", op.partition)]
    return _object_refs(op)


def _relation_exists(schema: Schema, name: Name) -> bool:
    if schema.table(name) is not None:
        return True
    return any(name.key in schema.objects.get(kind, set()) for kind in _RELATION_KINDS)


def _exists(schema: Schema, ref: _Ref) -> bool | None:
    """True or False when the schema can tell, None when it cannot."""
    if ref.kind == "table":
        return _relation_exists(schema, ref.name) if ref.name.name else None
    if ref.kind == "column":
        table = schema.table(ref.name)
        if not authoritative(table):
            return None  # unknown table (reported once, as a table), a view, or columns not spelled out
        return table is not None and ref.column in table.columns
    if ref.kind == "index":
        return schema.index(ref.name) is not None
    if ref.kind == "type":
        return ref.name.key in schema.enums or ref.name.key in schema.objects.get("type", set())
    listed = schema.objects.get(ref.kind)
    if listed is None:
        return None  # this schema does not list objects of that kind at all
    if ref.kind == "trigger" and ref.on_table is not None:
        return Name(ref.name.name, ref.on_table.key[0]).key in listed or ref.name.key in listed
    return ref.name.key in listed


def _candidates(schema: Schema, ref: _Ref) -> list[str]:
    if ref.kind == "column":
        table = schema.table(ref.name)
        return list(table.columns) if table else []
    if ref.kind == "table":
        return [key[1] for key in schema.tables if key[0] == ref.name.key[0]]
    if ref.kind == "index":
        return [key[1] for key in schema.indexes if key[0] == ref.name.key[0]]
    if ref.kind == "type":
        return [key[1] for key in schema.enums]
    return [key[1] for key in schema.objects.get(ref.kind, set())]


def _describe(ref: _Ref) -> str:
    if ref.kind == "column":
        return f"column {_qualified(ref.name)}.{ref.column}"
    if ref.kind == "table":
        return f"table {_qualified(ref.name)}"
    if ref.kind == "type":
        return f"enum type {_qualified(ref.name)}"
    return f"{ref.kind} {_qualified(ref.name) if ref.kind != 'schema' else ref.name.name}"


def _renamed_already(op: ops.Operation, schema: Schema) -> bool:
    """A rename whose old name is gone and new name present: ``already-in-database`` says so."""
    if isinstance(op, ops.RenameColumn):
        table = schema.table(op.target)
        return table is not None and op.column not in table.columns and op.new_name in table.columns
    if isinstance(op, ops.RenameTable):
        return schema.table(op.target) is None and schema.table(Name(op.new_name, op.target.schema)) is not None
    return False


def _blind(ctx: OpContext) -> bool:
    """Procedural code earlier in this migration may have created anything: stop judging existence."""
    return earlier_has(ctx.earlier, "unparsed")


@op_rule("unknown-object", ops.Operation)
def unknown_object(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """A table, column or other object that neither the database nor an earlier migration has."""
    schema = ctx.schema
    if not schema.from_live or _blind(ctx) or _IF_EXISTS.match(op.stmt.text) or _renamed_already(op, schema):
        return
    for ref in _references(op):
        if _exists(schema, ref) is not False:
            continue
        wanted = ref.column if ref.kind == "column" else ref.name.name
        close = difflib.get_close_matches(wanted, _candidates(schema, ref), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        yield Hit(
            op,
            f"{_describe(ref)[0].upper()}{_describe(ref)[1:]} exists neither in the database nor in an earlier "
            f"migration: this statement fails when it runs.{hint}",
            f"1. Correct the name{f' (closest known: {close[0]})' if close else ''}, or\n"
            f"2. Add the migration that creates the {ref.kind} before this one, or\n"
            "3. If the database you linted against is not the one this migration targets, lint against "
            "the right one (--dsn, or a fresh `bgmigrate inspect` snapshot for --schema).",
        )


# ---- already-in-database ------------------------------------------------------------------


def _live_table(ctx: OpContext, name: Name) -> Table | None:
    table = ctx.schema.table(name)
    return table if table is not None and table.live else None


def _already_column(op: ops.Operation, ctx: OpContext) -> str | None:
    """What the database already has that a column change asks for, or None."""
    if isinstance(op, ops.RenameColumn):
        if _renamed_already(op, ctx.schema) and _live_table(ctx, op.target):
            return f"column {op.target}.{op.new_name} (renamed from {op.column} already)"
        return None
    table = _live_table(ctx, op.target) if isinstance(op, (ops.AddColumn, *_COLUMN_OPS)) else None
    if table is None:
        return None
    if isinstance(op, ops.AddColumn):
        return f"column {op.target}.{op.column.name}" if op.column.name in table.columns else None
    assert isinstance(op, _COLUMN_OPS)
    col = table.columns.get(op.column)
    if col is None:
        return None
    if (
        isinstance(op, ops.AlterColumnType)
        and op.using is None
        and normalize_type(col.type) == normalize_type(op.new_type)
    ):
        return f"column {op.target}.{op.column} with type {col.type}"
    if isinstance(op, ops.SetNotNull) and not col.nullable:
        return f"column {op.target}.{op.column} NOT NULL"
    if isinstance(op, ops.DropNotNull) and col.nullable:
        return f"column {op.target}.{op.column} nullable"
    return None


def _already_object(op: ops.Operation, ctx: OpContext) -> str | None:
    schema = ctx.schema
    if isinstance(op, ops.CreateTable) and _live_table(ctx, op.target):
        return f"table {op.target}"
    if isinstance(op, ops.RenameTable) and _renamed_already(op, schema):
        new = Name(op.new_name, op.target.schema)
        return f"table {new} (renamed from {op.target.name} already)" if _live_table(ctx, new) else None
    if isinstance(op, ops.CreateIndex) and op.name and _live_table(ctx, op.target):
        return f"index {op.name}" if schema.index(Name(op.name, op.target.schema)) else None
    if isinstance(op, ops.AddConstraint) and op.constraint.name:
        table = _live_table(ctx, op.target)
        if table is not None and op.constraint.name in table.constraints:
            return f"constraint {op.constraint.name} on {op.target}"
    if isinstance(op, ops.CreateEnum) and op.type_name.key in schema.enums:
        return f"enum type {op.type_name}"
    if isinstance(op, ops.AddEnumValue) and op.value in schema.enums.get(op.type_name.key, []):
        return f"value '{op.value}' of enum type {op.type_name}"
    if isinstance(op, ops.CreateObject) and op.kind in _LISTED_KINDS and op.kind != "trigger":
        replaced = re.match(r"^\s*CREATE\s+OR\s+REPLACE\b", op.stmt.text, re.IGNORECASE)
        if not replaced and op.name.key in schema.objects.get(op.kind, set()):
            return f"{op.kind} {op.name if op.kind != 'schema' else op.name.name}"
    return None


_GUARDED = re.compile(r"\bIF\s+NOT\s+EXISTS\b", re.IGNORECASE)


@op_rule("already-in-database", ops.Operation)
def already_in_database(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """A change the database already has: the migration was applied, or the change made by hand."""
    if not ctx.schema.from_live or ctx.is_new_table(op.table):
        return
    found = _already_column(op, ctx) or _already_object(op, ctx)
    if found is None:
        return
    effect = (
        "IF NOT EXISTS makes this statement do nothing"
        if _GUARDED.search(op.stmt.text)
        else "this statement does nothing, or fails if it creates what already exists"
    )
    yield Hit(
        op,
        f"The database already has {found}: {effect}. This migration may have been applied already, "
        "or the change was made by hand.",
        "1. If the migration is applied, lint only pending migrations (for example with --diff).\n"
        "2. If the change was made by hand, keep the migration for other environments, and make it "
        "idempotent where PostgreSQL allows (IF NOT EXISTS).",
    )
