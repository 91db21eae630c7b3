"""The Alembic autogenerate hook: phased revisions where the generated one would be unsafe.

Install it with one line in ``env.py``::

    context.configure(..., process_revision_directives=bgmigrate.plan.alembic_hook.plan_revision)

When ``alembic revision --autogenerate`` produces a revision that adds a NOT NULL column without
a server default, changes a column's type, sets NOT NULL, builds an index without
``postgresql_concurrently``, drops a column or table, or drops one column and adds another on
the same table (a rename that would lose the data), the hook writes three revisions instead —
expand, migrate, contract — chained by ``down_revision``, or stops with the reason. It says
what it did either way. Values it cannot infer come from the model (``Column(..., info=...)``)
or from ``-x``:

- ``info={"bgmigrate_backfill": "0"}`` or ``-x bgmigrate_backfill=table.column=SQL``: the value
  for existing rows of a column that becomes NOT NULL;
- ``info={"bgmigrate_renamed_from": "status"}`` on the new column: the drop + add is a rename;
- ``-x bgmigrate_allow_drop=table.column``: the column really is to be dropped with its data.

Like the CLI, it learns the schema from the revisions the new one descends from.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import context as env
from alembic.autogenerate import render_python_code, renderers
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError

from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.phases import PHASES, Phase, Plan
from bgmigrate.plan.render_alembic import AUTOCOMMIT_NOTE, contract_gate, py_str
from bgmigrate.plan.render_sql import HEADER_SET, backfill_sql
from bgmigrate.plan.request import PlanError, PlanRequest, parse_backfill
from bgmigrate.plan.sources import knowledge_of_revisions
from bgmigrate.safetext import display

PREFIX = "bgmigrate:"


@dataclass(frozen=True)
class Hazard:
    reason: str


def plan_revision(context: Any, revision: Any, directives: list[Any]) -> None:
    """``process_revision_directives`` for ``alembic revision --autogenerate``."""
    if not directives:
        return
    script = directives[0]
    if script.upgrade_ops.is_empty():
        return
    try:
        _rewrite(context, script, directives)
    except PlanError as exc:
        raise CommandError(f"{PREFIX} revision not written: {exc}") from None


def _rewrite(context: Any, script: Any, directives: list[Any]) -> None:
    options = _options(context)
    _apply_renames(script.upgrade_ops, options)
    hazards = list(_hazards(script.upgrade_ops))
    if not hazards:
        print(f"{PREFIX} revision {script.rev_id} is blue-green safe as generated; left unchanged")
        return
    plan = _plan(context, script, options)
    directives[:] = _phased(script, plan)
    names = ", ".join(d.rev_id for d in directives)
    print(display(f"{PREFIX} revision {script.rev_id} {'; '.join(h.reason for h in hazards)}."))  # reasons name tables
    print(f"{PREFIX} wrote {len(directives)} phased revisions instead: {names} — run them in order, deploying the "
          "new app after expand and retiring the old one before contract (each file says what its phase needs)")  # fmt: skip


# ---- what the generated revision does --------------------------------------------------------


@dataclass
class _Options:
    backfill: list[tuple[str, str]]
    allow_drop: set[str]
    metadata: Any


def _options(context: Any) -> _Options:
    backfill: list[tuple[str, str]] = []
    allow: set[str] = set()
    try:
        arguments = env.get_x_argument(as_dictionary=False)
    except Exception:  # outside env.py there are no -x arguments
        arguments = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        if key == "bgmigrate_backfill":
            backfill.append(parse_backfill(value))
        elif key == "bgmigrate_allow_drop":
            allow.update(v.strip() for v in value.split(","))
    return _Options(backfill, allow, context.opts.get("target_metadata"))


def _flat(container: Any) -> Iterator[tuple[str | None, Any]]:
    """(table name, op) for every operation, ModifyTableOps opened up."""
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            yield from ((op.table_name, inner) for inner in op.ops)
        else:
            yield getattr(op, "table_name", None), op


def _hazards(upgrade_ops: Any) -> Iterator[Hazard]:
    for table, op in _flat(upgrade_ops):
        if isinstance(op, ops.AddColumnOp) and not op.column.nullable and op.column.server_default is None:
            yield Hazard(f"adds NOT NULL column {table}.{op.column.name} without a server default")
        elif isinstance(op, ops.AlterColumnOp) and op.modify_type is not None:
            yield Hazard(f"changes the type of {table}.{op.column_name}")
        elif isinstance(op, ops.AlterColumnOp) and op.modify_nullable is False:
            yield Hazard(f"makes {table}.{op.column_name} NOT NULL")
        elif isinstance(op, ops.AlterColumnOp) and op.modify_name:
            yield Hazard(f"renames {table}.{op.column_name}")
        elif isinstance(op, ops.CreateIndexOp) and not op.kw.get("postgresql_concurrently"):
            yield Hazard(f"builds index {op.index_name} on {op.table_name} in place, blocking writes")
        elif isinstance(op, ops.DropColumnOp):
            yield Hazard(f"drops column {table}.{op.column_name} the old app version still uses")
        elif isinstance(op, ops.DropTableOp):
            yield Hazard(f"drops table {op.table_name} the old app version still uses")


def _apply_renames(upgrade_ops: Any, options: _Options) -> None:
    """Turn a drop + add marked as a rename into a rename; refuse an unmarked pair."""
    for container in [upgrade_ops, *(o for o in upgrade_ops.ops if isinstance(o, ops.ModifyTableOps))]:
        drops = {
            (getattr(container, "table_name", None) or o.table_name, o.column_name): o
            for o in container.ops
            if isinstance(o, ops.DropColumnOp)
        }
        for op in list(container.ops):
            if not isinstance(op, ops.AddColumnOp):
                continue
            table = getattr(container, "table_name", None) or op.table_name
            old = op.column.info.get("bgmigrate_renamed_from")
            if old and (table, old) in drops:
                container.ops.remove(drops.pop((table, old)))
                index = container.ops.index(op)
                container.ops[index] = ops.AlterColumnOp(table, old, modify_name=op.column.name, schema=op.schema)
                _keep_renamed_indexes(container, table, old, op.column.name)
        pending = [key for key in drops if f"{key[0]}.{key[1]}" not in options.allow_drop]
        added = [o for o in container.ops if isinstance(o, ops.AddColumnOp)]
        for table, column in pending:
            for add in added:
                if (getattr(container, "table_name", None) or add.table_name) == table:
                    raise PlanError(
                        f"it drops {table}.{column} and adds {table}.{add.column.name}, which loses the data of "
                        f"{column}. If this is a rename, mark the new column: "
                        f"info={{'bgmigrate_renamed_from': '{column}'}}; if the data may go, "
                        f"pass -x bgmigrate_allow_drop={table}.{column}"
                    )


def _index_columns(op: Any) -> list[str]:
    """The column names of a Create/DropIndexOp (a drop knows them through its reverse, when autogenerated)."""
    source = op if isinstance(op, ops.CreateIndexOp) else getattr(op, "_reverse", None)
    columns = getattr(source, "columns", None) or []
    return [getattr(c, "name", c) if not isinstance(c, str) else c for c in columns]


def _keep_renamed_indexes(container: Any, table: str, old: str, new: str) -> None:
    """Autogenerate drops an index on the renamed column and creates it again under the same name on
    the new one; the phased rename carries that index over itself (same name, same definition), so
    the pair goes. (An index under a new name stays: the rename leaves the dropped one out.)"""
    for drop in [o for o in container.ops if isinstance(o, ops.DropIndexOp)]:
        if (getattr(container, "table_name", None) or drop.table_name) != table:
            continue
        create = next(
            (o for o in container.ops if isinstance(o, ops.CreateIndexOp) and o.index_name == drop.index_name), None
        )
        if create is None or create.table_name != table:
            continue
        renamed_back = [old if c == new else c for c in _index_columns(create)]
        before = _index_columns(drop)
        if old in renamed_back and (not before or before == renamed_back) and _same_kind(drop, create):
            container.ops.remove(drop)
            container.ops.remove(create)


def _same_kind(drop: Any, create: Any) -> bool:
    reverse = getattr(drop, "_reverse", None)
    return reverse is None or (bool(reverse.unique) == bool(create.unique) and reverse.kw == create.kw)


# ---- planning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rendered:
    """The revision's operations as PostgreSQL, and which SQL lines each operation produced."""

    sql: str
    spans: tuple[tuple[int, int, str], ...]  # (first line, last line, the operation as Python)

    def operation_of(self, line: int) -> tuple[int, str] | None:
        for number, (first, last, code) in enumerate(self.spans, start=1):
            if first <= line <= last:
                return number, code
        return None

    def in_revision_terms(self, message: str) -> str:
        """A refusal's ``line N`` (of the SQL rendered here) as the operation of upgrade() it came from."""

        def swap(match: re.Match[str]) -> str:
            numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
            found = [self.operation_of(n) for n in numbers]
            if any(f is None for f in found):
                return match.group(0)
            unique = list(dict.fromkeys(f for f in found if f is not None))
            which = " and ".join(str(n) for n, _ in unique)
            noun = "operation" if len(unique) == 1 else "operations"
            return f"{noun} {which} of upgrade() ({'; '.join(code for _, code in unique)})"

        return _LINES.sub(swap, message)


