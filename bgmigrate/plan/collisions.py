"""Names a statement creates while something of that name still exists at its point of the plan.

The original migration frees a name the moment it drops or renames what held it; the plan
defers drops to contract. So ``DROP COLUMN status; … RENAME new_status TO status`` planned
statement by statement would create ``status`` in expand while the old ``status`` still
exists — a plan that fails at run time ("already exists"). ``Ledger`` replays operations in
the order the phases run them and says what already holds each name one of them creates:
``guard`` refuses such a plan while it is built, and ``bgmigrate.plan.invariants`` checks the
rendered phase files the same way.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bgmigrate.lint.engine import parse_migration
from bgmigrate.model import operations as ops
from bgmigrate.model.migration import Migration
from bgmigrate.model.replay import apply
from bgmigrate.model.schema import Index, Schema, Table
from bgmigrate.plan.phases import Plan, Step
from bgmigrate.plan.request import PlanError
from bgmigrate.sql.names import Name
from bgmigrate.sql.statements import split_sql

# What a name belongs to: ("column", schema, table, column), ("relation", schema, name),
# ("constraint", schema, table, name), ("trigger", schema, table, name), ("function", schema, name) for a
# function without arguments, or ("rowtype", schema, name): the type a table or view brings along.
Key = tuple[str, ...]
Timeline = Sequence[tuple[str, Step, ops.Operation]]  # (phase, step, operation) in the order they run

_RELATION_KINDS = ("view", "materialized view", "sequence", "foreign table")
_OR_REPLACE = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\b", re.IGNORECASE)
# CREATE FUNCTION name(): the model keeps functions by name only, so only an empty argument list is
# compared (the planner's own trigger functions take none).
_NO_ARGUMENTS = re.compile(r"^\s*CREATE\s+FUNCTION\s[^(]*\(\s*\)", re.IGNORECASE)
# Relations with a row type: their name is taken in pg_type too (an index or sequence has none here).
_ROW_TYPED = ("view", "materialized view", "foreign table")
_TYPE_KINDS = ("type", "domain")


def _label(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _column(table: Name, column: str) -> Key:
    return ("column", *table.key, column)


def _relation(name: Name) -> Key:
    return ("relation", *name.key)


def _on_table(kind: str, table: Name, name: str) -> Key:
    return (kind, *table.key, name)


def _rowtyped(name: Name) -> list[Key]:
    """A new table's (or view's) name, taken among relations and, by its row type, among types."""
    return [_relation(name), ("rowtype", *name.key)]


def _object_claims(op: ops.CreateObject) -> list[Key]:
    if op.kind == "trigger" and op.on_table is not None:
        return [_on_table("trigger", op.on_table, op.name.name)]
    if op.kind == "function" and _NO_ARGUMENTS.match(op.stmt.text):
        return [("function", *op.name.key)]
    if op.kind in _ROW_TYPED:
        return _rowtyped(op.name)
    if op.kind in _RELATION_KINDS:
        return [_relation(op.name)]
    return []


def _constraint_claims(op: ops.AddConstraint) -> list[Key]:
    con = op.constraint
    if not con.name:
        return []  # PostgreSQL picks a free name
    claims = [_on_table("constraint", op.target, con.name)]
    if con.kind in ("unique", "primary_key") and con.using_index != con.name:
        claims.append(_relation(Name(con.name, op.target.schema)))  # the index behind it
    return claims


def claims(op: ops.Operation) -> list[Key]:
    """The names ``op`` creates and that must be free (IF NOT EXISTS and OR REPLACE claim nothing).

    >>> from bgmigrate.plan.testing import op_of
    >>> claims(op_of("ALTER TABLE orders ADD COLUMN status text")), claims(op_of("CREATE INDEX ON t (a)"))
    ([('column', 'public', 'orders', 'status')], [])
    """
    if isinstance(op, ops.AddColumn):
        return [] if op.if_not_exists else [_column(op.target, op.column.name)]
    if isinstance(op, ops.RenameColumn):
        return [_column(op.target, op.new_name)]
    if isinstance(op, ops.CreateTable):
        return [] if op.if_not_exists else _rowtyped(op.target)
    if isinstance(op, ops.RenameTable):
        return _rowtyped(Name(op.new_name, op.target.schema))
    if isinstance(op, ops.CreateIndex):
        return [] if op.if_not_exists or not op.name else [_relation(Name(op.name, op.target.schema))]
    if isinstance(op, ops.AddConstraint):
        return _constraint_claims(op)
    if isinstance(op, ops.RenameConstraint):
        return [_on_table("constraint", op.target, op.new_name)]
    if isinstance(op, ops.CreateObject) and not _OR_REPLACE.match(op.stmt.text):
        return _object_claims(op)
    return []


class Outside(Protocol):
    """Read-only: the tables and indexes of the whole schema that a ledger's partial schema leaves out.

    Lint's recipes replay onto a copy of only the tables a statement touches; names held by every
    other table and index still count, and no step of that statement's plan changes them.
    """

    def table(self, name: Name) -> Table | None:
        """The table of that name, if the whole schema has it and the partial one leaves it out."""

    def index(self, name: Name) -> Index | None:
        """The index of that name, if the whole schema has it and the partial one leaves it out."""

    def lend(self, schema: Schema, op: ops.Operation, lent: set[Key]) -> None:
        """Copy into ``schema`` what of the rest replaying ``op`` may remove (by name), once: ``lent`` says
        which names the ledger now answers for alone."""


@dataclass
class Ledger:
    """A schema being replayed in the order the plan runs.

    A trigger's name is only unique on its table: the model keeps it on its table
    (``Table.triggers``, replayed or read live). With ``outside``, ``schema`` is part of the
    whole one and names are looked up in both.
    """

    schema: Schema
    outside: Outside | None = None
    lent: set[Key] = field(default_factory=set)  # ("table" | "index", schema, name) copied in from outside

    def holder(self, key: Key) -> str | None:
        """What holds the name ``key`` now, described (None when the name is free)."""
        kind, schema, *rest = key
        if kind == "column":
            table = self._table(Name(rest[0], schema))
            held = table is not None and rest[1] in table.columns
            return f"column {_label(schema, rest[0])}.{rest[1]}" if held else None
        if kind == "constraint":
            table = self._table(Name(rest[0], schema))
            held = table is not None and rest[1] in table.constraints
            return f"constraint {rest[1]} on {_label(schema, rest[0])}" if held else None
        if kind == "trigger":
            table = self._table(Name(rest[0], schema))
            held = table is not None and rest[1] in table.triggers
            return f"trigger {rest[1]} on {_label(schema, rest[0])}" if held else None
        if kind == "function":
            held = (schema, rest[0]) in self.schema.objects.get("function", set())
            return (
                f"function {_label(schema, rest[0])} (PostgreSQL refuses a second one if it too takes no arguments)"
                if held
                else None
            )
        if kind == "rowtype":
            return self._type(Name(rest[0], schema))
        return self._relation(Name(rest[0], schema))

    def _type(self, name: Name) -> str | None:
        """The type (enum, composite, domain) of that name: a table's row type would clash with it."""
        held = name.key in self.schema.enums or any(name.key in self.schema.objects.get(k, set()) for k in _TYPE_KINDS)
        return f"type {_label(*name.key)}" if held else None

    def _table(self, name: Name) -> Table | None:
        found = self.schema.table(name)
        if found is not None or self.outside is None or ("table", *name.key) in self.lent:
            return found
        return self.outside.table(name)

    def _index(self, name: Name) -> Index | None:
        found = self.schema.index(name)
        if found is not None or self.outside is None or ("index", *name.key) in self.lent:
            return found
        return self.outside.index(name)

    def _relation(self, name: Name) -> str | None:
        label = _label(*name.key)
        if self._table(name) is not None:
            return f"table {label}"
        if self._index(name) is not None:
            return f"index {label}"
        kind = next((k for k in _RELATION_KINDS if name.key in self.schema.objects.get(k, set())), None)
        return f"{kind} {label}" if kind else None

    def taken(self, op: ops.Operation) -> tuple[Key, str] | None:
        """The first name ``op`` creates that is held already, and what holds it."""
        return next(((key, found) for key in claims(op) if (found := self.holder(key)) is not None), None)

    def learn(self, op: ops.Operation) -> None:
        """Replay ``op``."""
        if self.outside is not None:
            self.outside.lend(self.schema, op, self.lent)
        apply(self.schema, op, "(plan)")


