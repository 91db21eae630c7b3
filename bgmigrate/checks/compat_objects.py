"""Renaming or dropping the other objects app code names: views, functions, types, sequences, …"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bgmigrate import operations as ops
from bgmigrate.checks.api import Hit, OpContext, migration_rule, op_rule
from bgmigrate.checks.compat_columns import q, sql_block, steps
from bgmigrate.checks.history import last_creates
from bgmigrate.checks.recreated import argument_types, recreated_object
from bgmigrate.findings import Severity
from bgmigrate.names import Name

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
        )
        return
    if op.kind in ("function", "procedure"):
        before = argument_types(op.stmt.text, op.name)
        after = argument_types(again.stmt.text, again.name)
        if before is not None and after is not None and before != after:
            yield Hit(
                op,
                f"{what.capitalize()} is dropped and created again with arguments ({', '.join(after)}) "
                f"instead of ({', '.join(before)}): the app version still serving calls it with the old "
                "arguments, and those calls fail with 'function does not exist'.",
                steps(
                    f"Create the new {op.kind} alongside the old one (same name, new arguments, or a new name).",
                    "Release code that calls the new one; switch traffic and retire the old version.",
                    "Then, in a contract migration:\n" + sql_block([op.stmt.text.strip().rstrip(";") + ";"]),
                ),
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
