"""What ``bgmigrate trace`` observed, and the locks and rewrites the static rules did not predict.

Pure: the runner (``bgmigrate.live.tracer``) fills these values from a real database; the
catalogue examples of ``unpredicted-lock`` fill them by hand. Both then ask the same question
here: which write-blocking lock or rewrite, seen on a table that existed before the migration,
did neither the lock model (``bgmigrate.locks``) nor any rule flag on that statement?
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bgmigrate import operations as ops
from bgmigrate.catalogue import Catalogue
from bgmigrate.checks.api import Hit
from bgmigrate.findings import Finding
from bgmigrate.locks import lock_taken
from bgmigrate.migration import Migration
from bgmigrate.names import Name, quote_ident
from bgmigrate.schema import Schema
from bgmigrate.settings import LintSettings
from bgmigrate.statements import Statement

RULE = "unpredicted-lock"

# pg_locks modes, weakest first.
MODES = (
    "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
    "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
)  # fmt: skip
_STRENGTH = {mode: rank for rank, mode in enumerate(MODES, start=1)}
# The weakest mode that blocks writes: from here on a lock is worth a finding.
_BLOCKS_WRITES = _STRENGTH["ShareLock"]
# bgmigrate.locks spells modes as the documentation does.
_MODEL_MODES = {
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
# Static findings of these groups count as the statement having been flagged.
_PREDICTING_GROUPS = frozenset({"locking", "compatibility", "data-loss"})


def strength(mode: str) -> int:
    """Rank of a pg_locks mode (0 for one not known).

    >>> strength("ShareLock") < strength("AccessExclusiveLock")
    True
    """
    return _STRENGTH.get(mode, 0)


@dataclass(frozen=True)
class Relation:
    """A table or index as trace names it: always schema-qualified."""

    schema: str
    name: str
    kind: str = "table"  # table | index | other

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
    """Everything one trace run saw. ``rolled_back`` is True once the transaction is gone."""

    database: str  # the DSN, redacted
    path: str
    server_version: int | None = None
    statements: list[TracedStatement] = field(default_factory=list)
    rolled_back: bool = False
    interrupted: bool = False

    @property
    def failed(self) -> TracedStatement | None:
        return next((s for s in self.statements if s.error is not None), None)


# ---- what the static analysis expected ------------------------------------------------------


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


def predicted_locks(operations: Iterable[ops.Operation]) -> dict[tuple[str, str], int]:
    """The strongest lock the lock model expects on each table, as a ``strength``."""
    expected: dict[tuple[str, str], int] = {}

    def expect(name: Name, mode: str) -> None:
        expected[name.key] = max(expected.get(name.key, 0), strength(mode))

    for op in operations:
        taken = lock_taken(op)
        if taken is not None:
            expect(taken.table, _MODEL_MODES.get(taken.mode, "AccessExclusiveLock"))
        for ref in _referenced_tables(op):
            expect(ref, "ShareRowExclusiveLock")
    return expected


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
        + "; no static rule predicted that (a function, trigger or DO block may run DDL the SQL text "
        "does not show). On a busy table it stalls traffic for as long as the lock is held."
    )


_FIX = (
    "1. Find what takes the lock: the function, trigger or DO block this statement runs.\n"
    "2. Move the work into plain DDL that bgmigrate can check and give it the safe form "
    "(CONCURRENTLY, NOT VALID + VALIDATE, a batched backfill), or run it in its own migration "
    "after SET lock_timeout, at a quiet time.\n"
    "3. If the lock is expected and harmless here, say why: -- bgmigrate: ignore[unpredicted-lock] <reason>"
)


def unpredicted_hits(
    migration: Migration,
    traced: Sequence[TracedStatement],
    operations: Sequence[ops.Operation],
    static_hits: Sequence[tuple[str, Hit]],
    catalogue: Catalogue,
) -> list[tuple[str, Hit]]:
    """Hits of ``unpredicted-lock`` for locks and rewrites trace saw and static analysis did not expect."""
    flagged = {
        hit.op.stmt.line
        for rule, hit in static_hits
        if rule in catalogue.entries and catalogue.entries[rule].group in _PREDICTING_GROUPS
    }
    by_line: dict[int, list[ops.Operation]] = {}
    for op in operations:
        by_line.setdefault(op.stmt.line, []).append(op)
    hits: list[tuple[str, Hit]] = []
    for t in traced:
        if t.not_traced or t.error or t.line in flagged:
            continue
        expected = predicted_locks(by_line.get(t.line, []))
        surprises = [
            lk
            for lk in t.locks
            if lk.relation.kind == "table"
            and strength(lk.mode) >= _BLOCKS_WRITES
            and strength(lk.mode) > expected.get(lk.relation.key, 0)
        ]
        if surprises or t.rewrites:
            stmt = _statement_at(migration, t.line)
            hits.append((RULE, Hit(ops.Other(stmt, kind="traced"), _message(surprises, t.rewrites), _FIX)))
    return hits


# ---- observations written by hand (catalogue examples) --------------------------------------


def _relation(text: str, kind: str) -> Relation:
    schema, _, name = text.rpartition(".")
    return Relation(schema or "public", name, kind)


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
    from bgmigrate.linter import analyse, parse_migration, to_findings
    from bgmigrate.selection import select_rules

    operations, _errors = parse_migration(migration)
    base = copy.deepcopy(schema) if schema is not None else Schema()
    static = analyse(migration, operations, base, settings)
    hits = unpredicted_hits(migration, traced, operations, static, catalogue)
    selection = select_rules(catalogue, settings)
    # to_findings also reports the file's ignore comments for other rules as unused: not ours to say here.
    return [f for f in to_findings(migration, hits, catalogue, selection) if f.rule == RULE]