def replay(ledger: Ledger, operations: Sequence[ops.Operation]) -> Iterator[tuple[ops.Operation, str]]:
    """Replay ``operations`` onto the ledger, yielding each that creates a name already held (and what holds it).

    >>> from bgmigrate.plan.testing import knowledge_of, operations_of
    >>> ledger = Ledger(knowledge_of("CREATE TABLE orders (id int, status text);").schema)
    >>> [(op.stmt.line, found) for op, found in replay(ledger, operations_of(
    ...     "ALTER TABLE orders ADD COLUMN status text;\\nALTER TABLE orders DROP COLUMN status;\\n"
    ...     "ALTER TABLE orders ADD COLUMN status text;"))]
    [(1, 'column orders.status')]
    """
    for op in operations:
        found = ledger.taken(op)
        if found is not None:
            yield op, found[1]
        ledger.learn(op)


def step_operations(step: Step) -> list[ops.Operation]:
    """The operations a SQL step runs (none for a backfill)."""
    return list(_sql_operations(step.sql)) if step.kind == "sql" else []


@functools.lru_cache(maxsize=256)
def _sql_operations(sql: str) -> tuple[ops.Operation, ...]:
    # Cached (operations are immutable): the guard reads a plan's steps again when a later check
    # asks. The planner's own SQL: no byte-order mark, no suppressions to collect.
    migration = Migration(path="step.sql", kind="sql", statements=tuple(split_sql(sql)), text=sql)
    operations, _errors = parse_migration(migration)
    return tuple(operations)


