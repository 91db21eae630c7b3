"""Replace column: ADD x, fill it from y, DROP y, RENAME x TO y — a type change of y, spelled out.

Hand-written migrations often change a column's type this way::

    ALTER TABLE orders ADD COLUMN new_status order_state;
    UPDATE orders SET new_status = status::order_state;
    ALTER TABLE orders ALTER COLUMN new_status SET NOT NULL;
    ALTER TABLE orders DROP COLUMN status;
    ALTER TABLE orders RENAME new_status TO status;

Planned statement by statement it cannot work: the drop waits for contract, so ``status``
would be created while the old one still serves the old app version. What it means is
``ALTER COLUMN status TYPE order_state USING status::order_state``, with new_status's NOT NULL
and default in place of status's, and status's indexes and constraints gone with it (DROP
COLUMN takes them). This pass recognises the pattern and hands that type change to the
change-column-type recipe, which keeps the name for both app versions and converts into a
hidden column. The UPDATE's expression is the conversion; without an UPDATE, ``--backfill``
gives it. A pattern it cannot read as a type change is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import pairwise

from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Column
from bgmigrate.parse.parser import StatementSyntaxError, parse_statement
from bgmigrate.plan.column_carry import Carry
from bgmigrate.plan.column_type import change_type, shadow_name
from bgmigrate.plan.columns import split_column
from bgmigrate.plan.draft import CONTRACT, EXPAND, Draft, Item, Rewrite
from bgmigrate.plan.facts import mentions
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.sqlgen import q
from bgmigrate.sql.statements import split_sql
from bgmigrate.sql.tokens import Tok, tokenize

_ON_NEW = (ops.SetNotNull, ops.DropNotNull, ops.SetDefault, ops.DropDefault)  # final state read from replay
_INLINE = ("references", "check", "unique", "primary_key")
_DATA = (ops.UpdateRows, ops.DeleteRows, ops.InsertRows)


@dataclass(frozen=True)
class Replacement:
    """The statements of one replace-column pattern: ``new`` added, ``old`` dropped, ``new`` renamed to ``old``."""

    add: Item
    drop: Item
    rename: Item
    fill: Item | None = None  # UPDATE … SET new = <conversion>
    on_new: tuple[Item, ...] = ()  # NOT NULL / default of the new column

    @property
    def old(self) -> str:
        assert isinstance(self.drop.op, ops.DropColumn)
        return self.drop.op.column

    @property
    def new(self) -> str:
        assert isinstance(self.add.op, ops.AddColumn)
        return self.add.op.column.name

    @property
    def type_sql(self) -> str:
        assert isinstance(self.add.op, ops.AddColumn)
        return split_column(self.add.op.column.sql).type_sql

    def lines(self) -> str:
        return f"lines {self.add.op.stmt.line} to {self.rename.op.stmt.line}"

    def items(self) -> tuple[Item, ...]:
        return (self.add, self.drop, self.rename, *((self.fill,) if self.fill else ()), *self.on_new)


def _same_table(item: Item, table: tuple[str, str]) -> bool:
    return item.op.table is not None and item.op.table.key == table


def _candidates(draft: Draft) -> Iterator[tuple[Item, Item, Item]]:
    """(ADD x, DROP y, RENAME x TO y) on one existing table, in that order."""
    for rename in draft.pending(ops.RenameColumn):
        op = rename.op
        assert isinstance(op, ops.RenameColumn)
        if rename.facts.is_new(op.target):
            continue
        before = [i for i in draft.pending(ops.AddColumn, ops.DropColumn) if i.index < rename.index]
        before = [i for i in before if _same_table(i, op.target.key)]
        add = next(
            (i for i in reversed(before) if isinstance(i.op, ops.AddColumn) and i.op.column.name == op.column), None
        )
        drop = next(
            (i for i in reversed(before) if isinstance(i.op, ops.DropColumn) and i.op.column == op.new_name), None
        )
        if add is not None and drop is not None and add.index < drop.index:
            yield add, drop, rename


def _touches(op: ops.Operation, column: str) -> bool:
    if isinstance(op, ops.AddColumn):
        return op.column.name == column
    if isinstance(op, ops.RenameColumn):
        return column in (op.column, op.new_name)
    named = getattr(op, "column", None)
    return named == column if isinstance(named, str) else mentions(op.stmt.text, column)


def _table_name_end(toks: list[Tok], i: int) -> int:
    """Index just past a possibly dotted name starting at ``toks[i]``."""
    i += 1
    while i + 1 < len(toks) and toks[i].text == ".":
        i += 2
    return i


def _trivial_where(toks: list[Tok], column: str, all_null: bool) -> bool:
    """``WHERE true``, or ``WHERE x IS NULL`` while every row's x is still NULL: every row."""
    words = [t.upper or t.ident for t in toks]
    return words == ["TRUE"] or (
        all_null and len(toks) == 3 and toks[0].ident == column and words[1:] == ["IS", "NULL"]
    )


