"""Schema snapshots: the JSON form of a live schema, and the one way it becomes a ``Schema``.

The introspector produces this form and ``lint --schema`` reads it back through the same
``schema_from_dict``, so a database and a snapshot of it give the linter identical bases.
Output is stable: tables, constraints, indexes and objects sorted by name, columns in table
order, so snapshots diff cleanly in version control.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bgmigrate.model.operations import constraint_kind
from bgmigrate.model.schema import Column, Constraint, Index, Schema, Table
from bgmigrate.sql.names import Name
from bgmigrate.sql.type_facts import not_null_check_column

FORMAT_KEY = "bgmigrate_snapshot"
FORMAT_VERSION = 1

# Object kinds of ``Schema.objects`` and their keys in the JSON form.
_OBJECT_KEYS = {
    "view": "views",
    "materialized view": "materialized_views",
    "sequence": "sequences",
    "foreign table": "foreign_tables",
    "trigger": "triggers",
}


class SnapshotError(ValueError):
    """A snapshot file that cannot be read or does not have the expected shape."""


# ---- reading --------------------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object, with its path for error messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise SnapshotError(f"{where}: expected an object")
        self.data: Mapping[str, Any] = data
        self.where = where

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise SnapshotError(f"{self.where}.{key}: expected a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            raise SnapshotError(f"{self.where}.{key}: expected a string or null")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise SnapshotError(f"{self.where}.{key}: expected true or false")
        return value

    def count(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SnapshotError(f"{self.where}.{key}: expected a number or null")
        return int(value)

    def items(self, key: str) -> list[object]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise SnapshotError(f"{self.where}.{key}: expected a list")
        return value

    def names(self, key: str) -> tuple[str, ...]:
        values = self.items(key)
        if not all(isinstance(v, str) for v in values):
            raise SnapshotError(f"{self.where}.{key}: expected a list of strings")
        return tuple(str(v) for v in values)

    def child(self, key: str, index: int) -> _Reader:
        return _Reader(self.items(key)[index], f"{self.where}.{key}[{index}]")

    def children(self, key: str) -> list[_Reader]:
        return [self.child(key, i) for i in range(len(self.items(key)))]


def _qualified(r: _Reader) -> Name:
    return Name(r.text("name"), r.text("schema", "public"))


def _column(r: _Reader) -> Column:
    return Column(
        name=r.text("name"),
        type=r.text("type"),
        nullable=r.flag("nullable", True),
        default=r.optional_text("default"),
        identity=r.flag("identity", False),
        generated=r.flag("generated", False),
    )


def derived_not_null_column(kind: str, columns: tuple[str, ...], definition: str) -> str | None:
    """The column a constraint guarantees NOT NULL: a NOT NULL constraint, or ``CHECK (col IS NOT NULL)``.

    >>> derived_not_null_column("check", ("status",), "CHECK ((status IS NOT NULL)) NOT VALID")
    'status'
    >>> derived_not_null_column("check", ("qty",), "CHECK ((qty > 0))") is None
    True
    """
    if kind == "not_null" and len(columns) == 1:
        return columns[0]
    if kind != "check":
        return None
    body = definition.strip()
    if body.upper().endswith(" NOT VALID"):
        body = body[: -len(" NOT VALID")]
    if body.upper().startswith("CHECK"):
        body = body[len("CHECK") :]
    return not_null_check_column(body.strip())


def _constraint(r: _Reader) -> Constraint:
    try:
        kind = constraint_kind(r.text("kind"))
    except ValueError as exc:
        raise SnapshotError(f"{r.where}.kind: {exc}") from None
    columns = r.names("columns")
    definition = r.text("definition", "")
    references = r.data.get("references")
    return Constraint(
        name=r.text("name"),
        kind=kind,
        columns=columns,
        validated=r.flag("validated", True),
        definition=definition,
        references=_qualified(_Reader(references, f"{r.where}.references")) if references is not None else None,
        not_null_column=(
            r.optional_text("not_null_column")
            if "not_null_column" in r.data
            else derived_not_null_column(kind, columns, definition)
        ),
    )


def _index(r: _Reader, table: Name) -> Index:
    return Index(
        name=r.text("name"),
        table=table,
        columns=r.names("columns"),
        unique=r.flag("unique", False),
        valid=r.flag("valid", True),
        partial=r.flag("partial", False),
        expression=r.flag("expression", False),
    )


def _add_table(schema: Schema, r: _Reader) -> None:
    name = _qualified(r)
    table = Table(name, rows_estimate=r.count("rows_estimate"), size_bytes=r.count("size_bytes"), live=True)
    for c in r.children("columns"):
        column = _column(c)
        table.columns[column.name] = column
    for c in r.children("constraints"):
        constraint = _constraint(c)
        table.constraints[constraint.name] = constraint
    for i in r.children("indexes"):
        index = _index(i, name)
        schema.indexes[Name(index.name, name.schema).key] = index
    table.triggers = set(r.names("triggers"))
    schema.tables[name.key] = table


def schema_from_dict(data: object) -> Schema:
    """A ``Schema`` (``from_live``) from the snapshot form; raises ``SnapshotError`` on a bad shape."""
    r = _Reader(data, "snapshot")
    version = r.data.get(FORMAT_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise SnapshotError(f"snapshot format {version!r} is not supported (expected {FORMAT_VERSION})")
    schema = Schema(server_version=r.count("server_version"), from_live=True)
    for t in r.children("tables"):
        _add_table(schema, t)
    for i in r.children("indexes"):  # indexes whose table the snapshot does not hold
        table = _qualified(_Reader(i.data.get("table"), f"{i.where}.table"))
        schema.indexes[Name(i.text("name"), table.schema).key] = _index(i, table)
    for e in r.children("enums"):
        schema.enums[_qualified(e).key] = list(e.names("values"))
    names = r.names("schemas")
    if names:
        schema.objects["schema"] = {Name(n).key for n in names}
    for kind, key in _OBJECT_KEYS.items():
        found = {_qualified(o).key for o in r.children(key)}
        if found:
            schema.objects[kind] = found
    other = r.data.get("objects", {})
    if not isinstance(other, Mapping):
        raise SnapshotError("snapshot.objects: expected an object")
    for kind in other:
        schema.objects[str(kind)] = {_qualified(o).key for o in _Reader(other, "snapshot.objects").children(kind)}
    return schema


def loads(text: str, source: str = "snapshot") -> Schema:
    """A ``Schema`` from snapshot JSON text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return schema_from_dict(data)
    except SnapshotError as exc:
        raise SnapshotError(f"{source}: {exc}") from None


