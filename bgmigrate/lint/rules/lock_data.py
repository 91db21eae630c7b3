"""Data changes that hold row locks too long (unbatched-data-change), and the small helpers the
locking family shares: statement snippets, the table's key column, batched-loop recipes and the
advice for statements that must run outside a transaction block.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator

from bgmigrate.durations import DEFAULT_LOCK_TIMEOUT, pg_interval
from bgmigrate.lint.rules.api import Hit, OpContext, op_rule
from bgmigrate.lint.rules.history import earlier_has
from bgmigrate.model import operations as ops
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.quote import dollar_quote
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.where import is_targeted

BATCH_SIZE = 10_000
# The one default (bgmigrate.durations): what apply and the phase files use, so every recipe agrees.
LOCK_TIMEOUT = pg_interval(DEFAULT_LOCK_TIMEOUT)


# ---- shared helpers ------------------------------------------------------------------------


def snippet(stmt: Statement, width: int = 60) -> str:
    """The statement's text on one line, shortened for a message.

    >>> snippet(Statement("CREATE INDEX i\\n  ON t (a)", 1, 1, 2, 9))
    'CREATE INDEX i ON t (a)'
    >>> snippet(Statement("UPDATE orders SET status = 'shipped' WHERE shipped_at IS NOT NULL", 1, 1, 1, 1))
    "UPDATE orders SET status = 'shipped' WHERE shipped_at IS NO…"
    """
    text = " ".join(stmt.text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def shown(name: Name) -> Name:
    """The name as users usually write it: the default schema left out.

    >>> str(shown(Name("orders", "public"))), str(shown(Name("orders", "shop")))
    ('orders', 'shop.orders')
    """
    return Name(name.name) if name.schema == "public" else name


def indent_sql(sql: str, prefix: str = "   ") -> str:
    """Indent every line of a SQL block under a numbered step."""
    return textwrap.indent(sql, prefix)


def key_column(ctx: OpContext, table: Name) -> str | None:
    """The table's single-column primary key, when the replayed schema knows it."""
    found = ctx.table(table)
    if found is None:
        return None
    for con in found.constraints.values():
        if con.kind == "primary_key" and len(con.columns) == 1:
            return con.columns[0]
    return None


def unique_keys(ctx: OpContext, table: Name) -> list[tuple[str, ...]]:
    """The table's primary key and unique constraints and indexes, as column tuples.

    A table the schema has never seen has unknown keys: its ``id`` column is taken as the key,
    the convention nearly every project follows.
    """
    found = ctx.table(table)
    if found is None or not (found.live or found.created_by or found.constraints):
        return [("id",)]
    keys = [c.columns for c in found.constraints.values() if c.kind in ("primary_key", "unique") and c.columns]
    keys.extend(i.columns for i in ctx.schema.indexes_on(table) if i.unique and not i.partial and not i.expression)
    return keys


def _known_small(ctx: OpContext, table: Name) -> bool:
    """Whether a live database or snapshot says the table is under the small-table threshold."""
    found = ctx.table(table)
    if found is None or found.rows_estimate is None:
        return False
    if found.rows_estimate == 0 and not found.size_bytes:
        return False  # a partitioned table reports no rows of its own: its partitions hold them
    return found.rows_estimate < ctx.settings.small_table_rows


def outside_transaction_advice(ctx: OpContext) -> str:
    """How to run a statement outside a transaction block, for this migration's front-end."""
    if ctx.migration.kind == "alembic":
        return (
            "Alembic runs upgrade() in a transaction: put this operation inside "
            "`with op.get_context().autocommit_block():`."
        )
    if earlier_has(ctx.earlier, "begin"):
        return "This file opened a transaction with BEGIN: move the statement after its COMMIT."
    return (
        "The migration runner wraps this file in a transaction: move the statement to a file the "
        "runner executes without one."
    )