def fill_expression(op: ops.UpdateRows, column: str, table: str, *, all_null: bool = True) -> str | None:
    """The expression an UPDATE fills ``column`` with for every row, or None when it is not such a fill.

    >>> from bgmigrate.plan.testing import op_of
    >>> fill_expression(op_of("UPDATE orders SET s2 = CASE WHEN s = 'x' THEN 1 END WHERE s2 IS NULL"), "s2", "orders")
    "CASE WHEN s = 'x' THEN 1 END"
    >>> fill_expression(op_of("UPDATE orders SET s2 = s::int WHERE id < 5"), "s2", "orders") is None
    True
    """
    text = op.stmt.text
    toks = tokenize(text)
    i = 2 if len(toks) > 1 and toks[1].upper == "ONLY" else 1
    i = _table_name_end(toks, i)
    if i + 3 >= len(toks) or toks[i].upper != "SET" or toks[i + 1].ident != column or toks[i + 2].text != "=":
        return None
    start, depth = i + 3, 0
    for j in range(start, len(toks)):
        tok = toks[j]
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        if depth == 0 and (tok.text == "," or tok.upper in ("FROM", "RETURNING", "WHERE")):
            if tok.upper != "WHERE" or not _trivial_where(toks[j + 1 :], column, all_null):
                return None
            return _plain(text[toks[start].start : tok.start].strip(), column, table)
    return _plain(text[toks[start].start :].strip(), column, table)


def _plain(expression: str, column: str, table: str) -> str | None:
    """The expression, if it reads only the row's own columns by bare name (and not the column it fills)."""
    toks = tokenize(expression)
    qualified = any(a.ident == table and b.text == "." for a, b in pairwise(toks))
    return None if not expression or qualified or mentions(expression, column) else expression


class _NotAReplacement(Exception):
    """The statements look like a replace-column pattern but cannot be read as a type change."""


def _window(draft: Draft, add: Item, drop: Item, rename: Item) -> Replacement:
    """The pattern's statements between ADD and RENAME; anything else there using either column refuses it."""
    assert isinstance(add.op, ops.AddColumn) and isinstance(rename.op, ops.RenameColumn)
    table, new, old = add.op.target.key, add.op.column.name, rename.op.new_name
    fill: Item | None = None
    on_new: list[Item] = []
    for item in draft.items:
        if not add.index < item.index < rename.index or item is drop or not _same_table(item, table):
            continue
        op = item.op
        if isinstance(op, ops.UpdateRows) and op.columns == (new,) and fill is None:
            fill = item
        elif isinstance(op, _ON_NEW) and op.column == new:
            on_new.append(item)
        elif _touches(op, new):
            raise _NotAReplacement(f"line {op.stmt.line} also uses {new}")
        elif _touches(op, old) and not isinstance(op, _DATA):
            # Data changes reading the old column run in migrate, while it still exists; DDL on it would not.
            raise _NotAReplacement(f"line {op.stmt.line} also changes {old}")
    return Replacement(add, drop, rename, fill, tuple(on_new))


