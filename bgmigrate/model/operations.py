"""The operation model: what a migration does, independent of how it was written.

Front-ends (SQL, Alembic) turn statements into these values; rules judge them and the planner
rewrites them. One ALTER TABLE with several actions becomes several operations sharing one
statement. Every operation keeps its statement, so findings point at the user's own text and
the planner can carry that text through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import Statement

ConstraintKind = Literal["check", "foreign_key", "unique", "primary_key", "exclude", "not_null"]
ReindexKind = Literal["index", "table", "schema", "database", "system"]
# PostgreSQL's eight table lock modes, weakest first (LOCK TABLE … IN mode MODE).
LockMode = Literal[
    "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE", "ACCESS EXCLUSIVE",
]  # fmt: skip
LOCK_MODES: tuple[LockMode, ...] = get_args(LockMode)
_CONSTRAINT_KINDS: dict[str, ConstraintKind] = {k: k for k in get_args(ConstraintKind)}


def constraint_kind(text: str) -> ConstraintKind:
    """``text`` as a constraint kind; ``ValueError`` for anything else (read from a file).

    >>> constraint_kind("check")
    'check'
    """
    found = _CONSTRAINT_KINDS.get(text)
    if found is None:
        raise ValueError(f"unknown constraint kind {text!r}")
    return found


TransactionAction = Literal["begin", "commit", "rollback", "savepoint", "release", "rollback_to"]


@dataclass(frozen=True)
class ColumnSpec:
    """A column as declared in CREATE TABLE or ADD COLUMN."""

    name: str
    type: str  # normalised lower-case type text, e.g. "varchar(20)", "bigint", "timestamptz"
    nullable: bool = True
    default: str | None = None
    default_volatile: bool = False
    serial: bool = False  # serial / bigserial / smallserial: an implicit nextval() default
    identity: bool = False
    generated_stored: bool = False
    generated_virtual: bool = False  # PostgreSQL 18 VIRTUAL: computed on read, no rewrite
    primary_key: bool = False
    unique: bool = False
    references: Name | None = None
    references_sql: str = ""  # the whole REFERENCES clause as written (columns, ON DELETE …)
    check: str | None = None
    sql: str = ""  # the definition as SQL, for the planner


@dataclass(frozen=True)
class ConstraintSpec:
    """A table constraint as added by CREATE TABLE or ADD CONSTRAINT."""

    kind: ConstraintKind
    name: str | None = None
    columns: tuple[str, ...] = ()
    expression: str | None = None  # CHECK expression text
    references: Name | None = None
    ref_columns: tuple[str, ...] = ()
    not_valid: bool = False
    using_index: str | None = None
    sql: str = ""

    @property
    def not_null_column(self) -> str | None:
        """The column a ``CHECK (col IS NOT NULL)`` constraint guarantees, if that is all it says."""
        from bgmigrate.sql.type_facts import not_null_check_column

        if self.kind == "not_null" and len(self.columns) == 1:
            return self.columns[0]
        if self.kind == "check" and self.expression:
            return not_null_check_column(self.expression)
        return None


@dataclass(frozen=True)
class Operation:
    """Base of every operation; ``stmt`` is the statement it came from."""

    stmt: Statement = field(repr=False, compare=False)

    @property
    def table(self) -> Name | None:
        """The table the operation touches, if it touches one (a trigger's or rule's table too)."""
        return getattr(self, "target", None) or getattr(self, "on_table", None)


# ---- tables ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable(Operation):
    """CREATE TABLE, its columns and constraints (AS SELECT and PARTITION OF flagged)."""

    target: Name = Name("")
    columns: tuple[ColumnSpec, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()
    if_not_exists: bool = False
    as_select: bool = False
    partition_of: Name | None = None


@dataclass(frozen=True)
class DropTable(Operation):
    """DROP TABLE [IF EXISTS] … [CASCADE]."""

    target: Name = Name("")
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True)
class RenameTable(Operation):
    """ALTER TABLE … RENAME TO."""

    target: Name = Name("")
    new_name: str = ""


@dataclass(frozen=True)
class AlterTableSet(Operation):
    """ALTER TABLE … SET TABLESPACE / LOGGED / UNLOGGED / (storage parameters)."""

    target: Name = Name("")
    what: str = ""  # tablespace | logged | unlogged | options | schema | access method
    new_schema: str | None = None  # for what == "schema"


@dataclass(frozen=True)
class Truncate(Operation):
    """TRUNCATE … [CASCADE]."""

    target: Name = Name("")
    cascade: bool = False


# ---- columns -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AddColumn(Operation):
    """ALTER TABLE … ADD COLUMN."""

    target: Name = Name("")
    column: ColumnSpec = ColumnSpec("", "")
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropColumn(Operation):
    """ALTER TABLE … DROP COLUMN."""

    target: Name = Name("")
    column: str = ""
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True)
class RenameColumn(Operation):
    """ALTER TABLE … RENAME COLUMN … TO."""

    target: Name = Name("")
    column: str = ""
    new_name: str = ""


@dataclass(frozen=True)
class AlterColumnType(Operation):
    """ALTER TABLE … ALTER COLUMN … TYPE … [USING]."""

    target: Name = Name("")
    column: str = ""
    new_type: str = ""
    using: str | None = None


@dataclass(frozen=True)
class SetNotNull(Operation):
    """ALTER TABLE … ALTER COLUMN … SET NOT NULL."""

    target: Name = Name("")
    column: str = ""


@dataclass(frozen=True)
class DropNotNull(Operation):
    """ALTER TABLE … ALTER COLUMN … DROP NOT NULL."""

    target: Name = Name("")
    column: str = ""


@dataclass(frozen=True)
class SetDefault(Operation):
    """ALTER TABLE … ALTER COLUMN … SET DEFAULT."""

    target: Name = Name("")
    column: str = ""
    default: str = ""
    volatile: bool = False


@dataclass(frozen=True)
class DropDefault(Operation):
    """ALTER TABLE … ALTER COLUMN … DROP DEFAULT."""

    target: Name = Name("")
    column: str = ""


@dataclass(frozen=True)
class AlterColumnOther(Operation):
    """ALTER COLUMN forms with no blue-green effect we model (SET STATISTICS, SET STORAGE, …)."""

    target: Name = Name("")
    column: str = ""
    what: str = ""


# ---- constraints and indexes -------------------------------------------------------------


@dataclass(frozen=True)
class AddConstraint(Operation):
    """ALTER TABLE … ADD [CONSTRAINT name] …."""

    target: Name = Name("")
    constraint: ConstraintSpec = ConstraintSpec("check")


@dataclass(frozen=True)
class AlterDomainAddConstraint(Operation):
    """ALTER DOMAIN … ADD CONSTRAINT / SET NOT NULL: checks every column of the domain unless NOT VALID."""

    domain: Name = Name("")
    constraint: ConstraintSpec = ConstraintSpec("check")


@dataclass(frozen=True)
class ValidateConstraint(Operation):
    """ALTER TABLE … VALIDATE CONSTRAINT."""

    target: Name = Name("")
    name: str = ""


@dataclass(frozen=True)
class DropConstraint(Operation):
    """ALTER TABLE … DROP CONSTRAINT [IF EXISTS] … [CASCADE]."""

    target: Name = Name("")
    name: str = ""
    if_exists: bool = False
    cascade: bool = False


@dataclass(frozen=True)
class RenameConstraint(Operation):
    """ALTER TABLE … RENAME CONSTRAINT … TO."""

    target: Name = Name("")
    name: str = ""
    new_name: str = ""


@dataclass(frozen=True)
class CreateIndex(Operation):
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] …."""

    target: Name = Name("")
    name: str | None = None
    columns: tuple[str, ...] = ()
    unique: bool = False
    concurrently: bool = False
    if_not_exists: bool = False
    partial: bool = False
    expression: bool = False
    method: str = "btree"


