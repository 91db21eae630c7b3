"""Apply's database sessions: autocommit, named, and with errors that never show a password.

Redaction is :mod:`bgmigrate.dsn`'s; apply needs its own sessions because its statements must
not run under that module's read-only, statement-timeout defaults (an index build or a
backfill legitimately takes longer than any statement timeout).
"""

from __future__ import annotations

from typing import Any

import psycopg

from bgmigrate.apply.errors import ApplyError
from bgmigrate.dsn import DEFAULT_CONNECT_TIMEOUT_S, one_line, redact, redact_text
from bgmigrate.dsn import describe as describe_failure

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
        return psycopg.connect(
            dsn,
            autocommit=True,
            application_name=application_name[:63],
            connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
        )
    except psycopg.Error as exc:
        raise ApplyError(describe_failure(exc, dsn, f"cannot connect to {redact(dsn)}").message) from None