def _check_columns(r: Replacement) -> None:
    """Refuse what a type change of the old column cannot express."""
    add = r.add.op
    assert isinstance(add, ops.AddColumn)
    spec = add.column
    if spec.serial or spec.identity or spec.generated_stored:
        raise _NotAReplacement(f"{r.new} is a serial, identity or generated column")
    if any(c.kind in _INLINE for c in split_column(spec.sql).clauses):
        raise _NotAReplacement(f"{r.new} is added with inline constraints")
    drop = r.drop.op
    assert isinstance(drop, ops.DropColumn)
    if drop.cascade:
        raise _NotAReplacement(f"{r.old} is dropped with CASCADE")
    column = r.drop.facts.column(drop.target, r.old)
    if column is not None and column.generated:
        raise _NotAReplacement(f"{r.old} is a generated column")
    referencing = r.drop.facts.referenced_by(drop.target, r.old)
    if referencing:
        raise _NotAReplacement(f"foreign keys reference {r.old} ({', '.join(referencing)})")


def _conversion(r: Replacement, draft: Draft) -> tuple[str, tuple[str, ...]]:
    """The expression converting the old column's value, and what PLAN.md must say about it."""
    table = r.add.op.table
    assert table is not None
    given = draft.request.backfill_for(r.new, table.name) or draft.request.backfill_for(r.old, table.name)
    if r.fill is None:
        if given is None:
            raise PlanError(
                f"{r.lines()} replace {table}.{r.old} by {r.new}, planned as changing {r.old}'s type to {r.type_sql}, "
                f"but no UPDATE fills {r.new}: give --backfill {r.new}=SQL_EXPR, the conversion of {r.old}'s "
                f"existing values (e.g. {r.new}={q(r.old)}::{r.type_sql})"
            )
        return given, ()
    assert isinstance(r.fill.op, ops.UpdateRows) and isinstance(r.add.op, ops.AddColumn)
    expression = fill_expression(r.fill.op, r.new, table.name, all_null=r.add.op.column.default is None)
    if expression is None:
        raise _NotAReplacement(f"line {r.fill.op.stmt.line} is not a plain fill of {r.new} (SET {r.new} = <expression> "
                               f"for every row: no other column, FROM or WHERE)")  # fmt: skip
    ignored = (f"--backfill {r.new}={given} is not used: the migration's own UPDATE (line {r.fill.op.stmt.line}) "
               f"converts {r.old} with {expression}.",) if given is not None and given != expression else ()  # fmt: skip
    return expression, ignored


def type_change(r: Replacement, using: str) -> ops.AlterColumnType:
    """What the pattern means, as the parser reads it: ``ALTER COLUMN old TYPE <new's type> USING <conversion>``."""
    table = r.add.op.table
    assert table is not None
    text = f"ALTER TABLE {table.sql()} ALTER COLUMN {q(r.old)} TYPE {r.type_sql} USING {using}"
    line = r.add.op.stmt.line
    stmt = replace(split_sql(text)[0], line=line, end_line=line, origin="replace column")
    try:
        found = parse_statement(stmt)
    except StatementSyntaxError:
        found = []
    if len(found) != 1 or not isinstance(found[0], ops.AlterColumnType):
        raise _NotAReplacement(f"'{text}' does not parse")
    return found[0]


def _carry(r: Replacement) -> Carry:
    """The final column takes the new column's NOT NULL and default; the old one's indexes and constraints go."""
    table = r.drop.op.table
    assert table is not None
    old = r.drop.facts.column(table, r.old)
    final = r.rename.facts.column(table, r.new)
    if old is None or final is None:
        raise PlanError(
            f"the type of {table}.{r.old} is not known: give --schema/--dsn, or plan the migration inside the "
            "folder whose earlier migrations create the table"
        )
    # ``column.type`` stays the old type: the recipe converts back to it while both versions run.
    return Carry(replace(old, nullable=final.nullable, default=final.default))


