"""Database connection strings: redacting their passwords, and connecting with one-line errors.

Every message that can reach a person or a log passes through ``redact_text`` first: libpq
echoes parts of a connection string in its errors (``invalid integer value "…" for connection
option "port"``), so a password can surface anywhere, not only where the DSN is printed.
psycopg is imported only when a connection is made.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

MASK = "****"
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_CONNECT_TIMEOUT_S = 10

_URL = re.compile(r"^(?P<scheme>postgres(?:ql)?://)(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
# Anything URL-shaped: a mistyped scheme (``postgresq://``, ``postgres:/``) or none at all
# (``app:pw@db/prod``). libpq rejects these and echoes them whole, so they are masked as URLs.
_URL_LIKE = re.compile(r"^(?:[A-Za-z][\w+.-]*:/+)?(?P<rest>[^\s=]*:[^\s=]*@.*)$", re.DOTALL)
# libpq keywords whose values are never secret; any other keyword's value is masked, so a
# misspelt "pasword=" or "passwd=" is hidden as well as "password=".
_SAFE_KEYWORDS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "connect_timeout", "client_encoding", "options",
    "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
    "keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication", "gssencmode",
    "sslmode", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslrootcert", "sslcrl",
    "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
    "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs", "load_balance_hosts",
    "channel_binding", "passfile", "require_auth",
})  # fmt: skip
# A quoted piece of a libpq message that is an option name, safe to keep.
_OPTION_NAME = re.compile(r"[A-Za-z_]{1,40}|\W")
# libpq's key=value form: a value is a single-quoted string (with \' and \\ escapes) or a bare word.
_KEYWORD_VALUE = re.compile(r"(?P<key>\w+)\s*=\s*(?P<value>'(?:[^'\\]|\\.)*'|\S+)")
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&](?P<name>[^=&#]*)=)(?P<value>[^&#]*)", re.IGNORECASE)


class DatabaseError(Exception):
    """A database could not be reached or read; ``str()`` is one redacted line for the user."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


def _userinfo_end(rest: str) -> int:
    """Index of the ``@`` ending a URL's user info, or -1 when there is none.

    libpq reads user info up to the first ``@`` that comes before any ``/``; so do we.

    >>> _userinfo_end("app:pw@db/prod"), _userinfo_end("db/prod@x")
    (6, -1)
    """
    match = re.match(r"[^@/]*@", rest)
    return match.end() - 1 if match else -1


def _url_passwords(rest: str) -> list[str]:
    found: list[str] = []
    at = _userinfo_end(rest)
    if at >= 0 and ":" in rest[:at]:
        raw = rest[:at].split(":", 1)[1]
        found += [raw, urllib.parse.unquote(raw)]
    # A password with an unescaped "@" is cut at the first one by libpq, which then shows the
    # rest as part of the host name: mask every piece of what the user meant as the password.
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if authority.count("@") > 1 and ":" in authority:
        meant = authority[: authority.rfind("@")].split(":", 1)[1]
        found += [meant, *(piece for piece in meant.split("@") if len(piece) > 2)]
    for match in _QUERY_PASSWORD.finditer(rest):
        if match["name"].lower() not in _SAFE_KEYWORDS:
            found += [match["value"], urllib.parse.unquote(match["value"])]
    return found


# An unquoted password with a space in it: libpq complains about the second word, quoting it.
_LOOSE_PASSWORD = re.compile(r"\bpassword\s*=\s*(?P<value>.*?)(?=\s+\w+\s*=|\s*$)", re.IGNORECASE | re.DOTALL)


def _keyword_passwords(dsn: str) -> list[str]:
    found: list[str] = []
    for match in _KEYWORD_VALUE.finditer(dsn):
        if match["key"].lower() not in _SAFE_KEYWORDS:
            found += [match["value"], _unquote_value(match["value"])]
    for match in _LOOSE_PASSWORD.finditer(dsn):
        found += [match["value"], *(piece for piece in match["value"].split() if len(piece) > 2)]
    return found


def _unquote_value(value: str) -> str:
    if value.startswith("'") and value.endswith("'") and len(value) >= 2:
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def passwords(dsn: str) -> list[str]:
    """Every spelling of the password a DSN carries (raw, decoded), plus ``PGPASSWORD``.

    >>> passwords("postgresql://app:s%40cret@db/prod")
    ['s%40cret', 's@cret']
    >>> passwords("host=db password='a b' user=app")
    ["'a b'", 'a b']
    """
    found: list[str] = []
    url = _URL.match(dsn.strip()) or _URL_LIKE.match(dsn.strip())
    found += _url_passwords(url["rest"]) if url else _keyword_passwords(dsn)
    env = os.environ.get("PGPASSWORD")
    if env:
        found.append(env)
    unique: list[str] = []
    for item in found:
        if item and item not in unique:
            unique.append(item)
    return unique