@dataclass(frozen=True)
class DropIndex(Operation):
    """DROP INDEX [CONCURRENTLY] [IF EXISTS]."""

    index: Name = Name("")
    concurrently: bool = False
    if_exists: bool = False


@dataclass(frozen=True)
class Reindex(Operation):
    """REINDEX [(CONCURRENTLY)] INDEX|TABLE|SCHEMA|DATABASE|SYSTEM."""

    kind: ReindexKind = "index"
    target_name: Name = Name("")
    concurrently: bool = False


# ---- whole-table locks and rewrites --------------------------------------------------------


@dataclass(frozen=True)
class VacuumFull(Operation):
    """VACUUM FULL of one table."""

    target: Name | None = None


@dataclass(frozen=True)
class Cluster(Operation):
    """CLUSTER of one table."""

    target: Name | None = None


@dataclass(frozen=True)
class LockTable(Operation):
    """LOCK TABLE … IN … MODE."""

    target: Name = Name("")
    mode: LockMode = "ACCESS EXCLUSIVE"


@dataclass(frozen=True)
class RefreshMaterializedView(Operation):
    """REFRESH MATERIALIZED VIEW [CONCURRENTLY]."""

    view: Name = Name("")
    concurrently: bool = False


@dataclass(frozen=True)
class DetachPartition(Operation):
    """ALTER TABLE … DETACH PARTITION [CONCURRENTLY | FINALIZE]."""

    target: Name = Name("")
    partition: Name = Name("")
    concurrently: bool = False
    finalize: bool = False  # completes an interrupted CONCURRENTLY detach; allowed in a transaction


