"""A plan as data: a migration rewritten into expand / migrate / contract phases.

A plan is data: the planner (pure) produces it, ``plan.json`` stores it, ``apply`` executes it
and the traffic-switch coordinator reads its checks to decide whether the live schema serves
both app versions. Every field round-trips through JSON unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar, get_args

PhaseName = Literal["expand", "migrate", "contract"]
PHASES: tuple[PhaseName, ...] = ("expand", "migrate", "contract")
FORMAT_VERSION = 1


StepKind = Literal["sql", "backfill"]
CheckKind = Literal[
    "table_exists", "table_absent", "column_exists", "column_absent", "column_not_null", "trigger_exists",
    "trigger_absent", "index_valid", "constraint_validated", "no_rows",
]  # fmt: skip
_STEP_KINDS: tuple[StepKind, ...] = get_args(StepKind)
_CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)


@dataclass(frozen=True)
class Backfill:
    """Fill columns of existing rows in batches by primary-key range.

    ``where`` selects rows that still need the backfill (so a crashed run resumes and rows
    written meanwhile by the old version are caught); ``assignments`` are (column, SQL
    expression) pairs evaluated per row.
    """

    table: str  # quoted, possibly schema-qualified SQL name
    key: str  # single-column primary key used for batching (quoted)
    assignments: tuple[tuple[str, str], ...]
    where: str
    batch_size: int = 1000


@dataclass(frozen=True)
class Step:
    """One unit of work in a phase: a SQL statement or a batched backfill."""

    kind: StepKind
    description: str
    sql: str = ""
    transactional: bool = True  # False for CONCURRENTLY and other statements outside a transaction
    takes_lock: str = ""  # lock mode on an existing table, e.g. "ACCESS EXCLUSIVE"; "" for none
    table: str = ""  # the table it locks or fills
    backfill: Backfill | None = None
    rollback_sql: str = ""  # how ``apply --rollback`` undoes it ("" when nothing to undo)
    retry_sql: str = ""  # run before a retry (drop an INVALID index a failed build left)
    source_line: int | None = None  # where in the original migration it came from


@dataclass(frozen=True)
class Check:
    """A fact about the live schema that holds once a phase is applied.

    kinds: table_exists, table_absent, column_exists, column_absent, column_not_null,
    trigger_exists, trigger_absent, index_valid, constraint_validated, no_rows (``sql`` is a
    query returning the rows still left behind; none expected).
    """

    kind: CheckKind
    table: str = ""  # unquoted "schema.name" or "name"
    column: str = ""
    name: str = ""  # trigger / index / constraint name
    sql: str = ""
    description: str = ""


@dataclass(frozen=True)
class Phase:
    """One phase of a plan: its steps, the app versions it serves, notes and the checks after it."""

    name: PhaseName
    steps: tuple[Step, ...] = ()
    serves: tuple[str, ...] = ()  # app versions live while this phase is in place: "old", "new"
    notes: tuple[str, ...] = ()  # what the application release must do around this phase
    checks: tuple[Check, ...] = ()  # hold after this phase; preconditions of the next


@dataclass(frozen=True)
class Plan:
    """A migration rewritten into expand, migrate and contract, with what must hold before and between."""

    id: str
    source: str  # the original migration's path
    phases: tuple[Phase, ...]
    preconditions: tuple[Check, ...] = ()  # hold before expand
    passthrough: tuple[str, ...] = field(default=())  # notes on statements carried over unchanged
    source_revision: str | None = None  # Alembic: the revision the phases chain onto
    format_version: int = FORMAT_VERSION
    # What the planner assumed where it could not know (shown in PLAN.md; empty when nothing was assumed).
    assumptions: tuple[str, ...] = ()
    # Which statements were rewritten, and by which recipe ("line 3: rename column …").
    rewrites: tuple[str, ...] = ()

    def phase(self, name: str) -> Phase:
        for phase in self.phases:
            if phase.name == name:
                return phase
        raise KeyError(name)

    def to_json(self) -> str:
        """Stable JSON text (sorted keys, two-space indent, trailing newline)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """Read ``plan.json``; raises ``ValueError`` on a malformed document."""
        try:
            data = json.loads(text)
            return _plan(data)
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a bgmigrate plan: {exc}") from None


def _plan(data: dict[str, Any]) -> Plan:
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported plan format {data.get('format_version')!r}")
    return Plan(
        id=data["id"],
        source=data["source"],
        phases=tuple(_phase(p) for p in data["phases"]),
        preconditions=tuple(_check(c) for c in data.get("preconditions", [])),
        passthrough=tuple(data.get("passthrough", [])),
        source_revision=data.get("source_revision"),
        assumptions=tuple(data.get("assumptions", [])),
        rewrites=tuple(data.get("rewrites", [])),
    )


def _phase(data: dict[str, Any]) -> Phase:
    return Phase(
        name=phase_name(data["name"]),
        steps=tuple(_step(s) for s in data["steps"]),
        serves=tuple(data["serves"]),
        notes=tuple(data["notes"]),
        checks=tuple(_check(c) for c in data["checks"]),
    )


_Member = TypeVar("_Member", bound=str)


def _member(value: object, allowed: tuple[_Member, ...], what: str) -> _Member:
    """``value`` as one of ``allowed`` (a ``Literal``'s values); ``ValueError`` otherwise."""
    for option in allowed:
        if value == option:
            return option
    raise ValueError(f"unknown {what} {value!r}")


def phase_name(value: object) -> PhaseName:
    """``value`` as a phase name; ``ValueError`` otherwise.

    >>> phase_name("migrate")
    'migrate'
    """
    return _member(value, PHASES, "phase")


def _check(data: dict[str, Any]) -> Check:
    return Check(**{**data, "kind": _member(data["kind"], _CHECK_KINDS, "check kind")})


def _step(data: dict[str, Any]) -> Step:
    raw = dict(data)
    backfill = raw.pop("backfill", None)
    if backfill is not None:
        backfill = Backfill(
            table=backfill["table"],
            key=backfill["key"],
            assignments=tuple((c, e) for c, e in backfill["assignments"]),
            where=backfill["where"],
            batch_size=int(backfill["batch_size"]),
        )
    raw["kind"] = _member(raw["kind"], _STEP_KINDS, "step kind")
    return Step(backfill=backfill, **raw)