_LINES = re.compile(r"\blines? \d+(?:(?: and | to )\d+)?")


def _python(op: Any) -> str:
    """One operation as autogenerate writes it into the revision."""
    code = render_python_code(ops.UpgradeOps([op]))
    lines = [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]
    return " ".join(lines)


def _sql(upgrade_ops: Any) -> _Rendered:
    """The revision's operations as PostgreSQL, rendered by Alembic offline, one operation at a time."""
    buffer = io.StringIO()
    offline = MigrationContext.configure(
        dialect_name="postgresql", opts={"as_sql": True, "output_buffer": buffer, "literal_binds": True}
    )
    operations = Operations(offline)
    spans = []
    for _table, op in _flat(upgrade_ops):
        first = buffer.getvalue().count("\n") + 1
        operations.invoke(op)
        last = max(first, buffer.getvalue().count("\n"))
        spans.append((first, last, _python(op)))
    return _Rendered(buffer.getvalue(), tuple(spans))


def _metadata_backfill(metadata: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for table in getattr(metadata, "tables", {}).values():
        for column in table.columns:
            value = column.info.get("bgmigrate_backfill")
            if value is not None:
                found.append((f"{table.name}.{column.name}", str(value)))
    return found


def _plan(context: Any, script: Any, options: _Options) -> Plan:
    from bgmigrate.lint.engine import parse_migration
    from bgmigrate.parse.source import load_sql
    from bgmigrate.plan.passes import plan_operations

    rendered = _sql(script.upgrade_ops)
    migration = load_sql(f"{script.rev_id}.py", rendered.sql)
    operations, errors = parse_migration(migration)
    if errors:
        raise PlanError(f"cannot read the generated SQL: {errors[0].message}")
    request = PlanRequest(
        id=script.rev_id,
        source=f"revision {script.rev_id}",
        backfill=tuple(_metadata_backfill(options.metadata) + options.backfill),
    )
    knowledge = _knowledge(context)
    try:
        plan = plan_operations(operations, knowledge, request)
    except PlanError as exc:
        raise PlanError(_alembic_terms(rendered.in_revision_terms(str(exc)))) from None
    try:
        _refuse_lint_errors(plan, knowledge)
    except PlanError as exc:
        # The phases become revisions here, not SQL files: name the revision.
        named = re.sub(r"\(0\d_(\w+)\.sql:\d+\)", rf"(revision {script.rev_id}_\1)", str(exc))
        raise PlanError(named) from None
    return plan


def _alembic_terms(message: str) -> str:
    """The CLI's option names as Alembic spells them: ``--backfill X`` is ``-x bgmigrate_backfill=X`` here."""
    return re.sub(
        r"--backfill (\S+)",
        r"-x bgmigrate_backfill=\1 (e.g. alembic revision --autogenerate -x "
        r"bgmigrate_backfill=\1), or info={'bgmigrate_backfill': ...} on the model's column",
        message,
    ).replace("--batch-key COLUMN", "a single-column primary key on the table")


def _refuse_lint_errors(plan: Plan, knowledge: Knowledge) -> None:
    """As ``bgmigrate plan`` does: the phases are linted, and an error in one is a refusal."""
    from bgmigrate.lint.catalogue import load_catalogue
    from bgmigrate.plan.invariants import PhaseCheckError, lint_phases, refuse_lint_errors, refuse_unreadable

    catalogue = load_catalogue()
    try:
        findings = lint_phases(plan, [], catalogue, schema=knowledge.schema)
    except PhaseCheckError as exc:
        raise PlanError(f"the plan failed its own check (a bgmigrate bug, please report it): {exc}") from None
    refuse_lint_errors(findings, catalogue)
    refuse_unreadable(findings, plan, ())  # autogenerated SQL: every statement must read back


def _knowledge(context: Any) -> Knowledge:
    """The schema as the revisions before the new one leave it."""
    try:
        directories = [Path(d) for d in env.script._version_locations]
        heads = tuple(env.script.get_heads())
    except Exception:  # an unusual environment: plan without earlier knowledge
        return Knowledge()
    return knowledge_of_revisions(directories, heads)


# ---- the phased revisions ----------------------------------------------------------------------


def _phased(script: Any, plan: Plan) -> list[Any]:
    phased = []
    for number, phase in enumerate(plan.phases, start=1):
        rev = f"{script.rev_id}_{phase.name}"
        upgrade = ops.UpgradeOps([PhaseOp(_upgrade_lines(plan, phase))])
        downgrade = ops.DowngradeOps([PhaseOp(_downgrade_lines(phase))])
        phased.append(
            ops.MigrationScript(
                rev, upgrade, downgrade,
                message=f"{script.message or 'bgmigrate'} ({phase.name} {number}/{len(PHASES)})",
                imports=set(script.imports),
                head=script.head if number == 1 else f"{script.rev_id}_{PHASES[number - 2]}",
                splice=script.splice if number == 1 else False,
                branch_label=script.branch_label if number == 1 else None,
                version_path=script.version_path,
                depends_on=script.depends_on if number == 1 else None,
            )
        )  # fmt: skip
    return phased


def _autocommit(lines: list[str]) -> list[str]:
    """The lines inside one ``autocommit_block()``: each step commits on its own, as apply runs it."""
    return [AUTOCOMMIT_NOTE, "with op.get_context().autocommit_block():", *lines]


def _upgrade_lines(plan: Plan, phase: Phase) -> list[str]:
    lines = [f"# bgmigrate {phase.name}: app versions live while this phase is in place: {' and '.join(phase.serves)}."]
    lines += [f"# {display(note)}" for note in phase.notes]  # a name with a newline must not become code
    if phase.name == "contract":
        lines += contract_gate(plan.id, indent="")  # as `plan --format alembic` writes it: no path skips the gate
    body = [f"op.execute({py_str(HEADER_SET.rstrip(';'))})"]
    for step in phase.steps:
        body.append(f"# {display(step.description)}")
        sql = backfill_sql(step.backfill) if step.backfill is not None else step.sql.rstrip().rstrip(";")
        body.append(f"op.execute({py_str(sql)})")
    return lines + _autocommit(body)


def _downgrade_lines(phase: Phase) -> list[str]:
    if phase.name == "contract":
        return ['raise NotImplementedError("contract cannot be undone: the old shape and its data are gone")']
    undo = [f"op.execute({py_str(s.rollback_sql)})" for s in reversed(phase.steps) if s.rollback_sql]
    return _autocommit(undo) if undo else ["pass"]


class PhaseOp(ops.MigrateOperation):  # type: ignore[misc]
    """Lines of Python for one phase's upgrade or downgrade body."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)


@renderers.dispatch_for(PhaseOp)  # type: ignore[untyped-decorator]
def _render(autogen_context: Any, op: PhaseOp) -> list[str]:
    return op.lines
