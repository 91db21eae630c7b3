"""Column changes that break the app version still serving: drop, rename, add required, nullability, defaults.

Also the shared recipe helpers the other compatibility modules use (sync triggers, batched
backfills, the NOT NULL-via-CHECK sequence), so every recipe spells SQL the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Column
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.quote import dollar_tag, quote_literal

# ---- helpers shared by the compatibility rules -----------------------------------------------


def q(name: str) -> str:
    """An identifier quoted for SQL only when it needs it.

    >>> q("status"), q("Status"), q("order")
    ('status', '"Status"', '"order"')
    """
    return quote_ident(name)


def lit(value: str) -> str:
    """A SQL string literal.

    >>> lit("it's")
    "'it''s'"
    """
    return quote_literal(value)


def sibling(table: Name, name: str) -> str:
    """A new object name in the table's schema, quoted (PostgreSQL truncates names to 63 bytes).

    >>> sibling(Name("Order", "shop"), "Order_sync")
    'shop."Order_sync"'
    """
    return Name(name[:63], table.schema).sql()


def sql_block(lines: Sequence[str]) -> str:
    """SQL lines indented under a numbered step."""
    return "\n".join("   " + line for line in lines)


def steps(*items: str) -> str:
    """Numbered recipe steps; an item may carry SQL lines after its first line."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))


def known_column(ctx: OpContext, table: Name, column: str) -> Column | None:
    """The column as earlier migrations (or the live schema) declared it; None if never seen."""
    found = ctx.schema.column(table, column)
    if found is None or found.type == "unknown":
        return None
    return found


def added_in_migration(earlier: Sequence[ops.Operation], table: Name, column: str) -> bool:
    """Whether ``column`` of ``table`` was created earlier in this migration (no running code knows it).

    Follows renames, so a column added as ``new_status`` and renamed to ``status`` is still new,
    while an old column renamed to a new name is not.
    """
    known = getattr(earlier, "added_columns", None)  # the linter keeps the answer up to date
    if known is not None:
        return (table.key, column) in known
    added: set[tuple[tuple[str, str], str]] = set()
    for op in earlier:
        if isinstance(op, ops.CreateTable):
            added.update((op.target.key, c.name) for c in op.columns)
        elif isinstance(op, ops.AddColumn):
            added.add((op.target.key, op.column.name))
        elif isinstance(op, ops.DropColumn):
            added.discard((op.target.key, op.column))
        elif isinstance(op, ops.RenameColumn) and (op.target.key, op.column) in added:
            added.discard((op.target.key, op.column))
            added.add((op.target.key, op.new_name))
        elif isinstance(op, ops.RenameTable):
            new_key = (op.target.key[0], op.new_name)
            added = {(new_key if key == op.target.key else key, col) for key, col in added}
    return (table.key, column) in added


def sync_trigger(table: Name, old: str, new: str) -> tuple[list[str], list[str]]:
    """SQL creating (and later dropping) a trigger that keeps ``old`` and ``new`` equal.

    Whichever column a writer set wins: old-version writes reach the new column and new-version
    writes reach the old one. PL/pgSQL assignment converts between the two column types.
    """
    fn = sibling(table, f"{table.name}_sync_{new}")
    trg = q(f"{table.name}_sync_{new}"[:63])
    o, n = q(old), q(new)
    body = [
        "BEGIN",
        "  IF TG_OP = 'INSERT' THEN",
        f"    IF NEW.{n} IS NULL THEN NEW.{n} := NEW.{o};",
        f"    ELSIF NEW.{o} IS NULL THEN NEW.{o} := NEW.{n};",
        "    END IF;",
        f"  ELSIF NEW.{n} IS DISTINCT FROM OLD.{n} THEN",
        f"    NEW.{o} := NEW.{n};",
        f"  ELSIF NEW.{o} IS DISTINCT FROM OLD.{o} THEN",
        f"    NEW.{n} := NEW.{o};",
        "  END IF;",
        "  RETURN NEW;",
        "END",
    ]
    tag = dollar_tag("\n".join(body), "")  # a name holding "$$" must not end the body
    create = [
        f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS {tag}",
        *body,
        f"{tag};",
        f"CREATE TRIGGER {trg} BEFORE INSERT OR UPDATE ON {table.sql()}",
        f"  FOR EACH ROW EXECUTE FUNCTION {fn}();",
    ]
    drop = [f"DROP TRIGGER {trg} ON {table.sql()};", f"DROP FUNCTION {fn}();"]
    return create, drop


