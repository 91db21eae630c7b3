"""Which statements ``bgmigrate trace`` may send inside its own transaction, judged before any runs.

Pure: statement text → verdict. Three kinds of statement are not sent:

* **forbidden** — they would end or escape trace's transaction (transaction control, savepoints,
  a DO block that commits, psql meta-commands that run SQL trace cannot see, COPY to a program or
  a server file, dblink). Any of them refuses the whole file.
* **untraceable** — PostgreSQL refuses them inside a transaction block (CONCURRENTLY, VACUUM,
  ALTER SYSTEM, CREATE DATABASE …) or only psql can fill them in (psql variables). They refuse the
  file unless the user asks to skip them.
* **skipped** — psql meta-commands that only change psql's display or variables.

A ``BEGIN`` as the file's first statement with a ``COMMIT``/``END``/``ROLLBACK`` as its last is
the file's own wrapper: trace runs what is between in one transaction of its own, which is what
the wrapper asks for, and sends neither.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bgmigrate.sql.statements import Statement
from bgmigrate.sql.tokens import Tok, tokenize

VerdictKind = Literal["forbidden", "untraceable", "skipped"]
FORBIDDEN: VerdictKind = "forbidden"
UNTRACEABLE: VerdictKind = "untraceable"
SKIPPED: VerdictKind = "skipped"

_OWN_TRANSACTION = "trace runs the file in one transaction of its own and rolls it back"
_TRANSACTION_CONTROL = {
    "BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE",
}  # fmt: skip
_WRAPPER_END = {"COMMIT", "END", "ROLLBACK", "ABORT"}
# psql meta-commands that send nothing to the server and change nothing trace would see.
_HARMLESS_META = {
    "echo", "qecho", "warn", "set", "unset", "pset", "timing", "x", "a", "t", "f", "H", "T", "C",
    "encoding", "o", "out", "g", "gx", "gset", "conninfo", "p", "print", "r", "reset", "w", "write",
}  # fmt: skip
_NO_TRANSACTION_BLOCK = {
    ("VACUUM",): "VACUUM",
    ("ALTER", "SYSTEM"): "ALTER SYSTEM",
    ("CREATE", "DATABASE"): "CREATE DATABASE",
    ("DROP", "DATABASE"): "DROP DATABASE",
    ("CREATE", "TABLESPACE"): "CREATE TABLESPACE",
    ("DROP", "TABLESPACE"): "DROP TABLESPACE",
    ("CREATE", "SUBSCRIPTION"): "CREATE SUBSCRIPTION",
    ("ALTER", "SUBSCRIPTION"): "ALTER SUBSCRIPTION",
    ("DROP", "SUBSCRIPTION"): "DROP SUBSCRIPTION",
    ("REINDEX", "DATABASE"): "REINDEX DATABASE",
    ("REINDEX", "SYSTEM"): "REINDEX SYSTEM",
    ("DISCARD", "ALL"): "DISCARD ALL",
}
_CONCURRENT_HEADS = {"CREATE", "DROP", "REINDEX", "ALTER"}
# Server functions whose effect a rollback does not undo (other sessions, files, replication, config).
_NON_TRANSACTIONAL_FUNCTIONS = {
    "PG_TERMINATE_BACKEND", "PG_CANCEL_BACKEND", "PG_RELOAD_CONF", "PG_ROTATE_LOGFILE", "LO_EXPORT",
    "PG_FILE_WRITE", "PG_SWITCH_WAL", "PG_CREATE_RESTORE_POINT", "PG_PROMOTE",
    "PG_CREATE_LOGICAL_REPLICATION_SLOT", "PG_CREATE_PHYSICAL_REPLICATION_SLOT", "PG_DROP_REPLICATION_SLOT",
    "PG_REPLICATION_ORIGIN_CREATE", "PG_REPLICATION_ORIGIN_DROP",
}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Why a statement is not sent, and how hard that stops the trace (a kind above)."""

    kind: VerdictKind
    reason: str


def _words(toks: Sequence[Tok]) -> list[str]:
    return [t.upper for t in toks]


def _transaction_control(words: list[str]) -> str | None:
    head = words[0] if words else ""
    if head == "PREPARE" and words[1:2] == ["TRANSACTION"]:
        return "PREPARE TRANSACTION would keep trace's changes in a prepared transaction that outlives it"
    if head in ("COMMIT", "ROLLBACK") and words[1:2] == ["PREPARED"]:
        return f"{head} PREPARED finishes a prepared transaction: its changes are not trace's to undo"
    if head == "START" and words[1:2] != ["TRANSACTION"]:
        return None
    if head in _TRANSACTION_CONTROL:
        return f"transaction control ({head}): {_OWN_TRANSACTION}; a {head} here would end or split it"
    return None


def _do_body_ends_transaction(toks: Sequence[Tok]) -> bool:
    """Whether a DO block's body (read with the same lexer) says COMMIT or ROLLBACK."""
    for tok in toks[1:]:
        if tok.kind in ("dollar", "string"):
            inner = tok.string_value
            if any(t.upper in ("COMMIT", "ROLLBACK") for t in tokenize(inner)):
                return True
    return False


