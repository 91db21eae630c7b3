"""Read a live PostgreSQL schema from the catalogs, in a fixed number of queries.

One query per kind of object (tables, columns, constraints, indexes, …), each over the whole
database, so the cost does not grow by round trips with the number of tables. Everything runs
in one read-only transaction with a statement timeout; nothing is written.

Sizes come from ``pg_class`` (``reltuples``, ``relpages``) as of the last VACUUM or ANALYZE,
like the planner's own estimates. Asking the files for their size (``pg_total_relation_size``)
would take a lock on every table and queue behind any migration holding one.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bgmigrate.dsn import DEFAULT_STATEMENT_TIMEOUT_MS, close_quietly, connect, describe
from bgmigrate.live.snapshot import FORMAT_KEY, FORMAT_VERSION, derived_not_null_column, schema_from_dict
from bgmigrate.model.schema import Schema
from bgmigrate.sql.type_facts import normalize_type

if TYPE_CHECKING:
    import psycopg

Row = tuple[Any, ...]

# User schemas only: no system catalogs, TOAST or other sessions' temporary schemas.
USER_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
)
_TABLE_KINDS = "c.relkind IN ('r', 'p')"


def _queries(version_num: int) -> dict[str, str]:
    """The catalog queries, adjusted to what the server's catalogs have."""
    generated = "a.attgenerated <> ''" if version_num >= 120000 else "false"
    key_count = "i.indnkeyatts" if version_num >= 110000 else "i.indnatts"
    constraint_kinds = "'c', 'f', 'u', 'p', 'x', 'n'"
    return {
        "schemas": f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMAS}",
        "tables": f"""
            SELECT c.oid, n.nspname, c.relname, c.reltuples::float8,
                   ((c.relpages + COALESCE(t.relpages, 0) + COALESCE(ix.pages, 0))::bigint
                    * current_setting('block_size')::bigint),
                   c.relkind,
                   (SELECT h.inhparent FROM pg_inherits h WHERE h.inhrelid = c.oid LIMIT 1)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
            LEFT JOIN (SELECT x.indrelid, sum(xc.relpages) AS pages
                       FROM pg_index x JOIN pg_class xc ON xc.oid = x.indexrelid
                       GROUP BY x.indrelid) ix ON ix.indrelid = c.oid
            WHERE {_TABLE_KINDS} AND {USER_SCHEMAS}""",
        "columns": f"""
            SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', {generated}, a.attnum
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attnum > 0 AND NOT a.attisdropped AND {_TABLE_KINDS} AND {USER_SCHEMAS}
            ORDER BY a.attrelid, a.attnum""",
        "constraints": f"""
            SELECT con.conrelid, con.conname, con.contype, con.convalidated, pg_get_constraintdef(con.oid),
                   con.conkey, fn.nspname, fc.relname
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_class fc ON fc.oid = con.confrelid
            LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
            WHERE con.contype IN ({constraint_kinds}) AND {_TABLE_KINDS} AND {USER_SCHEMAS}""",
        "indexes": f"""
            SELECT i.indrelid, ic.relname, i.indisunique, i.indisvalid, i.indpred IS NOT NULL,
                   i.indexprs IS NOT NULL, (i.indkey::int2[])[0:{key_count} - 1],
                   CASE WHEN i.indexprs IS NOT NULL THEN
                       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, {key_count}) k)
                   END
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {_TABLE_KINDS} AND {USER_SCHEMAS}""",
        "enums": f"""
            SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
            FROM pg_type t
            JOIN pg_enum e ON e.enumtypid = t.oid
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE {USER_SCHEMAS}
            GROUP BY n.nspname, t.typname""",
        "triggers": f"""
            SELECT n.nspname, t.tgname, t.tgrelid
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND {USER_SCHEMAS}""",
        "relations": f"""
            SELECT n.nspname, c.relname, c.relkind
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm', 'S', 'f') AND {USER_SCHEMAS}""",
    }


QUERY_NAMES = ("schemas", "tables", "columns", "constraints", "indexes", "enums", "triggers", "relations")


