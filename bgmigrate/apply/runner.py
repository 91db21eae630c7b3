"""Running one piece of plan SQL under ``lock_timeout``, inside or outside a transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import psycopg

from bgmigrate.apply.connect import Connection
from bgmigrate.apply.lock_timeout import pg_interval

AfterSuccess = Callable[[Connection], None]


def run_sql(
    conn: Connection,
    text: str,
    *,
    transactional: bool,
    lock_timeout: float,
    then: AfterSuccess | None = None,
) -> None:
    """Run ``text``; ``then`` records success (in the same transaction when there is one).

    Transactional SQL gets ``SET LOCAL lock_timeout`` in its own short transaction, so a
    statement stuck behind a long query fails fast instead of queueing every later query on the
    table behind its lock request. Non-transactional SQL (CONCURRENTLY) runs in autocommit with
    a session ``lock_timeout`` reset afterwards.
    """
    if transactional:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (pg_interval(lock_timeout),))
            conn.execute(text)
            if then is not None:
                then(conn)
        return
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (pg_interval(lock_timeout),))
    try:
        conn.execute(text)
    finally:
        _reset_lock_timeout(conn)
    if then is not None:
        with conn.transaction():
            then(conn)


def _reset_lock_timeout(conn: Connection) -> None:
    # If the connection is gone, the statement's own error is the one to report.
    with contextlib.suppress(psycopg.OperationalError):
        conn.execute("RESET lock_timeout")
