"""A replacement column beside the old one: the machinery behind rename column and change type.

expand: add the new column (nullable, no default) and a trigger keeping both equal both ways;
migrate: backfill existing rows in batches; contract: give the new column what the old one had
(``carry``), then — in one short transaction — drop the trigger and the old column and give the
copies their original names. For a type change the new column also takes the old name there.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.model.locks import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE
from bgmigrate.plan import not_null, triggers
from bgmigrate.plan.backfill import backfill_step, batch_key, left_behind
from bgmigrate.plan.column_carry import Carry, default_sql
from bgmigrate.plan.constraints import not_valid_then_validate
from bgmigrate.plan.draft import CONTRACT, EXPAND, MIGRATE, Item, Rewrite
from bgmigrate.plan.indexes import build_concurrently, index_valid
from bgmigrate.plan.phases import Check, Step
from bgmigrate.plan.request import PlanRequest
from bgmigrate.plan.sqlgen import alter, in_schema_of, literal, q, step
from bgmigrate.plan.suppress import ignore
from bgmigrate.sql.names import Name
from bgmigrate.sql.quote import dollar_quote

RETIRED = "contract runs after the old app version is retired"


@dataclass(frozen=True)
class Shadow:
    """How the replacement column relates to the old one."""

    table: Name
    old: str
    new: str  # the replacement's name while both exist
    type_sql: str
    to_new: str  # old → new, over NEW (trigger)
    to_old: str  # new → old, over NEW (trigger)
    backfill_value: str  # old → new, over the row (backfill UPDATE)
    take_old_name: bool = False  # type change: the replacement is renamed to the old name at contract
    indexes_early: bool = True  # rename: the new version queries the new column from expand on
    # A narrowing type change: the old value converts without loss (over the row / over NEW); None: always.
    fits_row: str | None = None
    fits_new: str | None = None
    target: str = ""  # the new type, for messages

    @property
    def final(self) -> str:
        return self.old if self.take_old_name else self.new


def _expand(shadow: Shadow, sync: triggers.TriggerSql, carry: Carry, line: int | None) -> tuple[Step, ...]:
    t = shadow.table
    steps = [
        step(f"add {t}.{shadow.new} ({shadow.type_sql}), nullable and without default until contract",
             alter(t, f"ADD COLUMN {q(shadow.new)} {shadow.type_sql}"), table=t, lock=ACCESS_EXCLUSIVE,
             rollback=alter(t, f"DROP COLUMN IF EXISTS {q(shadow.new)}"), line=line),
        step(f"create the function keeping {shadow.old} and {shadow.new} equal", sync.create_function,
             rollback=sync.drop_function, line=line),
        step(f"install the sync trigger on {t}", sync.create_trigger, table=t, lock=SHARE_ROW_EXCLUSIVE,
             rollback=sync.drop_trigger, line=line),
    ]  # fmt: skip
    if shadow.indexes_early:
        steps += _index_builds(shadow, carry, line)
    return tuple(steps)


def _index_builds(shadow: Shadow, carry: Carry, line: int | None) -> list[Step]:
    return [
        build_concurrently(shadow.table, i.temporary, i.sql, line, f" (copy of {i.original})") for i in carry.indexes
    ]


def _prepare(shadow: Shadow, carry: Carry, pg_version: int, line: int | None) -> list[Step]:
    """Contract steps that run while the old column still exists: all online."""
    t, steps = shadow.table, []
    default = default_sql(carry.column, t, shadow.old)
    if default and not shadow.take_old_name:
        steps.append(step(f"give {t}.{shadow.new} the old column's default", alter(t, f"ALTER COLUMN {q(shadow.new)} SET DEFAULT {default}"),
                          table=t, lock=ACCESS_EXCLUSIVE, line=line))  # fmt: skip
    if carry.not_null:
        steps += not_null.enforce(t, shadow.new, pg_version, line)
    if not shadow.indexes_early:
        steps += _index_builds(shadow, carry, line)
    for con in carry.constraints:
        rewrite = not_valid_then_validate(t, con.constraint, line)
        steps += rewrite.expand + rewrite.migrate
    return steps


def _swap(shadow: Shadow, sync: triggers.TriggerSql, carry: Carry, plan_id: str) -> str:
    """One transaction: the old column goes, the copies take their original names."""
    t = shadow.table
    sql = list(sync.drops())
    if carry.sequence:
        sql.append(f"ALTER SEQUENCE {carry.sequence} OWNED BY {t.sql()}.{q(shadow.new)}")
    sql.append(ignore(("drop-column",), f"{RETIRED} (plan {plan_id})") + alter(t, f"DROP COLUMN {q(shadow.old)}"))
    if shadow.take_old_name:
        sql.append(ignore(("rename-column",), f"{shadow.new} is bgmigrate's own column, no app uses it")
                   + alter(t, f"RENAME COLUMN {q(shadow.new)} TO {q(shadow.old)}"))  # fmt: skip
        default = default_sql(carry.column, t, shadow.old)
        if default:
            sql.append(alter(t, f"ALTER COLUMN {q(shadow.old)} SET DEFAULT {default}"))
    keys = {k.temporary for k in carry.keys}
    for index in carry.indexes:
        if index.temporary not in keys:
            sql.append(f"ALTER INDEX {in_schema_of(t, index.temporary)} RENAME TO {q(index.original)}")
    for key in carry.keys:
        kind = "PRIMARY KEY" if key.kind == "primary_key" else "UNIQUE"
        sql.append(alter(t, f"ADD CONSTRAINT {q(key.original)} {kind} USING INDEX {q(key.temporary)}"))
    for con in carry.constraints:
        sql.append(alter(t, f"RENAME CONSTRAINT {q(con.temporary)} TO {q(con.original)}"))
    return ";\n".join(sql)


def _checks(shadow: Shadow, sync: triggers.TriggerSql, carry: Carry, key: str) -> tuple[tuple[str, Check], ...]:
    t, table = shadow.table, str(shadow.table)
    trigger = sync.trigger_name
    checks: list[tuple[str, Check]] = [
        (EXPAND, Check("column_exists", table=table, column=shadow.new, description=f"{t}.{shadow.new} exists")),
        (EXPAND, Check("trigger_exists", table=table, name=trigger, description="the sync trigger is installed")),
        (MIGRATE, left_behind(t, key, where(shadow), f"{shadow.new} out of step with {shadow.old}")),
        (CONTRACT, Check("trigger_absent", table=table, name=trigger, description="the sync trigger is gone")),
    ]
    if not shadow.take_old_name:
        checks.append(
            (CONTRACT, Check("column_absent", table=table, column=shadow.old, description=f"{t}.{shadow.old} is gone"))
        )
    checks.append(
        (CONTRACT, Check("column_exists", table=table, column=shadow.final, description=f"{t}.{shadow.final} exists"))
    )
    if carry.not_null:
        checks.append((CONTRACT, not_null.enforced(t, shadow.final)))
    checks += [(CONTRACT, index_valid(t, i.original)) for i in carry.indexes]
    checks += [(CONTRACT, Check("constraint_validated", table=table, name=c.original, description=f"{c.original} is validated"))
               for c in (*carry.keys, *carry.constraints)]  # fmt: skip
    return tuple(checks)


def where(shadow: Shadow) -> str:
    """Rows whose new column does not (yet) hold the old column's value."""
    return f"{q(shadow.new)} IS DISTINCT FROM {shadow.backfill_value}"


