"""What ``bgmigrate trace`` observed, and the locks and rewrites the static rules did not predict.

Pure: the runner (``bgmigrate.trace.tracer``) fills these values from a real database; the
catalogue examples of ``unpredicted-lock`` fill them by hand. Both then ask the same question
here: which write-blocking lock or rewrite, seen on a relation that existed before the migration,
did bgmigrate's model not expect? Locks come from ``bgmigrate.model.locks`` (plus the tables a foreign
key references); rewrites from the forms that give a table new storage (a non-coercible type
change, a volatile or generated column, TRUNCATE, VACUUM FULL, CLUSTER, SET TABLESPACE/LOGGED).
Static findings are not counted as predictions: "missing lock_timeout" on a statement says
nothing about the rewrite it may do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.findings import Finding
from bgmigrate.lint.rules.api import Hit
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.locks import lock_mode, lock_taken
from bgmigrate.model.migration import Migration
from bgmigrate.model.operations import LockMode
from bgmigrate.model.replay import apply
from bgmigrate.model.schema import Schema
from bgmigrate.sql.names import Name, quote_ident
from bgmigrate.sql.statements import Statement
from bgmigrate.sql.type_facts import is_binary_coercible

RULE = "unpredicted-lock"

# pg_locks modes, weakest first.
MODES = (
    "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
    "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)  # fmt: skip
_STRENGTH = {mode: rank for rank, mode in enumerate(MODES, start=1)}
# The weakest mode that blocks writes: from here on a lock is worth a finding.
_BLOCKS_WRITES = _STRENGTH["ShareLock"]
# bgmigrate.model.locks spells modes as the documentation does.
_MODEL_MODES: dict[LockMode, str] = {
    "ACCESS SHARE": "AccessShareLock", "ROW SHARE": "RowShareLock", "ROW EXCLUSIVE": "RowExclusiveLock",
    "SHARE UPDATE EXCLUSIVE": "ShareUpdateExclusiveLock", "SHARE": "ShareLock",
    "SHARE ROW EXCLUSIVE": "ShareRowExclusiveLock", "EXCLUSIVE": "ExclusiveLock",
    "ACCESS EXCLUSIVE": "AccessExclusiveLock",
}  # fmt: skip
_BLOCKS = {
    "ShareLock": "blocks all writes",
    "ShareRowExclusiveLock": "blocks all writes",
    "ExclusiveLock": "blocks all writes",
    "AccessExclusiveLock": "blocks every read and write",
}


def strength(mode: str) -> int:
    """Rank of a pg_locks mode (0 for one not known).

    >>> strength("ShareLock") < strength("AccessExclusiveLock")
    True
    """
    return _STRENGTH.get(mode, 0)


RelationKind = Literal["table", "index", "other"]
_RELATION_KINDS: dict[str, RelationKind] = {"table": "table", "index": "index", "other": "other"}


@dataclass(frozen=True)
class Relation:
    """A table or index as trace names it: always schema-qualified."""

    schema: str
    name: str
    kind: RelationKind = "table"

    @property
    def relation(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Lock:
    relation: Relation
    mode: str


@dataclass
class TracedStatement:
    """One statement of the migration and what running it did."""

    line: int
    sql: str
    end_line: int = 0
    locks: list[Lock] = field(default_factory=list)
    rewrites: list[Relation] = field(default_factory=list)
    duration_ms: float | None = None
    error: str | None = None
    not_traced: str | None = None  # why it was not run, when it was not

    def to_dict(self) -> dict[str, object]:
        return {
            "line": self.line,
            "sql": self.sql,
            "locks": [
                {"relation": lk.relation.relation, "mode": lk.mode, "kind": lk.relation.kind}
                for lk in sorted(self.locks, key=lambda lk: (lk.relation.key, -strength(lk.mode)))
            ],
            "rewrites": [{"relation": r.relation, "kind": r.kind} for r in sorted(self.rewrites, key=lambda r: r.key)],
            "duration_ms": self.duration_ms,
            "error": self.error,
            "not_traced": self.not_traced,
        }


@dataclass
class TraceResult:
    """Everything one trace run saw.

    ``rolled_back`` is True only once the rollback was verified; ``transaction_ended`` says why
    the transaction closed before trace ended it (its changes may then have been committed).
    """

    database: str  # the DSN, redacted
    path: str
    server_version: int | None = None
    statements: list[TracedStatement] = field(default_factory=list)
    rolled_back: bool = False
    interrupted: bool = False
    transaction_ended: str | None = None

    @property
    def failed(self) -> TracedStatement | None:
        return next((s for s in self.statements if s.error is not None), None)


# ---- what bgmigrate's model expects -------------------------------------------------------


@dataclass
class Expectation:
    """What the lock and rewrite model expects of one statement."""

    locks: dict[tuple[str, str], int] = field(default_factory=dict)  # table key → strength
    rewrites: set[tuple[str, str]] = field(default_factory=set)  # tables (and indexes) rewritten

    def expect(self, name: Name | None, mode: str) -> None:
        if name is not None:
            self.locks[name.key] = max(self.locks.get(name.key, 0), strength(mode))


def _referenced_tables(op: ops.Operation) -> list[Name]:
    """Tables a foreign key names: adding one locks them too (SHARE ROW EXCLUSIVE)."""
    if isinstance(op, ops.AddConstraint) and op.constraint.references is not None:
        return [op.constraint.references]
    if isinstance(op, ops.AddColumn) and op.column.references is not None:
        return [op.column.references]
    if isinstance(op, ops.CreateTable):
        refs = [c.references for c in op.columns if c.references is not None]
        return refs + [c.references for c in op.constraints if c.references is not None]
    return []


def _index_table(schema: Schema, index: Name) -> Name | None:
    found = schema.index(index)
    return found.table if found is not None else None


def _expect_locks(op: ops.Operation, schema: Schema, into: Expectation) -> None:
    taken = lock_taken(op)
    if taken is not None:
        into.expect(taken.table, _MODEL_MODES[taken.mode])
    for ref in _referenced_tables(op):
        into.expect(ref, "ShareRowExclusiveLock")
    # Kinds that lock a relation they do not name as a table: the lock table's mode, on it.
    mode = lock_mode(op)
    if mode is None:
        return
    if isinstance(op, ops.DropIndex):
        into.expect(_index_table(schema, op.index), _MODEL_MODES[mode])
    elif isinstance(op, ops.Reindex) and not op.concurrently:
        table = _index_table(schema, op.target_name) if op.kind == "index" else op.target_name
        into.expect(table, _MODEL_MODES[mode])
    elif isinstance(op, ops.RefreshMaterializedView):
        into.expect(op.view, _MODEL_MODES[mode])


def _rewritten(op: ops.Operation, schema: Schema, pg_version: int) -> list[Name]:
    """Tables (or, for REINDEX INDEX, the index) the operation gives new storage."""
    if isinstance(op, ops.AlterColumnType):
        col = schema.column(op.target, op.column)
        coercible = col is not None and col.type != "unknown" and is_binary_coercible(col.type, op.new_type)
        return [] if coercible and op.using is None else [op.target]
    if isinstance(op, ops.AddColumn):
        spec = op.column
        volatile = spec.default_volatile or spec.serial or spec.identity or spec.generated_stored
        old_default = pg_version < 11 and (spec.default or "null").strip().lower() != "null"
        return [op.target] if volatile or old_default else []
    if isinstance(op, ops.VacuumFull | ops.Cluster | ops.Truncate) and op.target is not None:
        return [op.target]
    if isinstance(op, ops.AlterTableSet) and op.what in ("tablespace", "logged", "unlogged"):
        return [op.target]
    if isinstance(op, ops.Reindex) and op.kind in ("index", "table"):
        return [op.target_name]
    return []


def expectations(operations: Sequence[ops.Operation], schema: Schema, pg_version: int) -> dict[int, Expectation]:
    """Per statement line, the locks and rewrites expected, replaying ``operations`` onto ``schema``."""
    found: dict[int, Expectation] = {}
    for op in operations:
        into = found.setdefault(op.stmt.line, Expectation())
        _expect_locks(op, schema, into)
        into.rewrites.update(name.key for name in _rewritten(op, schema, pg_version))
        apply(schema, op, "traced")
    return found


def _rewrite_expected(rel: Relation, expected: Expectation, schema: Schema) -> bool:
    if rel.key in expected.rewrites:
        return True
    # A rewritten table rebuilds its indexes; REINDEX TABLE rebuilds them in place.
    table = _index_table(schema, Name(rel.name, rel.schema)) if rel.kind == "index" else None
    return table is not None and table.key in expected.rewrites


def _statement_at(migration: Migration, line: int) -> Statement:
    for stmt in migration.statements:
        if stmt.line == line:
            return stmt
    return Statement("", line, 1, line, 1)


def _message(surprises: Sequence[Lock], rewrites: Sequence[Relation]) -> str:
    parts = [f"took {lk.mode} on {lk.relation.relation} ({_BLOCKS[lk.mode]})" for lk in surprises]
    parts += [f"rewrote {r.kind} {r.relation}" for r in rewrites]
    return (
        "Running this statement "
        + " and ".join(parts)
        + "; bgmigrate's lock model did not predict that (a function, trigger or DO block may run DDL "
        "the SQL text does not show). On a busy table it stalls traffic for as long as the lock is held."
    )


_FIX = (
    "1. Find what takes the lock: the function, trigger or DO block this statement runs, or the "
    "table the statement locks as a side effect.\n"
    "2. Move the work into plain DDL that bgmigrate can check and give it the safe form "
    "(CONCURRENTLY, NOT VALID + VALIDATE, a batched backfill), or run it in its own migration "
    "after SET lock_timeout, at a quiet time.\n"
    "3. If the lock is expected and harmless here, say why: -- bgmigrate: ignore[unpredicted-lock] <reason>"
)


def unpredicted_hits(
    migration: Migration,
    traced: Sequence[TracedStatement],
    operations: Sequence[ops.Operation],
    schema: Schema,
    pg_version: int,
) -> list[tuple[str, Hit]]:
    """``unpredicted-lock`` hits for write-blocking locks and rewrites trace saw and the model did not expect.

    ``schema`` is the base before the migration; it is replayed (changed) along the way.
    """
    index_owner = copy.deepcopy(schema)  # the indexes as they were, to find an index's table
    expected = expectations(operations, schema, pg_version)
    hits: list[tuple[str, Hit]] = []
    for t in traced:
        if t.not_traced or t.error:
            continue
        want = expected.get(t.line, Expectation())
        surprises = [
            lk
            for lk in t.locks
            if lk.relation.kind == "table"
            and strength(lk.mode) >= _BLOCKS_WRITES
            and strength(lk.mode) > want.locks.get(lk.relation.key, 0)
        ]
        rewrites = [r for r in t.rewrites if not _rewrite_expected(r, want, index_owner)]
        if surprises or rewrites:
            stmt = _statement_at(migration, t.line)
            hits.append((RULE, Hit(ops.Other(stmt, kind="traced"), _message(surprises, rewrites), _FIX)))
    return hits


# ---- observations written by hand (catalogue examples) --------------------------------------


def _relation(text: str, kind: str) -> Relation:
    schema, _, name = text.rpartition(".")
    return Relation(schema or "public", name, _RELATION_KINDS.get(kind, "other"))


def observed_from_dicts(items: Sequence[Mapping[str, object]]) -> list[TracedStatement]:
    """Trace observations as a catalogue example writes them.

    >>> observed_from_dicts([{"line": 1, "locks": [{"relation": "public.orders", "mode": "ShareLock"}]}])[0].locks
    [Lock(relation=Relation(schema='public', name='orders', kind='table'), mode='ShareLock')]
    """
    result: list[TracedStatement] = []
    for item in items:
        locks = item.get("locks", [])
        rewrites = item.get("rewrites", [])
        line = item.get("line", 1)
        result.append(
            TracedStatement(
                line=line if isinstance(line, int) else 1,
                sql="",
                locks=[
                    Lock(_relation(str(lk["relation"]), str(lk.get("kind", "table"))), str(lk["mode"]))
                    for lk in (locks if isinstance(locks, list) else [])
                ],
                rewrites=[_relation(str(r), "table") for r in (rewrites if isinstance(rewrites, list) else [])],
            )
        )
    return result


# ---- findings ----------------------------------------------------------------------------------


def trace_findings(
    migration: Migration,
    traced: Sequence[TracedStatement],
    catalogue: Catalogue,
    settings: LintSettings,
    schema: Schema | None = None,
) -> list[Finding]:
    """``unpredicted-lock`` findings for a traced migration, judged against ``schema`` (not changed)."""
    from bgmigrate.lint.engine import parse_migration, to_findings
    from bgmigrate.lint.selection import select_rules

    operations, _errors = parse_migration(migration)
    base = copy.deepcopy(schema) if schema is not None else Schema()
    pg_version = base.server_version or settings.pg_version
    hits = unpredicted_hits(migration, traced, operations, base, pg_version)
    selection = select_rules(catalogue, settings)
    # to_findings also reports the file's ignore comments for other rules as unused: not ours to say here.
    return [f for f in to_findings(migration, hits, catalogue, selection) if f.rule == RULE]


def describe_observed(text: str) -> list[str]:
    """One line per traced statement of a catalogue example, for documentation.

    >>> describe_observed('[{"line": 1, "locks": [{"relation": "public.orders", "mode": "ShareLock"}]}]')
    ['line 1: ShareLock on public.orders']
    """
    import json

    lines = []
    for t in observed_from_dicts(json.loads(text)):
        seen = [f"{lk.mode} on {lk.relation.relation}" for lk in t.locks]
        seen += [f"rewrote {r.relation}" for r in t.rewrites]
        lines.append(f"line {t.line}: " + (", ".join(seen) or "nothing"))
    return lines
