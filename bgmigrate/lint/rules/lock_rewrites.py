"""Statements that rewrite or block a whole existing table: table-rewrite, blocking-statement."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bgmigrate.lint.findings import Severity
from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.lock_data import (
    LOCK_TIMEOUT,
    batched_loop,
    indent_sql,
    key_column,
    outside_transaction_advice,
    range_condition,
)
from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, BLOCKS
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.quote import dollar_quote, quote_literal

_SERIAL_SPELLINGS = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}


def is_serial(column: ops.ColumnSpec) -> bool:
    """serial / bigserial / smallserial in any spelling (serial8 included)."""
    return column.serial or column.type in _SERIAL_SPELLINGS


def _generation_expression(column: ops.ColumnSpec) -> str:
    match = re.search(r"\bGENERATED\s+ALWAYS\s+AS\s*\((.*)\)\s*STORED\b", column.sql, re.IGNORECASE | re.DOTALL)
    return match.group(1).strip() if match else "<the generation expression>"


_EXPRESSION_TOKENS = re.compile(
    r"(?P<string>'(?:[^']|'')*')|(?P<cast>::\s*[A-Za-z_][\w$]*)|(?P<quoted>\"(?:[^\"]|\"\")+\")"
    r"|(?P<word>[A-Za-z_][\w$]*)(?P<call>\s*\()?|(?P<dot>\.)"
)
_EXPRESSION_WORDS = frozenset(
    " ".join(
        (
            "and or not is null true false case when then else end in like ilike similar between distinct",
            "from any all some array row cast as interval date time timestamp at zone collate escape",
        )
    ).split()
)


def with_row_references(expression: str) -> str:
    """The expression with its column references read from ``NEW``, for a row trigger.

    >>> with_row_references('price * qty + coalesce("Tax", 0)::numeric')
    'NEW.price * NEW.qty + coalesce(NEW."Tax", 0)::numeric'
    >>> with_row_references("lower(email) || 'a b'")
    "lower(NEW.email) || 'a b'"
    """
    out: list[str] = []
    pos = 0
    after_dot = False
    for match in _EXPRESSION_TOKENS.finditer(expression):
        out.append(expression[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        kind = match.lastgroup
        is_word = match.group("word") is not None
        if match.group("quoted") is not None or (
            is_word and not match.group("call") and match.group("word").lower() not in _EXPRESSION_WORDS
        ):
            token = token if after_dot else f"NEW.{token}"
        after_dot = kind == "dot"
        out.append(token)
    out.append(expression[pos:])
    return "".join(out)


def rewrite_reason(op: ops.AddColumn, pg_version: int) -> str | None:
    """Why adding this column rewrites the table, or None when it does not."""
    col = op.column
    if is_serial(col):
        return "a serial column fills every existing row from its sequence"
    if col.identity:
        return "an identity column fills every existing row from its sequence"
    if col.generated_stored:
        return "a STORED generated column is computed and written for every existing row"
    if col.default_volatile:
        return f"the volatile default {col.default} is evaluated and written for every existing row"
    if pg_version < 11 and col.default and col.default.strip().upper() != "NULL":
        return f"before PostgreSQL 11 any default ({col.default}) is written into every existing row"
    return None


def _nextval(table: Name, column: str) -> tuple[Name, str]:
    seq = Name(f"{table.name}_{column}_seq", table.schema)
    return seq, f"nextval({quote_literal(seq.sql())})"


def _not_null_tail(table: Name, column: str) -> str:
    t, c = table.sql(), quote_ident(column)
    check = quote_ident(f"{table.name}_{column}_not_null")
    return indent_sql(
        f"ALTER TABLE {t} ADD CONSTRAINT {check} CHECK ({c} IS NOT NULL) NOT VALID;\n"
        f"ALTER TABLE {t} VALIDATE CONSTRAINT {check};\n"
        f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL;\n"
        f"ALTER TABLE {t} DROP CONSTRAINT {check};"
    )


def _add_column_recipe(op: ops.AddColumn, ctx: OpContext) -> str:
    col = op.column
    t, c = op.target.sql(), quote_ident(col.name)
    key = key_column(ctx, op.target)
    key_note = "" if key else " (id stands for the table's integer primary key: use yours)"
    key = key or "id"
    base_type = {
        "serial": "integer",
        "serial4": "integer",
        "smallserial": "smallint",
        "serial2": "smallint",
    }.get(col.type, "bigint" if is_serial(col) or col.identity else col.type)
    steps: list[str] = []
    if is_serial(col) or col.identity:
        seq, value = _nextval(op.target, col.name)
        steps.append(
            "Add the column empty, give it a sequence, and let new rows draw from it:\n"
            + indent_sql(
                f"ALTER TABLE {t} ADD COLUMN {c} {base_type};\n"
                f"CREATE SEQUENCE {seq.sql()} OWNED BY {t}.{c};\n"
                f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {value};"
            )
        )
    elif col.generated_stored:
        expression = _generation_expression(col)
        func = Name(f"{op.target.name}_{col.name}_compute", op.target.schema)
        trigger = quote_ident(f"{op.target.name}_{col.name}_compute")
        execute = "FUNCTION" if ctx.pg_version >= 11 else "PROCEDURE"
        body = f"\nBEGIN\n    NEW.{c} := ({with_row_references(expression)});\n    RETURN NEW;\nEND "
        steps.append(
            "Add a plain column and compute it for new and changed rows with a trigger:\n"
            + indent_sql(
                f"ALTER TABLE {t} ADD COLUMN {c} {col.type};\n"
                f"CREATE FUNCTION {func.sql()}() RETURNS trigger LANGUAGE plpgsql AS {dollar_quote(body, '')};\n"
                f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {t}\n"
                f"    FOR EACH ROW EXECUTE {execute} {func.sql()}();"
            )
            + (
                "\n   On PostgreSQL 18+ a VIRTUAL generated column needs no rewrite at all."
                if ctx.pg_version < 18
                else "\n   Or, on PostgreSQL 18+, declare it VIRTUAL instead of STORED: no rewrite at all."
            )
        )
        value = expression
    else:
        value = col.default or "NULL"
        steps.append(
            "Add the column without a default, then set the default for new rows only:\n"
            + indent_sql(
                f"ALTER TABLE {t} ADD COLUMN {c} {col.type};\nALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {value};"
            )
        )
    update = f"UPDATE {t} SET {c} = {value} WHERE {range_condition(key)} AND {c} IS NULL"
    steps.append(
        f"Fill the existing rows in batches, each its own short transaction{key_note}:\n"
        + indent_sql(batched_loop(op.target, key, update, ctx.pg_version))
    )
    if not col.nullable or col.primary_key or is_serial(col) or col.identity:
        steps.append("Then make it NOT NULL without a long lock:\n" + _not_null_tail(op.target, col.name))
    return "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


_SET_FORMS = {
    "tablespace": (
        "SET TABLESPACE copies every file of {t} to the new tablespace.",
        "Move it out of band with pg_repack (--tablespace), or in a maintenance window.",
    ),
    "logged": (
        "SET LOGGED rewrites {t} and writes all of it to the WAL.",
        "Create a new logged table, copy rows in batches while a trigger keeps it in sync, then switch "
        "to it; or run this in a maintenance window.",
    ),
    "unlogged": (
        "SET UNLOGGED rewrites {t}; afterwards its rows are not replicated and are emptied after a crash.",
        "Keep serving tables logged: replicas (and a rollback to them) would see an empty table.",
    ),
    "access method": (
        "SET ACCESS METHOD rewrites every row of {t}.",
        "Create a new table with the access method, copy rows in batches while a trigger keeps it "
        "in sync, then switch to it; or run this in a maintenance window.",
    ),
}


@op_rule("table-rewrite", ops.AddColumn, ops.VacuumFull, ops.Cluster, ops.AlterTableSet)
def table_rewrite(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Operations that copy every row of an existing table while holding ACCESS EXCLUSIVE."""
    if isinstance(op, ops.AddColumn):
        reason = rewrite_reason(op, ctx.pg_version)
        if reason is None or not ctx.is_existing_table(op.target):
            return
        yield Hit(
            op,
            f"Adding column {op.column.name} to {op.target} rewrites the whole table under an "
            f"ACCESS EXCLUSIVE lock: {reason}. Every read and write on {op.target} waits until the copy "
            "is done.",
            _add_column_recipe(op, ctx),
        )
    elif isinstance(op, ops.VacuumFull | ops.Cluster):
        if op.target is not None and ctx.is_new_table(op.target):
            return
        verb = "VACUUM FULL" if isinstance(op, ops.VacuumFull) else "CLUSTER"
        what = (
            str(op.target)
            if op.target
            else ("every table in the database" if verb == "VACUUM FULL" else "every table clustered before")
        )
        alternative = (
            "Use plain VACUUM, which frees space for reuse without a lock that blocks traffic"
            if verb == "VACUUM FULL"
            else "Drop the CLUSTER: PostgreSQL does not keep the order anyway, and an index serves ordered reads"
        )
        fails = (
            f" It also cannot run inside a transaction block. {outside_transaction_advice(ctx)}"
            if ctx.in_transaction and verb == "VACUUM FULL"
            else ""
        )
        yield Hit(
            op,
            f"{verb} rewrites {what} into new files under ACCESS EXCLUSIVE: every read and write "
            "waits for the "
            f"whole copy, which also needs free disk space the size of the table.{fails}",
            f"1. Take it out of the deploy-time migration. {alternative}.\n"
            "2. To reclaim space or reorder rows online, run pg_repack (or pg_squeeze) outside "
            "the deployment.",
        )
    elif isinstance(op, ops.AlterTableSet):
        form = _SET_FORMS.get(op.what)
        if form is None or not ctx.is_existing_table(op.target):
            return
        text, advice = form
        yield Hit(
            op,
            f"ALTER TABLE … {text.format(t=op.target)} It holds ACCESS EXCLUSIVE for the whole "
            f"rewrite: every read and write on {op.target} waits.",
            f"1. Take it out of the deploy-time migration. {advice}",
        )