def _backfill_where(shadow: Shadow) -> str:
    """Rows to backfill: out of step, and (narrowing) only values that convert unchanged — never truncate one."""
    return where(shadow) + (f" AND {shadow.fits_row}" if shadow.fits_row else "")


def _guard(shadow: Shadow) -> triggers.Guard | None:
    if shadow.fits_new is None:
        return None
    return triggers.Guard(shadow.fits_new, f"{shadow.table}.{shadow.old} as {shadow.target}")


def _refuse_misfits(shadow: Shadow, line: int | None) -> tuple[Step, ...]:
    """Expand's first step, for psql and Alembic runs that skip apply's preconditions: stop on a misfit."""
    if shadow.fits_row is None:
        return ()
    t = shadow.table
    detail = literal(f"{t}.{shadow.old} as {shadow.target}")
    code = (
        f"\nBEGIN\n  IF EXISTS (SELECT FROM {t.sql()} WHERE NOT {shadow.fits_row}) THEN\n"
        f"    RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = 'bgmigrate: rows hold values the new type would "
        f"truncate or round; fix them before expand', DETAIL = {detail};\n  END IF;\nEND\n"
    )
    return (
        step(
            f"stop unless every value of {t}.{shadow.old} fits {shadow.target}", f"DO {dollar_quote(code)}", line=line
        ),
    )


def _misfits(shadow: Shadow, key: str) -> Check | None:
    """Rows whose value would not survive the conversion: none may exist before expand (nor after migrate)."""
    if shadow.fits_row is None:
        return None
    t = shadow.table
    return Check(
        kind="no_rows",
        table=str(t),
        sql=f"SELECT {q(key)} FROM {t.sql()} WHERE NOT {shadow.fits_row}",  # counted in full: each one blocks
        description=f"every value of {t}.{shadow.old} fits {shadow.target} (no row would be truncated or rounded)",
    )


def rewrite(item: Item, shadow: Shadow, carry: Carry, request: PlanRequest) -> Rewrite:
    """The three phases of replacing ``shadow.old`` by ``shadow.new``."""
    line = item.op.stmt.line
    sync = triggers.sync(
        shadow.table, shadow.old, shadow.new, shadow.to_new, shadow.to_old, request.pg_version, _guard(shadow)
    )
    key, assumptions = batch_key(shadow.table, item.facts, request)
    fill = backfill_step(shadow.table, key, shadow.new, shadow.backfill_value, _backfill_where(shadow), request, line)
    misfits = _misfits(shadow, key)
    swap = step(
        f"in one transaction: drop the trigger and {shadow.table}.{shadow.old}; the copies take their original names",
        _swap(shadow, sync, carry, request.id), table=shadow.table, lock=ACCESS_EXCLUSIVE, line=line,
    )  # fmt: skip
    t = shadow.table
    precondition = (
        Check("table_exists", table=str(t), description=f"{t} exists"),
        Check("column_exists", table=str(t), column=shadow.old, description=f"{t}.{shadow.old} exists"),
        Check("column_absent", table=str(t), column=shadow.new, description=f"{t}.{shadow.new} does not exist yet"),
        *((misfits,) if misfits else ()),
    )
    return Rewrite(
        expand=(*_refuse_misfits(shadow, line), *_expand(shadow, sync, carry, line)),
        migrate=(fill,),
        contract=(*_prepare(shadow, carry, request.pg_version, line), swap),
        checks=_checks(shadow, sync, carry, key) + (((MIGRATE, misfits),) if misfits else ()),
        preconditions=precondition,
        assumptions=assumptions,
    )
