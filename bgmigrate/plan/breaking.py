"""Statements with no online recipe that break the old version the moment they run: refused.

Renaming an enum value, or renaming or moving a view, function, sequence, type or any other
object the old version uses by name, takes effect at once — there is no phase it could wait
for that keeps both versions working, and carrying it into expand breaks the version still
serving. The planner refuses such a statement (on an object that existed before the migration,
unless its author suppressed the hazard) and gives the manual recipe: add the new name beside
the old, move the app, retire the old version, then remove the old name in a later migration.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.plan.draft import Draft, Item, suppressed
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.sqlgen import literal as quote_literal
from bgmigrate.plan.sqlgen import q
from bgmigrate.sql.names import Name


def _created_here(draft: Draft, item: Item, name: Name, value: str | None = None) -> bool:
    """Whether an earlier statement of the migration created the object (or added the enum value)."""
    for earlier in draft.items[: item.index]:
        op = earlier.op
        if isinstance(op, ops.CreateEnum) and op.type_name.key == name.key:
            return value is None or value in op.values
        if isinstance(op, ops.AddEnumValue) and op.type_name.key == name.key and value == op.value:
            return True
        if isinstance(op, ops.CreateObject) and op.name.key == name.key:
            return True
    return False


def _enum_moves(item: Item, type_name: Name, old: str, new: str) -> str:
    """The row moves of the recipe, one UPDATE per known column of the enum type."""
    moves = []
    for table in item.facts.schema.tables.values():
        for column in table.columns.values():
            if column.type.lower() in (type_name.name.lower(), str(type_name).lower()):
                c = q(column.name)
                name = table.name if table.name.schema not in (None, "public") else Name(table.name.name)
                moves.append(f"UPDATE {name.sql()} SET {c} = {new} WHERE {c} = {old}")
    return (
        "; ".join(sorted(moves))
        or f"UPDATE <table> SET <column> = {new} WHERE <column> = {old}, for each column of type {type_name}"
    )


def _enum_refusal(item: Item, op: ops.RenameEnumValue) -> PlanError:
    t, old, new = op.type_name, quote_literal(op.value), quote_literal(op.new_value)
    return PlanError(
        f"line {op.stmt.line}: no safe plan: renaming value {old} of enum {t} to {new} takes effect at once and "
        f"breaks the app version still serving (its writes of {old} fail, it reads {new}); no phase can hold it. "
        f"Recipe, as separate migrations: 1. expand: ALTER TYPE {t.sql()} ADD VALUE {new}; 2. release code that "
        f"writes {new} and treats {old} and {new} alike, switch traffic, retire the old version; 3. move the rows "
        f"in batches ({_enum_moves(item, t, old, new)}); 4. contract: leave {old} unused (PostgreSQL cannot drop "
        "an enum value) or forbid it with a CHECK added NOT VALID, then validated"
    )


# Kinds app code names in its SQL (an index, trigger or policy name appears in none of it).
NAMED_IN_QUERIES = frozenset(
    {"view", "materialized view", "function", "procedure", "aggregate", "type", "domain", "sequence",
     "foreign table", "extension", "operator", "collation", "schema"}
)  # fmt: skip


def _named_by_apps_object(draft: Draft, item: Item, op: ops.RenameObject) -> bool:
    """An object apps name, existing before the migration, with no stand-in created under the old name."""
    if op.kind not in NAMED_IN_QUERIES or _created_here(draft, item, op.name) or suppressed(item, "rename-object"):
        return False
    stand_in = ("view", op.kind) if op.kind == "materialized view" else (op.kind,)
    return not any(
        isinstance(later.op, ops.CreateObject) and later.op.kind in stand_in and later.op.name.key == op.name.key
        for later in draft.items[item.index + 1 :]
    )


def _object_refusal(op: ops.RenameObject) -> PlanError:
    target = f"{op.new_schema}.{op.name.name}" if op.new_schema else op.new_name
    return PlanError(
        f"line {op.stmt.line}: no safe plan: renaming {op.kind} {op.name} to {target} takes effect at once and "
        f"breaks the app version still serving, which uses the name {op.name}; no phase can hold it. Recipe, as "
        f"separate migrations: 1. expand: create {target} beside {op.name} (a view selecting from it, a function "
        f"calling it, a copy), leaving {op.name} in place; 2. release code that uses {target}, switch traffic, "
        f"retire the old version; 3. contract: drop {op.name} (or rename it then, when nothing uses it)"
    )


def _named_by_apps(item: Item, op: ops.RenameConstraint) -> bool:
    """A unique, primary key or exclusion constraint that existed before: ``ON CONFLICT ON CONSTRAINT`` names it.

    CHECKs and foreign keys are named only in error messages; renaming them breaks no statement.
    """
    table = item.facts.table(op.target)
    con = table.constraints.get(op.name) if table is not None else None
    kinds = ("unique", "primary_key", "exclude")
    return (
        con is not None
        and con.kind in kinds
        and not item.facts.is_new(op.target)
        and not suppressed(item, "rename-object")
    )


def _constraint_refusal(op: ops.RenameConstraint) -> PlanError:
    return PlanError(
        f"line {op.stmt.line}: no safe plan: renaming constraint {op.name} on {op.target} to {op.new_name} takes "
        "effect at once, and the app version still serving may name it (ON CONFLICT ON CONSTRAINT). Recipe: release code that names neither (or both), retire the old version, then rename it in "
        "a migration of its own"
    )


def refuse_breaking(draft: Draft) -> Draft:
    """Pass (checks only): refuse what breaks the old version at once and has no phased form.

    >>> from bgmigrate.plan.testing import draft_of
    >>> refuse_breaking(draft_of("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bgmigrate.plan.request.PlanError: line 1: no safe plan: renaming value 'sad' of enum mood to 'blue' ...
    >>> len(refuse_breaking(draft_of("CREATE TYPE m AS ENUM ('a'); ALTER TYPE m RENAME VALUE 'a' TO 'b';")).items)
    2
    """
    for item in draft.pending(ops.RenameEnumValue, ops.RenameObject, ops.RenameConstraint):
        op = item.op
        if isinstance(op, ops.RenameEnumValue):
            if not _created_here(draft, item, op.type_name, op.value) and not suppressed(item, "rename-enum-value"):
                raise _enum_refusal(item, op)
        elif isinstance(op, ops.RenameObject) and _named_by_apps_object(draft, item, op):
            raise _object_refusal(op)
        elif isinstance(op, ops.RenameConstraint) and _named_by_apps(item, op):
            raise _constraint_refusal(op)
    return draft