def _outside_effect(words: list[str], toks: Sequence[Tok]) -> str | None:
    """Effects a rollback does not undo, where the text shows them."""
    for tok, nxt in itertools.pairwise(toks):
        if nxt.text != "(" or tok.kind != "word":
            continue
        if tok.upper in ("DBLINK_EXEC", "DBLINK", "DBLINK_CONNECT"):
            return f"{tok.text}() runs SQL on another connection, which trace's rollback cannot undo"
        if tok.upper in _NON_TRANSACTIONAL_FUNCTIONS:
            return f"{tok.text}() acts outside the transaction; a rollback does not undo it"
    if words[:1] == ["COPY"]:
        if "PROGRAM" in words:
            return "COPY … PROGRAM runs a program on the server; a rollback does not undo it"
        to_file = any(a.upper == "TO" and b.kind == "string" for a, b in itertools.pairwise(toks))
        if to_file:
            return "COPY … TO a server file writes it; a rollback does not undo that"
        if "STDIN" in words:
            return "COPY … FROM STDIN reads data only psql sends"
    return None


def _needs_no_transaction_block(words: list[str], server_version: int) -> str | None:
    for head, what in _NO_TRANSACTION_BLOCK.items():
        if tuple(words[: len(head)]) == head:
            return f"{what} cannot run inside a transaction block"
    if words[:1] and words[0] in _CONCURRENT_HEADS and "CONCURRENTLY" in words:
        return "CONCURRENTLY cannot run inside a transaction block"
    if words[:2] == ["ALTER", "TABLE"] and "DETACH" in words and "FINALIZE" in words:
        return "DETACH PARTITION … FINALIZE cannot run inside a transaction block"
    if [w for w in words if w not in ("", "VERBOSE")] == ["CLUSTER"]:
        return "CLUSTER without a table cannot run inside a transaction block"
    if server_version < 12 and words[:2] == ["ALTER", "TYPE"] and "ADD" in words and "VALUE" in words:
        return "ALTER TYPE … ADD VALUE cannot run inside a transaction block before PostgreSQL 12"
    return None


def _meta_verdict(stmt: Statement) -> Verdict:
    name = stmt.text[1:].split(maxsplit=1)[0] if len(stmt.text) > 1 else ""
    command = "".join(ch for ch in name if ch.isalpha()) or name[:1]
    if command in _HARMLESS_META:
        return Verdict(SKIPPED, f"psql meta-command \\{command}: only psql runs it, and it sends no SQL")
    return Verdict(
        FORBIDDEN,
        f"psql meta-command \\{command or '?'} runs SQL, a file or a shell command, or changes the "
        "connection or the flow, which trace cannot follow; trace the SQL it would run instead",
    )


def verdict(stmt: Statement, server_version: int) -> Verdict | None:
    """Why ``stmt`` is not sent inside trace's transaction, or None when it is.

    >>> from bgmigrate.sql.statements import split_sql
    >>> verdict(split_sql("CREATE INDEX CONCURRENTLY i ON t (a)")[0], 15).reason
    'CONCURRENTLY cannot run inside a transaction block'
    >>> verdict(split_sql("/* x */ commit")[0], 15).kind
    'forbidden'
    >>> verdict(split_sql("ALTER TABLE t ADD COLUMN c int")[0], 15) is None
    True
    """
    if stmt.kind == "psql-meta":
        return _meta_verdict(stmt)
    toks = tokenize(stmt.text)
    words = _words(toks)
    reason = _transaction_control(words)
    if reason is None and words[:1] == ["DO"] and _do_body_ends_transaction(toks):
        reason = "a DO block that COMMITs or ROLLBACKs would end trace's transaction"
    reason = reason or _outside_effect(words, toks)
    if reason is not None:
        return Verdict(FORBIDDEN, reason)
    reason = _needs_no_transaction_block(words, server_version)
    if reason is None and stmt.sql:
        reason = "uses psql variables, which only psql fills in"
    return Verdict(UNTRACEABLE, reason) if reason is not None else None


def _wrapper(statements: Sequence[Statement]) -> tuple[int, int] | None:
    """Indexes of the file's own BEGIN … COMMIT wrapper, if the SQL statements have one."""
    sql = [i for i, s in enumerate(statements) if s.kind == "sql"]
    if len(sql) < 2:
        return None
    first = _words(tokenize(statements[sql[0]].text))
    last = _words(tokenize(statements[sql[-1]].text))
    starts = first[:1] == ["BEGIN"] or first[:2] == ["START", "TRANSACTION"]
    ends = bool(last) and last[0] in _WRAPPER_END and "PREPARED" not in last and "TO" not in last
    return (sql[0], sql[-1]) if starts and ends else None


def verdicts(statements: Sequence[Statement], server_version: int) -> list[Verdict | None]:
    """A verdict per statement of a file, its own BEGIN … COMMIT wrapper recognised."""
    found = [verdict(s, server_version) for s in statements]
    wrapper = _wrapper(statements)
    if wrapper is not None:
        for index in wrapper:
            found[index] = Verdict(SKIPPED, f"the file's own transaction: {_OWN_TRANSACTION}")
    return found
