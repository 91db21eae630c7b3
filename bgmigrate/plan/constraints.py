"""Constraints added the online way.

CHECK and FOREIGN KEY: ``ADD … NOT VALID`` (brief lock, no scan; new writes are checked from
then on) in expand, ``VALIDATE CONSTRAINT`` (a scan under SHARE UPDATE EXCLUSIVE) in migrate.
UNIQUE and PRIMARY KEY: ``CREATE UNIQUE INDEX CONCURRENTLY``, then ``ADD CONSTRAINT … USING
INDEX`` (brief lock, no build); a primary key's columns first become NOT NULL via a CHECK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE
from bgmigrate.plan import not_null
from bgmigrate.plan.draft import EXPAND, MIGRATE, Draft, Rewrite, suppressed
from bgmigrate.plan.facts import Facts
from bgmigrate.plan.indexes import build_concurrently
from bgmigrate.plan.phases import Check, Step
from bgmigrate.plan.sqlgen import alter, q, step
from bgmigrate.sql.implicit_names import constraint_name
from bgmigrate.sql.names import Name
from bgmigrate.sql.tokens import tokenize

_ONLINE_KINDS = ("check", "foreign_key", "unique", "primary_key")


@dataclass(frozen=True)
class NewConstraint:
    """A constraint to add: its name, kind, definition without name, and its columns."""

    name: str
    kind: ops.ConstraintKind
    body: str  # e.g. "CHECK (amount > 0)", "FOREIGN KEY (a) REFERENCES u (id)", "UNIQUE (a, b)"
    columns: tuple[str, ...] = ()


def strip_name(sql: str) -> str:
    """A table constraint's text without ``CONSTRAINT name`` and ``NOT VALID``.

    >>> strip_name("CONSTRAINT c CHECK (a > 0) NOT VALID")
    'CHECK (a > 0)'
    """
    toks = tokenize(sql)
    start = toks[2].start if toks and toks[0].upper == "CONSTRAINT" and len(toks) > 2 else 0
    end = len(sql)
    if len(toks) >= 2 and toks[-2].upper == "NOT" and toks[-1].upper == "VALID":
        end = toks[-2].start
    return sql[start:end].strip()


def first_column(expression: str, columns: Sequence[str]) -> str | None:
    """The first of the table's columns an expression mentions (PostgreSQL names CHECKs after it)."""
    for tok in tokenize(expression):
        if tok.kind in ("word", "qident") and tok.ident in columns:
            return tok.ident
    return None


def from_spec(table: Name, spec: ops.ConstraintSpec, facts: Facts) -> NewConstraint:
    """The constraint a table-level ConstraintSpec adds, named as PostgreSQL would name it."""
    columns = spec.columns
    if spec.kind == "check" and spec.expression:
        found_table = facts.table(table)
        known = tuple(found_table.columns) if found_table else ()
        found = first_column(spec.expression, known)
        columns = (found,) if found else ()
    name = spec.name or constraint_name(table.name, spec.kind, columns)
    return NewConstraint(name, spec.kind, strip_name(spec.sql), spec.columns)


def not_valid_then_validate(table: Name, con: NewConstraint, line: int | None) -> Rewrite:
    lock = SHARE_ROW_EXCLUSIVE if con.kind == "foreign_key" else ACCESS_EXCLUSIVE
    label = "foreign key" if con.kind == "foreign_key" else "check"
    drop = alter(table, f"DROP CONSTRAINT IF EXISTS {q(con.name)}")
    add = step(
        f"add {label} {con.name} on {table} NOT VALID (checks new writes; no scan)",
        alter(table, f"ADD CONSTRAINT {q(con.name)} {con.body} NOT VALID"),
        table=table, lock=lock, rollback=drop, line=line,
    )  # fmt: skip
    validate = step(
        f"validate {label} {con.name} on {table} (scans; reads and writes continue)",
        alter(table, f"VALIDATE CONSTRAINT {q(con.name)}"),
        table=table, lock=SHARE_UPDATE_EXCLUSIVE, line=line,
    )  # fmt: skip
    check = Check("constraint_validated", table=str(table), name=con.name, description=f"{con.name} is validated")
    return Rewrite(expand=(add,), migrate=(validate,), checks=((MIGRATE, check),), recipe=f"add {label}")


