"""Renaming or dropping the other objects app code names: views, functions, types, sequences, …"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, migration_rule, op_rule
from bgmigrate.lint.rules.compat_columns import q, sql_block, steps
from bgmigrate.lint.rules.history import last_creates
from bgmigrate.lint.rules.recreated import argument_types, recreated_object
from bgmigrate.lint.rules.shapes import ViewColumn, return_type, view_columns
from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name

# Kinds whose names app code writes in its queries: a rename or drop breaks it outright.
_NAMED_IN_QUERIES = frozenset(
    {"view", "materialized view", "function", "procedure", "type", "domain", "aggregate", "foreign table",
     "extension", "operator", "collation", "schema"}
)  # fmt: skip

# Kinds handled by drop-database (they take data with them).
_DATABASE_KINDS = frozenset({"schema", "database"})

_HOW_USED = {
    "view": "selects from it",
    "materialized view": "selects from it",
    "function": "calls it",
    "procedure": "calls it",
    "aggregate": "calls it",
    "type": "casts to it or declares it",
    "domain": "casts to it or declares it",
    "sequence": "calls nextval() or currval() on it by name",
    "schema": "qualifies names with it (or finds them through search_path)",
    "foreign table": "queries it",
    "collation": "names it in COLLATE clauses",
    "operator": "uses it",
}


def _renamed(kind: str, name: Name, new_name: str) -> Name:
    if kind == "schema":
        return Name(new_name)
    return Name(new_name, name.schema)


@migration_rule("rename-object")
def rename_object(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """Renaming a view, function, type, sequence or schema breaks old code that names it."""
    last_created = last_creates(seen)
    for i, (op, ctx) in enumerate(seen):
        if not isinstance(op, ops.RenameObject):
            continue
        if ctx.created_here(op.kind, op.name):
            continue
        # A compatibility object created under the old name right after keeps the old version working.
        stand_in = ("view", op.kind) if op.kind == "materialized view" else (op.kind,)
        if any(last_created.get((kind, op.name.key), -1) > i for kind in stand_in):
            continue
        new = _renamed(op.kind, op.name, op.new_name)
        how = _HOW_USED.get(op.kind, "names it")
        note = ""
        severity = None
        if op.kind == "sequence":
            note = " Column defaults follow the sequence by its OID and keep working."
            severity = Severity.WARNING
        elif op.kind in ("type", "domain"):
            note = " Columns of this type keep working; only SQL that spells the name breaks."
        old = op.name.sql()
        items = [
            f"Keep the old name working while the old version runs: create the new {op.kind} and leave "
            f"{old} in place until no running version names it.",
            f"Release code that uses {new.sql()}; switch traffic and retire the old version.",
            f"Then, in a contract migration, drop or rename the old {op.kind}.",
        ]
        if op.kind in ("view", "materialized view"):
            items[2] = "Contract, in a later migration:\n" + sql_block([f"DROP VIEW {old};"])
        if op.kind in ("view", "materialized view"):
            alter = "ALTER MATERIALIZED VIEW" if op.kind == "materialized view" else "ALTER VIEW"
            items[0] = (
                "In one transaction, rename and leave a plain view under the old name that the old version "
                "can keep reading:\n"
                + sql_block(
                    [
                        "BEGIN;",
                        f"{alter} {op.name.sql()} RENAME TO {q(op.new_name)};",
                        f"CREATE VIEW {op.name.sql()} AS SELECT * FROM {new.sql()};",
                        "COMMIT;",
                    ]
                )
            )
        elif op.kind in ("function", "procedure"):
            items[0] = (
                f"Leave a {op.kind} under the old name {old} that calls {new.sql()} with the same "
                "arguments, created in the same migration right after the rename."
            )
        yield Hit(
            op,
            f"Renaming {op.kind} {old} to {q(op.new_name)} breaks the app version still serving "
            f"wherever it {how}: those statements fail with 'does not exist'.{note}",
            steps(*items),
            severity=severity,
        )


_DROP_WHY = {
    "trigger": "the old version may rely on what it does (keeping columns in sync, auditing, "
    "maintaining timestamps), which silently stops",
    "policy": "the old version's access under row-level security changes: with no permissive policy "
    "left it sees and changes no rows",
    "rule": "the old version's statements on the table no longer get rewritten the way it expects",
    "extension": "every function, type and operator of the extension goes with it, and the old "
    "version's calls to them fail",
    "sequence": "the old version's nextval() calls fail, and column defaults that use it go with it "
    "(CASCADE) or block the drop",
    "type": "the old version's casts to it fail, and with CASCADE every column of that type is dropped, with its data",
    "domain": "the old version's casts to it fail, and with CASCADE every column of that domain is "
    "dropped, with its data",
}


def _recreated(op: ops.DropObject, again: ops.CreateObject, ctx: OpContext) -> Iterator[Hit]:
    """Dropped and created again later in this migration: judge the gap and the new shape."""
    what = f"{op.kind} {op.name.sql()}"
    if not ctx.in_transaction:
        yield Hit(
            op,
            f"{what.capitalize()} is dropped here and created again later in this migration, but not "
            "inside a transaction: between the two statements the old version's statements that use it "
            "fail with 'does not exist'.",
            "Run the DROP and the CREATE in one transaction (BEGIN; … COMMIT;), or use CREATE OR REPLACE "
            "where the change allows it.",
            severity=Severity.WARNING,
            context_fix=True,
        )
        return
    old = ctx.schema.definitions.get((op.kind, op.name.key))
    if op.kind in ("function", "procedure"):
        yield from _recreated_routine(op, again, old)
    elif op.kind in ("view", "materialized view"):
        yield from _recreated_view(op, again, old)


def _recreated_routine(op: ops.DropObject, again: ops.CreateObject, old: str | None) -> Iterator[Hit]:
    """A function recreated with another signature (arguments or return type) breaks old calls."""
    what = f"{op.kind} {op.name.sql()}"
    before = argument_types(op.stmt.text, op.name)
    written = argument_types(old, op.name) if old is not None else None
    if before is None:
        before = written
    after = argument_types(again.stmt.text, again.name)
    if before is None or after is None:
        yield _not_analysed(op, "its earlier definition (and so its arguments) was not seen")
        return
    if before != after:
        change = f"with arguments ({', '.join(after)}) instead of ({', '.join(before)})"
        yield _routine_hit(op, what, change, "those calls fail with 'function does not exist'")
        return
    # The old return type is known only when the old CREATE is the overload being dropped.
    old_returns = return_type(old) if old is not None and written == before else None
    new_returns = return_type(again.stmt.text)
    if old_returns is not None and new_returns is not None and old_returns != new_returns:
        change = f"returning {new_returns} instead of {old_returns}"
        yield _routine_hit(op, what, change, "gets a result of a type it does not expect")


def _routine_hit(op: ops.DropObject, what: str, change: str, consequence: str) -> Hit:
    return Hit(
        op,
        f"{what.capitalize()} is dropped and created again {change}: the app version still serving calls "
        f"it as before, and {consequence}.",
        steps(
            f"Create the new {op.kind} alongside the old one (same name, new arguments, or a new name).",
            "Release code that calls the new one; switch traffic and retire the old version.",
            "Then, in a contract migration:\n" + sql_block([op.stmt.text.strip().rstrip(";") + ";"]),
        ),
        context_fix=True,
    )


def _recreated_view(op: ops.DropObject, again: ops.CreateObject, old: str | None) -> Iterator[Hit]:
    """A view recreated without a column it had, with one renamed or of another type."""
    before = view_columns(old) if old is not None else None
    after = view_columns(again.stmt.text)
    if before is None or after is None:
        unreadable = "could not be read (SELECT *, or a column without a name)"
        if old is None:
            why = "its earlier definition was not seen"
        else:
            why = f"its {'earlier' if before is None else 'new'} select list {unreadable}"
        yield _not_analysed(op, why)
        return
    changes = view_changes(before, after)
    if changes:
        what = f"{op.kind} {op.name.sql()}"
        old_list, new_list = ", ".join(q(c.name) for c in before), ", ".join(q(c.name) for c in after)
        yield Hit(
            op,
            f"{what.capitalize()} is dropped and created again {'; '.join(changes)}: the app version still "
            f"serving selects the old columns, and those queries fail or read values of a type they do not "
            f"expect. Old columns: ({old_list}); new columns: ({new_list}).",
            steps(
                f"Keep every column of {op.name.sql()} as it was (add new ones at the end), or create the new "
                "shape under a new name beside the old view.",
                "Release code that reads the new shape; switch traffic and retire the old version.",
                f"Then, in a contract migration, drop or recreate {op.name.sql()} in its final shape.",
            ),
            context_fix=True,
        )


def view_changes(before: Sequence[ViewColumn], after: Sequence[ViewColumn]) -> list[str]:
    """What breaks readers of ``before``: columns gone, renamed (same expression), retyped.

    >>> from bgmigrate.lint.rules.shapes import view_columns as v
    >>> old = v("CREATE VIEW v AS SELECT id, total::numeric, note FROM o")
    >>> view_changes(old, v("CREATE VIEW v AS SELECT id, total::bigint, note AS remark FROM o"))
    ['with total of type bigint instead of numeric', 'with note renamed to remark']
    >>> view_changes(old, v("CREATE VIEW v AS SELECT id, total::numeric, note, 1 AS extra FROM o"))
    []
    """
    new_names = {c.name: c for c in after}
    old_names = {c.name for c in before}
    changes: list[str] = []
    for i, col in enumerate(before):
        now = new_names.get(col.name)
        if now is not None:
            if col.type and now.type and col.type != now.type:
                changes.append(f"with {q(col.name)} of type {now.type} instead of {col.type}")
            continue
        at = after[i] if i < len(after) else None
        if at is not None and at.name not in old_names and at.expression == col.expression:
            changes.append(f"with {q(col.name)} renamed to {q(at.name)}")
        else:
            changes.append(f"without column {q(col.name)}")
    return changes


def _not_analysed(op: ops.DropObject, why: str) -> Hit:
    """A re-creation whose old or new shape is unknown: said so, never passed as unchanged."""
    what = f"{op.kind} {op.name.sql()}"
    return Hit(
        op,
        f"{what.capitalize()} is dropped and created again, but {why}: whether the old version's statements "
        "still work with the new shape was not analysed.",
        "Compare the old and new shapes by hand (columns, their names and types; a function's arguments "
        "and return type); keep what the old version uses.",
        severity=Severity.INFO,
        context_fix=True,
    )


@op_rule("drop-object", ops.DropObject)
def drop_object(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Dropping a view, function, type, sequence, trigger, … that the old version still uses."""
    assert isinstance(op, ops.DropObject)
    if op.kind in _DATABASE_KINDS:
        return
    if op.on_table is not None and ctx.is_new_table(op.on_table):
        return
    if ctx.created_here(op.kind, op.name, op.on_table):
        return
    again = recreated_object(ctx.migration, op)
    if again is not None:
        yield from _recreated(op, again, ctx)
        return
    where = f" on {op.on_table.sql()}" if op.on_table else ""
    why = _DROP_WHY.get(op.kind) or (
        f"every statement of the old version that {_HOW_USED.get(op.kind, 'uses it')} fails with 'does not exist'"
    )
    cascade = (
        " CASCADE also drops every object that depends on it."
        if op.cascade and op.kind not in ("type", "domain", "sequence")
        else ""
    )
    severity = None if op.kind in _NAMED_IN_QUERIES or op.kind == "sequence" else Severity.WARNING
    yield Hit(
        op,
        f"Dropping {op.kind} {op.name.sql()}{where} can break the app version still serving: {why}.{cascade}",
        steps(
            f"Release code that no longer uses (or relies on) {op.kind} {op.name.sql()}; switch traffic "
            "and retire the old version.",
            "Then, in a contract migration:\n" + sql_block([op.stmt.text.strip().rstrip(";") + ";"]),
        ),
        severity=severity,
    )