# Every operation ``claims`` names is parsed after one of these words (``parse.alter``, ``parse.ddl``,
# ``parse.parser._create``): a step whose text holds none of them creates no name.
_CLAIMING_WORDS = ("CREATE", "ADD", "RENAME")


def may_claim(step: Step) -> bool:
    """Whether the step may create a name (False only when it surely does not: no need to parse it).

    >>> may_claim(Step("sql", "d", "ALTER TABLE t DROP COLUMN a")), may_claim(Step("sql", "d", "alter table t add b int"))
    (False, True)
    """
    text = step.sql.upper().replace(":", "")  # as the parser compares keywords, psql variables read
    return step.kind == "sql" and any(word in text for word in _CLAIMING_WORDS)


def _timeline(steps: Sequence[tuple[str, Step]]) -> list[tuple[str, Step, ops.Operation]]:
    return [(phase, step, op) for phase, step in steps for op in step_operations(step)]


def describe(key: Key, op: ops.Operation) -> str:
    """The object a claim of ``op`` names, for messages ("column orders.status", "index i")."""
    kind, schema, *rest = key
    if kind == "column":
        return f"column {_label(schema, rest[0])}.{rest[1]}"
    if kind in ("constraint", "trigger"):
        return f"{kind} {rest[1]} on {_label(schema, rest[0])}"
    if kind == "function":
        return f"function {_label(schema, rest[0])}()"
    if isinstance(op, ops.CreateObject):
        return f"{op.kind} {_label(schema, rest[0])}"
    table = isinstance(op, ops.CreateTable | ops.RenameTable)
    return f"{'table' if table else 'index'} {_label(schema, rest[0])}"