def fetch(conn: psycopg.Connection[Any]) -> tuple[int, dict[str, list[Row]]]:
    """The server version and every catalog query's rows: ``1 + len(QUERY_NAMES)`` queries in all."""
    version_row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    version_num = int(version_row[0]) if version_row else 0
    queries = _queries(version_num)
    # Binary results: thousands of rows of numbers, booleans and arrays convert faster than from text.
    return version_num, {name: conn.execute(queries[name], binary=True).fetchall() for name in QUERY_NAMES}


# ---- rows → snapshot form -----------------------------------------------------------------


_CONSTRAINT_KINDS = {
    "c": "check", "f": "foreign_key", "u": "unique", "p": "primary_key", "x": "exclude", "n": "not_null",
}  # fmt: skip
_RELATION_KEYS = {"v": "views", "m": "materialized_views", "S": "sequences", "f": "foreign_tables"}


def _rows_estimate(reltuples: float) -> int | None:
    """``reltuples`` is -1 until the first VACUUM, ANALYZE or CREATE INDEX (PostgreSQL 14+): unknown."""
    return int(reltuples) if reltuples >= 0 else None


def _tables(rows: Sequence[Row]) -> dict[int, dict[str, Any]]:
    tables: dict[int, dict[str, Any]] = {}
    for oid, schema, name, reltuples, size, relkind, _parent in rows:
        rows_estimate = _rows_estimate(reltuples)
        if relkind == "p":
            rows_estimate, size = 0, 0  # a partitioned table holds no rows itself: its partitions do
        tables[oid] = {
            "schema": schema,
            "name": name,
            "rows_estimate": rows_estimate,
            # relpages is as stale as reltuples: without a row estimate the size is unknown too.
            "size_bytes": int(size) if rows_estimate is not None else None,
            "columns": [],
            "constraints": [],
            "indexes": [],
        }
    _sum_partitions(tables, {row[0]: row[6] for row in rows if row[6] is not None})
    return tables


def _sum_partitions(tables: dict[int, dict[str, Any]], parent_of: dict[int, int]) -> None:
    """Add each leaf partition's rows and size to every partitioned table above it."""
    parents = set(parent_of.values())
    for leaf_oid, parent in parent_of.items():
        if leaf_oid not in tables or leaf_oid in parents:
            continue  # only leaves hold data; sums flow up from them
        leaf = tables[leaf_oid]
        ancestor: int | None = parent
        while ancestor is not None and ancestor in tables:
            target = tables[ancestor]
            for key in ("rows_estimate", "size_bytes"):
                if leaf[key] is None or target[key] is None:
                    target[key] = None
                else:
                    target[key] += leaf[key]
            ancestor = parent_of.get(ancestor)


# Types repeat across thousands of columns: normalise each spelling once.
_normal_type = functools.lru_cache(maxsize=4096)(normalize_type)


# Column names by (table oid, attnum): constraints and indexes list their columns by number,
# and naming them here is cheaper than a subquery per constraint and index on the server.
_Names = dict[tuple[int, int], str]


def _add_columns(tables: dict[int, dict[str, Any]], rows: Sequence[Row]) -> _Names:
    names: _Names = {}
    for relid, name, type_text, not_null, default, identity, generated, attnum in rows:
        names[(relid, attnum)] = name
        if relid in tables:
            tables[relid]["columns"].append(
                {
                    "name": name,
                    "type": _normal_type(type_text),
                    "nullable": not not_null,
                    "default": None if generated else default,
                    "identity": bool(identity),
                    "generated": bool(generated),
                }
            )
    return names


def _add_constraints(tables: dict[int, dict[str, Any]], rows: Sequence[Row], names: _Names) -> None:
    for relid, name, contype, validated, definition, attnums, ref_schema, ref_name in rows:
        if relid not in tables or contype not in _CONSTRAINT_KINDS:
            continue
        kind = _CONSTRAINT_KINDS[contype]
        cols = tuple(names.get((relid, n), "") for n in attnums or ())
        tables[relid]["constraints"].append(
            {
                "name": name,
                "kind": kind,
                "columns": list(cols),
                "validated": bool(validated),
                "definition": definition or "",
                "references": {"schema": ref_schema, "name": ref_name} if ref_name else None,
                "not_null_column": derived_not_null_column(kind, cols, definition or ""),
            }
        )


