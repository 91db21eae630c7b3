"""What a rule sees and returns, and the decorators that register rules.

A rule is a plain function registered under its catalogue name. An *operation rule* is called
once per operation of the types it names, with an ``OpContext`` describing the moment just
before that operation runs; a *migration rule* is called once per migration with every
operation and its context. Rules return ``Hit`` values; the linter turns them into findings
with the catalogue's code and severity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.history import named_here
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.locks import lock_taken
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema, Table
from bgmigrate.model.table_size import TableSize
from bgmigrate.sql.names import Name


@dataclass(frozen=True)
class Hit:
    """A rule's verdict on one operation: what is wrong and the safe recipe, in the user's names.

    ``message`` is one or two sentences naming the table, column and lock; ``fix`` the recipe
    (may be several numbered lines of SQL). ``severity`` overrides the catalogue default.
    """

    op: ops.Operation
    message: str
    fix: str
    severity: Severity | None = None
    # Filled in by the linter from a live schema: the size of the table the operation locks.
    table_size: TableSize | None = None
    # The fix depends on what else the migration does (an object dropped and created again in
    # another shape): a recipe planned from this one statement must not replace it.
    context_fix: bool = False


@dataclass(frozen=True)
class OpContext:
    """The state just before an operation runs."""

    schema: Schema  # read-only for rules: the linter replays the operation after the rules ran
    migration: Migration
    settings: LintSettings
    in_transaction: bool
    lock_timeout_set: bool
    earlier: Sequence[ops.Operation] = ()  # this migration's operations before this one
    # The first operation of the open transaction that took ACCESS EXCLUSIVE on an existing table.
    exclusive_lock_holder: ops.Operation | None = None
    # Tables created earlier in this same migration (no traffic yet).
    new_tables: AbstractSet[tuple[str, str]] = field(default_factory=frozenset)

    @property
    def pg_version(self) -> int:
        return self.schema.server_version or self.settings.pg_version

    def is_new_table(self, name: Name | None) -> bool:
        """Whether the table was created earlier in this migration, so no traffic reaches it yet."""
        return name is not None and name.key in self.new_tables

    def is_existing_table(self, name: Name | None) -> bool:
        """Existing tables serve traffic: created by an earlier migration, live, or never seen."""
        return name is not None and not self.is_new_table(name)

    def created_here(self, kind: str, name: Name, on_table: Name | None = None) -> bool:
        """Whether this migration created the object (a view, type, trigger, …) under this name earlier.

        Follows renames back to the CREATE; an enum counts as a ``type``. A trigger or rule
        (``on_table``) must be on the same table.
        """
        known = getattr(self.earlier, "names", None)  # the linter keeps the answer up to date
        if known is not None:
            return named_here(known, kind, name.key, on_table.key if on_table else None)
        current = name.key
        for o in reversed(self.earlier):
            if isinstance(o, ops.RenameObject) and o.kind == kind and (o.name.key[0], o.new_name) == current:
                current = o.name.key
            elif isinstance(o, ops.CreateObject) and o.kind == kind and o.name.key == current:
                if on_table is None or o.on_table is None or o.on_table.key == on_table.key:
                    return True
            elif isinstance(o, ops.CreateEnum) and kind == "type" and o.type_name.key == current:
                return True
        return False

    def table(self, name: Name | None) -> Table | None:
        return self.schema.table(name) if name is not None else None

    def table_of_index(self, index: Name) -> Name | None:
        found = self.schema.index(index)
        return found.table if found else None

    def lock_table(self, op: ops.Operation) -> Name | None:
        """The table whose lock ``op`` takes (resolving an index to its table)."""
        if isinstance(op, ops.DropIndex):
            return self.table_of_index(op.index)
        if isinstance(op, ops.Reindex):
            if op.kind == "index":
                return self.table_of_index(op.target_name)
            return op.target_name if op.kind == "table" else None
        taken = lock_taken(op)
        return taken.table if taken else None


OpRule = Callable[[ops.Operation, OpContext], Iterable[Hit]]
MigrationRule = Callable[[Sequence[tuple[ops.Operation, OpContext]]], Iterable[Hit]]


@dataclass(frozen=True)
class RegisteredRule:
    """A rule as registered: its name and its per-operation or per-migration detection function."""

    name: str
    op_types: tuple[type, ...] = ()
    on_op: OpRule | None = None
    on_migration: MigrationRule | None = None
    # Rules the linter itself raises (unused-ignore) have no detection function of their own.
    builtin: bool = False


REGISTRY: dict[str, RegisteredRule] = {}


def _register(rule: RegisteredRule) -> None:
    if rule.name in REGISTRY:
        raise RuntimeError(f"rule {rule.name!r} is registered twice")
    REGISTRY[rule.name] = rule


def op_rule(name: str, *op_types: type) -> Callable[[OpRule], OpRule]:
    """Register an operation rule for the given operation types."""

    def wrap(func: OpRule) -> OpRule:
        _register(RegisteredRule(name, op_types=op_types, on_op=func))
        return func

    return wrap


def migration_rule(name: str) -> Callable[[MigrationRule], MigrationRule]:
    """Register a rule that looks at a whole migration at once.

    It receives every (operation, context) pair in order. Each context's per-operation fields
    (``in_transaction``, ``earlier``, ``new_tables``, …) describe the moment before that
    operation, but ``schema`` is one shared object and by then shows the state *after* the
    whole migration: read per-operation facts from the other fields.
    """

    def wrap(func: MigrationRule) -> MigrationRule:
        _register(RegisteredRule(name, on_migration=func))
        return func

    return wrap


def builtin_rule(name: str) -> None:
    """Declare a rule the linter raises itself (so code and catalogue still match one to one)."""
    _register(RegisteredRule(name, builtin=True))
