"""Constraints that scan or index an existing table under a strong lock:
validating-constraint, unique-without-index, exclusion-constraint.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.lock_data import LOCK_TIMEOUT, indent_sql, outside_transaction_advice
from bgmigrate.model import operations as ops
from bgmigrate.sql.implicit_names import constraint_name as implicit_constraint_name
from bgmigrate.sql.names import Name, quote_ident

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*)'
_REFERENCES = re.compile(
    rf"\bREFERENCES\s+{_IDENT}(?:\s*\.\s*{_IDENT})*(?:\s*\([^)]*\))?"
    r"(?:\s+MATCH\s+\w+|\s+ON\s+(?:DELETE|UPDATE)\s+(?:SET\s+NULL|SET\s+DEFAULT|NO\s+ACTION|CASCADE|RESTRICT)"
    r"(?:\s*\([^)]*\))?)*",
    re.IGNORECASE,
)
_WORDS = frozenset(
    " ".join(("and or not is null true false in like ilike between", "any all some case when then else end")).split()
)


def references_clause(column: ops.ColumnSpec) -> str:
    """The column's inline REFERENCES clause as written.

    >>> references_clause(ops.ColumnSpec("c", "bigint", references=Name("customers"),
    ...     sql="c bigint REFERENCES shop.customers (id) ON DELETE CASCADE NOT NULL"))
    'REFERENCES shop.customers (id) ON DELETE CASCADE'
    """
    match = _REFERENCES.search(column.sql)
    if match:
        return match.group(0)
    return f"REFERENCES {column.references.sql()}" if column.references else ""


def plain_column_sql(column: ops.ColumnSpec) -> str:
    """The column definition without its inline constraints (REFERENCES, CHECK, UNIQUE, PRIMARY KEY).

    >>> plain_column_sql(ops.ColumnSpec("Total", "numeric(10,2)", nullable=False, default="0"))
    '"Total" numeric(10,2) DEFAULT 0 NOT NULL'
    """
    parts = [quote_ident(column.name), column.type]
    if column.default and column.default.strip().upper() != "NULL":
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable and not column.primary_key:
        parts.append("NOT NULL")
    return " ".join(parts)


def _check_column(expression: str) -> tuple[str, ...]:
    """The first column an unnamed CHECK mentions: PostgreSQL names the constraint after it.

    >>> _check_column("char_length(code) > 0 AND amount IS NOT NULL"), _check_column("now() > '2020-01-01'")
    (('code',), ())
    """
    for match in re.finditer(r'"((?:[^"]|"")+)"|([A-Za-z_][\w$]*)(\s*\()?', expression):
        quoted, word, call = match.groups()
        if quoted:
            return (quoted,)
        if word and not call and word.lower() not in _WORDS:
            return (word.lower(),)
    return ()


def constraint_name(table: Name, spec: ops.ConstraintSpec) -> str:
    """The constraint's name, or the one PostgreSQL would choose for it (cut to 63 bytes as it cuts)."""
    if spec.name:
        return spec.name
    columns = _check_column(spec.expression or "") if spec.kind == "check" else spec.columns
    return implicit_constraint_name(table.name, spec.kind, columns)


def _named_sql(table: Name, spec: ops.ConstraintSpec) -> tuple[str, str]:
    """(name, definition starting with CONSTRAINT name), without any NOT VALID."""
    name = constraint_name(table, spec)
    sql = re.sub(r"\s+NOT\s+VALID\s*$", "", spec.sql.strip(), flags=re.IGNORECASE)
    if not re.match(r"CONSTRAINT\b", sql, re.IGNORECASE):
        sql = f"CONSTRAINT {quote_ident(name)} {sql}"
    return name, sql


def _not_valid_then_validate(table: Name, constraints: list[tuple[str, str]], first_step: int = 1) -> str:
    t = table.sql()
    add = "\n".join(f"ALTER TABLE {t} ADD {sql} NOT VALID;" for _, sql in constraints)
    validate = "\n".join(f"ALTER TABLE {t} VALIDATE CONSTRAINT {quote_ident(n)};" for n, _ in constraints)
    return (
        f"{first_step}. Add it NOT VALID: a brief lock, no scan; rows written from now on are checked:\n"
        + indent_sql(add)
        + f"\n{first_step + 1}. In a separate transaction (or a later migration), check the existing rows. "
        "VALIDATE takes only SHARE UPDATE EXCLUSIVE, so reads and writes continue while it scans:\n"
        + indent_sql(validate)
    )


# ---- validating-constraint -------------------------------------------------------------------


