"""Evaluating a plan's :class:`Check` facts against the live catalogs (read-only)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bgmigrate.apply.connect import Connection
from bgmigrate.dsn import one_line
from bgmigrate.plan.phases import Check
from bgmigrate.sql.names import split_qualified
from bgmigrate.sql.quote import quote_ident, quote_qualified


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    found: str  # what the catalogs show, e.g. "column users.state does not exist"
    superseded_by: str = ""  # a later applied phase that changes what this check is about
    fix: str = ""  # what to do when it does not hold

    def explain(self) -> str:
        """One line: what was expected, what the catalogs show, and what to do about it."""
        what = self.check.description or _subject(self.check)
        return f"{what}: {self.found}" + (f"; to fix: {self.fix}" if self.fix else "")

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
        if self.fix:
            data["fix"] = self.fix
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
    return CheckResult(check, ok, found, fix="" if ok else _remedy(check, found))


def _subject(check: Check) -> str:
    """A check without a description, named by what it asks."""
    about = ".".join(p for p in (check.table, check.column) if p)
    return " ".join(p for p in (check.kind, about, check.name) if p)


def _table_sql(table: str) -> str:
    schema, name = split_qualified(table)
    return quote_qualified(name, schema)


def _remedy(check: Check, found: str) -> str:
    """What to do about ``check`` failing with ``found`` (one clause; "" when ``found`` says it)."""
    kind = check.kind
    if kind == "no_rows":
        if found.startswith("query failed"):
            return "the check's query (plan.json) must run as a plain SELECT for this role"
        return f"list them with `{one_line(check.sql.strip().rstrip(';'))}`, correct or delete them, then re-run"
    if kind == "trigger_exists" and "ENABLE TRIGGER" in found:
        return ""  # trigger_state already names the ALTER TABLE … ENABLE TRIGGER that fixes it
    if kind == "index_valid" and "INVALID" in found:
        index = quote_qualified(check.name, split_qualified(check.table)[0] if check.table else None)
        return f"DROP INDEX CONCURRENTLY {index}, then re-run the phase that builds it"
    if kind == "constraint_validated" and "NOT VALID" in found:
        return f"ALTER TABLE {_table_sql(check.table)} VALIDATE CONSTRAINT {quote_ident(check.name)}"
    if kind.endswith("_absent"):
        return (
            "it is still there: apply (or finish) the phase that removes it, or remove it by hand if it is a leftover"
        )
    # Missing, or a column that allows NULL: what makes it never ran here, or was undone by hand.
    return "apply what makes it first (an earlier migration or phase; `bgmigrate status --verify` shows "
    "what is in place), or re-plan against this database"


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


# pg_trigger.tgenabled: 'O' fires in origin sessions (the default), 'A' always, 'R' only in
# replica sessions (session_replication_role = replica), 'D' never. Application sessions are
# origin sessions, so only 'O' and 'A' keep a sync or fill trigger's columns in step for them.
_FIRES = {"O": "enabled", "A": "enabled ALWAYS"}
_SILENT = {"D": "DISABLED", "R": "enabled for REPLICA sessions only (application sessions never fire it)"}


@dataclass(frozen=True)
class TriggerState:
    """A trigger as the catalogs show it: absent, or present with its ``tgenabled``."""

    exists: bool
    fires: bool  # fires for the application's (origin) sessions
    found: str  # one line for a message, with the fix when it exists but does not fire


def trigger_state(conn: Connection, table: str, name: str) -> TriggerState:
    """The one answer to "is trigger ``name`` on ``table`` in place?" (apply, status, switch).

    A trigger that exists but does not fire keeps nothing in sync, so it is not in place.
    """
    oid = _relation(conn, table, _TABLE_KINDS)
    row = None
    if oid is not None:
        row = conn.execute(
            "SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = %s AND tgname = %s AND NOT tgisinternal",
            (oid, name),
        ).fetchone()
    if row is None:
        return TriggerState(False, False, f"trigger {name} on {table} does not exist")
    state = str(row[0])
    if state in _FIRES:
        return TriggerState(True, True, f"trigger {name} on {table} exists and is {_FIRES[state]}")
    what = _SILENT.get(state, f"in an unknown state {state!r}")
    schema, relname = split_qualified(table)
    fix = f"ALTER TABLE {quote_qualified(relname, schema)} ENABLE TRIGGER {quote_ident(name)}"
    return TriggerState(True, False, f"trigger {name} on {table} exists but is {what}; fix: {fix}")


def _trigger_exists(conn: Connection, check: Check) -> tuple[bool, str]:
    state = trigger_state(conn, check.table, check.name)
    return state.fires, state.found


def _trigger_absent(conn: Connection, check: Check) -> tuple[bool, str]:
    # A disabled trigger is still there: contract has not removed it.
    state = trigger_state(conn, check.table, check.name)
    return not state.exists, state.found


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


_SAMPLES = 5  # keys shown of the rows a no_rows check found: enough to look one up
_LIMIT = re.compile(r"\bLIMIT\s+(\d+)\s*$", re.IGNORECASE)


def _no_rows(conn: Connection, check: Check) -> tuple[bool, str]:
    text = check.sql.strip().rstrip(";")
    count_query = sql.SQL("SELECT count(*) FROM ({}) AS left_behind").format(sql.SQL(text))
    sample_query = sql.SQL("SELECT * FROM ({}) AS left_behind LIMIT {}").format(sql.SQL(text), sql.Literal(_SAMPLES))
    try:
        # force_rollback: a check must never change data, even a carelessly written one.
        with conn.transaction(force_rollback=True):
            row = conn.execute(count_query).fetchone()
            count = int(row[0]) if row else 0
            samples = conn.execute(sample_query).fetchall() if count else []
    except psycopg.Error as exc:
        return False, f"query failed: {one_line(str(exc))}"
    if count == 0:
        return True, "no rows left behind"
    return False, f"{_how_many(text, count)} found (first keys: {_keys(samples, count)})"


def _how_many(query: str, count: int) -> str:
    """``count`` rows, or "at least" that many when the query's own LIMIT cut them off."""
    limit = _LIMIT.search(query)
    at_least = "at least " if limit and int(limit.group(1)) == count else ""
    return f"{at_least}{count} row{'s' if count != 1 else ''}"


def _keys(rows: list[tuple[object, ...]], count: int) -> str:
    # The first column: the planner's queries select the batch key, the one a row is found by.
    shown = [one_line(str(row[0]))[:40] if row else "" for row in rows]
    return ", ".join(shown) + (", …" if count > len(rows) else "")


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
