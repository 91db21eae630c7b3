"""Change column type: a column of the new type beside the old one, swapped in at contract.

Both app versions keep reading and writing the column by its name; a trigger converts every
write into the new column (and back, should anything write the new one), a backfill converts
existing rows, and contract — in one short transaction — drops the old column and gives the new
one its name. Indexes and constraints are rebuilt online on the new column first.
"""

from __future__ import annotations

from dataclasses import replace

from bgmigrate.model import operations as ops
from bgmigrate.plan import replacement
from bgmigrate.plan.column_carry import Carry, plan_carry
from bgmigrate.plan.draft import CONTRACT, EXPAND, Draft, Item, Rewrite, dropped_indexes, suppressed
from bgmigrate.plan.narrowing import fits
from bgmigrate.plan.sqlgen import PREFIX, q, short_name
from bgmigrate.plan.triggers import row_expression
from bgmigrate.sql.names import Name
from bgmigrate.sql.tokens import Tok, tokenize
from bgmigrate.sql.type_facts import is_binary_coercible


def shadow_name(column: str) -> str:
    """The replacement column's name while both exist.

    >>> shadow_name("amount")
    'bgm_amount_new'
    """
    return short_name(PREFIX, column, "new")


def _type_text(op: ops.AlterColumnType) -> str:
    """The new type as the user wrote it: after ``<column> [SET DATA] TYPE``, up to USING or the next action."""
    text = op.stmt.text
    toks = tokenize(text)
    for i, tok in enumerate(toks[:-1]):
        if tok.kind in ("word", "qident") and tok.ident == op.column:
            j = i + 1
            if toks[j].upper == "SET" and j + 2 < len(toks) and toks[j + 1].upper == "DATA":
                j += 2
            if toks[j].upper == "TYPE":
                return _until_using(text, toks[j + 1 :]) or op.new_type
    return op.new_type


def _until_using(text: str, toks: list[Tok]) -> str:
    depth = 0
    for tok in toks:
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        if depth == 0 and (tok.upper == "USING" or tok.text == ","):
            return text[toks[0].start : tok.start].strip()
    return text[toks[0].start :].strip() if toks else ""


PREPARED = "Prepared statements break at contract"


def prepared_statements_note(table: Name) -> str:
    """What contract does to server-side prepared statements, and what to do about it (PLAN.md says it twice)."""
    return (
        f"{PREPARED}: every statement a connection prepared on {table} before contract and whose result includes "
        "the retyped column fails on EVERY execution afterwards with 'ERROR: cached plan must not change result "
        "type', until that connection re-prepares it or closes; PL/pgSQL functions reading the table fail the same "
        "way in sessions that ran them before. Drivers prepare on the server by default or after a few executions "
        "(JDBC prepareThreshold, psycopg 3 prepare_threshold, asyncpg, Npgsql auto-prepare, Rails "
        "prepared_statements). Mitigation: right after contract recycle every connection of the new version "
        "(pool recycle / rolling restart, or DISCARD ALL on each pooled connection), or turn server-side prepared "
        "statements off for the window. Behind pgbouncer, DISCARD ALL from a client does not reach the server "
        "connections that hold them: with max_prepared_statements (transaction mode) or session mode, run "
        "RECONNECT in pgbouncer's admin console (or restart it) after contract."
    )


def change_type(item: Item, draft: Draft, carry: Carry | None = None) -> Rewrite:
    """The recipe; ``carry`` overrides what the converted column gets (by default: all the old one had)."""
    op = item.op
    assert isinstance(op, ops.AlterColumnType)
    new = shadow_name(op.column)
    carry = carry or plan_carry(op.target, op.column, new, item.facts, dropped_indexes(draft))
    new_type = _type_text(op)
    if op.using:
        to_new, value = row_expression(op.using), f"({op.using})"
    else:
        to_new, value = f"CAST(NEW.{q(op.column)} AS {new_type})", f"CAST({q(op.column)} AS {new_type})"
    # A USING expression's type is not known: only what the target type alone decides is tested.
    source = None if op.using else carry.column.type
    row_value = f"({op.using})" if op.using else q(op.column)
    spec = replacement.Shadow(
        table=op.target, old=op.column, new=new, type_sql=new_type, to_new=to_new,
        to_old=f"CAST(NEW.{q(new)} AS {carry.column.type})", backfill_value=value,
        take_old_name=True, indexes_early=False,
        fits_row=fits(row_value, source, new_type), fits_new=fits(to_new if op.using else f"NEW.{q(op.column)}", source, new_type),
        target=new_type,
    )  # fmt: skip
    c, t = q(op.column), op.target
    notes = (
        (EXPAND, f"Both versions keep reading and writing {c} by name, as type {carry.column.type}; never use "
                 f"{q(new)} in app code. A trigger converts every write into it."),
        (CONTRACT, f"{c} becomes {new_type} in one short transaction. Until then the new version must work with "
                   f"{c} as {carry.column.type}."),
        (CONTRACT, prepared_statements_note(t)),
    )  # fmt: skip
    assumptions: tuple[str, ...] = ()
    if op.using:
        assumptions = (f"{t}.{op.column}: values written to {q(new)} are converted back with a plain CAST to "
                       f"{carry.column.type} (only bgmigrate's backfill writes that column).",)  # fmt: skip
    result = replacement.rewrite(item, spec, carry, draft.request)
    return replace(result, notes=notes, assumptions=result.assumptions + assumptions, recipe="change column type")


def _needs_rewrite(item: Item) -> bool:
    op = item.op
    assert isinstance(op, ops.AlterColumnType)
    if item.facts.is_new(op.target):
        return False
    known = item.facts.column(op.target, op.column)
    return not (known is not None and op.using is None and is_binary_coercible(known.type, op.new_type))


def change_types(draft: Draft) -> Draft:
    """Pass: ALTER COLUMN … TYPE that rewrites an existing table → new column + conversion triggers + swap.

    A binary-coercible change (varchar(n) → varchar(m > n), varchar → text) takes only a brief
    lock and is carried over unchanged.
    """
    for item in list(draft.pending(ops.AlterColumnType)):
        op = item.op
        assert isinstance(op, ops.AlterColumnType)
        if _needs_rewrite(item) and not suppressed(item, "change-column-type", "table-rewrite"):
            draft = draft.place(item, change_type(item, draft))
            shadow = (item.index, op.target.key, op.column, shadow_name(op.column), "type")
            draft = replace(draft, shadows=(*draft.shadows, shadow))
    return draft
