"""Connecting for the switch: bgmigrate.dsn's connect, autocommit and named.

The coordinator manages its own transactions (one per action, holding the switch lock), so
it needs autocommit; its sessions are named ``bgmigrate-switch`` so they never pass for an
environment's in ``pg_stat_activity``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bgmigrate.dsn import DatabaseError, describe
from bgmigrate.dsn import connect as _connect

Connection = psycopg.Connection[Any]
APPLICATION_NAME = "bgmigrate-switch"

__all__ = ["Connection", "DatabaseError", "connect", "describe"]


def connect(dsn: str | None) -> Connection:
    """An autocommit, read-write connection; raises :class:`DatabaseError` (one redacted line)."""
    if not dsn:
        raise DatabaseError("no database: set [database] dsn in bgmigrate.toml or BGMIGRATE_DSN")
    return _connect(dsn, read_only=False, autocommit=True, application_name=APPLICATION_NAME)