def _top_level_keyword(text: str, keyword: str) -> int:
    """Offset of ``keyword`` outside parentheses, quotes and dollar quotes, or -1.

    >>> _top_level_keyword("UPDATE t SET a = (SELECT b FROM u WHERE x) WHERE c", "WHERE")
    43
    >>> _top_level_keyword("DELETE FROM t WHERE note = 'a where b'", "RETURNING")
    -1
    """
    depth = 0
    i = 0
    pattern = re.compile(rf"\b{keyword}\b", re.IGNORECASE)
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < len(text) and text[end + 1] == ch:
                end = text.find(ch, end + 2)
            i = len(text) if end == -1 else end + 1
            continue
        if ch == "$":
            tag = re.match(r"\$(?:[A-Za-z_]\w*)?\$", text[i:])
            if tag:
                end = text.find(tag.group(0), i + len(tag.group(0)))
                i = len(text) if end == -1 else end + len(tag.group(0))
                continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and pattern.match(text, i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            return i
        i += 1
    return -1


def with_key_range(text: str, range_condition: str) -> str:
    """The user's UPDATE/DELETE with a key range added to its WHERE (RETURNING dropped).

    >>> with_key_range("UPDATE t SET a = 1 WHERE b = 2 RETURNING *", "id < 10")
    'UPDATE t SET a = 1 WHERE id < 10 AND (b = 2)'
    >>> with_key_range("DELETE FROM t", "id < 10")
    'DELETE FROM t WHERE id < 10'
    """
    text = text.strip().rstrip(";").strip()
    returning = _top_level_keyword(text, "RETURNING")
    if returning != -1:
        text = text[:returning].rstrip()
    where = _top_level_keyword(text, "WHERE")
    if where == -1:
        return f"{text} WHERE {range_condition}"
    condition = text[where + len("WHERE") :].strip()
    return f"{text[:where].rstrip()} WHERE {range_condition} AND ({condition})"


def batched_loop(table: Name, key: str, statement: str, pg_version: int) -> str:
    """A DO block that runs ``statement`` (which uses ``batch_start``) one key range at a time.

    ``statement`` must already restrict itself to ``key >= batch_start AND key < batch_start + N``.
    """
    body = textwrap.indent(statement.strip() + ";", " " * 8).lstrip()
    commit = (
        "COMMIT;  -- PostgreSQL 11+: each batch is its own transaction"
        if pg_version >= 11
        else ("-- before PostgreSQL 11 a DO block cannot COMMIT: run each batch from a script instead")
    )
    loop = (
        "\n"
        "DECLARE\n"
        "    batch_start bigint;\n"
        "    last_key bigint;\n"
        "BEGIN\n"
        f"    SELECT min({quote_ident(key)}), max({quote_ident(key)}) INTO batch_start, last_key "
        f"FROM {table.sql()};\n"
        "    WHILE batch_start <= last_key LOOP\n"
        f"        {body}\n"
        f"        {commit}\n"
        f"        batch_start := batch_start + {BATCH_SIZE};\n"
        "    END LOOP;\n"
        "END "
    )
    return f"DO {dollar_quote(loop, '')};"


def range_condition(key: str) -> str:
    k = quote_ident(key)
    return f"{k} >= batch_start AND {k} < batch_start + {BATCH_SIZE}"


# ---- unbatched-data-change -----------------------------------------------------------------


@op_rule("unbatched-data-change", ops.UpdateRows, ops.DeleteRows)
def unbatched_data_change(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """An UPDATE or DELETE over a whole existing table holds its row locks to the end."""
    assert isinstance(op, ops.UpdateRows | ops.DeleteRows)
    if op.batched or not ctx.is_existing_table(op.target) or _known_small(ctx, op.target):
        return
    if op.has_where and is_targeted(op.stmt.text, unique_keys(ctx, op.target)):
        return  # WHERE id = 3: a few rows, locked briefly
    verb = "UPDATE" if isinstance(op, ops.UpdateRows) else "DELETE"
    scope = "the rows matching its WHERE" if op.has_where else "every row of the table"
    key = key_column(ctx, op.target)
    key_note = "" if key else " (id stands for the table's integer primary key: use yours)"
    key = key or "id"
    statement = with_key_range(op.stmt.text, range_condition(key))
    outside = ""
    if ctx.in_transaction:
        outside = (
            "\n   The loop commits between batches, so it must run outside a transaction block. "
            + outside_transaction_advice(ctx)
        )
    yield Hit(
        op,
        f"{verb} on {op.target} changes {scope} in one statement: each changed row stays locked "
        f"until it commits, so the running app's writes to those rows wait (and may time out), "
        f"and the burst of WAL it writes can make replicas lag.",
        f"1. Work through {op.target} in key ranges of {BATCH_SIZE} rows, committing after each "
        f"batch{key_note}:\n"
        + indent_sql(batched_loop(op.target, key, statement, ctx.pg_version))
        + outside
        + "\n2. Watch replication lag while it runs; if replicas fall behind, add "
        "`PERFORM pg_sleep(0.5);` after the COMMIT.",
    )
