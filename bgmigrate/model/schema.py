"""The schema model: what tables, columns, constraints, indexes and enums exist.

Built by replaying migrations (``replay``) or read from a live database or snapshot. Rules
read it to judge an operation against the table it touches. ``origin`` says where a table came
from: an earlier migration or the live database ("existing", serving traffic) or the migration
being linted ("new", no traffic yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgmigrate.model.operations import ConstraintKind
from bgmigrate.sql.names import Name


@dataclass
class Column:
    """A column as the replay (or the live database) knows it."""

    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    identity: bool = False
    generated: bool = False


@dataclass
class Constraint:
    """A table constraint: its kind, columns, definition and whether it is validated."""

    name: str
    kind: ConstraintKind
    columns: tuple[str, ...] = ()
    validated: bool = True
    definition: str = ""
    references: Name | None = None
    not_null_column: str | None = None  # for CHECK (col IS NOT NULL)


@dataclass
class Index:
    """An index: its table, columns, and whether it is unique, valid, partial or on expressions."""

    name: str
    table: Name
    columns: tuple[str, ...] = ()
    unique: bool = False
    valid: bool = True
    partial: bool = False
    expression: bool = False


@dataclass
class Table:
    """A table: its columns, constraints and triggers, and where it came from."""

    name: Name
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    rows_estimate: int | None = None
    size_bytes: int | None = None
    # Which migration created it ("" for the live database / earlier runs).
    created_by: str = ""
    # Read from a database or snapshot: its columns, constraints and indexes are all known.
    # (A table with neither ``live`` nor ``created_by`` is a stand-in for one never seen.)
    live: bool = False
    # Its triggers by name (a trigger's name is unique per table only): replayed, or read live.
    triggers: set[str] = field(default_factory=set)

    def has_validated_not_null_check(self, column: str) -> bool:
        """Whether a VALID ``CHECK (column IS NOT NULL)`` guarantees the column has no NULLs."""
        return any(c.validated and c.not_null_column == column for c in self.constraints.values())


@dataclass
class Schema:
    """Tables, indexes and enum types keyed by (schema, name)."""

    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    indexes: dict[tuple[str, str], Index] = field(default_factory=dict)
    enums: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # Other named objects (views, functions, sequences, …) by kind, for unknown-object checks.
    objects: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    # The CREATE text of views and functions, by (kind, key): what a re-creation is compared with.
    definitions: dict[tuple[str, tuple[str, str]], str] = field(default_factory=dict)
    server_version: int | None = None  # major version when read from a live database
    from_live: bool = False  # True when the base came from a database or snapshot

    def table(self, name: Name) -> Table | None:
        return self.tables.get(name.key)

    def column(self, name: Name, column: str) -> Column | None:
        table = self.table(name)
        return table.columns.get(column) if table else None

    def index(self, name: Name) -> Index | None:
        return self.indexes.get(name.key)

    def indexes_on(self, table: Name) -> list[Index]:
        return [i for i in self.indexes.values() if i.table.key == table.key]