def _contract_note(r: Replacement, final: Column, old: Column | None) -> tuple[tuple[str, str], ...]:
    """What else changes for the app at contract: the new column's NOT NULL and default replace the old one's."""
    changes = []
    if old is not None and old.nullable != final.nullable:
        changes.append("becomes nullable" if final.nullable else "becomes NOT NULL")
    if old is not None and old.default != final.default:
        changes.append(f"gets the default {final.default}" if final.default else f"loses its default {old.default}")
    if not changes:
        return ()
    must = (
        " From then on the new version must set it on every insert." if not final.nullable and not final.default else ""
    )
    return ((CONTRACT, f"At contract {q(r.old)} also {' and '.join(changes)}, as the migration leaves it.{must}"),)


def replace_column(r: Replacement, draft: Draft) -> tuple[Item, Rewrite]:
    """The pattern as the change-column-type recipe plans it, placed where the new column was added."""
    using, assumptions = _conversion(r, draft)
    op = type_change(r, using)
    item = Item(r.add.index, op, r.add.facts, r.add.block)
    carry = _carry(r)
    rewrite = change_type(item, draft, carry)
    note = (EXPAND, f"{q(r.new)} is never created: the migration adds it only to take {q(r.old)}'s place, so app "
                    f"code of both versions uses {q(r.old)}.")  # fmt: skip
    notes = (note, *rewrite.notes, *_contract_note(r, carry.column, r.drop.facts.column(op.target, r.old)))
    recipe = (f"change column type — {r.lines()} (add {r.new}, fill it, drop {r.old}, rename {r.new} to {r.old}) "
              f"recognised as ALTER TABLE {op.target} ALTER COLUMN {q(r.old)} TYPE {r.type_sql} USING {using}")  # fmt: skip
    return item, replace(rewrite, notes=notes, assumptions=rewrite.assumptions + assumptions, recipe=recipe)


def _refusal(add: Item, drop: Item, rename: Item, reason: str) -> PlanError:
    assert isinstance(add.op, ops.AddColumn) and isinstance(drop.op, ops.DropColumn)
    table, new, old = add.op.target, add.op.column.name, drop.op.column
    return PlanError(
        f"lines {add.op.stmt.line} to {rename.op.stmt.line} replace {table}.{old} by {new} (add, drop, rename), which "
        f"bgmigrate plans as a type change of {old}, but {reason}: write it as ALTER TABLE {table} ALTER COLUMN "
        f"{q(old)} TYPE … USING …, or split it into migrations that each work on their own"
    )


def replace_columns(draft: Draft) -> Draft:
    """Pass: ADD x [UPDATE SET x = e] [SET NOT NULL/DEFAULT on x] DROP y, RENAME x TO y → change y's type USING e.

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = replace_columns(draft_of(
    ...     "ALTER TABLE t ADD COLUMN b2 bigint;\\nUPDATE t SET b2 = b::bigint;\\n"
    ...     "ALTER TABLE t DROP COLUMN b;\\nALTER TABLE t RENAME b2 TO b;",
    ...     "CREATE TABLE t (id int PRIMARY KEY, b text);"))
    >>> added = [(f.phase, f.step.sql) for f in d.fragments if f.step.sql.startswith("ALTER")][0]
    >>> sorted(d.done), added, d.shadows[0][2:]
    ([0, 1, 2, 3], ('expand', 'ALTER TABLE t ADD COLUMN bgm_b_new bigint'), ('b', 'bgm_b_new', 'type'))
    """
    for add, drop, rename in list(_candidates(draft)):
        assert isinstance(rename.op, ops.RenameColumn)
        try:
            found = _window(draft, add, drop, rename)
            _check_columns(found)
            item, rewrite = replace_column(found, draft)
        except _NotAReplacement as exc:
            raise _refusal(add, drop, rename, str(exc)) from None
        draft = draft.place(item, rewrite).absorb(*found.items())
        # Later statements on the old name mean the converted column: after_replacements runs them after the swap.
        shadow = (rename.index, rename.op.target.key, found.old, shadow_name(found.old), "type")
        draft = replace(draft, shadows=(*draft.shadows, shadow))
    return draft
