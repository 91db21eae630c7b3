"""Split (or derive) columns from one the migration drops, kept in sync both ways until contract.

``ADD first_name, ADD last_name; UPDATE people SET first_name = split_part(name, ' ', 1),
last_name = split_part(name, ' ', 2); DROP COLUMN name`` copies once and drops the source: the
old version keeps writing ``name`` until it is retired, the new version writes only the new
columns. With the way back given (``--backfill name=first_name || ' ' || last_name``) the plan
keeps both shapes equal from expand to contract:

- expand: the new columns (as written) and a trigger: a write that changes ``name`` (the old
  version) derives the new columns with the UPDATE's expressions; a write that changes the new
  columns (the new version) sets ``name`` with the way back — unless the new columns already
  equal what ``name`` derives, so a lossy round trip never rewrites what the old version wrote.
  On a row not yet backfilled, new columns the writer left alone are derived first.
- migrate: the UPDATE's expressions, in batches, only on rows whose new columns are all still
  NULL: a row either version wrote since the trigger went in is never overwritten.
- contract, one transaction: the trigger, its function and ``name`` go.

Without the way back, ``refuse_copies`` refuses the migration with the manual recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.lint.rules.compat_columns import added_in_migration
from bgmigrate.model import operations as ops
from bgmigrate.model.copies import OneShotCopy, one_shot_copies
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, ROW_EXCLUSIVE, SHARE_ROW_EXCLUSIVE
from bgmigrate.plan import triggers
from bgmigrate.plan.backfill import batch_key, left_behind
from bgmigrate.plan.draft import CONTRACT, EXPAND, MIGRATE, Draft, Item, Rewrite, suppressed
from bgmigrate.plan.phases import Backfill, Check, Step
from bgmigrate.plan.sqlgen import alter, q, step
from bgmigrate.plan.suppress import ignore
from bgmigrate.sql.tokens import tokenize


@dataclass(frozen=True)
class Split:
    """The recognised pattern: ``source`` derived into ``targets`` by ``expressions``; ``back`` reverses it."""

    update: Item
    drop: Item
    source: str
    targets: tuple[str, ...]
    expressions: tuple[str, ...]
    back: str


def set_expressions(op: ops.UpdateRows) -> tuple[tuple[str, str], ...] | None:
    """``(column, expression)`` of an ``UPDATE t SET a = e1, b = e2`` touching every row; None otherwise.

    >>> from bgmigrate.plan.testing import op_of
    >>> set_expressions(op_of("UPDATE p SET a = split_part(n, ' ', 1), b = coalesce(n, 'x')"))
    (('a', "split_part(n, ' ', 1)"), ('b', "coalesce(n, 'x')"))
    >>> set_expressions(op_of("UPDATE p SET a = n WHERE id < 5")) is None
    True
    """
    text = op.stmt.text
    toks = tokenize(text)
    words = [t.upper for t in toks]
    if "SET" not in words or any(w in ("WHERE", "FROM", "RETURNING") for w in words):
        return None
    i, depth, pairs = words.index("SET") + 1, 0, []
    while i < len(toks):
        if toks[i].kind not in ("word", "qident") or i + 1 >= len(toks) or toks[i + 1].text != "=":
            return None
        column, start, j = toks[i].ident, i + 2, i + 2
        while j < len(toks):
            depth += {"(": 1, ")": -1}.get(toks[j].text, 0)
            if depth == 0 and toks[j].text == ",":
                break
            j += 1
        if start >= len(toks):
            return None
        end = toks[j].start if j < len(toks) else len(text)
        pairs.append((column, text[toks[start].start : end].strip()))
        i = j + 1
    return tuple(pairs) or None


def _plain_added(draft: Draft, item: Item, column: str) -> bool:
    """Added earlier in this migration as a plain nullable column without default (nothing writes it yet)."""
    table = item.op.table
    for earlier in draft.items[: item.index]:
        op = earlier.op
        if (
            isinstance(op, ops.AddColumn)
            and table is not None
            and (op.target.key, op.column.name) == (table.key, column)
        ):
            spec = op.column
            return spec.nullable and spec.default is None and not (spec.serial or spec.identity)
    return False


def _recognise(draft: Draft, found: OneShotCopy) -> Split | None:
    op = found.copy
    if not found.within_table or not isinstance(op, ops.UpdateRows):
        return None
    update = next(i for i in draft.items if i.op is op)
    drop = next(i for i in draft.items if i.op is found.drop)
    pairs = set_expressions(op)
    if pairs is None or not all(_plain_added(draft, update, c) for c, _ in pairs):
        return None
    back = draft.request.backfill_for(found.column, found.source.name)
    if back is None:
        return None
    return Split(update, drop, found.column, tuple(c for c, _ in pairs), tuple(e for _, e in pairs), back)


def _body(s: Split) -> list[str]:
    new = [f"NEW.{q(c)}" for c in s.targets]
    derive = [f"NEW.{q(c)} := {triggers.row_expression(e)};" for c, e in zip(s.targets, s.expressions, strict=True)]
    derived = f"ROW({', '.join(triggers.row_expression(e) for e in s.expressions)})"
    src = f"NEW.{q(s.source)}"
    back = f"{src} := {triggers.row_expression(s.back)};"
    fill_rest = [
        line
        for c, e in zip(s.targets, s.expressions, strict=True)
        for line in (f"  IF NEW.{q(c)} IS NOT DISTINCT FROM OLD.{q(c)} AND OLD.{q(c)} IS NULL THEN",
                     f"    NEW.{q(c)} := {triggers.row_expression(e)};", "  END IF;")
    ]  # fmt: skip
    return [
        f"-- keeps {q(s.source)} (old app) and {', '.join(q(c) for c in s.targets)} (new app) equal both ways",
        "IF TG_OP = 'INSERT' THEN",
        f"  IF {' AND '.join(f'{n} IS NULL' for n in new)} THEN",
        *(f"    {d}" for d in derive),
        f"  ELSIF {src} IS NULL THEN",
        f"    {back}",
        "  END IF;",
        f"ELSIF ROW({', '.join(new)}) IS DISTINCT FROM ROW({', '.join(f'OLD.{q(c)}' for c in s.targets)}) THEN",
        *fill_rest,
        f"  IF ROW({', '.join(new)}) IS DISTINCT FROM {derived} THEN",
        f"    {back}",
        "  END IF;",
        f"ELSIF {src} IS DISTINCT FROM OLD.{q(s.source)} THEN",
        *(f"  {d}" for d in derive),
        "END IF;",
    ]


def _rewrite(s: Split, draft: Draft) -> Rewrite:
    table = s.update.op.table
    assert table is not None
    line = s.update.op.stmt.line
    sync = triggers.derived(table, s.source, _body(s), draft.request.pg_version)
    key, assumptions = batch_key(table, s.update.facts, draft.request)
    targets = ", ".join(q(c) for c in s.targets)
    unset = " AND ".join(f"{q(c)} IS NULL" for c in s.targets)
    where = f"{unset} AND ROW({targets}) IS DISTINCT FROM ROW({', '.join(s.expressions)})"
    fill = Step(
        kind="backfill", description=f"backfill {table} ({targets}) from {q(s.source)}, only rows still unset",
        table=table.sql(), takes_lock=ROW_EXCLUSIVE, source_line=line,
        backfill=Backfill(table=table.sql(), key=q(key), assignments=tuple((q(c), e) for c, e in zip(s.targets, s.expressions, strict=True)),
                          where=where, batch_size=draft.request.batch_size),
    )  # fmt: skip
    reason = f"contract runs after the old app version is retired (plan {draft.request.id})"
    swap = ";\n".join([*sync.drops(), ignore(("drop-column",), reason) + alter(table, f"DROP COLUMN {q(s.source)}")])
    name, t = sync.trigger_name, str(table)
    return Rewrite(
        expand=(
            step(f"create the function keeping {s.source} and {targets} equal", sync.create_function,
                 rollback=sync.drop_function, line=line),
            step(f"install the sync trigger on {table}", sync.create_trigger, table=table, lock=SHARE_ROW_EXCLUSIVE,
                 rollback=sync.drop_trigger, line=line),
        ),
        migrate=(fill,),
        contract=(step(f"in one transaction: drop the trigger and {table}.{s.source}", swap, table=table,
                       lock=ACCESS_EXCLUSIVE, line=s.drop.op.stmt.line),),
        checks=(
            (EXPAND, Check("trigger_exists", table=t, name=name, description="the sync trigger is installed")),
            (MIGRATE, left_behind(table, key, where, f"{targets} not yet derived from {s.source}")),
            (CONTRACT, Check("trigger_absent", table=t, name=name, description="the sync trigger is gone")),
            (CONTRACT, Check("column_absent", table=t, column=s.source, description=f"{table}.{s.source} is gone")),
        ),
        preconditions=(Check("column_exists", table=t, column=s.source, description=f"{table}.{s.source} exists"),),
        notes=(
            (EXPAND, f"The old version keeps writing {q(s.source)}; the new version writes {targets}. A trigger "
                     f"derives each from the other ({q(s.source)} = {s.back}) whichever version writes."),
            (CONTRACT, f"{q(s.source)} goes: by now only the new version writes {table}."),
        ),
        assumptions=(*assumptions, f"{table}.{s.source} is rebuilt from {targets} as {s.back} for rows the new "
                                    "version writes (--backfill); the old version reads that value."),
        recipe=f"split column — {q(s.source)} into {targets}, synced both ways until contract",
    )  # fmt: skip


def split_columns(draft: Draft) -> Draft:
    """Pass: ADD new columns, UPDATE them from a column, DROP it — with ``--backfill`` giving the way back — → two-way sync."""
    items = [i for i in draft.items if i.index not in draft.done]
    operations = [i.op for i in items]
    for found in list(one_shot_copies(
        operations,
        lambda n, table: not items[n].facts.is_new(table),
        lambda n, table, column: added_in_migration(operations[:n], table, column),
    )):  # fmt: skip
        split = _recognise(draft, found)
        if split is None or split.update.index in draft.done or suppressed(split.drop, "drop-column"):
            continue
        draft = draft.place(split.update, _rewrite(split, draft)).absorb(split.drop)
    return draft
