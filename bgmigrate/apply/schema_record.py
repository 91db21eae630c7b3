"""A record of the live schema's objects, to tell exactly what a phase changed and what is left.

Rollback compares the catalog after undoing a phase with the record taken before the phase
ran, so it never says "as before" without having looked. The record is small: names, kinds and
the attributes an application sees (column type and nullability, trigger enabled), not data.
bgmigrate's own schema and the system schemas are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bgmigrate.apply.connect import Connection

# Each query yields one row per object: the first ``key`` fields name it, the rest describe it.
_SKIP = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'bgmigrate') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
)
_QUERIES: dict[str, tuple[int, str]] = {
    "relation": (
        2,
        f"""SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I') AND {_SKIP}""",
    ),
    "column": (
        3,
        f"""SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_SKIP}""",
    ),
    "constraint": (
        3,
        f"""SELECT n.nspname, c.relname, k.conname, k.contype::text FROM pg_constraint k
            JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {_SKIP}""",
    ),
    "trigger": (
        3,
        f"""SELECT n.nspname, c.relname, t.tgname, t.tgenabled::text FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND {_SKIP}""",
    ),
    "function": (
        3,
        f"""SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_SKIP}""",
    ),
    "type": (
        2,
        f"""SELECT n.nspname, t.typname, t.typtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype IN ('e', 'd') AND {_SKIP}""",
    ),
    "enum value": (
        3,
        f"""SELECT n.nspname, t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
            JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_SKIP}""",
    ),
}

Row = tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """Objects by category: each a map from the object's name parts to its description."""

    objects: dict[str, dict[Row, Row]]

    def to_json(self) -> dict[str, Any]:
        return {kind: [list(k + v) for k, v in rows.items()] for kind, rows in self.objects.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        objects: dict[str, dict[Row, Row]] = {}
        for kind, (key, _query) in _QUERIES.items():
            rows = [tuple(str(part) for part in row) for row in data.get(kind, [])]
            objects[kind] = {row[:key]: row[key:] for row in rows}
        return cls(objects)


def read_catalog(conn: Connection) -> Catalog:
    """The live schema's objects (one read-only query per category)."""
    objects: dict[str, dict[Row, Row]] = {}
    for kind, (key, query) in _QUERIES.items():
        rows = [tuple(str(part) for part in row) for row in conn.execute(query).fetchall()]
        objects[kind] = {row[:key]: row[key:] for row in rows}
    return Catalog(objects)


@dataclass(frozen=True)
class Change:
    """One difference between two records: ``kind`` object ``name`` was added, removed or changed."""

    kind: str
    name: Row
    before: Row | None  # None: added since
    after: Row | None  # None: gone since

    def describe(self) -> str:
        what = f"{self.kind} {'.'.join(self.name)}"
        if self.before is None:
            return f"{what} was added{_detail(self.after)}"
        if self.after is None:
            return f"{what} is gone{_detail(self.before)}"
        return f"{what} changed from {' '.join(self.before)} to {' '.join(self.after)}"


def _detail(attributes: Row | None) -> str:
    return f" ({' '.join(attributes)})" if attributes and attributes[0] not in ("r", "e") else ""


def differences(before: Catalog, after: Catalog) -> list[Change]:
    """What changed from ``before`` to ``after``, in a stable order."""
    changes: list[Change] = []
    for kind in _QUERIES:
        old, new = before.objects.get(kind, {}), after.objects.get(kind, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                changes.append(Change(kind, name, old.get(name), new.get(name)))
    return changes
