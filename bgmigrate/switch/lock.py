"""The advisory lock that lets one switch run at a time across CI jobs and machines.

Transaction-scoped (``pg_try_advisory_xact_lock``): it is released by COMMIT, ROLLBACK or a
dropped connection, so a crashed job can never leave the coordinator locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bgmigrate.switch.db import Connection

NAMESPACE = 0x62676D69  # "bgmi": the first key of every bgmigrate switch lock
SWITCH = 1  # held for a whole init / promote / rollback / retire
SCHEMA = 2  # held briefly while creating the state tables


@dataclass(frozen=True)
class Holder:
    pid: int
    since: datetime | None
    application_name: str


def try_switch_lock(conn: Connection) -> bool:
    """Take the switch lock in the current transaction; False if another session holds it."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(%s::int4, %s::int4)", (NAMESPACE, SWITCH)).fetchone()
    return bool(row and row[0])


def holds_switch_lock(conn: Connection) -> bool:
    """Does this session hold the switch lock now? (Raises if the session itself is gone.)"""
    row = conn.execute(
        """
        SELECT count(*) FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
          AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2
        """,
        (NAMESPACE, SWITCH),
    ).fetchone()
    return bool(row and row[0])


def wait_schema_lock(conn: Connection) -> None:
    """Serialise state-table creation (CREATE ... IF NOT EXISTS races on the catalog)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (NAMESPACE, SCHEMA))


def switch_holder(conn: Connection) -> Holder | None:
    """Who holds the switch lock in this database now, if anyone."""
    row = conn.execute(
        """
        SELECT a.pid, a.xact_start, coalesce(a.application_name, '')
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 2
        """,
        (NAMESPACE, SWITCH),
    ).fetchone()
    if row is None:
        return None
    pid, since, name = row
    assert isinstance(pid, int)
    return Holder(pid=pid, since=since if isinstance(since, datetime) else None, application_name=str(name))