def _index_columns(relid: int, attnums: Sequence[int], expressions: Sequence[str] | None, names: _Names) -> list[str]:
    """Key columns by name; an expression (attnum 0) by its text."""
    return [
        names.get((relid, n), "") if n else (expressions[pos] if expressions else "") for pos, n in enumerate(attnums)
    ]


def _add_indexes(tables: dict[int, dict[str, Any]], rows: Sequence[Row], names: _Names) -> None:
    for relid, name, unique, valid, partial, expression, attnums, expressions in rows:
        if relid in tables:
            tables[relid]["indexes"].append(
                {
                    "name": name,
                    "columns": _index_columns(relid, attnums or (), expressions, names),
                    "unique": bool(unique),
                    "valid": bool(valid),
                    "partial": bool(partial),
                    "expression": bool(expression),
                }
            )


def _add_triggers(tables: dict[int, dict[str, Any]], rows: Sequence[Row]) -> None:
    """Each table's trigger names (unique per table only: the planner's name guard needs the table)."""
    for _schema, name, relid in rows:
        if relid in tables:
            tables[relid].setdefault("triggers", []).append(name)
    for table in tables.values():
        if "triggers" in table:
            table["triggers"].sort()


def _by_name(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (item.get("schema", ""), item["name"]))


def build_snapshot(version_num: int, rows: dict[str, list[Row]]) -> dict[str, object]:
    """The snapshot form (see ``bgmigrate.live.snapshot``) from the catalog rows, in a stable order."""
    tables = _tables(rows["tables"])
    names = _add_columns(tables, rows["columns"])
    _add_constraints(tables, rows["constraints"], names)
    _add_indexes(tables, rows["indexes"], names)
    _add_triggers(tables, rows["triggers"])
    for table in tables.values():
        table["constraints"] = _by_name(table["constraints"])
        table["indexes"] = _by_name(table["indexes"])
    snapshot: dict[str, object] = {
        FORMAT_KEY: FORMAT_VERSION,
        "server_version": version_num // 10000 if version_num >= 100000 else version_num // 100,
        "schemas": sorted(r[0] for r in rows["schemas"]),
        "tables": _by_name(list(tables.values())),
        "enums": _by_name([{"schema": s, "name": n, "values": list(v)} for s, n, v in rows["enums"]]),
    }
    relations: dict[str, list[dict[str, Any]]] = {key: [] for key in _RELATION_KEYS.values()}
    for schema, name, relkind in rows["relations"]:
        relations[_RELATION_KEYS[relkind]].append({"schema": schema, "name": name})
    for key in _RELATION_KEYS.values():
        snapshot[key] = _by_name(relations[key])
    # Trigger names are unique per table only; keyed by the table's schema, as DROP TRIGGER … ON names it.
    triggers = {(s, n) for s, n, _relid in rows["triggers"]}
    snapshot["triggers"] = [{"schema": s, "name": n} for s, n in sorted(triggers)]
    return snapshot


# ---- the whole read ------------------------------------------------------------------------


@contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection passes while building a snapshot.

    A 2,000-table snapshot allocates some 200,000 small, acyclic objects; the collector's
    passes over them cost a tenth of ``inspect``'s run time and free nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_snapshot(conn: psycopg.Connection[Any]) -> dict[str, object]:
    """The snapshot form of the database ``conn`` is connected to."""
    version_num, rows = fetch(conn)
    return build_snapshot(version_num, rows)


def inspect_database(dsn: str, *, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS) -> dict[str, object]:
    """Connect read-only, read the snapshot form, roll back. Raises ``DatabaseError`` (one redacted line)."""
    import psycopg

    conn = connect(dsn, read_only=True, statement_timeout_ms=statement_timeout_ms)
    try:
        return read_snapshot(conn)
    except psycopg.Error as exc:
        raise describe(exc, dsn, "cannot read the schema", statement_timeout_ms) from None
    finally:
        close_quietly(conn)


def read_live_schema(dsn: str, *, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS) -> Schema:
    """The live schema as the linter's base (the same path a snapshot file takes)."""
    return schema_from_dict(inspect_database(dsn, statement_timeout_ms=statement_timeout_ms))
