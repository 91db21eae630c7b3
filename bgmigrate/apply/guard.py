"""One apply per plan at a time: a transaction-scoped advisory lock held on its own connection.

The guard connection opens a transaction, takes the lock and stays idle in it until apply ends.
A transaction-scoped lock cannot outlive its holder: commit, rollback, a crash or a dropped
connection all release it, and it never leaks into a pooled session. The idle transaction holds
no snapshot (READ COMMITTED, no writes, simple-protocol queries only), so it does not hold back
VACUUM or make CREATE INDEX CONCURRENTLY wait for it.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from bgmigrate.apply.connect import Connection, connect
from bgmigrate.apply.errors import Refused
from bgmigrate.apply.state_schema import LOCK_NAMESPACE


def plan_lock_key(plan_id: str) -> int:
    """The advisory-lock key of a plan: a signed 32-bit hash of its id.

    >>> plan_lock_key("0002_rename_status") == plan_lock_key("0002_rename_status")
    True
    """
    value = zlib.crc32(plan_id.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


@contextmanager
def plan_guard(dsn: str, plan_id: str) -> Iterator[Connection]:
    """Hold the plan's lock for the block; :class:`Refused` if another apply holds it."""
    conn = connect(dsn, f"bgmigrate apply {plan_id}")
    try:
        conn.execute("BEGIN")
        # A server-wide idle-in-transaction timeout would end the guard mid-apply.
        conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
        # If this host dies without closing its socket, let the server notice within about a
        # minute and free the lock, instead of after the kernel's default two hours.
        conn.execute("SET LOCAL tcp_keepalives_idle = 30; SET LOCAL tcp_keepalives_interval = 10")
        conn.execute("SET LOCAL tcp_keepalives_count = 3")
        # Literal keys, no parameters: a parameterised query goes through the extended protocol,
        # whose unnamed portal keeps a snapshot (backend_xmin) for as long as the transaction
        # stays open, and CREATE INDEX CONCURRENTLY would wait for that snapshot for ever.
        query = sql.SQL("SELECT pg_try_advisory_xact_lock({}::int4, {}::int4)").format(
            sql.Literal(LOCK_NAMESPACE), sql.Literal(plan_lock_key(plan_id))
        )
        row = conn.execute(query).fetchone()
        if not (row and row[0]):
            raise Refused(f"another apply of plan {plan_id} is running ({_holder(conn, plan_id)}); try again later")
        yield conn
    finally:
        _release(conn)


def _release(conn: Connection) -> None:
    """End the guard's transaction and wait for the server to say so, then close.

    Closing alone is not enough: the server releases the lock only when the backend has exited,
    a moment after the socket closes, and an apply started right after this one (the next
    phase, in a script) would find the lock still held and be refused.
    """
    with contextlib.suppress(psycopg.Error):  # a broken connection: closing releases it (eventually)
        conn.execute("ROLLBACK")
    conn.close()


def _holder(conn: Connection, plan_id: str) -> str:
    """Who holds a plan's lock, for the refusal message."""
    row = conn.execute(
        """
        SELECT a.pid, coalesce(a.client_addr::text, 'local'), a.backend_start
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = %s::int4::oid AND l.objid = %s::int4::oid
          AND l.objsubid = 2 AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        (LOCK_NAMESPACE, plan_lock_key(plan_id)),
    ).fetchone()
    if row is None:
        return "holder already gone"
    return f"pid {row[0]} from {row[1]} since {row[2]:%Y-%m-%d %H:%M:%S}"