# ---- blocking-statement ------------------------------------------------------------------------

_BLOCKING_MODES = ("SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", ACCESS_EXCLUSIVE)


@op_rule("blocking-statement", ops.LockTable, ops.RefreshMaterializedView, ops.DetachPartition)
def blocking_statement(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """Statements whose only purpose or effect is a long, traffic-blocking lock."""
    if isinstance(op, ops.LockTable):
        mode = op.mode.upper()
        if mode not in _BLOCKING_MODES or not ctx.is_existing_table(op.target):
            return
        blocks = BLOCKS.get(mode, "blocks all writes")
        yield Hit(
            op,
            f"LOCK TABLE {op.target} IN {mode} MODE {blocks} on {op.target} until the transaction ends, and "
            "while it waits for running queries everything else queues behind it.",
            "1. Remove the explicit lock: each DDL statement takes the lock it needs by itself.\n"
            "2. If you must serialise with other writers, keep the transaction to milliseconds and bound the "
            "wait:\n"
            + indent_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}';\nLOCK TABLE {op.target.sql()} IN {mode} MODE;"),
        )
    elif isinstance(op, ops.RefreshMaterializedView):
        if op.concurrently or ctx.created_here("materialized view", op.view):
            return
        v = op.view.sql()
        index = quote_ident(f"{op.view.name}_refresh_key")
        yield Hit(
            op,
            f"REFRESH MATERIALIZED VIEW {op.view} holds ACCESS EXCLUSIVE on it for the whole refresh: every "
            "query reading the view waits until the new contents are ready.",
            "1. Give the view a unique index over a key that identifies its rows (once, outside "
            "any transaction "
            "block):\n"
            + indent_sql(f"CREATE UNIQUE INDEX CONCURRENTLY {index} ON {v} (<key columns>);")
            + "\n2. Refresh it concurrently: readers keep the old contents until it finishes:\n"
            + indent_sql(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {v};"),
            severity=Severity.WARNING,
        )
    elif isinstance(op, ops.DetachPartition):
        if op.concurrently or not ctx.is_existing_table(op.target):
            return
        message = (
            f"DETACH PARTITION {op.partition} takes ACCESS EXCLUSIVE on {op.target}: every read and write on "
            f"the whole partitioned table waits for it, and queues behind any long query already running."
        )
        if ctx.pg_version < 14:
            yield Hit(
                op,
                message + f" PostgreSQL {ctx.pg_version} has no concurrent form (it arrived in 14).",
                "1. Run it at a quiet time with a short lock timeout, and retry if it times out:\n"
                + indent_sql(
                    f"SET lock_timeout = '{LOCK_TIMEOUT}';\nALTER TABLE {op.target.sql()} DETACH PARTITION {op.partition.sql()};"
                )
                + "\n2. On PostgreSQL 14+ use DETACH PARTITION … CONCURRENTLY instead.",
                severity=Severity.WARNING,
            )
            return
        fix = (
            "1. Detach it concurrently (PostgreSQL 14+; not in a transaction block, and not when "
            "the table has a "
            "DEFAULT partition):\n"
            + indent_sql(f"ALTER TABLE {op.target.sql()} DETACH PARTITION {op.partition.sql()} CONCURRENTLY;")
            + "\n2. If it is interrupted, finish it with:\n"
            + indent_sql(f"ALTER TABLE {op.target.sql()} DETACH PARTITION {op.partition.sql()} FINALIZE;")
        )
        if ctx.in_transaction:
            fix += "\n   " + outside_transaction_advice(ctx)
        yield Hit(op, message, fix)
