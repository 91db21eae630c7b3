"""Indexes built and dropped without blocking writes.

``CREATE INDEX CONCURRENTLY`` cannot run inside a transaction block, and a failed build
leaves an INVALID index behind under the same name, which ``IF NOT EXISTS`` would then
skip: each build step carries ``retry_sql`` that drops such a leftover before trying again.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import SHARE_UPDATE_EXCLUSIVE
from bgmigrate.model.schema import Index
from bgmigrate.plan.draft import EXPAND, Draft, Item, Rewrite, suppressed
from bgmigrate.plan.phases import Check, Step
from bgmigrate.plan.sqlgen import in_schema_of, q, step
from bgmigrate.sql.implicit_names import index_name
from bgmigrate.sql.names import Name
from bgmigrate.sql.tokens import tokenize

NOT_IN_TRANSACTION = "cannot run inside a transaction block"


def drop_quietly(table: Name, name: str) -> str:
    """Drop an index (or what a failed build left of it) without blocking writes.

    >>> drop_quietly(Name("t", "s"), "t_a_idx")
    'DROP INDEX CONCURRENTLY IF EXISTS s.t_a_idx'
    """
    return f"DROP INDEX CONCURRENTLY IF EXISTS {in_schema_of(table, name)}"


def build_concurrently(table: Name, name: str, sql: str, line: int | None, what: str = "") -> Step:
    """A CREATE INDEX CONCURRENTLY step that drops an INVALID leftover before a retry."""
    return step(
        f"build index {name} on {table}{what} concurrently (writes continue; {NOT_IN_TRANSACTION})",
        sql, table=table, lock=SHARE_UPDATE_EXCLUSIVE, transactional=False,
        retry=drop_quietly(table, name), rollback=drop_quietly(table, name), line=line,
    )  # fmt: skip


def index_valid(table: Name, name: str) -> Check:
    return Check("index_valid", table=str(table), name=name, description=f"index {name} is valid")


def concurrent_text(op: ops.CreateIndex) -> tuple[str, str]:
    """The user's CREATE INDEX with CONCURRENTLY (and a name, if it had none), and that name.

    >>> from bgmigrate.plan.testing import op_of
    >>> concurrent_text(op_of("CREATE UNIQUE INDEX ON orders (lower(email)) WHERE active"))
    ('CREATE UNIQUE INDEX CONCURRENTLY orders_lower_idx ON orders (lower(email)) WHERE active', 'orders_lower_idx')
    """
    text = op.stmt.text
    toks = tokenize(text)
    at = next(i for i, t in enumerate(toks) if t.upper == "INDEX")
    if not op.concurrently:
        text = f"{text[: toks[at].end]} CONCURRENTLY{text[toks[at].end :]}"
    if op.name is not None:
        return text, op.name
    if not op.concurrently:
        toks = tokenize(text)  # where ON stands now
    name = index_name(op.target.name, op.columns)
    on = next(t for t in toks[at:] if t.upper == "ON")
    return f"{text[: on.start].rstrip()} {q(name)} {text[on.start :]}", name


def create_index(item: Item) -> Rewrite:
    """Build the index CONCURRENTLY, outside a transaction, in expand."""
    op = item.op
    assert isinstance(op, ops.CreateIndex)
    sql, name = concurrent_text(op)
    build = build_concurrently(op.target, name, sql, op.stmt.line)
    return Rewrite(expand=(build,), checks=((EXPAND, index_valid(op.target, name)),), recipe="create index")


def create_indexes(draft: Draft) -> Draft:
    """Pass: CREATE INDEX on an existing table → CONCURRENTLY, outside a transaction, retryable.

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = create_indexes(draft_of("CREATE INDEX orders_state_idx ON orders (state);"))
    >>> s = d.fragments[0].step
    >>> s.sql, s.transactional, s.retry_sql
    ('CREATE INDEX CONCURRENTLY orders_state_idx ON orders (state)', False, 'DROP INDEX CONCURRENTLY IF EXISTS orders_state_idx')
    """
    for item in list(draft.pending(ops.CreateIndex)):
        assert isinstance(item.op, ops.CreateIndex)
        if not item.facts.is_new(item.op.target) and not suppressed(item, "non-concurrent-index"):
            draft = draft.place(item, create_index(item))
    return draft


def drop_index(item: Item, replaced: bool = False) -> Rewrite:
    """Drop the index CONCURRENTLY in contract: the old version may still rely on it.

    ``replaced``: the index is on a column contract swaps out, whose DROP COLUMN may take the
    index first, so the drop says IF EXISTS.
    """
    op = item.op
    assert isinstance(op, ops.DropIndex)
    index = item.facts.schema.index(op.index)
    sql = (
        op.stmt.text
        if op.concurrently and not replaced
        else (f"DROP INDEX CONCURRENTLY {'IF EXISTS ' if op.if_exists or replaced else ''}{op.index.sql()}")
    )
    drop = step(
        f"drop index {op.index} concurrently ({NOT_IN_TRANSACTION})", sql, table=index.table if index else None,
        lock=SHARE_UPDATE_EXCLUSIVE if index else "", transactional=False, line=op.stmt.line,
    )  # fmt: skip
    return Rewrite(contract=(drop,), recipe="drop index")


def drop_indexes(draft: Draft) -> Draft:
    """Pass: DROP INDEX of an existing table's index → CONCURRENTLY, in contract."""
    for item in list(draft.pending(ops.DropIndex)):
        assert isinstance(item.op, ops.DropIndex)
        index = item.facts.schema.index(item.op.index)
        if index is not None and item.facts.is_new(index.table):
            continue
        if _drops_one(item.op):
            draft = draft.place(item, drop_index(item, _on_replaced_column(draft, index)))
    return draft


def _on_replaced_column(draft: Draft, index: Index | None) -> bool:
    """Whether the index covers a column a rename or type change replaces (contract drops that column)."""
    return index is not None and any(
        # After a rename the replay knows the index under the column's new name.
        key == index.table.key and {old, new} & set(index.columns)
        for _i, key, old, new, _recipe in draft.shadows
    )


def _drops_one(op: ops.DropIndex) -> bool:
    """CONCURRENTLY drops one index and takes no CASCADE."""
    words = [t.upper for t in tokenize(op.stmt.text)]
    return "CASCADE" not in words and "," not in op.stmt.text
