"""Run a migration statement by statement inside one transaction, watch its locks, roll it back.

Meant for a staging or throwaway copy of the database: the statements really run (and really
lock), but the transaction is always discarded. Before anything runs, every statement is judged
(``bgmigrate.trace.traceable``): transaction control and the like refuse the whole file. Each
statement is then sent alone (``bgmigrate.trace.session``: extended protocol, a deadline
enforced from a second connection), and after each the transaction must still be open; if it is
not, the trace stops and says that changes may have been committed. "Rolled back" is reported
only when verified.

After each statement the tracer reads ``pg_locks`` for its own backend (new relation locks, by
mode) and ``pg_class`` (a changed ``relfilenode``, or an index recreated under the same name,
means the relation was rewritten). Only relations that existed before the trace count: locks on
objects the migration itself created block nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bgmigrate.dsn import (
    DEFAULT_STATEMENT_TIMEOUT_MS,
    DatabaseError,
    close_quietly,
    connect,
    describe,
    one_line,
    redact,
    redact_text,
)
from bgmigrate.live.introspect import USER_SCHEMAS
from bgmigrate.model.migration import Migration
from bgmigrate.sql.statements import Statement
from bgmigrate.trace.session import APPLICATION_NAME, Outcome, Session
from bgmigrate.trace.trace import Lock, Relation, RelationKind, TracedStatement, TraceResult
from bgmigrate.trace.traceable import FORBIDDEN, UNTRACEABLE, Verdict, verdicts

if TYPE_CHECKING:
    import psycopg

_RELATIONS = f"""
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'i', 'I', 'm', 'S', 'v', 'f') AND {USER_SCHEMAS}"""
_LOCKS = """
    SELECT relation, mode FROM pg_locks
    WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation IS NOT NULL"""

_KINDS: dict[str, RelationKind] = {"r": "table", "p": "table", "m": "table", "i": "index", "I": "index"}

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


class TraceRefused(Exception):
    """The file holds statements trace will not send; nothing ran."""

    def __init__(self, refusals: list[tuple[Statement, Verdict]]) -> None:
        super().__init__(f"{len(refusals)} statement(s) trace will not run")
        self.refusals = refusals


def _refusals(
    statements: Sequence[Statement], found: Sequence[Verdict | None], skip_untraceable: bool
) -> list[tuple[Statement, Verdict]]:
    blocking = {FORBIDDEN} if skip_untraceable else {FORBIDDEN, UNTRACEABLE}
    return [(s, v) for s, v in zip(statements, found, strict=True) if v is not None and v.kind in blocking]


def _primary(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary) if primary else str(exc)


def _error_text(outcome: Outcome, timeout_ms: int, dsn: str) -> str | None:
    if outcome.interrupted:
        return "interrupted (Ctrl-C)" + (": backend terminated" if outcome.terminated else "")
    if outcome.timed_out or getattr(outcome.error, "sqlstate", None) == "57014":
        return f"timed out after {timeout_ms / 1000:g} s" + (": backend terminated" if outcome.terminated else "")
    if outcome.error is not None:
        return redact_text(one_line(_primary(outcome.error)), dsn)
    return None


def _observe(conn: psycopg.Connection[Any], traced: TracedStatement, state: _Observed) -> None:
    now = _locks(conn)
    after = _relations(conn)
    names = {**state.before, **after}
    traced.locks = [
        Lock(names[oid].relation, mode)
        for oid, mode in sorted(now - state.held)
        if oid in state.original and oid in names
    ]
    traced.rewrites = _rewrites(state.before, after, state.original)
    state.held = now


@dataclass
class _Observed:
    original: dict[int, _Rel]
    held: set[tuple[int, str]]
    before: dict[int, _Rel]


def _trace_statements(
    session: Session,
    migration: Migration,
    found: Sequence[Verdict | None],
    result: TraceResult,
    timeout_ms: int,
    dsn: str,
) -> bool:
    """Run the statements; False as soon as the transaction is no longer open (nothing is assumed)."""
    conn = session.conn
    state = _Observed(_relations(conn), _locks(conn), {})
    stopped: str | None = None
    for stmt, judged in zip(migration.statements, found, strict=True):
        traced = TracedStatement(line=stmt.line, end_line=stmt.end_line, sql=stmt.text)
        result.statements.append(traced)
        if judged is not None:
            traced.not_traced = judged.reason
            continue
        if stopped is not None:
            traced.not_traced = stopped
            continue
        state.before = _relations(conn)
        outcome = session.run(stmt.text, timeout_ms / 1000)
        traced.duration_ms = outcome.duration_ms
        traced.error = _error_text(outcome, timeout_ms, dsn)
        status = session.status()
        if outcome.interrupted:
            result.interrupted = True
        if status == "INTRANS" and traced.error is None:
            _observe(conn, traced, state)
            continue
        if status == "IDLE":
            result.transaction_ended = (
                f"after line {stmt.line} the transaction was no longer open: "
                "changes made so far MAY HAVE BEEN COMMITTED"
            )
            return False
        stopped = "not run: an earlier statement failed and aborted the transaction"
        if outcome.interrupted:
            stopped = "not run: interrupted (Ctrl-C)"
    return True


def run_trace(
    dsn: str,
    migration: Migration,
    *,
    timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    skip_untraceable: bool = False,
) -> TraceResult:
    """Trace ``migration`` on the database at ``dsn`` and discard everything it did.

    Raises ``TraceRefused`` (before anything runs) when the file holds statements trace will not
    send, and ``DatabaseError`` when the database cannot be reached or read. A failing statement
    is recorded on that statement. ``rolled_back`` is set only once verified; a transaction that
    ended early is reported in ``transaction_ended``.
    """
    import psycopg

    result = TraceResult(database=redact(dsn), path=migration.path)
    conn = connect(dsn, read_only=False, statement_timeout_ms=timeout_ms, application_name=APPLICATION_NAME)
    session: Session | None = None
    failure: DatabaseError | None = None
    transaction_open = True
    try:
        result.server_version = conn.info.server_version // 10000
        found = verdicts(migration.statements, result.server_version)
        refusals = _refusals(migration.statements, found, skip_untraceable)
        if refusals:
            raise TraceRefused(refusals)
        if result.server_version >= 14:
            # The server gives up a query whose client went away (a loop that ignores cancels).
            conn.execute("SELECT set_config('client_connection_check_interval', '1000', false)")
        control = connect(
            dsn, read_only=None, statement_timeout_ms=10_000, autocommit=True, application_name=APPLICATION_NAME
        )
        session = Session(conn, control)
        transaction_open = _trace_statements(session, migration, found, result, timeout_ms, dsn)
    except KeyboardInterrupt:
        result.interrupted = True
    except psycopg.Error as exc:
        failure = describe(exc, dsn, "trace failed", timeout_ms)
    finally:
        if session is not None:
            result.rolled_back = session.finish(transaction_open)
        else:
            close_quietly(conn)  # nothing ran: only the connection's own set-up to discard
            result.rolled_back = True
    if failure is not None:
        unverified = (
            "" if result.rolled_back else "; its rollback could not be verified: changes MAY HAVE BEEN COMMITTED"
        )
        raise DatabaseError(f"{failure}{unverified}", failure.sqlstate)
    return result