def _index_tail(body: str) -> tuple[str, str, str]:
    """Split ``UNIQUE [NULLS [NOT] DISTINCT] (cols) [INCLUDE (…)] [DEFERRABLE …]`` into
    (index key and options, NULLS clause, constraint attributes)."""
    toks = tokenize(body)
    i = 2 if toks and toks[0].upper == "PRIMARY" else 1
    nulls = ""
    if i < len(toks) and toks[i].upper == "NULLS":
        j = i + (3 if toks[i + 1].upper == "NOT" else 2)
        nulls = body[toks[i].start : toks[j - 1].end]
        i = j
    attrs_at = len(body)
    for n, tok in enumerate(toks[i:], start=i):
        follows = toks[n + 1].upper if n + 1 < len(toks) else ""
        if tok.upper in ("DEFERRABLE", "INITIALLY") or (tok.upper == "NOT" and follows == "DEFERRABLE"):
            attrs_at = tok.start
            break
    key = body[toks[i].start : attrs_at].strip() if i < len(toks) else ""
    key = key.replace("USING INDEX TABLESPACE", "TABLESPACE")
    return key, nulls, body[attrs_at:].strip()


def _via_unique_index(table: Name, con: NewConstraint, facts: Facts, pg_version: int, line: int | None) -> Rewrite:
    key, nulls, attrs = _index_tail(con.body)
    keyword = "PRIMARY KEY" if con.kind == "primary_key" else "UNIQUE"
    build = build_concurrently(table, con.name, f"CREATE UNIQUE INDEX CONCURRENTLY {q(con.name)} ON {table.sql()} "
                               f"{key}{' ' + nulls if nulls else ''}", line)  # fmt: skip
    steps: list[Step] = [build]
    if con.kind == "primary_key":
        for column in con.columns:
            known = facts.column(table, column)
            if known is None or known.nullable:
                steps += not_null.enforce(table, column, pg_version, line)
    steps.append(step(
        f"add {keyword.lower()} {con.name} on {table} using the index just built (brief lock, no build)",
        alter(table, f"ADD CONSTRAINT {q(con.name)} {keyword} USING INDEX {q(con.name)}{' ' + attrs if attrs else ''}"),
        table=table, lock=ACCESS_EXCLUSIVE, rollback=alter(table, f"DROP CONSTRAINT IF EXISTS {q(con.name)}"), line=line,
    ))  # fmt: skip
    check = Check("constraint_validated", table=str(table), name=con.name, description=f"{con.name} is in place")
    return Rewrite(expand=tuple(steps), checks=((EXPAND, check),), recipe=f"add {keyword.lower()}")


def online(table: Name, con: NewConstraint, facts: Facts, pg_version: int, line: int | None) -> Rewrite:
    """The online form of adding ``con`` to an existing table."""
    if con.kind in ("check", "foreign_key"):
        return not_valid_then_validate(table, con, line)
    return _via_unique_index(table, con, facts, pg_version, line)


def plans_online(op: ops.Operation, facts: Facts) -> bool:
    """Whether the AddConstraint is one this module rewrites."""
    return (
        isinstance(op, ops.AddConstraint)
        and not facts.is_new(op.target)
        and op.constraint.kind in _ONLINE_KINDS
        and not op.constraint.not_valid
        and op.constraint.using_index is None
    )


def add_constraints(draft: Draft) -> Draft:
    """Pass: ADD CONSTRAINT on existing tables → NOT VALID + VALIDATE, or unique index + USING INDEX.

    >>> from bgmigrate.plan.testing import draft_of
    >>> d = add_constraints(draft_of("ALTER TABLE t ADD CONSTRAINT c CHECK (n > 0);"))
    >>> [(f.phase, f.step.sql) for f in d.fragments]
    [('expand', 'ALTER TABLE t ADD CONSTRAINT c CHECK (n > 0) NOT VALID'), ('migrate', 'ALTER TABLE t VALIDATE CONSTRAINT c')]
    """
    for item in list(draft.pending(ops.AddConstraint)):
        if plans_online(item.op, item.facts) and not suppressed(item, "validating-constraint", "unique-without-index"):
            assert isinstance(item.op, ops.AddConstraint)
            con = from_spec(item.op.target, item.op.constraint, item.facts)
            draft = draft.place(
                item, online(item.op.target, con, item.facts, draft.request.pg_version, item.op.stmt.line)
            )
    return draft