def _freed_at(ledger: Ledger, key: Key, later: Timeline) -> tuple[str, Step] | None:
    """The phase and step after which the name is free (an explicit drop, or one implied by DROP COLUMN/TABLE)."""
    # ``outside`` is read-only and no step changes it: shared, never copied.
    ahead = Ledger(copy.deepcopy(ledger.schema), ledger.outside, set(ledger.lent))
    for phase, step, op in later:
        ahead.learn(op)
        if ahead.holder(key) is None:
            return phase, step
    return None


def _refusal(ledger: Ledger, at: tuple[str, Step, ops.Operation], key: Key, holder: str, later: Timeline) -> str:
    phase, step, op = at
    freed = _freed_at(ledger, key, later)
    where = f"line {step.source_line}: " if step.source_line else ""
    why = f" (it goes only in {freed[0]}, line {freed[1].source_line})" if freed is not None else ""
    replaceable = isinstance(op, ops.CreateObject) and op.kind in ("trigger", "view")
    return (
        f"{where}no safe plan: {phase} would create {describe(key, op)} while {holder} still exists{why}, so "
        f"'{step.description}' would fail with 'already exists'. "
        + ("Use CREATE OR REPLACE, give" if replaceable else "Give")
        + " the new one another name, or free the name in a migration of its own and plan this one after that "
        "migration's contract has run"
    )


# A copy of the schema that replaying the operations may change: the guard's ledger replays onto it.
Own = Callable[[Schema, Sequence[ops.Operation]], Schema]


def _deep_copy(schema: Schema, _replayed: Sequence[ops.Operation]) -> Schema:
    return copy.deepcopy(schema)


def guard(plan: Plan, base: Schema, *, own: Own | None = None, outside: Outside | None = None) -> Plan:
    """The plan unchanged, or ``PlanError`` if a step creates a name held at its point of the plan.

    ``base`` is never changed: the ledger replays onto ``own(base, operations it will replay)``
    (a deep copy by default), taken only when a later claim needs a step replayed (a plan whose
    only claim is its first step copies nothing). ``outside``: the names of the whole schema
    when ``base`` is only part of it.

    >>> from bgmigrate.plan.phases import Phase
    >>> step = Step("sql", "add t.a", "ALTER TABLE t ADD COLUMN a int", source_line=3)
    >>> from bgmigrate.plan.testing import knowledge_of
    >>> guard(Plan("p", "m.sql", (Phase("expand", (step,)),)), knowledge_of("CREATE TABLE t (a int);").schema)
    Traceback (most recent call last):
    ...
    bgmigrate.plan.request.PlanError: line 3: no safe plan: expand would create column t.a while column t.a still exists, so 'add t.a' would fail with 'already exists'. Give the new one another name, or free the name in a migration of its own and plan this one after that migration's contract has run
    """
    ledger = Ledger(base, outside)
    steps = [(phase.name, step) for phase in plan.phases for step in phase.steps]
    # Steps after the last one that may claim a name are parsed only for a refusal's message.
    end = max((n + 1 for n, (_phase, step) in enumerate(steps) if may_claim(step)), default=0)
    timeline = _timeline(steps[:end])
    # Replaying a step after the last claim changes nothing a check reads: stop there.
    last = max((i for i, (_phase, _step, op) in enumerate(timeline) if claims(op)), default=-1)
    copied = False
    for i, (_phase, _step, op) in enumerate(timeline[: last + 1]):
        found = ledger.taken(op)
        if found is not None:
            later = timeline[i + 1 :] + _timeline(steps[end:])
            raise PlanError(_refusal(ledger, timeline[i], *found, later))
        if i < last:
            if not copied:  # copy on the first write
                replayed = [later for _phase, _step, later in timeline[i:last]]
                ledger.schema, copied = (own or _deep_copy)(ledger.schema, replayed), True
            ledger.learn(op)
    return plan