@dataclass(frozen=True)
class AttachPartition(Operation):
    """ALTER TABLE … ATTACH PARTITION."""

    target: Name = Name("")
    partition: Name = Name("")


# ---- data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateRows(Operation):
    """UPDATE: its table, the columns it sets, and whether a WHERE bounds it."""

    target: Name = Name("")
    has_where: bool = False
    columns: tuple[str, ...] = ()
    batched: bool = False  # WHERE bounds the rows (key range, LIMIT subquery)


@dataclass(frozen=True)
class DeleteRows(Operation):
    """DELETE FROM: its table, and whether a WHERE bounds it."""

    target: Name = Name("")
    has_where: bool = False
    batched: bool = False


@dataclass(frozen=True)
class InsertRows(Operation):
    """INSERT INTO a table."""

    target: Name = Name("")


# ---- types and other objects -------------------------------------------------------------


@dataclass(frozen=True)
class CreateEnum(Operation):
    """CREATE TYPE … AS ENUM."""

    type_name: Name = Name("")
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddEnumValue(Operation):
    """ALTER TYPE … ADD VALUE."""

    type_name: Name = Name("")
    value: str = ""
    if_not_exists: bool = False


@dataclass(frozen=True)
class RenameEnumValue(Operation):
    """ALTER TYPE … RENAME VALUE … TO."""

    type_name: Name = Name("")
    value: str = ""
    new_value: str = ""


@dataclass(frozen=True)
class CreateObject(Operation):
    """CREATE of a non-table object: view, function, sequence, trigger, extension, schema, …"""

    kind: str = ""
    name: Name = Name("")
    on_table: Name | None = None  # triggers and rules


@dataclass(frozen=True)
class RenameObject(Operation):
    """RENAME TO, or SET SCHEMA (``new_schema``): either way the old name stops working."""

    kind: str = ""  # schema | view | materialized view | function | procedure | type | sequence | …
    name: Name = Name("")
    new_name: str = ""
    new_schema: str | None = None


@dataclass(frozen=True)
class DropObject(Operation):
    """DROP of a view, function, type, trigger, schema or any other object but a table or index."""

    kind: str = ""  # view | function | type | sequence | trigger | extension | schema | database | …
    name: Name = Name("")
    if_exists: bool = False
    cascade: bool = False
    on_table: Name | None = None


# ---- session and transaction control -----------------------------------------------------


@dataclass(frozen=True)
class SetConfig(Operation):
    """SET / SET LOCAL / RESET of a run-time setting such as lock_timeout."""

    setting: str = ""
    value: str | None = None  # None for RESET
    local: bool = False


@dataclass(frozen=True)
class TransactionControl(Operation):
    """BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE or ROLLBACK TO."""

    action: TransactionAction = "begin"


# ---- what is understood but has no schema effect, and what is not understood ---------------


@dataclass(frozen=True)
class Other(Operation):
    """A statement understood to be irrelevant to blue-green safety (SELECT, GRANT, COMMENT, …)."""

    kind: str = ""


@dataclass(frozen=True)
class Unparsed(Operation):
    """A statement bgmigrate could not analyse; reported, never skipped silently."""

    reason: str = ""
