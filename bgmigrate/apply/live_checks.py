"""Evaluating a plan's :class:`Check` facts against the live catalogs (read-only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bgmigrate.apply.connect import Connection
from bgmigrate.dsn import one_line
from bgmigrate.plan.model import Check
from bgmigrate.sql.names import split_qualified


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    found: str  # what the catalogs show, e.g. "column users.state does not exist"
    superseded_by: str = ""  # a later applied phase that changes what this check is about

    @property
    def holds(self) -> bool:
        """True, or not expected any more: a later phase intentionally undid it."""
        return self.ok or bool(self.superseded_by)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "kind": self.check.kind,
            "description": self.check.description,
            "ok": self.ok,
            "found": self.found,
        }
        if self.superseded_by:
            data["superseded_by"] = self.superseded_by
        return data


def verify_checks(conn: Connection, checks: Iterable[Check]) -> list[CheckResult]:
    """Each check with its verdict; changes nothing (``no_rows`` queries run read-only)."""
    return [_verify(conn, check) for check in checks]


def failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [result for result in results if not result.ok]


def _verify(conn: Connection, check: Check) -> CheckResult:
    evaluate = _EVALUATORS.get(check.kind)
    if evaluate is None:
        return CheckResult(check, False, f"unknown check kind {check.kind!r}")
    ok, found = evaluate(conn, check)
    return CheckResult(check, ok, found)


def _relation(conn: Connection, name: str, kinds: str) -> int | None:
    """OID of a relation of one of ``kinds``, named as the plan stores tables (``str(Name)``)."""
    schema, relname = split_qualified(name)
    return _relation_in(conn, schema, relname, kinds)


def _relation_in(conn: Connection, schema: str | None, relname: str, kinds: str) -> int | None:
    """OID of ``relname`` in ``schema``; without a schema it resolves by search_path."""
    row = conn.execute(
        """
        SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = %s AND c.relkind = ANY(%s)
          AND (n.nspname = %s OR (%s::text IS NULL AND pg_table_is_visible(c.oid)))
        """,
        (relname, list(kinds), schema, schema),
    ).fetchone()
    return int(row[0]) if row else None


_TABLE_KINDS = "rpvmf"  # a view under the new name serves an app as well as a table


def _table_exists(conn: Connection, check: Check) -> tuple[bool, str]:
    found = _relation(conn, check.table, _TABLE_KINDS) is not None
    return found, f"table {check.table} {'exists' if found else 'does not exist'}"


def _table_absent(conn: Connection, check: Check) -> tuple[bool, str]:
    exists, found = _table_exists(conn, check)
    return not exists, found


def _column(conn: Connection, check: Check) -> tuple[bool | None, str]:
    """(attnotnull, "") if the column exists, (None, why not) otherwise."""
    oid = _relation(conn, check.table, _TABLE_KINDS)
    if oid is None:
        return None, f"table {check.table} does not exist"
    row = conn.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s AND attname = %s AND attnum > 0 AND NOT attisdropped",
        (oid, check.column),
    ).fetchone()
    if row is None:
        return None, f"column {check.table}.{check.column} does not exist"
    return bool(row[0]), f"column {check.table}.{check.column} exists"


def _column_exists(conn: Connection, check: Check) -> tuple[bool, str]:
    not_null, found = _column(conn, check)
    return not_null is not None, found


def _column_absent(conn: Connection, check: Check) -> tuple[bool, str]:
    not_null, found = _column(conn, check)
    return not_null is None, found


def _column_not_null(conn: Connection, check: Check) -> tuple[bool, str]:
    not_null, found = _column(conn, check)
    if not_null is None:
        return False, found
    what = "is NOT NULL" if not_null else "allows NULL"
    return not_null, f"column {check.table}.{check.column} {what}"


def _trigger(conn: Connection, check: Check) -> tuple[bool, str]:
    oid = _relation(conn, check.table, _TABLE_KINDS)
    row = None
    if oid is not None:
        row = conn.execute(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND tgname = %s AND NOT tgisinternal", (oid, check.name)
        ).fetchone()
    found = row is not None
    return found, f"trigger {check.name} on {check.table} {'exists' if found else 'does not exist'}"


def _trigger_exists(conn: Connection, check: Check) -> tuple[bool, str]:
    return _trigger(conn, check)


def _trigger_absent(conn: Connection, check: Check) -> tuple[bool, str]:
    exists, found = _trigger(conn, check)
    return not exists, found


def _index_valid(conn: Connection, check: Check) -> tuple[bool, str]:
    schema = split_qualified(check.table)[0] if check.table else None  # an index lives in its table's schema
    oid = _relation_in(conn, schema, check.name, "iI")
    if oid is None:
        return False, f"index {check.name} does not exist"
    row = conn.execute("SELECT indisvalid AND indisready FROM pg_index WHERE indexrelid = %s", (oid,)).fetchone()
    if not (row and row[0]):
        return False, f"index {check.name} is INVALID (left by a failed CONCURRENTLY build)"
    return True, f"index {check.name} is valid"


def _constraint_validated(conn: Connection, check: Check) -> tuple[bool, str]:
    oid = _relation(conn, check.table, _TABLE_KINDS)
    row = None
    if oid is not None:
        row = conn.execute(
            "SELECT convalidated FROM pg_constraint WHERE conrelid = %s AND conname = %s", (oid, check.name)
        ).fetchone()
    if row is None:
        return False, f"constraint {check.name} on {check.table} does not exist"
    if not row[0]:
        return False, f"constraint {check.name} on {check.table} is NOT VALID"
    return True, f"constraint {check.name} on {check.table} is validated"


def _no_rows(conn: Connection, check: Check) -> tuple[bool, str]:
    text = check.sql.strip().rstrip(";")
    query = sql.SQL("SELECT count(*) FROM ({}) AS left_behind").format(sql.SQL(text))
    try:
        # force_rollback: a check must never change data, even a carelessly written one.
        with conn.transaction(force_rollback=True):
            row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        return False, f"query failed: {one_line(str(exc))}"
    count = int(row[0]) if row else 0
    return count == 0, "no rows left behind" if count == 0 else f"{count} rows left behind"


_EVALUATORS: dict[str, Callable[[Connection, Check], tuple[bool, str]]] = {
    "table_exists": _table_exists,
    "table_absent": _table_absent,
    "column_exists": _column_exists,
    "column_absent": _column_absent,
    "column_not_null": _column_not_null,
    "trigger_exists": _trigger_exists,
    "trigger_absent": _trigger_absent,
    "index_valid": _index_valid,
    "constraint_validated": _constraint_validated,
    "no_rows": _no_rows,
}

CHECK_KINDS = frozenset(_EVALUATORS)  # what a plan may ask; the loader rejects any other
