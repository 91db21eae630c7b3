"""Transactions and lock waits: concurrently-in-transaction, statement-fails-in-transaction,
enum-add-value-in-transaction, missing-lock-timeout, lock-held-across-statements.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from bgmigrate.lint.rules.api import Hit, OpContext, migration_rule, op_rule
from bgmigrate.lint.rules.history import ColumnTypes, earlier_has
from bgmigrate.lint.rules.lock_data import LOCK_TIMEOUT, indent_sql, outside_transaction_advice, shown, snippet
from bgmigrate.lint.rules.lock_rewrites import rewrite_reason
from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, lock_taken
from bgmigrate.sql.names import Name
from bgmigrate.sql.quote import quote_literal
from bgmigrate.sql.tokens import tokenize
from bgmigrate.sql.type_facts import is_binary_coercible, normalize_type

EXCLUSIVE = "EXCLUSIVE"
# Locks that make later queries queue behind a waiting request: they conflict with plain writes.
STRONG = (ACCESS_EXCLUSIVE, EXCLUSIVE, SHARE_ROW_EXCLUSIVE, SHARE)


# ---- concurrently-in-transaction -----------------------------------------------------------------


def _concurrent_label(op: ops.Operation) -> str | None:
    if isinstance(op, ops.CreateIndex) and op.concurrently:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(op, ops.DropIndex) and op.concurrently:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(op, ops.Reindex) and op.concurrently:
        return "REINDEX CONCURRENTLY"
    if isinstance(op, ops.DetachPartition) and op.concurrently and not op.finalize:  # FINALIZE may run in one
        return "DETACH PARTITION CONCURRENTLY"
    return None


def _py(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alembic_call(op: ops.Operation) -> str:
    """The Alembic call for a CONCURRENTLY operation, in the user's names where they are known."""
    if isinstance(op, ops.CreateIndex) and op.name and op.columns and not op.expression:
        cols = ", ".join(_py(c) for c in op.columns)
        schema = f", schema={_py(op.target.schema)}" if op.target.schema else ""
        unique = ", unique=True" if op.unique else ""
        return (
            f"op.create_index({_py(op.name)}, {_py(op.target.name)}, [{cols}]{unique}{schema}, "
            "postgresql_concurrently=True)"
        )
    if isinstance(op, ops.DropIndex):
        schema = f", schema={_py(op.index.schema)}" if op.index.schema else ""
        return f"op.drop_index({_py(op.index.name)}{schema}, postgresql_concurrently=True)"
    return f"op.execute({_py(' '.join(op.stmt.text.split()))})"


