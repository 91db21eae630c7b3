"""Connecting for the switch, with one-line errors that never show a password.

A stopgap: ``bgmigrate/dsn.py`` (DSN redaction and connect helpers) is being written for the
whole tool; once it lands, this module should delegate to it.
"""

from __future__ import annotations

import re

import psycopg

CONNECT_TIMEOUT_S = 5
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)

Connection = psycopg.Connection[tuple[object, ...]]


class DatabaseError(Exception):
    """The database could not be reached or refused; the message is safe to print."""


def redact(text: str) -> str:
    """``text`` with any DSN password replaced by ``***``.

    >>> redact("postgresql://app:s3cret@db/app")
    'postgresql://app:***@db/app'
    >>> redact("host=db password='a b' dbname=app")
    'host=db password=*** dbname=app'
    """
    return _KV_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def connect(dsn: str | None, application_name: str = "bgmigrate-switch") -> Connection:
    """An autocommit connection; raises :class:`DatabaseError` with a one-line, redacted reason."""
    if not dsn:
        raise DatabaseError("no database: set [database] dsn in bgmigrate.toml or BGMIGRATE_DSN")
    try:
        return psycopg.connect(
            dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=application_name
        )
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseError(f"cannot connect to the database: {redact(first)}") from None
