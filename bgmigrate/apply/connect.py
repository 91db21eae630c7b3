"""Connecting with a DSN whose password never reaches output, logs or error messages.

(The live-schema work may grow a shared ``bgmigrate.dsn``; until then apply keeps its own.)
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bgmigrate.apply.errors import ApplyError

Connection = psycopg.Connection[Any]
CONNECT_TIMEOUT_S = 10

# scheme://user:secret@host and password=secret (quoted or not), wherever they appear.
_URL_SECRET = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KV_SECRET = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)
MASK = "***"


def _passwords(dsn: str) -> list[str]:
    """Every spelling of the DSN's password that could surface in a message."""
    found: list[str] = []
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.append(str(password))
    url = _URL_SECRET.search(dsn)
    if url:
        raw = dsn[url.end(1) : url.end() - 1]
        found += [raw, urllib.parse.unquote(raw)]
    return sorted({p for p in found if p}, key=len, reverse=True)


def redact(text: str, dsn: str) -> str:
    """``text`` with the DSN's password, and anything that looks like a password, masked.

    >>> redact("bad: postgresql://bob:s3cret@db/app", "postgresql://bob:s3cret@db/app")
    'bad: postgresql://bob:***@db/app'
    >>> redact("host=db password='x y' port=1", "")
    'host=db password=*** port=1'
    """
    for secret in _passwords(dsn):
        text = text.replace(secret, MASK)
    text = _URL_SECRET.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    return _KV_SECRET.sub(lambda m: f"{m.group(1)}{MASK}", text)


def one_line(text: str) -> str:
    """Driver messages span lines (DETAIL, HINT, several hosts); errors here are one line."""
    return "; ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def describe(exc: BaseException, dsn: str) -> str:
    """A driver exception as one redacted line, with its SQLSTATE when it has one."""
    message = one_line(str(exc)) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        message = f"{message} [{sqlstate}]"
    return redact(message, dsn)


def connect(dsn: str, application_name: str) -> Connection:
    """An autocommit connection; failures become one redacted :class:`ApplyError` line."""
    try:
        return psycopg.connect(
            dsn,
            autocommit=True,
            application_name=application_name[:63],
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg.Error as exc:
        raise ApplyError(f"cannot connect: {describe(exc, dsn)}") from None
