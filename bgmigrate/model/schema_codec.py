"""A replayed schema as JSON data and back, exactly (the cache keeps it between runs).

Unlike the snapshot format of ``bgmigrate inspect`` (a database's tables for people and other
tools), this keeps everything replay tracks: which migration created a table, stand-ins for
tables never seen, unvalidated constraints. Decoding checks every field: a cache entry is input.
"""

from __future__ import annotations

from typing import Any

from bgmigrate.model.operations import constraint_kind
from bgmigrate.model.schema import Column, Constraint, Index, Schema, Table
from bgmigrate.sql.names import Name


def schema_to_data(schema: Schema) -> dict[str, object]:
    """The schema as JSON-ready data.

    >>> s = Schema(tables={("public", "t"): Table(Name("t", "public"), {"a": Column("a", "int")})})
    >>> schema_from_data(schema_to_data(s)) == s
    True
    """
    return {
        "tables": [_table(t) for t in schema.tables.values()],
        "table_keys": [list(k) for k in schema.tables],
        "indexes": [[list(k), _index(i)] for k, i in schema.indexes.items()],
        "enums": [[list(k), list(v)] for k, v in schema.enums.items()],
        "objects": {kind: sorted(list(k) for k in keys) for kind, keys in schema.objects.items()},
        "definitions": [[kind, list(key), text] for (kind, key), text in schema.definitions.items()],
        "server_version": schema.server_version,
        "from_live": schema.from_live,
    }


def _name(name: Name) -> list[object]:
    return [name.name, name.schema]


def _table(t: Table) -> list[object]:
    columns = [[c.name, c.type, c.nullable, c.default, c.identity, c.generated] for c in t.columns.values()]
    constraints = [
        [c.name, c.kind, list(c.columns), c.validated, c.definition,
         _name(c.references) if c.references else None, c.not_null_column]
        for c in t.constraints.values()
    ]  # fmt: skip
    return [
        _name(t.name),
        columns,
        constraints,
        t.rows_estimate,
        t.size_bytes,
        t.created_by,
        t.live,
        sorted(t.triggers),
    ]


def _index(i: Index) -> list[object]:
    return [i.name, _name(i.table), list(i.columns), i.unique, i.valid, i.partial, i.expression]


def schema_from_data(data: object) -> Schema:
    """The schema ``schema_to_data`` wrote; raises ValueError on anything else."""
    d = _dict(data)
    tables = [_table_from(x) for x in _list(d["tables"])]
    keys = [_key(k) for k in _list(d["table_keys"])]
    if len(keys) != len(tables):
        raise ValueError("tables and their keys differ in number")
    schema = Schema(
        tables=dict(zip(keys, tables, strict=True)),
        indexes={_key(k): _index_from(v) for k, v in map(_pair, _list(d["indexes"]))},
        enums={_key(k): [_str(v) for v in _list(values)] for k, values in map(_pair, _list(d["enums"]))},
        objects={str(kind): {_key(k) for k in _list(keys_)} for kind, keys_ in _dict(d["objects"]).items()},
        server_version=_optional_int(d["server_version"]),
        from_live=_bool(d["from_live"]),
        definitions=_definitions(d.get("definitions", [])),
    )
    return schema


def _definitions(data: object) -> dict[tuple[str, tuple[str, str]], str]:
    found: dict[tuple[str, tuple[str, str]], str] = {}
    for item in _list(data):
        kind, key, text = _fixed(item, 3)
        found[(_str(kind), _key(key))] = _str(text)
    return found


def _table_from(data: object) -> Table:
    # Checked inline, not through helpers: a pre-commit run decodes thousands of these.
    name, columns, constraints, rows, size, created_by, live, triggers = _fixed(data, 8)
    table = Table(_name_from(name), rows_estimate=_optional_int(rows), size_bytes=_optional_int(size),
                  created_by=_str(created_by), live=_bool(live), triggers={_str(t) for t in _list(triggers)})  # fmt: skip
    for raw in _list(columns):
        if type(raw) is not list or len(raw) != 6:
            raise ValueError("column: expected 6 items")
        c_name, c_type, nullable, default, identity, generated = raw
        if not (
            type(c_name) is str and type(c_type) is str and type(nullable) is bool
            and (default is None or type(default) is str) and type(identity) is bool and type(generated) is bool
        ):  # fmt: skip
            raise ValueError(f"column {c_name!r}: a field of the wrong type")
        table.columns[c_name] = Column(c_name, c_type, nullable, default, identity, generated)
    for raw in _list(constraints):
        if type(raw) is not list or len(raw) != 7:
            raise ValueError("constraint: expected 7 items")
        k_name, kind, k_columns, validated, definition, references, not_null = raw
        if not (
            type(k_name) is str and type(kind) is str and type(k_columns) is list
            and all(type(c) is str for c in k_columns) and type(validated) is bool and type(definition) is str
            and (not_null is None or type(not_null) is str)
        ):  # fmt: skip
            raise ValueError(f"constraint {k_name!r}: a field of the wrong type")
        reference = None if references is None else _name_from(references)
        kind = constraint_kind(kind)
        table.constraints[k_name] = Constraint(
            k_name, kind, tuple(k_columns), validated, definition, reference, not_null
        )
    return table


def _index_from(data: object) -> Index:
    name, table, columns, unique, valid, partial, expression = _fixed(data, 7)
    return Index(_str(name), _name_from(table), tuple(_str(c) for c in _list(columns)), _bool(unique),
                 _bool(valid), _bool(partial), _bool(expression))  # fmt: skip


def _name_from(data: object) -> Name:
    name, schema = _fixed(data, 2)
    return Name(_str(name), _optional_str(schema))


def _key(data: object) -> tuple[str, str]:
    a, b = _fixed(data, 2)
    return _str(a), _str(b)


def _pair(data: object) -> tuple[object, object]:
    a, b = _fixed(data, 2)
    return a, b


def _fixed(data: object, size: int) -> list[Any]:
    items = _list(data)
    if len(items) != size:
        raise ValueError(f"expected {size} items, found {len(items)}")
    return items


def _dict(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("expected an object")
    return data


def _list(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise ValueError("expected an array")
    return data


def _str(data: object) -> str:
    if not isinstance(data, str):
        raise ValueError("expected a string")
    return data


def _optional_str(data: object) -> str | None:
    return None if data is None else _str(data)


def _bool(data: object) -> bool:
    if not isinstance(data, bool):
        raise ValueError("expected true or false")
    return data


def _optional_int(data: object) -> int | None:
    if data is None:
        return None
    if not isinstance(data, int) or isinstance(data, bool):
        raise ValueError("expected an integer")
    return data
