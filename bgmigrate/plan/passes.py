"""The planner: a tuple of pure passes over a draft, then assembly into a ``Plan``.

Each pass takes the operations one recipe knows, rewrites them into phased steps and leaves
the rest for the passes after it; ``carry_over`` comes last and takes whatever is left, so no
statement is ever dropped. Order matters only where two recipes could claim one operation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bgmigrate.model import operations as ops
from bgmigrate.plan.add_column import add_columns
from bgmigrate.plan.assemble import assemble
from bgmigrate.plan.breaking import refuse_breaking
from bgmigrate.plan.collisions import guard
from bgmigrate.plan.column_type import change_types
from bgmigrate.plan.constraints import add_constraints
from bgmigrate.plan.contract_drops import contract_drops
from bgmigrate.plan.copy_refusal import refuse_copies
from bgmigrate.plan.draft import Draft, Item
from bgmigrate.plan.facts import Knowledge, timeline
from bgmigrate.plan.indexes import create_indexes, drop_indexes
from bgmigrate.plan.passthrough import carry_over
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.rename_column import rename_columns
from bgmigrate.plan.rename_table import rename_tables
from bgmigrate.plan.replace_column import replace_columns
from bgmigrate.plan.replacement_followups import after_replacements
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.required import set_not_nulls
from bgmigrate.plan.split_column import split_columns

Pass = Callable[[Draft], Draft]


def known_tables(draft: Draft) -> Draft:
    """Pass (checks only): with a live schema, every table the migration touches must exist in it.

    Tables created earlier in the migration count; ``IF EXISTS`` drops are allowed to miss.
    """
    for item in draft.items:
        table = item.op.table
        if not item.facts.live or table is None or isinstance(item.op, ops.CreateTable):
            continue
        if getattr(item.op, "if_exists", False) or item.facts.is_new(table) or item.facts.table(table) is not None:
            continue
        raise PlanError(f"line {item.op.stmt.line}: table {table} is not in the given schema")
    return draft


PASSES: tuple[Pass, ...] = (
    known_tables,
    refuse_breaking,
    rename_tables,
    replace_columns,
    split_columns,
    refuse_copies,
    rename_columns,
    change_types,
    after_replacements,
    add_columns,
    set_not_nulls,
    add_constraints,
    create_indexes,
    drop_indexes,
    contract_drops,
    carry_over,
)


def _blocks(operations: Sequence[ops.Operation]) -> list[int | None]:
    """For each operation, the index of the BEGIN of the transaction block it sits in."""
    blocks: list[int | None] = []
    current: int | None = None
    for i, op in enumerate(operations):
        if isinstance(op, ops.TransactionControl) and op.action == "begin":
            current = i
        blocks.append(current)
        if isinstance(op, ops.TransactionControl) and op.action in ("commit", "rollback"):
            current = None
    return blocks


def initial_draft(
    operations: Sequence[ops.Operation], base: Knowledge, request: PlanRequest, *, live: bool = False
) -> Draft:
    """A draft with every operation pending, each knowing the schema as it finds it."""
    facts = timeline(base, operations, live=live)
    blocks = _blocks(operations)
    items = tuple(Item(i, op, facts[i], blocks[i]) for i, op in enumerate(operations))
    return Draft(request=request, items=items)


def whole_do_blocks(operations: Sequence[ops.Operation]) -> list[ops.Operation]:
    """A DO block stays one statement for the planner: its guards cannot be split into phases.

    Lint reads the statements inside a block; rewriting them would drop the block's control
    flow, so the block passes through as written.

    >>> from bgmigrate.plan.testing import operations_of
    >>> [type(o).__name__ for o in whole_do_blocks(operations_of(
    ...     "DO $$ BEGIN ALTER TABLE t ADD a int; ALTER TABLE t ADD b int; END $$; DROP TABLE u;"))]
    ['Other', 'DropTable']
    """
    result: list[ops.Operation] = []
    seen: set[int] = set()
    for op in operations:
        owner = op.stmt.owner
        if owner is None:
            result.append(op)
        elif id(owner) not in seen:
            seen.add(id(owner))
            result.append(ops.Other(owner, kind="do block"))
    return result


def plan_operations(
    operations: Sequence[ops.Operation],
    base: Knowledge,
    request: PlanRequest,
    *,
    live: bool = False,
    passes: Sequence[Pass] = PASSES,
) -> Plan:
    """Plan a migration's operations; raises ``PlanError`` when no safe plan exists.

    >>> from bgmigrate.plan.testing import operations_of
    >>> plan = plan_operations(operations_of("CREATE INDEX i ON t (a);"), Knowledge(), PlanRequest("p", "m.sql"))
    >>> [(p.name, [s.sql for s in p.steps]) for p in plan.phases]
    [('expand', ['CREATE INDEX CONCURRENTLY i ON t (a)']), ('migrate', []), ('contract', [])]
    """
    draft = initial_draft(whole_do_blocks(operations), base, request, live=live)
    for run in passes:
        draft = run(draft)
    # A deferred drop leaves its name taken until contract: never hand out a plan that fails on it.
    return guard(assemble(draft), base.schema)
