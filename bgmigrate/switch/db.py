"""Connecting for the switch: bgmigrate.dsn's connect, autocommit and named.

The coordinator manages its own transactions (one per action, holding the switch lock), so
it needs autocommit; its sessions are named ``bgmigrate-switch`` so they never pass for an
environment's in ``pg_stat_activity``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from bgmigrate.dsn import DatabaseError, describe, redact
from bgmigrate.dsn import connect as _connect

Connection = psycopg.Connection[Any]
APPLICATION_NAME = "bgmigrate-switch"

__all__ = ["Connection", "DatabaseError", "connect", "describe"]


# TCP keepalives: a dead peer (a failed-over server, a cut network) is noticed in about a
# minute instead of the kernel's two hours, so a fence check cannot hang on it.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# A switch may legitimately take minutes (gradual steps, a watch window) holding one session and
# one transaction: no server-wide timeout may end it half-way.
SESSION_TIMEOUTS = ("statement_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout")


def connect(dsn: str | None) -> Connection:
    """An autocommit, read-write connection with keepalives and no session timeouts.

    Raises :class:`DatabaseError` (one redacted line).
    """
    if not dsn:
        raise DatabaseError("no database: set [database] dsn in bgmigrate.toml or BGMIGRATE_DSN")
    try:
        with_keepalives = make_conninfo(dsn, **KEEPALIVES)
    except psycopg.ProgrammingError:
        with_keepalives = dsn  # malformed: let connect say so, redacted
    try:
        conn = _connect(with_keepalives, read_only=False, autocommit=True, application_name=APPLICATION_NAME,
                        statement_timeout_ms=None)  # fmt: skip
    except DatabaseError as exc:  # name the DSN as the user wrote it, not with our keepalives added
        raise DatabaseError(str(exc).replace(redact(with_keepalives), redact(dsn))) from None
    try:
        for name in SESSION_TIMEOUTS:
            if _has_setting(conn, name):
                conn.execute("SELECT set_config(%s, '0', false)", (name,))
    except psycopg.Error as exc:
        conn.close()
        raise describe(exc, dsn, "setting the switch session's timeouts") from None
    return conn


def _has_setting(conn: Connection, name: str) -> bool:
    # idle_session_timeout exists from PostgreSQL 14 on.
    return conn.execute("SELECT 1 FROM pg_settings WHERE name = %s", (name,)).fetchone() is not None