def load(path: str | Path) -> Schema:
    """A ``Schema`` from a snapshot file written by ``bgmigrate inspect --out``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SnapshotError(f"{path}: cannot read the snapshot: {reason}") from None
    return loads(text, str(path))


# ---- writing --------------------------------------------------------------------------------


def _name_dict(key: tuple[str, str]) -> dict[str, str]:
    return {"schema": key[0], "name": key[1]}


def _column_dict(c: Column) -> dict[str, object]:
    return {
        "name": c.name,
        "type": c.type,
        "nullable": c.nullable,
        "default": c.default,
        "identity": c.identity,
        "generated": c.generated,
    }


def _constraint_dict(c: Constraint) -> dict[str, object]:
    return {
        "name": c.name,
        "kind": c.kind,
        "columns": list(c.columns),
        "validated": c.validated,
        "definition": c.definition,
        "references": _name_dict(c.references.key) if c.references is not None else None,
        "not_null_column": c.not_null_column,
    }


def _index_dict(i: Index) -> dict[str, object]:
    return {
        "name": i.name,
        "columns": list(i.columns),
        "unique": i.unique,
        "valid": i.valid,
        "partial": i.partial,
        "expression": i.expression,
    }


def _table_dict(table: Table, indexes: list[Index]) -> dict[str, object]:
    return {
        "schema": table.name.key[0],
        "name": table.name.name,
        "rows_estimate": table.rows_estimate,
        "size_bytes": table.size_bytes,
        "columns": [_column_dict(c) for c in table.columns.values()],
        "constraints": [_constraint_dict(c) for _, c in sorted(table.constraints.items())],
        "indexes": [_index_dict(i) for i in sorted(indexes, key=lambda i: i.name)],
        # Only when it has some: a snapshot of a schema without triggers reads as before.
        **({"triggers": sorted(table.triggers)} if table.triggers else {}),
    }


def schema_to_dict(schema: Schema) -> dict[str, object]:
    """The snapshot form of a schema, in a stable order."""
    by_table: dict[tuple[str, str], list[Index]] = {}
    for index in schema.indexes.values():
        by_table.setdefault(index.table.key, []).append(index)
    orphans = [i for key, found in by_table.items() if key not in schema.tables for i in found]
    data: dict[str, object] = {
        FORMAT_KEY: FORMAT_VERSION,
        "server_version": schema.server_version,
        "schemas": sorted(key[1] for key in schema.objects.get("schema", set())),
        "tables": [_table_dict(schema.tables[key], by_table.get(key, [])) for key in sorted(schema.tables)],
        "enums": [{**_name_dict(key), "values": list(schema.enums[key])} for key in sorted(schema.enums)],
    }
    for kind, key in _OBJECT_KEYS.items():
        data[key] = [_name_dict(k) for k in sorted(schema.objects.get(kind, set()))]
    other = {k: v for k, v in schema.objects.items() if k not in _OBJECT_KEYS and k != "schema" and v}
    if other:
        data["objects"] = {kind: [_name_dict(k) for k in sorted(other[kind])] for kind in sorted(other)}
    if orphans:
        data["indexes"] = [
            {**_index_dict(i), "table": _name_dict(i.table.key)} for i in sorted(orphans, key=lambda i: i.name)
        ]
    return data


def _encoder() -> Callable[[object], str]:
    """One-line JSON for a small value, from the C encoder built once (json.dumps builds one per call,
    and a 2,000-table snapshot has some 25,000 small objects)."""
    from json import encoder

    plain = json.JSONEncoder(ensure_ascii=False)
    make_encoder = getattr(encoder, "c_make_encoder", None)
    if make_encoder is None:  # no C accelerator: the plain way
        return plain.encode

    def refuse(value: object) -> object:
        raise TypeError(f"not JSON: {type(value).__name__}")

    # The same arguments JSONEncoder.iterencode passes (no indent, ensure_ascii off), made once.
    make = make_encoder(None, refuse, encoder.encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(make(value, 0))


_encode = _encoder()


def _expands(value: object) -> bool:
    """Whether a value spreads over several lines: an object or list holding objects with lists of objects.

    A column, constraint, index or enum (scalars, lists of scalars, a name object) stays on one line.
    """
    if type(value) is dict:
        return any(type(v) is list and v and type(v[0]) is dict for v in value.values())
    return type(value) is list and bool(value) and type(value[0]) is dict


def _emit(value: object, level: int, out: list[str]) -> None:
    # Small objects stay on one line, so a snapshot diff shows one changed line per changed column.
    if level > 0 and not _expands(value):
        out.append(_encode(value))
        return
    pad, inner = "\n" + "  " * level, "\n" + "  " * (level + 1)
    if type(value) is dict:
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            out.append(("," if i else "") + inner + _encode(key) + ": ")
            _emit(item, level + 1, out)
        out.append(pad + "}")
        return
    assert isinstance(value, list)
    if not any(_expands(item) for item in value):
        out.append("[" + inner + ("," + inner).join(_encode(item) for item in value) + pad + "]")
        return
    out.append("[")
    for i, item in enumerate(value):
        out.append(("," if i else "") + inner)
        _emit(item, level + 1, out)
    out.append(pad + "]")


def dumps(data: dict[str, object]) -> str:
    """Snapshot JSON text: keys in their fixed order, one line per column, constraint and index.

    >>> print(dumps({"tables": [{"name": "t", "columns": [{"name": "id", "type": "bigint"}]}]}), end="")
    {
      "tables": [
        {
          "name": "t",
          "columns": [
            {"name": "id", "type": "bigint"}
          ]
        }
      ]
    }
    """
    out: list[str] = []
    _emit(data, 0, out)
    out.append("\n")
    return "".join(out)


def digest(schema: Schema) -> str:
    """A short content hash of a schema, e.g. to key a result cache on the base it was linted against."""
    canonical = json.dumps(schema_to_dict(schema), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def describe_tables(schema: Schema) -> list[str]:
    """One line per table, for documentation: name, size, columns, indexes.

    >>> s = loads('{"tables": [{"name": "orders", "rows_estimate": 48000000, "columns": '
    ...           '[{"name": "id", "type": "bigint", "nullable": false}], "indexes": [{"name": "orders_pkey", "columns": ["id"]}]}]}')
    >>> describe_tables(s)
    ['public.orders (~48 M rows): id bigint NOT NULL; indexes orders_pkey (id)']
    """
    from bgmigrate.model.table_size import TableSize

    lines = []
    for key in sorted(schema.tables):
        table = schema.tables[key]
        size = ""
        if table.rows_estimate is not None:
            size = " (" + TableSize("", table.rows_estimate, table.size_bytes).describe().removeprefix(": ") + ")"
        columns = ", ".join(f"{c.name} {c.type}" + ("" if c.nullable else " NOT NULL") for c in table.columns.values())
        indexes = "; ".join(
            f"{i.name} ({', '.join(i.columns)})" for i in sorted(schema.indexes_on(table.name), key=lambda i: i.name)
        )
        lines.append(f"{key[0]}.{key[1]}{size}: {columns}" + (f"; indexes {indexes}" if indexes else ""))
    return lines
