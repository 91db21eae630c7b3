"""After a phase's rollback steps: compare the catalog with its pre-phase record, undo what is left.

A step without rollback SQL (a statement carried over as written, say) leaves what it created.
This removes every object the phase added that is still there (drop triggers, constraints,
indexes, columns, views, tables, sequences, functions, types; re-allow NULL where the phase
forbade it), each in its own short transaction under ``lock_timeout`` with retries and never with
CASCADE, then compares again. What cannot be undone this way (a dropped or retyped column, an
enum value) is reported by name: the caller exits non-zero rather than claim "as before".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from bgmigrate.apply.connect import Connection
from bgmigrate.apply.retry import OnRetry, RetryPolicy, with_retries
from bgmigrate.apply.runner import run_sql
from bgmigrate.apply.schema_record import Catalog, Change, differences, read_catalog
from bgmigrate.dsn import one_line

_RELATION_KEYWORD = {
    "r": "TABLE",
    "p": "TABLE",
    "f": "FOREIGN TABLE",
    "v": "VIEW",
    "m": "MATERIALIZED VIEW",
    "S": "SEQUENCE",
    "i": "INDEX",
    "I": "INDEX",
}
# Dependents before what they depend on: a trigger before its function, a view before its table.
_ORDER = ("trigger", "constraint", "i", "I", "column", "v", "m", "r", "p", "f", "S", "function", "type")


@dataclass(frozen=True)
class Inverse:
    change: Change
    statement: sql.Composable


@dataclass(frozen=True)
class UndoReport:
    undone: list[str]  # what the inverse statements removed
    left: list[str]  # differences from the pre-phase record that the phase made and that remain
    others: list[str]  # differences the phase did not make (changed since by someone else), left alone


def _qualified(schema: str, name: str) -> sql.Composable:
    return sql.Identifier(schema, name)


def inverse(change: Change) -> sql.Composable | None:
    """The statement that takes ``change`` back, or None when there is no safe generic one."""
    if change.before is None and change.after is not None:
        return _drop(change.kind, change.name, change.after)
    before, after = change.before, change.after
    # Same type, NULL forbidden by the phase: allow it again. A retyped column has no generic inverse.
    if change.kind == "column" and before and after and before == (after[0], "NULL") and after[1] == "NOT NULL":
        table, column = _qualified(change.name[0], change.name[1]), sql.Identifier(change.name[2])
        return sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL").format(table, column)
    return None


def _drop(kind: str, name: tuple[str, ...], attributes: tuple[str, ...]) -> sql.Composable | None:
    """DROP … IF EXISTS of an added object (never CASCADE: a dependent that is not ours stops it)."""
    if kind == "relation":
        keyword = sql.SQL(_RELATION_KEYWORD[attributes[0]])
        return sql.SQL("DROP {} IF EXISTS {}").format(keyword, _qualified(*name))
    if kind == "function":
        # The argument list is PostgreSQL's own rendering (types and names already quoted).
        return sql.SQL("DROP FUNCTION IF EXISTS {}({})").format(_qualified(name[0], name[1]), sql.SQL(name[2]))
    if kind == "type":
        return sql.SQL("DROP TYPE IF EXISTS {}").format(_qualified(*name))
    if kind not in ("column", "constraint", "trigger"):
        return None  # an enum value cannot be dropped
    table, part = _qualified(name[0], name[1]), sql.Identifier(name[2])
    if kind == "trigger":
        return sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(part, table)
    what = sql.SQL("COLUMN" if kind == "column" else "CONSTRAINT")
    return sql.SQL("ALTER TABLE {} DROP {} IF EXISTS {}").format(table, what, part)


def _rank(change: Change) -> int:
    key = change.after[0] if change.kind == "relation" and change.after else change.kind
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)


def _inside_added_table(change: Change, added_tables: set[tuple[str, str]]) -> bool:
    return change.kind in ("column", "constraint", "trigger") and (change.name[0], change.name[1]) in added_tables


def made_by_phase(change: Change, after: Catalog | None) -> bool:
    """Whether the phase made ``change``: the post-phase record shows it (no record: assume so)."""
    if after is None:
        return True
    recorded = after.objects.get(change.kind, {}).get(change.name)
    return recorded == change.after or (change.after is None and recorded is None)


def plan_inverses(changes: Iterable[Change]) -> list[Inverse]:
    """Inverse statements for ``changes``, dependents first; sub-objects of dropped tables are skipped."""
    changes = list(changes)
    added_tables = {(c.name[0], c.name[1]) for c in changes if c.kind == "relation" and c.before is None and c.after}
    found = []
    for change in sorted(changes, key=_rank):
        if _inside_added_table(change, added_tables):
            continue
        statement = inverse(change)
        if statement is not None:
            found.append(Inverse(change, statement))
    return found


Say = Callable[[str], None]


def _run_inverse(
    conn: Connection, item: Inverse, lock_timeout: float, policy: RetryPolicy, on_retry: OnRetry
) -> str | None:
    """Run one inverse statement with retries; the error text when it fails, None when done."""
    text = item.statement.as_string(conn)

    def attempt(_number: int) -> None:
        run_sql(conn, text, transactional=True, lock_timeout=lock_timeout)

    try:
        with_retries(attempt, policy, on_retry)
    except psycopg.Error as exc:
        return one_line(str(exc))
    return None


def undo_leftovers(
    conn: Connection,
    before: Catalog,
    after: Catalog | None,
    *,
    lock_timeout: float,
    policy: RetryPolicy,
    on_retry: OnRetry,
    say: Say,
) -> UndoReport:
    """Remove what the phase added and its steps left, then compare with ``before`` once more."""
    ours = [c for c in differences(before, read_catalog(conn)) if made_by_phase(c, after)]
    pending, undone = plan_inverses(ours), []
    # Objects the phase added may depend on each other in ways the order above cannot know (a
    # view on an added column): repeat the failed ones while each pass still removes something.
    while pending:
        failed: list[tuple[Inverse, str]] = []
        for item in pending:
            error = _run_inverse(conn, item, lock_timeout, policy, on_retry)
            if error:
                failed.append((item, error))
            else:
                undone.append(item.change.describe())
                say(f"  undid what its steps left: {item.statement.as_string(conn)}")
        if len(failed) == len(pending):
            for item, error in failed:
                say(f"  could not undo {item.change.describe()}: {error}")
            break
        pending = [item for item, _error in failed]
    remaining = differences(before, read_catalog(conn))
    return UndoReport(
        undone=undone,
        left=[c.describe() for c in remaining if made_by_phase(c, after)],
        others=[c.describe() for c in remaining if not made_by_phase(c, after)],
    )
