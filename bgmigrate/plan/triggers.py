"""The PL/pgSQL the planner installs while two shapes of a table coexist.

``sync`` keeps an old and a new column equal in both directions, so either app version may
write either row: on INSERT the side that was written wins (the new column has no default
until contract, so a non-NULL new value was written by the new version); on UPDATE the side
that changed wins (OLD vs NEW). A value already consistent with the other side is left alone,
so a lossy conversion never rewrites what the old version wrote.

``fill`` gives a column a value when a writer (the old version) leaves it NULL.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgmigrate.plan.sqlgen import PREFIX, in_schema_of, literal, q, short_name
from bgmigrate.plan.suppress import ignore
from bgmigrate.safetext import comment
from bgmigrate.sql.names import Name
from bgmigrate.sql.quote import dollar_quote


@dataclass(frozen=True)
class TriggerSql:
    """What creates and what removes one trigger and its function."""

    function: str  # qualified, quoted function name
    trigger: str  # quoted trigger name (triggers are named per table)
    trigger_name: str  # the trigger's name as the catalog stores it (apply's checks match it)
    create_function: str
    create_trigger: str
    drop_trigger: str
    drop_function: str

    def drops(self) -> tuple[str, str]:
        """The two drops as contract runs them, each saying why lint may let it pass."""
        reason = ignore(("drop-object",), "bgmigrate's own trigger from expand; no app version calls or relies on it")
        return reason + self.drop_trigger, reason + self.drop_function


def row_expression(expression: str) -> str:
    """An expression over the table's columns, evaluated on the row being written (``NEW``).

    >>> row_expression("lower(email)")
    '(SELECT lower(email) FROM (SELECT (NEW).*) AS bgm_row)'
    """
    return f"(SELECT {expression} FROM (SELECT (NEW).*) AS bgm_row)"


def _function(name: str, body: list[str]) -> str:
    """The function; its dollar-quote tag never occurs in the body (a quoted name may hold ``$bgmigrate$``)."""
    code = "\n".join(["", "BEGIN", *(f"  {line}" for line in body), "  RETURN NEW;", "END", ""])
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS {dollar_quote(code)}"


def _trigger_sql(table: Name, purpose: str, column: str, body: list[str], pg_version: int) -> TriggerSql:
    function = in_schema_of(table, short_name(PREFIX, purpose, table.name, column))
    trigger_name = short_name(PREFIX, purpose, column)
    trigger = q(trigger_name)
    execute = "FUNCTION" if pg_version >= 11 else "PROCEDURE"
    return TriggerSql(
        function=function,
        trigger=trigger,
        trigger_name=trigger_name,
        create_function=_function(function, body),
        create_trigger=(
            f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table.sql()}\n"
            f"  FOR EACH ROW EXECUTE {execute} {function}()"
        ),
        drop_trigger=f"DROP TRIGGER IF EXISTS {trigger} ON {table.sql()}",
        drop_function=f"DROP FUNCTION IF EXISTS {function}()",
    )


@dataclass(frozen=True)
class Guard:
    """A value the conversion would change (truncate, round) is refused, never converted."""

    fits: str  # predicate over NEW: the old column's value converts without loss
    detail: str  # what does not fit what, for the error (plain text; quoted here)

    def raise_unless_fits(self, indent: str) -> list[str]:
        message = "bgmigrate: value does not fit the column's new type; not written (it would be truncated or rounded)"
        return [
            f"{indent}IF NOT {self.fits} THEN",
            f"{indent}  RAISE EXCEPTION USING ERRCODE = '22000', MESSAGE = {literal(message)}, "
            f"DETAIL = {literal(self.detail)};",
            f"{indent}END IF;",
        ]


def sync(
    table: Name, old: str, new: str, to_new: str, to_old: str, pg_version: int, guard: Guard | None = None
) -> TriggerSql:
    """Keep ``old`` and ``new`` equal both ways; ``to_new``/``to_old`` convert (over ``NEW``).

    With a ``guard``, a write of ``old`` whose value the conversion would change fails instead.
    """
    o, n = f"NEW.{q(old)}", f"NEW.{q(new)}"
    check = guard.raise_unless_fits("  ") if guard else []
    body = [
        comment(f"keeps {q(old)} (old app) and {q(new)} (new app) equal while both versions write"),
        "IF TG_OP = 'INSERT' THEN",
        *check,
        f"  IF {n} IS NULL THEN",
        f"    {n} := {to_new};",
        f"  ELSIF {n} IS DISTINCT FROM {to_new} THEN",
        f"    {o} := {to_old};",
        "  END IF;",
        f"ELSIF {n} IS DISTINCT FROM OLD.{q(new)} THEN",
        f"  IF {n} IS DISTINCT FROM {to_new} THEN",
        f"    {o} := {to_old};",
        "  END IF;",
        f"ELSIF {o} IS DISTINCT FROM OLD.{q(old)} THEN",
        *check,
        f"  {n} := {to_new};",
        "END IF;",
    ]
    return _trigger_sql(table, "sync", new, body, pg_version)


def fill(table: Name, column: str, value: str, pg_version: int) -> TriggerSql:
    """Set ``column`` to ``value`` (an expression over the row) where a writer left it NULL."""
    c = f"NEW.{q(column)}"
    body = [
        comment(f"gives {q(column)} a value where a writer (the old app) leaves it NULL"),
        f"IF {c} IS NULL THEN",
        f"  {c} := {row_expression(value)};",
        "END IF;",
    ]
    return _trigger_sql(table, "fill", column, body, pg_version)


def derived(table: Name, column: str, body: list[str], pg_version: int) -> TriggerSql:
    """A ``BEFORE INSERT OR UPDATE`` row trigger running ``body`` (PL/pgSQL over ``NEW``/``OLD``), named after ``column``."""
    return _trigger_sql(table, "sync", column, body, pg_version)
