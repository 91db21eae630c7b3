"""Run a migration statement by statement inside one transaction, watch its locks, roll it back.

Meant for a staging or throwaway copy of the database: the statements really run (and really
lock), but the transaction is always rolled back: after success, after an error, on a timeout
and on Ctrl-C. Closing the connection is the last line of defence: the server rolls back any
transaction whose connection goes away.

After each statement the tracer reads ``pg_locks`` for its own backend (new relation locks, by
mode) and ``pg_class`` (a changed ``relfilenode``, or an index recreated under the same name,
means the relation was rewritten). Only relations that existed before the trace count: locks on
objects the migration itself created block nobody.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bgmigrate.dsn import (
    DEFAULT_STATEMENT_TIMEOUT_MS,
    close_quietly,
    connect,
    describe,
    one_line,
    redact,
    redact_text,
)
from bgmigrate.live.introspect import USER_SCHEMAS
from bgmigrate.live.trace import Lock, Relation, TracedStatement, TraceResult
from bgmigrate.migration import Migration
from bgmigrate.statements import Statement

if TYPE_CHECKING:
    import psycopg

_RELATIONS = f"""
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'i', 'I', 'm', 'S', 'v', 'f') AND {USER_SCHEMAS}"""
_LOCKS = """
    SELECT relation, mode FROM pg_locks
    WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation IS NOT NULL"""

_KINDS = {"r": "table", "p": "table", "m": "table", "i": "index", "I": "index"}

# Statements PostgreSQL refuses inside a transaction block, or that would end ours.
_OUTSIDE_TRANSACTION = (
    (re.compile(r"^(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b", re.I),
     "transaction control: trace runs the whole file in one transaction of its own and rolls it back"),
    (re.compile(r"^(CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX|REINDEX|REFRESH\s+MATERIALIZED\s+VIEW)\b.*\bCONCURRENTLY\b", re.I | re.S),
     "CONCURRENTLY cannot run inside a transaction block"),
    (re.compile(r"^ALTER\s+TABLE\b.*\bDETACH\s+PARTITION\b.*\b(CONCURRENTLY|FINALIZE)\b", re.I | re.S),
     "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block"),
    (re.compile(r"^(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM|CREATE\s+TABLESPACE|DROP\s+TABLESPACE"
                r"|DISCARD\s+ALL|(CREATE|ALTER|DROP)\s+SUBSCRIPTION)\b", re.I),
     "cannot run inside a transaction block"),
)  # fmt: skip
_ADD_VALUE = re.compile(r"^ALTER\s+TYPE\b.*\bADD\s+VALUE\b", re.I | re.S)
_LEADING_COMMENTS = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)*", re.S)


def untraceable(stmt: Statement, server_version: int) -> str | None:
    """Why ``stmt`` cannot run inside the trace's transaction, or None if it can.

    >>> from bgmigrate.statements import split_sql
    >>> untraceable(split_sql("CREATE INDEX CONCURRENTLY i ON t (a)")[0], 15)
    'CONCURRENTLY cannot run inside a transaction block'
    >>> untraceable(split_sql("ALTER TYPE mood ADD VALUE 'meh'")[0], 11)
    'ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12'
    >>> untraceable(split_sql("ALTER TABLE t ADD COLUMN c int")[0], 15) is None
    True
    """
    if stmt.kind != "sql":
        return "psql meta-command: only psql runs it"
    if stmt.sql:
        return "uses psql variables, which only psql fills in"
    text = _LEADING_COMMENTS.sub("", stmt.text, count=1)
    for pattern, reason in _OUTSIDE_TRANSACTION:
        if pattern.match(text):
            return reason
    if server_version < 12 and _ADD_VALUE.match(text):
        return "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12"
    return None


# ---- observing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rel:
    relation: Relation
    filenode: int


def _relations(conn: psycopg.Connection[Any]) -> dict[int, _Rel]:
    return {
        int(oid): _Rel(Relation(schema, name, _KINDS.get(kind, "other")), int(filenode))
        for oid, schema, name, kind, filenode in conn.execute(_RELATIONS).fetchall()
    }


def _locks(conn: psycopg.Connection[Any]) -> set[tuple[int, str]]:
    return {(int(oid), str(mode)) for oid, mode in conn.execute(_LOCKS).fetchall()}


def _rewrites(before: dict[int, _Rel], after: dict[int, _Rel], original: dict[int, _Rel]) -> list[Relation]:
    """Relations that existed before the trace and got new storage during the statement."""
    by_name = {rel.relation.key: rel for rel in after.values()}
    found: list[Relation] = []
    for oid, old in before.items():
        if oid not in original or old.relation.kind not in ("table", "index"):
            continue
        new = after.get(oid)
        # ALTER COLUMN TYPE recreates some indexes under the same name with a new oid.
        new = new or by_name.get(old.relation.key)
        if new is not None and new.filenode != old.filenode and new.filenode != 0:
            found.append(old.relation)
    return found


# ---- running -------------------------------------------------------------------------------


class _Watchdog:
    """Cancels the running statement after ``seconds``: a migration's own SET statement_timeout = 0
    must not let a trace run forever."""

    def __init__(self, conn: psycopg.Connection[Any], seconds: float) -> None:
        self.fired = False
        self._conn = conn
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        self._conn.cancel_safe()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _run_one(conn: psycopg.Connection[Any], stmt: Statement, timeout_ms: int, dsn: str) -> tuple[float, str | None]:
    """Run one statement; its duration in ms and its error (one redacted line), if any."""
    import psycopg

    start = time.perf_counter()
    with _Watchdog(conn, timeout_ms / 1000) as watchdog:
        try:
            conn.execute(stmt.text.encode(), prepare=False)
            error = None
        except psycopg.Error as exc:
            if watchdog.fired or getattr(exc, "sqlstate", None) == "57014":
                error = f"timed out after {timeout_ms / 1000:g} s"
            else:
                error = redact_text(one_line(_primary(exc)), dsn)
    return round((time.perf_counter() - start) * 1000, 1), error


def _primary(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary) if primary else str(exc)


def _trace_statements(
    conn: psycopg.Connection[Any], migration: Migration, result: TraceResult, timeout_ms: int, dsn: str
) -> None:
    original = _relations(conn)
    held = _locks(conn)
    failed = False
    for stmt in migration.statements:
        traced = TracedStatement(line=stmt.line, end_line=stmt.end_line, sql=stmt.text)
        result.statements.append(traced)
        traced.not_traced = untraceable(stmt, result.server_version or 0)
        if traced.not_traced is None and failed:
            traced.not_traced = "not run: an earlier statement failed and aborted the transaction"
        if traced.not_traced is not None:
            continue
        before = _relations(conn)
        traced.duration_ms, traced.error = _run_one(conn, stmt, timeout_ms, dsn)
        if traced.error is not None:
            failed = True
            continue
        now = _locks(conn)
        after = _relations(conn)
        names = {**before, **after}
        traced.locks = [
            Lock(names[oid].relation, mode) for oid, mode in sorted(now - held) if oid in original and oid in names
        ]
        traced.rewrites = _rewrites(before, after, original)
        held = now


def run_trace(
    dsn: str, migration: Migration, *, timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
) -> TraceResult:
    """Trace ``migration`` on the database at ``dsn`` and roll everything back.

    Raises ``DatabaseError`` when the database cannot be reached or read; a failing statement
    is recorded on that statement instead. On Ctrl-C the partial result is marked
    ``interrupted`` and returned, after the rollback.
    """
    import psycopg

    result = TraceResult(database=redact(dsn), path=migration.path)
    conn = connect(dsn, read_only=False, statement_timeout_ms=timeout_ms)
    try:
        result.server_version = conn.info.server_version // 10000
        _trace_statements(conn, migration, result, timeout_ms, dsn)
    except KeyboardInterrupt:
        result.interrupted = True
        last = result.statements[-1] if result.statements else None
        if last is not None and last.duration_ms is None and last.not_traced is None:
            last.error = "interrupted (Ctrl-C)"
    except psycopg.Error as exc:
        raise describe(exc, dsn, "trace failed", timeout_ms) from None
    finally:
        close_quietly(conn)
        result.rolled_back = True
    return result
