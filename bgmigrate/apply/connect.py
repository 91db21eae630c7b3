"""Apply's database sessions: autocommit, named, and with errors that never show a password.

Connecting and redaction are :mod:`bgmigrate.dsn`'s; apply's sessions leave out that module's
read-only, statement-timeout defaults (an index build or a backfill legitimately takes longer
than any statement timeout).
"""

from __future__ import annotations

from typing import Any

import psycopg

from bgmigrate.apply.errors import ApplyError
from bgmigrate.dsn import DatabaseError, one_line, redact_text
from bgmigrate.dsn import connect as dsn_connect

Connection = psycopg.Connection[Any]


def describe(exc: BaseException, dsn: str) -> str:
    """A driver exception as one redacted line, with its SQLSTATE when it has one."""
    message = one_line(str(exc)) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        message = f"{message} [{sqlstate}]"
    return redact_text(message, dsn)


def connect(dsn: str, application_name: str) -> Connection:
    """An autocommit connection; failures become one redacted :class:`ApplyError` line."""
    try:
        return dsn_connect(
            dsn, read_only=None, statement_timeout_ms=None, autocommit=True, application_name=application_name
        )
    except DatabaseError as exc:
        raise ApplyError(exc.message) from None
