"""What a plan's own steps make true: which preconditions wait for the phase that produces them.

A plan's preconditions come from every rewrite in the migration. Some are about objects an
earlier statement of the same migration creates (``ADD COLUMN c`` then ``SET NOT NULL c``: the
second needs ``c`` to exist, the first needs it absent). Checked against the live schema before
expand, such a plan could never apply. So each precondition is checked where it becomes true:
one that no step of the plan produces must hold before expand; one that a step of phase P
produces is checked with P's own checks, against the schema P leaves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bgmigrate.lint.engine import parse_migration
from bgmigrate.model import operations as ops
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.phases import Check, Phase, Plan
from bgmigrate.sql.names import Name, split_qualified

Fact = tuple[str, str, str]  # (check kind, table, column or object name)


def _table(name: Name | None) -> str:
    return name.name if name is not None else ""


def _facts(op: ops.Operation) -> Iterator[Fact]:
    """Facts about the schema that ``op`` makes true (tables by their bare name)."""
    if isinstance(op, ops.CreateTable):
        table = op.target.name
        yield ("table_exists", table, "")
        for column in op.columns:
            yield ("column_exists", table, column.name)
            if not column.nullable or column.primary_key:
                yield ("column_not_null", table, column.name)
    elif isinstance(op, ops.AddColumn):
        yield ("column_exists", op.target.name, op.column.name)
        if not op.column.nullable or op.column.primary_key:
            yield ("column_not_null", op.target.name, op.column.name)
    elif isinstance(op, ops.RenameColumn):
        yield ("column_exists", op.target.name, op.new_name)
        yield ("column_absent", op.target.name, op.column)
    elif isinstance(op, ops.DropColumn):
        yield ("column_absent", op.target.name, op.column)
    elif isinstance(op, ops.SetNotNull):
        yield ("column_not_null", op.target.name, op.column)
    elif isinstance(op, ops.RenameTable):
        yield ("table_exists", op.new_name, "")
        yield ("table_absent", op.target.name, "")
    elif isinstance(op, ops.DropTable):
        yield ("table_absent", op.target.name, "")
    else:
        yield from _object_facts(op)


def _object_facts(op: ops.Operation) -> Iterator[Fact]:
    if isinstance(op, ops.CreateIndex) and op.name:
        yield ("index_valid", "", op.name)
    elif isinstance(op, ops.AddConstraint) and op.constraint.name and not op.constraint.not_valid:
        yield ("constraint_validated", op.target.name, op.constraint.name)
    elif isinstance(op, ops.ValidateConstraint):
        yield ("constraint_validated", op.target.name, op.name)
    elif isinstance(op, ops.CreateObject) and op.kind == "view":
        yield ("table_exists", op.name.name, "")
    elif isinstance(op, ops.CreateObject) and op.kind == "trigger":
        yield ("trigger_exists", _table(op.on_table), op.name.name)
    elif isinstance(op, ops.DropObject) and op.kind == "trigger":
        yield ("trigger_absent", _table(op.on_table), op.name.name)


def phase_facts(phase: Phase) -> set[Fact]:
    """Everything the SQL steps of ``phase`` make true (an unreadable step makes nothing true)."""
    facts: set[Fact] = set()
    for number, step in enumerate(phase.steps, 1):
        if step.kind != "sql":
            continue
        operations, _errors = parse_migration(load_sql(f"{phase.name} step {number}", step.sql))
        for op in operations:
            facts.update(_facts(op))
    return facts


def _fact(check: Check) -> Fact:
    table = split_qualified(check.table)[1] if check.table else ""
    return (check.kind, table, check.column or check.name)


def _produced(check: Check, facts: set[Fact]) -> bool:
    kind, table, what = _fact(check)
    if (kind, table, what) in facts:
        return True
    # An index or a trigger is named without its table in some statements.
    return kind in ("index_valid", "trigger_exists", "trigger_absent") and (kind, "", what) in facts


def producing_phase(check: Check, produced: Sequence[tuple[str, set[Fact]]]) -> str | None:
    """The first phase whose steps make ``check`` true, or None when none does."""
    return next((name for name, facts in produced if _produced(check, facts)), None)


def _by_phase(plan: Plan) -> dict[Check, str | None]:
    produced = [(phase.name, phase_facts(phase)) for phase in plan.phases]  # each step parsed once
    return {check: producing_phase(check, produced) for check in plan.preconditions}


def live_preconditions(plan: Plan) -> tuple[Check, ...]:
    """The preconditions the live schema must meet before expand: those no step of the plan produces."""
    phases = _by_phase(plan)
    return tuple(check for check in plan.preconditions if phases[check] is None)


def deferred_preconditions(plan: Plan, phase_name: str) -> tuple[Check, ...]:
    """Preconditions that phase ``phase_name`` produces: checked with its own checks, once it ran."""
    phases = _by_phase(plan)
    return tuple(check for check in plan.preconditions if phases[check] == phase_name)