@op_rule("validating-constraint", ops.AddConstraint, ops.AddColumn, ops.AlterDomainAddConstraint)
def validating_constraint(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """FOREIGN KEY / CHECK added without NOT VALID scans an existing table under a strong lock."""
    if isinstance(op, ops.AlterDomainAddConstraint):
        yield from _domain(op)
        return
    if isinstance(op, ops.AddColumn):
        yield from _inline(op, ctx)
        return
    assert isinstance(op, ops.AddConstraint)
    spec = op.constraint
    if spec.kind not in ("foreign_key", "check") or spec.not_valid or not ctx.is_existing_table(op.target):
        return
    name, sql = _named_sql(op.target, spec)
    if spec.kind == "foreign_key":
        ref = spec.references
        message = (
            f"Adding foreign key {name} on {op.target} checks every existing row while it holds SHARE ROW "
            f"EXCLUSIVE locks on both {op.target} and {ref}: all writes to both tables wait until the "
            "scan finishes."
        )
    else:
        message = (
            f"Adding CHECK constraint {name} on {op.target} scans every existing row while it holds an "
            f"ACCESS EXCLUSIVE lock: every read and write on {op.target} waits until the scan finishes."
        )
    yield Hit(op, message, _not_valid_then_validate(op.target, [(name, sql)]))


def _domain(op: ops.AlterDomainAddConstraint) -> Iterator[Hit]:
    """ALTER DOMAIN … ADD CONSTRAINT (or SET NOT NULL) checks every column of that domain, in every table."""
    spec = op.constraint
    if spec.not_valid or spec.kind not in ("check", "not_null"):
        return
    domain = op.domain.sql()
    if spec.kind == "not_null":
        yield Hit(
            op,
            f"ALTER DOMAIN {domain} SET NOT NULL checks every column of type {domain} in every table, "
            "holding a SHARE lock on each table while it scans: all writes to those tables wait.",
            "1. Add the rule without checking existing rows, then validate it separately:\n"
            + indent_sql(
                f"ALTER DOMAIN {domain} ADD CONSTRAINT {quote_ident(op.domain.name + '_not_null')} "
                "CHECK (VALUE IS NOT NULL) NOT VALID;\n"
                f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {quote_ident(op.domain.name + '_not_null')};"
            ),
        )
        return
    name = spec.name or f"{op.domain.name}_check"
    yield Hit(
        op,
        f"ALTER DOMAIN {domain} ADD CONSTRAINT {quote_ident(name)} checks every existing value of every "
        f"column of type {domain}, holding a SHARE lock on each such table while it scans: all writes "
        "to those tables wait until it finishes.",
        "1. Add it with NOT VALID (new values are checked at once, existing ones are not):\n"
        + indent_sql(f"ALTER DOMAIN {domain} ADD {_with_not_valid(spec.sql)};")
        + "\n2. Then check the existing values in a separate step:\n"
        + indent_sql(f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {quote_ident(name)};"),
    )


def _with_not_valid(sql: str) -> str:
    return sql.rstrip().rstrip(";") + " NOT VALID"


def _inline(op: ops.AddColumn, ctx: OpContext) -> Iterator[Hit]:
    col = op.column
    if not (col.references or col.check) or not ctx.is_existing_table(op.target):
        return
    constraints: list[tuple[str, str]] = []
    what: list[str] = []
    if col.references:
        name = f"{op.target.name}_{col.name}_fkey"
        constraints.append(
            (
                name,
                f"CONSTRAINT {quote_ident(name)} FOREIGN KEY ({quote_ident(col.name)}) {references_clause(col)}",
            )
        )
        what.append(
            f"its REFERENCES {col.references} check scans {op.target} while {col.references} is locked "
            "SHARE ROW EXCLUSIVE (writes to it wait)"
        )
    if col.check:
        name = f"{op.target.name}_{col.name}_check"
        constraints.append((name, f"CONSTRAINT {quote_ident(name)} CHECK ({col.check})"))
        what.append("its CHECK is tested against every existing row")
    yield Hit(
        op,
        f"Adding column {col.name} to {op.target} with an inline constraint holds ACCESS EXCLUSIVE on "
        f"{op.target} for a full scan: {'; '.join(what)}. Every read and write on {op.target} "
        "waits meanwhile.",
        "1. Add the column without the inline constraint:\n"
        + indent_sql(f"ALTER TABLE {op.target.sql()} ADD COLUMN {plain_column_sql(col)};")
        + "\n"
        + _not_valid_then_validate(op.target, constraints, first_step=2),
    )


# ---- unique-without-index --------------------------------------------------------------------


def _nullable_key_columns(ctx: OpContext, table: Name, columns: tuple[str, ...]) -> list[str]:
    """Key columns not known to be NOT NULL (for a table never seen: all of them)."""
    found = ctx.table(table)
    result = []
    for col in columns:
        known = found.columns.get(col) if found else None
        if known is None or known.nullable:
            result.append(col)
    return result


def _not_null_steps(table: Name, columns: list[str]) -> str:
    t = table.sql()
    lines = []
    for col in columns:
        check = quote_ident(f"{table.name}_{col}_not_null")
        c = quote_ident(col)
        lines.append(
            f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n"
            f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};\n"
            f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;  -- PostgreSQL 12+ uses the CHECK: no scan\n"
            f"ALTER TABLE {t} DROP CONSTRAINT {check};"
        )
    return "\n".join(lines)


def _unique_recipe(
    ctx: OpContext, table: Name, kind: str, name: str, columns: tuple[str, ...], nulls_not_distinct: bool
) -> str:
    t = table.sql()
    cols = ", ".join(quote_ident(c) for c in columns) or "<columns>"
    nnd = " NULLS NOT DISTINCT" if nulls_not_distinct else ""
    keyword = "PRIMARY KEY" if kind == "primary_key" else "UNIQUE"
    steps = [
        "Build the unique index without blocking writes, outside any transaction block:\n"
        + indent_sql(f"CREATE UNIQUE INDEX CONCURRENTLY {quote_ident(name)} ON {t} ({cols}){nnd};")
        + (f"\n   {outside_transaction_advice(ctx)}" if ctx.in_transaction else "")
    ]
    if kind == "primary_key":
        nullable = _nullable_key_columns(ctx, table, columns)
        if nullable:
            steps.append(
                "A primary key needs NOT NULL columns, and setting NOT NULL would scan the table under the "
                "lock; prove it first without blocking:\n" + indent_sql(_not_null_steps(table, nullable))
            )
    steps.append(
        "Turn the index into the constraint (a brief ACCESS EXCLUSIVE lock, no build, no scan):\n"
        + indent_sql(f"ALTER TABLE {t} ADD CONSTRAINT {quote_ident(name)} {keyword} USING INDEX {quote_ident(name)};")
    )
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


@op_rule("unique-without-index", ops.AddConstraint, ops.AddColumn)
def unique_without_index(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """ADD UNIQUE / PRIMARY KEY builds its index under ACCESS EXCLUSIVE on an existing table."""
    if not ctx.is_existing_table(getattr(op, "target", None)):
        return
    if isinstance(op, ops.AddColumn):
        col = op.column
        if not (col.unique or col.primary_key):
            return
        kind = "primary_key" if col.primary_key else "unique"
        name = f"{op.target.name}_pkey" if col.primary_key else f"{op.target.name}_{col.name}_key"
        recipe = _unique_recipe(ctx, op.target, kind, name, (col.name,), "NULLS NOT DISTINCT" in col.sql.upper())
        label = "PRIMARY KEY" if col.primary_key else "UNIQUE"
        yield Hit(
            op,
            f"Adding column {col.name} to {op.target} as {label} builds its unique index while "
            "holding ACCESS "
            f"EXCLUSIVE on {op.target}: every read and write waits for the whole build.",
            "1. Add the column without the inline constraint (and fill it, if it needs values):\n"
            + indent_sql(f"ALTER TABLE {op.target.sql()} ADD COLUMN {plain_column_sql(col)};")
            + "\n"
            + _renumber(recipe, 1),
        )
        return
    assert isinstance(op, ops.AddConstraint)
    spec = op.constraint
    if spec.kind not in ("unique", "primary_key") or spec.using_index:
        return
    name = constraint_name(op.target, spec)
    label = "PRIMARY KEY" if spec.kind == "primary_key" else "UNIQUE"
    yield Hit(
        op,
        f"Adding {label} constraint {name} on {op.target} builds its unique index while holding ACCESS "
        f"EXCLUSIVE on {op.target}: every read and write waits for the whole build.",
        _unique_recipe(ctx, op.target, spec.kind, name, spec.columns, "NULLS NOT DISTINCT" in spec.sql.upper()),
    )


def _renumber(recipe: str, offset: int) -> str:
    return re.sub(r"(?m)^(\d+)\. ", lambda m: f"{int(m.group(1)) + offset}. ", recipe)


# ---- exclusion-constraint --------------------------------------------------------------------


@op_rule("exclusion-constraint", ops.AddConstraint)
def exclusion_constraint(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """ADD EXCLUDE builds and checks under ACCESS EXCLUSIVE, with no online alternative."""
    assert isinstance(op, ops.AddConstraint)
    spec = op.constraint
    if spec.kind != "exclude" or not ctx.is_existing_table(op.target):
        return
    name = constraint_name(op.target, spec)
    not_valid = (
        " NOT VALID is not accepted for exclusion constraints, so this statement fails as written."
        if spec.not_valid or re.search(r"\bNOT\s+VALID\s*$", spec.sql, re.IGNORECASE)
        else ""
    )
    yield Hit(
        op,
        f"Adding exclusion constraint {name} on {op.target} builds its index and checks every row while "
        f"holding ACCESS EXCLUSIVE on {op.target}: every read and write waits for the whole build. "
        "PostgreSQL has no online form: exclusion constraints cannot be added NOT VALID, nor attached to an "
        f"index built CONCURRENTLY.{not_valid}",
        "1. Find conflicting rows before taking the lock (a self-join using the constraint's operators), so "
        "the build cannot fail after blocking traffic.\n"
        "2. Run it in a low-traffic window with a short lock timeout, so waiting for the lock cannot stall "
        "traffic:\n"
        + indent_sql(
            f"SET lock_timeout = '{LOCK_TIMEOUT}';\nALTER TABLE {op.target.sql()} ADD {_named_sql(op.target, spec)[1]};"
        )
        + f"\n3. If {op.target} is too large to lock for the build: create a new table with the constraint, "
        "copy rows in batches while a trigger keeps it in sync, then switch to it (expand / contract).",
    )