def redact(dsn: str) -> str:
    """The DSN with its password replaced by ``****``.

    >>> redact("postgresql://app:hunter2@db.internal:5432/prod?sslmode=require")
    'postgresql://app:****@db.internal:5432/prod?sslmode=require'
    >>> redact("host=db user=app password='a b' dbname=prod")
    'host=db user=app password=**** dbname=prod'
    >>> redact("postgresql://db/prod?user=app&password=hunter2")
    'postgresql://db/prod?user=app&password=****'
    """
    text = dsn.strip()
    url = _URL.match(text)
    if url:
        rest = url["rest"]
        at = _userinfo_end(rest)
        if at >= 0 and ":" in rest[:at]:
            rest = rest[:at].split(":", 1)[0] + ":" + MASK + rest[at:]
        rest = _QUERY_PASSWORD.sub(
            lambda m: m["key"] + MASK if m["name"].lower() not in _SAFE_KEYWORDS else m.group(0), rest
        )
        text = url["scheme"] + rest
    else:
        text = _KEYWORD_VALUE.sub(
            lambda m: f"{m['key']}={MASK}" if m["key"].lower() not in _SAFE_KEYWORDS else m.group(0), text
        )
    return redact_text(text, dsn)


def redact_text(text: str, dsn: str | None) -> str:
    """``text`` with every spelling of the DSN's password masked (longest first).

    >>> redact_text('invalid integer value "hunter2" for connection option "port"', "postgresql://u:hunter2@h:hunter2/d")
    'invalid integer value "****" for connection option "port"'
    """
    if not dsn:
        return text
    for secret in sorted(passwords(dsn), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def one_line(text: str) -> str:
    """Collapse a multi-line driver message into one line.

    >>> one_line("connection failed: refused\\n\\tIs the server running?\\n")
    'connection failed: refused; Is the server running?'
    """
    parts = [p.strip() for p in text.strip().splitlines() if p.strip()]
    return "; ".join(parts)


def describe(exc: BaseException, dsn: str | None, doing: str, timeout_ms: int | None = None) -> DatabaseError:
    """A ``DatabaseError`` saying in one redacted line what failed while ``doing`` something."""
    sqlstate = getattr(exc, "sqlstate", None)
    reason = one_line(str(exc)) or type(exc).__name__
    for prefix in ("connection failed: ", "connection is bad: "):
        reason = reason.removeprefix(prefix)
    if sqlstate == "57014" and timeout_ms is not None:
        reason = f"timed out after {timeout_ms / 1000:g} s (statement_timeout): {reason}"
    elif sqlstate == "42501":
        reason = f"missing privileges: {reason}"
    if dsn is not None and _malformed(dsn):
        # A malformed DSN: libpq quotes pieces of it back (``missing "=" after "…"``). Keep the
        # quoted option names, which say what is wrong; hide every other quoted piece.
        reason = re.sub(r'"([^"]*)"', lambda m: m.group(0) if _OPTION_NAME.fullmatch(m[1]) else f'"{MASK}"', reason)
    return DatabaseError(redact_text(f"{doing}: {reason}", dsn), sqlstate)


def _malformed(dsn: str) -> bool:
    """Whether libpq cannot even parse ``dsn`` (its error then quotes pieces of it)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except Exception:
        return True
    return False


def connect(
    dsn: str,
    *,
    read_only: bool | None = True,
    statement_timeout_ms: int | None = DEFAULT_STATEMENT_TIMEOUT_MS,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
    autocommit: bool = False,
    application_name: str = "bgmigrate",
) -> psycopg.Connection[Any]:
    """A connection with a statement timeout (None: the server's) whose transactions are
    read-only unless asked (None: the server's default). Without ``autocommit`` its first
    transaction is open.

    Raises ``DatabaseError`` (one redacted line) when the server cannot be reached, refuses the
    credentials, or the DSN is malformed. Every command connects through here.
    """
    import psycopg

    where = f"cannot connect to {redact(dsn)}"
    try:
        conn = psycopg.connect(
            dsn,
            autocommit=autocommit,
            connect_timeout=connect_timeout_s,
            application_name=application_name[:63],  # the server's limit (NAMEDATALEN - 1)
        )
    except psycopg.Error as exc:
        raise describe(exc, dsn, where) from None
    try:
        # read_only makes psycopg open every transaction with BEGIN READ ONLY: the server itself
        # refuses any write, whatever a query tries.
        if read_only is not None:
            conn.read_only = read_only
        if statement_timeout_ms is not None:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(statement_timeout_ms)}ms",))
    except psycopg.Error as exc:
        conn.close()
        raise describe(exc, dsn, where, statement_timeout_ms) from None
    return conn


def close_quietly(conn: psycopg.Connection[Any]) -> None:
    """Roll back and close. A broken connection is closed all the same, and the server then
    rolls back whatever transaction it had open, so nothing here needs to reach the user."""
    import psycopg

    try:
        conn.rollback()
    except psycopg.Error:
        pass
    finally:
        conn.close()