def backfill(table: Name, column: str, value: str, pending: str) -> str:
    """One batch of a backfill by physical row address: run it until it reports ``UPDATE 0``.

    ``pending`` is the condition that marks rows still to do.
    """
    t = table.sql()
    return (
        f"UPDATE {t} SET {q(column)} = {value} WHERE ctid = ANY (ARRAY("
        f"SELECT ctid FROM {t} WHERE {pending} LIMIT 5000));"
    )


def not_null_via_check(table: Name, column: str, pg_version: int, existing_check: str | None = None) -> list[str]:
    """The SQL that makes ``column`` NOT NULL without a long ACCESS EXCLUSIVE scan."""
    t, c = table.sql(), q(column)
    if existing_check is not None:
        check = q(existing_check)
        lines = [f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};"]
    else:
        check = q(f"{table.name}_{column}_not_null"[:63])
        lines = [
            f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;",
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};",
        ]
    if pg_version >= 12:
        lines += [
            f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;",
            f"ALTER TABLE {t} DROP CONSTRAINT {check};",
        ]
    return lines


# ---- drop and rename ------------------------------------------------------------------------


@op_rule("drop-column", ops.DropColumn)
def drop_column(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Dropping a column the old version still reads or writes breaks it."""
    assert isinstance(op, ops.DropColumn)
    if ctx.is_new_table(op.target) or added_in_migration(ctx.earlier, op.target, op.column):
        return
    t, c = op.target.sql(), q(op.column)
    cascade = (
        " CASCADE also silently drops every view, index and constraint (foreign keys of other "
        "tables included) that depends on it."
        if op.cascade
        else ""
    )
    yield Hit(
        op,
        f"Dropping column {c} from {t} breaks the app version still serving: its queries that "
        f"read or write {c} fail as soon as this runs, and rollback needs a restore.{cascade}",
        steps(
            f"Release code that no longer reads or writes {c} (ignore it in the ORM).",
            "Switch traffic and retire the old version.",
            "Only then, in a contract migration:\n" + sql_block([f"ALTER TABLE {t} DROP COLUMN {c};"]),
        ),
    )


@op_rule("rename-column", ops.RenameColumn)
def rename_column(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Renaming a column breaks every query of the old version that names it."""
    assert isinstance(op, ops.RenameColumn)
    if ctx.is_new_table(op.target) or added_in_migration(ctx.earlier, op.target, op.column):
        return
    t, old, new = op.target.sql(), q(op.column), q(op.new_name)
    col = known_column(ctx, op.target, op.column)
    col_type = col.type if col else f"<type of {old}>"
    unknown = "" if col else f" ({old}'s type is unknown here: use the same type)"
    create, drop = sync_trigger(op.target, op.column, op.new_name)
    items = [
        f"Expand: add {new} next to {old} and keep the two in sync while both versions run{unknown}:\n"
        + sql_block([f"ALTER TABLE {t} ADD COLUMN {new} {col_type};", *create]),
        "Backfill existing rows in batches (repeat until it updates 0 rows):\n"
        + sql_block([backfill(op.target, op.new_name, old, f"{new} IS DISTINCT FROM {old}")]),
    ]
    if col is not None and not col.nullable:
        items.append(
            f"Make {new} NOT NULL like {old}, without a long lock:\n"
            + sql_block(not_null_via_check(op.target, op.new_name, ctx.pg_version))
        )
    items += [
        f"Release code that reads and writes {new}; switch traffic and retire the old version.",
        "Contract, in a later migration:\n" + sql_block([*drop, f"ALTER TABLE {t} DROP COLUMN {old};"]),
    ]
    yield Hit(
        op,
        f"Renaming column {old} of {t} to {new} breaks the app version still serving: every query "
        f"that names {old} fails with 'column does not exist', and the new version's queries fail "
        "the same way until this runs.",
        steps(*items),
    )


# ---- required columns and nullability ---------------------------------------------------------

_NOT_NULL = re.compile(r"\s+NOT\s+NULL\b", re.IGNORECASE)


def _fills_itself(spec: ops.ColumnSpec) -> bool:
    """Identity, serial and generated columns get a value without the INSERT naming them."""
    return spec.identity or spec.serial or spec.generated_stored or spec.generated_virtual


def _has_default(spec: ops.ColumnSpec) -> bool:
    # DEFAULT NULL is no default at all.
    return spec.default is not None and spec.default.strip().lower() not in ("", "null")


@op_rule("add-required-column", ops.AddColumn)
def add_required_column(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """ADD COLUMN … NOT NULL without a default breaks the old version's INSERTs."""
    assert isinstance(op, ops.AddColumn)
    spec = op.column
    if spec.nullable or _has_default(spec) or _fills_itself(spec) or ctx.is_new_table(op.target):
        return
    if op.if_not_exists and known_column(ctx, op.target, spec.name) is not None:
        return  # already there: a no-op
    t, c = op.target.sql(), q(spec.name)
    plain = f"{c} {spec.type}"
    if spec.sql and not spec.primary_key:
        plain = _NOT_NULL.sub("", spec.sql).strip() or plain
    items = [
        "Expand: add the column without NOT NULL:\n" + sql_block([f"ALTER TABLE {t} ADD COLUMN {plain};"]),
        f"Release code that writes {c} on every INSERT; switch traffic and retire the old version.",
        "Backfill existing rows in batches (repeat until it updates 0 rows):\n"
        + sql_block([backfill(op.target, spec.name, "<value>", f"{c} IS NULL")]),
        "Then add NOT NULL without a long lock:\n"
        + sql_block(not_null_via_check(op.target, spec.name, ctx.pg_version)),
    ]
    shortcut = ""
    if ctx.pg_version >= 11:
        shortcut = (
            "\nIf one constant value suits old rows and old INSERTs, a single step is enough instead "
            "(no rewrite on PostgreSQL 11+):\n"
            + sql_block([f"ALTER TABLE {t} ADD COLUMN {c} {spec.type} NOT NULL DEFAULT <value>;"])
        )
    yield Hit(
        op,
        f"Adding NOT NULL column {c} to {t} without a DEFAULT breaks the app version still serving: "
        f"its INSERTs do not name {c} and fail with a not-null violation. If {t} already has rows, "
        "the ALTER itself fails.",
        steps(*items) + shortcut,
    )


def _not_valid_check(ctx: OpContext, table: Name, column: str) -> str | None:
    found = ctx.table(table)
    if found is None:
        return None
    for con in found.constraints.values():
        if con.not_null_column == column and not con.validated:
            return con.name
    return None


def _set_not_null_hit(op: ops.Operation, ctx: OpContext, table: Name, column: str) -> Iterator[Hit]:
    if ctx.is_new_table(table):
        return
    found = ctx.table(table)
    col = known_column(ctx, table, column)
    if col is not None and not col.nullable:
        return  # already NOT NULL: nothing is checked, nothing changes
    checked = found is not None and found.has_validated_not_null_check(column)
    if checked and ctx.pg_version >= 12:
        return  # PostgreSQL 12+ trusts the valid CHECK and skips the scan
    t, c = table.sql(), q(column)
    if checked:
        yield Hit(
            op,
            f"SET NOT NULL on {t}.{c} scans every row of {t} under an ACCESS EXCLUSIVE lock that "
            f"blocks all reads and writes: before PostgreSQL 12 the valid CHECK ({c} IS NOT NULL) "
            "does not spare the scan.",
            steps(
                f"On PostgreSQL {ctx.pg_version}, keep the valid CHECK constraint as the guarantee and skip "
                "SET NOT NULL, or run it in a quiet window with a short lock_timeout:\n"
                + sql_block(["SET lock_timeout = '5s';", f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;"]),
            ),
            severity=Severity.WARNING,
        )
        return
    pending = _not_valid_check(ctx, table, column)
    then = (
        ", then SET NOT NULL, which trusts the check and skips the scan:"
        if ctx.pg_version >= 12
        else "; before PostgreSQL 12 keep the CHECK as the guarantee:"
    )
    yield Hit(
        op,
        f"SET NOT NULL on {t}.{c} breaks the app version still serving wherever it writes NULL to {c} "
        f"(those INSERTs and UPDATEs start failing), and it holds an ACCESS EXCLUSIVE lock on {t} "
        "while it scans every row, blocking all reads and writes for the whole scan.",
        steps(
            f"Release code that never writes NULL to {c}; switch traffic and retire the old version.",
            "Backfill remaining NULLs in batches (repeat until it updates 0 rows):\n"
            + sql_block([backfill(table, column, "<value>", f"{c} IS NULL")]),
            "Add the guarantee without a long lock: "
            + ("VALIDATE the existing NOT VALID check" if pending else "add a NOT VALID CHECK, VALIDATE it")
            + " (scans under SHARE UPDATE EXCLUSIVE: reads and writes continue)"
            + then
            + "\n"
            + sql_block(not_null_via_check(table, column, ctx.pg_version, pending)),
        ),
    )


@op_rule("set-not-null", ops.SetNotNull, ops.AddConstraint)
def set_not_null(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """SET NOT NULL breaks old writers of NULL and scans the table under ACCESS EXCLUSIVE."""
    if isinstance(op, ops.SetNotNull):
        yield from _set_not_null_hit(op, ctx, op.target, op.column)
    elif isinstance(op, ops.AddConstraint):
        con = op.constraint
        if con.kind == "not_null" and not con.not_valid:
            # PostgreSQL 18: ADD CONSTRAINT name NOT NULL col is SET NOT NULL by another name.
            for column in con.columns:
                yield from _set_not_null_hit(op, ctx, op.target, column)


@op_rule("drop-not-null", ops.DropNotNull)
def drop_not_null(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Once NULLs can be written, the old version (the rollback target) reads values it never expected."""
    assert isinstance(op, ops.DropNotNull)
    if ctx.is_new_table(op.target) or added_in_migration(ctx.earlier, op.target, op.column):
        return
    col = known_column(ctx, op.target, op.column)
    if col is not None and col.nullable:
        return  # already nullable: a no-op
    t, c = op.target.sql(), q(op.column)
    yield Hit(
        op,
        f"DROP NOT NULL on {t}.{c} lets the new version store NULL in {c}; the old version still "
        f"serving (and the rollback target) assumes {c} is never NULL and can fail or misbehave on "
        "those rows.",
        steps(
            f"Make sure the old version tolerates NULL in {c}, or keep the new version from writing "
            "NULL until the old one is retired.",
            "Then drop the constraint (a brief ACCESS EXCLUSIVE lock, no scan):\n"
            + sql_block([f"ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL;"]),
        ),
    )


@op_rule("drop-default", ops.DropDefault)
def drop_default(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Old INSERTs that leave the column out relied on the default."""
    assert isinstance(op, ops.DropDefault)
    if ctx.is_new_table(op.target):
        return
    col = known_column(ctx, op.target, op.column)
    serial = col is not None and (col.default or "").startswith("nextval(")
    not_null = col is not None and not col.nullable
    if added_in_migration(ctx.earlier, op.target, op.column) and not not_null:
        return  # no running code knows the column, and NULL is allowed
    if col is not None and col.default is None and not col.identity:
        return  # no default to drop: a no-op
    t, c = op.target.sql(), q(op.column)
    fix = steps(
        f"Keep the default while any running version inserts rows without {c}.",
        f"Release code that always sets {c}; switch traffic and retire the old version.",
        "Then, in a contract migration:\n" + sql_block([f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT;"]),
    )
    if not_null or serial:
        relied = "the next sequence value" if serial else "the default"
        outcome = "fail with a not-null violation" if not_null else "store NULL ids"
        yield Hit(
            op,
            f"Dropping the default of {'NOT NULL ' if not_null else ''}column {t}.{c} breaks the app "
            f"version still serving: its INSERTs leave {c} out and relied on {relied}; they now {outcome}.",
            fix,
            severity=Severity.ERROR,
        )
    elif col is not None:
        yield Hit(
            op,
            f"Dropping the default of {t}.{c}: the old version's INSERTs that leave {c} out now store "
            "NULL instead of the default value.",
            fix,
            severity=Severity.WARNING,
        )
    else:
        yield Hit(
            op,
            f"Dropping the default of {t}.{c} (column not seen in earlier migrations): the old version's "
            f"INSERTs that leave {c} out now store NULL, or fail outright if {c} is NOT NULL.",
            fix,
            severity=Severity.WARNING,
        )
