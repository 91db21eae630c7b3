"""Carry a column's NOT NULL, default, indexes and constraints over to its replacement.

Renaming a column or changing its type the online way builds a second column beside the
first. Before the first is dropped, the second must get everything the first had, each the
online way: indexes CONCURRENTLY under temporary names, CHECKs and foreign keys NOT VALID then
VALIDATE, NOT NULL through a CHECK, unique and primary keys through their index. Dropping the
old column drops its own indexes and constraints; one short transaction then gives the new
ones their original names, so the final schema is the one the original migration intended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bgmigrate.model.operations import ConstraintKind
from bgmigrate.model.schema import Column, Constraint, Index
from bgmigrate.plan.constraints import NewConstraint, strip_name
from bgmigrate.plan.facts import Facts
from bgmigrate.plan.request import PlanError
from bgmigrate.plan.sqlgen import PREFIX, in_schema_of, q, rename_ident, short_name
from bgmigrate.sql.implicit_names import object_name
from bgmigrate.sql.names import Name
from bgmigrate.sql.quote import quote_literal
from bgmigrate.sql.tokens import tokenize

_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')+)'(?:::regclass)?\)", re.IGNORECASE)


@dataclass(frozen=True)
class IndexCopy:
    """An index over the old column, built again (under a temporary name) over the new one."""

    original: str
    temporary: str
    sql: str  # CREATE [UNIQUE] INDEX CONCURRENTLY <temporary> … on the new column


@dataclass(frozen=True)
class ConstraintCopy:
    """A constraint over the old column, added again (under a temporary name) over the new one."""

    original: str
    temporary: str
    kind: ConstraintKind
    constraint: NewConstraint  # CHECK / FOREIGN KEY body, on the new column


@dataclass(frozen=True)
class Carry:
    """Everything the old column has that its replacement must get."""

    column: Column
    indexes: tuple[IndexCopy, ...] = ()  # plain indexes, and those backing UNIQUE / PRIMARY KEY
    keys: tuple[ConstraintCopy, ...] = ()  # UNIQUE / PRIMARY KEY added USING INDEX
    constraints: tuple[ConstraintCopy, ...] = ()  # CHECK / FOREIGN KEY, NOT VALID then VALIDATE
    sequence: str | None = None  # a serial's sequence, to be owned by the new column

    @property
    def not_null(self) -> bool:
        return not self.column.nullable


def temporary(name: str) -> str:
    """The name a copy carries until the original is gone.

    >>> temporary("orders_status_idx")
    'bgm_orders_status_idx'
    """
    return short_name(PREFIX, name)


def _index_sql(table: Name, index: Index, facts: Facts) -> str:
    """The text that built an index, or a rebuild from its columns when that is all there is."""
    text = facts.index_sql.get(Name(index.name, table.schema).key) or getattr(index, "definition", "")
    if text:
        return str(text)
    if index.partial or index.expression:
        raise PlanError(
            f"index {index.name} on {table} is partial or on an expression and its definition is not "
            "known: plan from the migrations folder that created it, or recreate the index by hand"
        )
    unique = "UNIQUE " if index.unique else ""
    return f"CREATE {unique}INDEX {q(index.name)} ON {table.sql()} ({', '.join(q(c) for c in index.columns)})"


def retarget_index(sql: str, table: Name, old: str, new: str, name: str) -> str:
    """An index definition rebuilt CONCURRENTLY under ``name`` on column ``new`` instead of ``old``.

    >>> retarget_index("create index ix on orders using gin (status) where status <> ''", Name("orders"), "status", "state", "bgm_ix")
    "CREATE INDEX CONCURRENTLY bgm_ix ON orders using gin (state) where state <> ''"
    """
    toks = tokenize(sql)
    unique = any(t.upper == "UNIQUE" for t in toks[: next(i for i, t in enumerate(toks) if t.upper == "INDEX")])
    on = next(i for i, t in enumerate(toks) if t.upper == "ON")
    i = on + 1
    if toks[i].upper == "ONLY":
        i += 1
    i += 1  # the table name, possibly dotted
    while i + 1 < len(toks) and toks[i].text == ".":
        i += 2
    rest = sql[toks[i].start :] if i < len(toks) else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    return f"CREATE {kind} CONCURRENTLY {q(name)} ON {table.sql()} {rename_ident(rest, old, new)}"


def _key_copy(table: Name, con: Constraint, old: str, new: str) -> tuple[IndexCopy, ConstraintCopy]:
    tmp = temporary(con.name)
    columns = ", ".join(q(new if c == old else c) for c in con.columns)
    index = IndexCopy(con.name, tmp, f"CREATE UNIQUE INDEX CONCURRENTLY {q(tmp)} ON {table.sql()} ({columns})")
    return index, ConstraintCopy(con.name, tmp, con.kind, NewConstraint(tmp, con.kind, "", con.columns))


def _body(table: Name, con: Constraint) -> str:
    if con.definition:
        return strip_name(con.definition)
    if con.kind == "foreign_key" and con.references is not None:
        return f"FOREIGN KEY ({', '.join(q(c) for c in con.columns)}) REFERENCES {con.references.sql()}"
    raise PlanError(f"the definition of constraint {con.name} on {table} is not known: recreate it by hand")


def _constraint_copy(table: Name, con: Constraint, old: str, new: str) -> ConstraintCopy:
    tmp = temporary(con.name)
    body = rename_ident(_body(table, con), old, new)
    return ConstraintCopy(con.name, tmp, con.kind, NewConstraint(tmp, con.kind, body))


def _refuse_unsupported(table: Name, column: Column, facts: Facts, old: str) -> None:
    if column.identity or column.generated:
        what = "an identity" if column.identity else "a generated"
        raise PlanError(f"{table}.{old} is {what} column: bgmigrate cannot carry it over online; change it by hand")
    referencing = facts.referenced_by(table, old)
    if referencing:
        raise PlanError(
            f"{table}.{old} is referenced by foreign keys ({', '.join(referencing)}): bgmigrate cannot move "
            "them online; change them by hand"
        )


def sequence_of(default: str | None, table: Name, column: str) -> str | None:
    """The sequence a ``nextval`` default draws from (replay writes serials as bare ``nextval()``).

    >>> sequence_of("nextval('orders_id_seq'::regclass)", Name("orders"), "id"), sequence_of("nextval()", Name("t", "s"), "n")
    ('orders_id_seq', 's.t_n_seq')
    """
    if not default or "nextval" not in default.lower():
        return None
    match = _NEXTVAL.search(default)
    if match:
        return match.group(1).replace("''", "'")
    return in_schema_of(table, object_name(table.name, column, "seq"))  # as PostgreSQL names a serial's sequence


def default_sql(column: Column, table: Name, name: str) -> str | None:
    """The column's default as SQL (a replayed serial's placeholder becomes its real nextval)."""
    if column.default == "nextval()":
        return f"nextval({quote_literal(str(sequence_of(column.default, table, name)))}::regclass)"
    return column.default


def plan_carry(table: Name, old: str, new: str, facts: Facts, dropped: frozenset[str] = frozenset()) -> Carry:
    """What must move from ``old`` to ``new``; refuses what cannot move online.

    Indexes named in ``dropped`` (the migration drops them itself) are not carried: the copy
    would outlive the drop under the original name.
    """
    column = facts.column(table, old)
    if column is None:
        raise PlanError(
            f"the type of {table}.{old} is not known: give --schema/--dsn, or plan the migration inside the "
            "folder whose earlier migrations create the table"
        )
    _refuse_unsupported(table, column, facts, old)
    indexes = [
        IndexCopy(i.name, temporary(i.name), retarget_index(_index_sql(table, i, facts), table, old, new, temporary(i.name)))
        for i in facts.indexes_on(table, old)
        if i.name not in dropped
    ]  # fmt: skip
    keys: list[ConstraintCopy] = []
    constraints: list[ConstraintCopy] = []
    for con in facts.constraints_on(table, old):
        if con.kind in ("primary_key", "unique"):
            index, key = _key_copy(table, con, old, new)
            indexes.append(index)
            keys.append(key)
        elif con.kind in ("check", "foreign_key"):
            constraints.append(_constraint_copy(table, con, old, new))
        elif con.kind == "exclude":
            raise PlanError(f"{table}.{old} is in exclusion constraint {con.name}: change it by hand")
    return Carry(column, tuple(indexes), tuple(keys), tuple(constraints), sequence_of(column.default, table, old))