@op_rule("concurrently-in-transaction", ops.CreateIndex, ops.DropIndex, ops.Reindex, ops.DetachPartition)
def concurrently_in_transaction(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """CONCURRENTLY forms refuse to run inside a transaction block: the migration fails."""
    label = _concurrent_label(op)
    if label is None or not ctx.in_transaction:
        return
    if ctx.migration.kind == "alembic":
        call = _alembic_call(op)
        fix = (
            "1. Alembic runs upgrade() in one transaction, and postgresql_concurrently=True alone does not "
            "leave it. Wrap the operation in an autocommit block:\n"
            + indent_sql(f"with op.get_context().autocommit_block():\n    {call}")
            + "\n2. Keep other work out of that block: it commits everything before it first."
        )
    else:
        fix = f"1. {outside_transaction_advice(ctx)}\n2. Keep it as its own statement; do not wrap it in BEGIN/COMMIT."
    yield Hit(
        op,
        f'{label} cannot run inside a transaction block: PostgreSQL rejects it ("cannot run inside a '
        f'transaction block") and this migration fails at that statement.',
        fix,
    )


# ---- statement-fails-in-transaction ---------------------------------------------------------------

_NO_TX_OTHER = {"vacuum": "VACUUM", "alter system": "ALTER SYSTEM"}
_NO_TX_OBJECTS = {"database": "DATABASE", "tablespace": "TABLESPACE"}


def _no_transaction_label(op: ops.Operation) -> str | None:
    if isinstance(op, ops.Other):
        return _NO_TX_OTHER.get(op.kind)
    if isinstance(op, ops.VacuumFull):
        return "VACUUM FULL"
    if isinstance(op, ops.Cluster) and op.target is None:
        return "CLUSTER without a table name"
    if isinstance(op, ops.Reindex) and not op.concurrently and op.kind in ("schema", "database", "system"):
        return f"REINDEX {op.kind.upper()}"
    if isinstance(op, ops.CreateObject | ops.DropObject) and op.kind in _NO_TX_OBJECTS:
        verb = "CREATE" if isinstance(op, ops.CreateObject) else "DROP"
        return f"{verb} {_NO_TX_OBJECTS[op.kind]}"
    return None


@op_rule("statement-fails-in-transaction", ops.Other, ops.VacuumFull, ops.Cluster, ops.Reindex,
         ops.CreateObject, ops.DropObject)  # fmt: skip
def statement_fails_in_transaction(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """VACUUM, REINDEX SCHEMA/DATABASE and friends refuse to run inside a transaction block."""
    label = _no_transaction_label(op)
    if label is None or not ctx.in_transaction:
        return
    yield Hit(
        op,
        f"{label} cannot run inside a transaction block: PostgreSQL rejects it and this migration fails "
        "at that statement.",
        f"1. {outside_transaction_advice(ctx)}\n"
        "2. Better still, keep maintenance commands (VACUUM, REINDEX, CLUSTER) out of deploy-time migrations "
        "and run them from a scheduled job.",
    )


# ---- enum-add-value-in-transaction ------------------------------------------------------------------


def _commit_between(ctx: OpContext, added: ops.AddEnumValue, user: ops.Operation) -> str:
    add = f"ALTER TYPE {added.type_name.sql()} ADD VALUE"
    if ctx.migration.kind == "alembic":
        return (
            f"1. Run the {add} inside `with op.get_context().autocommit_block():` so it commits before the "
            "statements that use the value (or move it to an earlier migration)."
        )
    if earlier_has(ctx.earlier, "begin"):
        return (
            f"1. Commit between adding the value (line {added.stmt.line}) and using it (line "
            f"{user.stmt.line}): COMMIT; then BEGIN; again, or move the {add} to an earlier migration."
        )
    return f"1. Move the {add} to an earlier migration, so it has committed before the value is used."


@migration_rule("enum-add-value-in-transaction")
def enum_add_value_in_transaction(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """ALTER TYPE … ADD VALUE in a transaction: fails before PG 12; from 12 the value waits for COMMIT."""
    created: set[tuple[str, str]] = set()  # enum types created since the last BEGIN/COMMIT/ROLLBACK
    for op, ctx in seen:
        if isinstance(op, ops.TransactionControl) and op.action in ("commit", "rollback", "begin"):
            created.clear()
        elif isinstance(op, ops.CreateEnum):
            created.add(op.type_name.key)
        if not isinstance(op, ops.AddEnumValue) or not ctx.in_transaction or ctx.pg_version >= 12:
            continue
        if op.type_name.key in created:
            continue  # allowed: the type itself is new in this transaction
        yield Hit(
            op,
            f"ALTER TYPE {op.type_name} ADD VALUE '{op.value}' cannot run inside a transaction "
            "block before "
            f"PostgreSQL 12 (this targets {ctx.pg_version}): the migration fails at this statement.",
            f"1. {outside_transaction_advice(ctx)}\n"
            "2. Use the new value only in statements that run after it has committed.",
        )
    yield from _new_values_used(seen)


def _new_values_used(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """The first statement using each value added earlier in the same transaction (PG 12+).

    One pass: the values added in the open transaction wait in a dict, and each statement is
    checked for the literals it holds, not against every pending value in turn.
    """
    pending: dict[str, list[tuple[ops.AddEnumValue, OpContext]]] = {}
    for later, lctx in seen:
        ends = isinstance(later, ops.TransactionControl) and later.action in ("commit", "rollback", "begin")
        if not lctx.in_transaction or ends:
            pending.clear()
            continue
        if pending and not isinstance(later, ops.AddEnumValue | ops.CreateEnum):
            for literal in _literals(later.stmt.parse_text) & pending.keys():
                waiting = pending.pop(literal)
                for op, ctx in waiting:
                    if op.stmt is later.stmt:
                        pending.setdefault(literal, []).append((op, ctx))  # its own statement: not a use
                        continue
                    yield Hit(
                        later,
                        f"Line {later.stmt.line} uses '{op.value}', which line {op.stmt.line} adds to "
                        f"{op.type_name} in the same transaction: a new enum value cannot be used before that "
                        'transaction commits, so PostgreSQL rejects this statement ("unsafe use of new value").',
                        _commit_between(ctx, op, later),
                    )
        if isinstance(later, ops.AddEnumValue) and lctx.pg_version >= 12:
            pending.setdefault(quote_literal(later.value), []).append((later, lctx))


_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _literals(sql: str) -> set[str]:
    """Every single-quoted literal in ``sql``, inside dollar-quoted bodies too (as written)."""
    found: set[str] = set()
    for tok in tokenize(sql):
        if tok.kind in ("string", "dollar"):
            found.update(_QUOTED.findall(tok.text))
    return found


# ---- what lock an operation waits for ----------------------------------------------------------------


def locks_of(op: ops.Operation, ctx: OpContext) -> list[tuple[str, Name | None]]:
    """Strong locks ``op`` takes on existing tables, as (mode, table); table None = unknown or many."""
    found: list[tuple[str, Name | None]] = []
    if isinstance(op, ops.DropIndex):
        if not op.concurrently:
            found.append((ACCESS_EXCLUSIVE, ctx.lock_table(op)))
    elif isinstance(op, ops.Reindex):
        if not op.concurrently:
            found.append((SHARE, ctx.lock_table(op)))
    elif isinstance(op, ops.RefreshMaterializedView):
        if not op.concurrently and not ctx.created_here("materialized view", op.view):
            found.append((ACCESS_EXCLUSIVE, op.view))
    elif isinstance(op, ops.VacuumFull | ops.Cluster) and op.target is None:
        found.append((ACCESS_EXCLUSIVE, None))  # every table in the database
    elif isinstance(op, ops.CreateTable):
        refs = [c.references for c in op.columns if c.references]
        refs += [c.references for c in op.constraints if c.kind == "foreign_key" and c.references]
        found.extend((SHARE_ROW_EXCLUSIVE, r) for r in refs if r.key != op.target.key)
    else:
        taken = lock_taken(op)
        if taken is not None:
            found.append((taken.mode.upper(), taken.table))
        if isinstance(op, ops.AddConstraint) and op.constraint.kind == "foreign_key" and op.constraint.references:
            found.append((SHARE_ROW_EXCLUSIVE, op.constraint.references))
        if isinstance(op, ops.AddColumn) and op.column.references:
            found.append((SHARE_ROW_EXCLUSIVE, op.column.references))
    result: list[tuple[str, Name | None]] = []
    for mode, table in found:
        if mode in STRONG and (table is None or ctx.is_existing_table(table)):
            entry = (mode, shown(table) if table is not None else None)
            if entry not in result:
                result.append(entry)
    return result


def _lock_phrase(mode: str, table: Name | None) -> str:
    return f"{mode} on {table}" if table is not None else f"{mode} on the tables it touches"


def _queued(mode: str) -> str:
    return "reads and writes" if mode == ACCESS_EXCLUSIVE else "writes"


# ---- missing-lock-timeout --------------------------------------------------------------------------


def _same_statement_earlier(op: ops.Operation, ctx: OpContext) -> Iterator[ops.Operation]:
    for earlier in reversed(ctx.earlier):
        if earlier.stmt is not op.stmt:
            return
        yield earlier


@op_rule("missing-lock-timeout", ops.Operation)
def missing_lock_timeout(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """A strong lock requested with no lock_timeout can queue all traffic behind it while it waits."""
    if ctx.lock_timeout_set:
        return
    locks = locks_of(op, ctx)
    if not locks:
        return
    # One finding per statement: an ALTER TABLE with several actions is one lock request.
    if any(locks_of(earlier, ctx) for earlier in _same_statement_earlier(op, ctx)):
        return
    # This transaction already holds ACCESS EXCLUSIVE on the table: nothing left to wait for.
    held = lock_taken(ctx.exclusive_lock_holder) if ctx.exclusive_lock_holder is not None else None
    if held is not None and all(t is not None and t.key == held.table.key for _, t in locks):
        return
    mode, table = locks[0]
    taken = ", ".join(_lock_phrase(m, t) for m, t in locks)
    whom = str(table) if table is not None else "those tables"
    yield Hit(
        op,
        f"{snippet(op.stmt)} takes {taken} with no lock_timeout set. If it has to wait behind a long-running "
        f"query or transaction, all {_queued(mode)} on {whom} queue behind it for as long as it waits.",
        _lock_timeout_fix(ctx.migration.kind == "alembic", ctx.in_transaction),
    )


@functools.cache
def _lock_timeout_fix(alembic: bool, in_transaction: bool) -> str:
    """The fix of missing-lock-timeout: the same text for every statement of a kind of file."""
    if alembic:
        fix = "1. Set a lock timeout at the top of upgrade() (or once in env.py for every migration):\n" + indent_sql(
            f"op.execute(\"SET lock_timeout = '{LOCK_TIMEOUT}'\")"
        )
    else:
        local = "LOCAL " if in_transaction else ""
        fix = "1. Set a lock timeout before it:\n" + indent_sql(f"SET {local}lock_timeout = '{LOCK_TIMEOUT}';")
    return fix + (
        '\n2. When it fails with "canceling statement due to lock timeout" (SQLSTATE 55P03), retry the '
        "migration after a short pause: a failed attempt costs nothing, a long wait stalls traffic."
    )


# ---- lock-held-across-statements ---------------------------------------------------------------------


def _type_before(op: ops.AlterColumnType, earlier: Sequence[ops.Operation]) -> str | None:
    """The column's type just before ``op``, when an earlier operation of this migration set it."""
    for prior in reversed(earlier):
        if isinstance(prior, ops.AlterColumnType) and prior.target.key == op.target.key and prior.column == op.column:
            return prior.new_type
        if isinstance(prior, ops.AddColumn) and prior.target.key == op.target.key and prior.column.name == op.column:
            return prior.column.type
        if isinstance(prior, ops.CreateTable) and prior.target.key == op.target.key:
            return next((c.type for c in prior.columns if c.name == op.column), None)
    return None


def _slow_work(op: ops.Operation, ctx: OpContext, looking_back: bool = False) -> str | None:
    """What makes ``op`` take long on an existing table, or None when it is quick.

    ``looking_back``: ``op`` ran before ``ctx`` (the schema no longer shows what it saw); doubtful
    cases then count as quick, so a transaction is reported twice rather than not at all.
    """
    table = getattr(op, "target", None)
    if isinstance(table, Name) and ctx.is_new_table(table):
        return None
    if isinstance(op, ops.CreateIndex):
        # A CONCURRENTLY build cannot run in the transaction at all (concurrently-in-transaction).
        return None if op.concurrently else "builds an index"
    if isinstance(op, ops.AddConstraint):
        spec = op.constraint
        if spec.kind in ("check", "foreign_key") and not spec.not_valid:
            return "scans the table to check the constraint"
        if spec.kind in ("unique", "primary_key", "exclude") and not spec.using_index:
            return "builds an index"
        return None
    if isinstance(op, ops.ValidateConstraint):
        return "scans the table to validate a constraint"
    if isinstance(op, ops.SetNotNull):
        return "may scan the table to check for NULLs"
    if isinstance(op, ops.AlterColumnType):
        if looking_back:
            old = _type_before_earlier(op, ctx.earlier)
        else:
            column = ctx.schema.column(op.target, op.column)
            old = column.type if column is not None and column.type != "unknown" else None
        if old is None:
            if looking_back and _may_be_coercible_to(op.new_type):
                return None
            return "may rewrite the table"
        return None if is_binary_coercible(old, op.new_type) else "may rewrite the table"
    if isinstance(op, ops.AddColumn):
        return "rewrites the table" if rewrite_reason(op, ctx.pg_version) else None
    if isinstance(op, ops.UpdateRows | ops.DeleteRows):
        return "changes rows"
    if isinstance(op, ops.VacuumFull | ops.Cluster):
        return "rewrites the table"
    if isinstance(op, ops.Reindex):
        return None if op.concurrently else "rebuilds indexes"
    if isinstance(op, ops.RefreshMaterializedView):
        return "refreshes a materialized view"
    if isinstance(op, ops.AlterTableSet) and op.what in ("tablespace", "logged", "unlogged", "access method"):
        return "rewrites the table"
    return None


_COERCIBLE_TARGETS = ("text", "character varying", "numeric", "bit varying", "varbit", "timestamp", "time", "interval")


def _may_be_coercible_to(new_type: str) -> bool:
    """Whether some other type converts to ``new_type`` without a rewrite (see is_binary_coercible)."""
    base = re.sub(r"\(.*$", "", normalize_type(new_type))
    return base in _COERCIBLE_TARGETS or base == "timestamptz"


def _type_before_earlier(op: ops.AlterColumnType, earlier: Sequence[ops.Operation]) -> str | None:
    """``_type_before`` for an operation among ``earlier``: looked up in the linter's record."""
    types: ColumnTypes | None = getattr(earlier, "types", None)
    step = types.position(op) if types is not None else None
    if types is None or step is None:
        return _type_before(op, earlier[: _index_of(op, earlier)])
    return types.type_before(step, op.target.key, op.column)


def _index_of(op: ops.Operation, seq: Sequence[ops.Operation]) -> int:
    return next(i for i, o in enumerate(seq) if o is op)


def _lock_wait(op: ops.Operation, ctx: OpContext, holder_table: Name, looking_back: bool = False) -> str | None:
    """A lock ``op`` may have to wait for on an existing table other than the holder's."""
    if _concurrent_label(op) is not None:
        return None  # cannot run in the transaction at all: concurrently-in-transaction reports it
    tables: list[Name | None] = [t for _, t in locks_of(op, ctx)]
    taken = lock_taken(op)
    if taken is not None and ctx.is_existing_table(taken.table):
        tables.append(taken.table)
    for table in tables:
        if table is None:
            if looking_back:
                continue  # an index dropped since can no longer be traced to its table
            return "waits for locks on other tables"
        if table.key != holder_table.key:
            return f"waits for a lock on {table}"
    return None


def _extends_lock(op: ops.Operation, ctx: OpContext, holder_table: Name, looking_back: bool = False) -> str | None:
    return _slow_work(op, ctx, looking_back) or _lock_wait(op, ctx, holder_table, looking_back)


@op_rule("lock-held-across-statements", ops.Operation)
def lock_held_across_statements(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """More work after an ACCESS EXCLUSIVE lock in the same transaction keeps the table blocked."""
    holder = ctx.exclusive_lock_holder
    if holder is None or holder.stmt is op.stmt:
        return
    taken = lock_taken(holder)
    if taken is None:
        return
    work = _extends_lock(op, ctx, taken.table)
    if work is None:
        return
    # Once per transaction: stay quiet if an earlier statement after the holder was reported.
    for earlier in reversed(ctx.earlier):
        if earlier is holder:
            break
        if earlier.stmt.in_autocommit_block:
            return  # the holder's transaction was committed before the autocommit block
        if earlier.stmt is not holder.stmt and _extends_lock(earlier, ctx, taken.table, looking_back=True):
            return
    line = holder.stmt.line
    if ctx.migration.kind == "alembic":
        split = (
            f"1. Put the statement on line {line} in a migration of its own and run each migration in its "
            "own transaction (transaction_per_migration=True in env.py), so its lock is released at once."
        )
    else:
        split = (
            f"1. Commit right after the statement on line {line}, so its lock is released at once (with "
            "explicit transactions: COMMIT; then BEGIN; for the rest; otherwise move the rest to its own "
            "migration)."
        )
    yield Hit(
        op,
        f"{snippet(op.stmt)} {work} while this transaction still holds the ACCESS EXCLUSIVE lock that "
        f"line {line} took on {taken.table}. That lock lasts until COMMIT, so every read and write on "
        f"{taken.table} waits for this statement too.",
        split + "\n2. Give each lock-taking statement its own short transaction, with lock_timeout set, "
        "and run slow work (index builds, validation, backfills) outside it, in its online form.",
    )
