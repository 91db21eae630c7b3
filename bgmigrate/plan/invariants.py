"""Checks every plan must pass: each phase parses, linting the phases in order raises no error
and no statement of them fails on that replay, and planning a phase file again changes nothing.

Pure functions over a plan and the migrations before it; the tests run them on every recipe,
and ``bgmigrate plan`` runs the lint check to tell the user what (if anything) is left.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from pathlib import PurePath

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.engine import lint_migrations, parse_migration
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.collisions import Ledger, replay
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Plan
from bgmigrate.plan.render_sql import render_sql
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.safetext import display
from bgmigrate.sql.statements import split_sql
from bgmigrate.sql.tokens import Cursor


class PhaseCheckError(ValueError):
    """The phase files would fail when run (they do not parse, or a statement cannot succeed)."""


def phase_migrations(plan: Plan, folder: str = "plan") -> list[Migration]:
    """The rendered phase files as migrations, in the order they run."""
    return [load_sql(f"{folder}/{name}", text) for name, text in sorted(render_sql(plan).items())]


def parse_errors(plan: Plan) -> list[InputError]:
    """Syntax errors in any phase file (none expected)."""
    return [e for m in phase_migrations(plan) for e in parse_migration(m)[1]]


def lint_phases(
    plan: Plan,
    before: Sequence[Migration],
    catalogue: Catalogue,
    settings: LintSettings | None = None,
    schema: Schema | None = None,
) -> list[Finding]:
    """What ``bgmigrate lint`` says about the phases, replayed after ``before`` (on ``schema``, if given)."""
    settings = settings or LintSettings()
    phases = phase_migrations(plan)
    findings, errors = lint_migrations(
        [*before, *phases],
        catalogue,
        settings,
        select_rules(catalogue, settings),
        schema=copy.deepcopy(schema) if schema is not None else None,
        report={m.path for m in phases},
    )
    if errors:
        raise PhaseCheckError(f"phase files do not parse: {errors[0]}")
    failures = replay_failures(plan, before, schema)
    if failures:
        raise PhaseCheckError(f"a phase would fail: {failures[0]}")
    return findings


# Compatibility rules whose hazard the planner may leave in expand: dropping NOT NULL only relaxes
# what the old version sees (docs/planning.md, "Drops").
_RELAXING = frozenset({"drop-not-null"})


def breaking_findings(findings: Sequence[Finding], catalogue: Catalogue) -> list[Finding]:
    """Findings that break the old version in a phase it still uses (expand or migrate): none allowed.

    Whatever their configured severity: a plan exists to keep the old version working until
    contract, so any compatibility hazard before contract is the plan being wrong.
    """
    found = []
    for finding in findings:
        entry = catalogue.get(finding.rule)
        shared = not finding.path.endswith("_contract.sql")
        if shared and entry is not None and entry.group == "compatibility" and finding.rule not in _RELAXING:
            found.append(finding)
    return found


def refuse_lint_errors(findings: Sequence[Finding], catalogue: Catalogue) -> None:
    """Raise ``PlanError`` for an error lint finds in a phase file, naming the finding and its phase.

    So does any finding that breaks the old version before contract, whatever its severity: a
    plan that would ship either is no safe plan.
    """
    breaking = breaking_findings(findings, catalogue)
    errors = breaking + [f for f in findings if f.severity >= Severity.ERROR and f not in breaking]
    if not errors:
        return
    first = errors[0]
    name = PurePath(first.path).name
    phase = name.removesuffix(".sql").partition("_")[2] or name
    message = first.message.strip().splitlines()[0] if first.message.strip() else first.rule
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise PlanError(
        f"no safe plan: the plan's {phase} phase ({name}:{first.line}) would ship {first.severity.label} "
        f"{first.rule}: {message}{more}; nothing written. Run `bgmigrate explain {first.rule}` for the manual "
        "recipe, or plan the statements it names as a migration of their own"
    )


def replay_failures(plan: Plan, before: Sequence[Migration], schema: Schema | None = None) -> list[str]:
    """Statements of the phase files that cannot succeed, replayed in order after ``before`` (on ``schema``).

    Lint judges hazards and trusts that each statement runs; this checks that it can: a
    statement creating a column, table, index, constraint or trigger whose name is still held
    at that point (a drop of it deferred to a later phase) fails with "already exists".
    """
    ledger = Ledger(copy.deepcopy(schema) if schema is not None else Schema())
    for migration in before:
        for op in parse_migration(migration)[0]:
            ledger.learn(op)
    failures = []
    for migration in phase_migrations(plan):
        for op, holder in replay(ledger, parse_migration(migration)[0]):
            text = op.stmt.text.splitlines()[0][:80]
            failures.append(f"{migration.path}:{op.stmt.line}: {text} — {holder} already exists there")
    return failures


def statements(sql: str) -> list[str]:
    """The statements of some SQL (split by the one shared lexer), transaction control and SET left out."""
    return [s.text for s in split_sql(sql) if Cursor(s.text).peek_upper() not in ("BEGIN", "COMMIT", "SET")]


def replan(plan: Plan, phase: str, knowledge: Knowledge, request: PlanRequest) -> Plan:
    """Plan one phase's file again, against the schema it runs on (``knowledge``)."""
    migration = load_sql(f"{phase}.sql", render_sql(plan)[_file(plan, phase)])
    operations, errors = parse_migration(migration)
    if errors:
        raise ValueError(str(errors[0]))
    return plan_operations(operations, knowledge, request)


def _file(plan: Plan, phase: str) -> str:
    return next(name for name in render_sql(plan) if name.endswith(f"_{phase}.sql"))


def step_statements(plan: Plan, phase: str | None = None) -> list[str]:
    """The SQL statements of the plan's steps (one phase, or all), backfills left out."""
    return [
        text
        for p in plan.phases
        if phase is None or p.name == phase
        for s in p.steps
        if s.kind == "sql"
        for text in statements(s.sql)
    ]


def file_statements(plan: Plan, phase: str) -> list[str]:
    """The statements of a phase's rendered file (backfill loops included)."""
    return statements(render_sql(plan)[_file(plan, phase)])


def _words(text: str) -> str:
    return " ".join(text.split()).rstrip(";").strip()


def refuse_unreadable(findings: Sequence[Finding], plan: Plan, user_statements: Iterable[str]) -> None:
    """Raise ``PlanError`` when a phase holds SQL the planner wrote but bgmigrate cannot read.

    Statements carried over as the user wrote them may be beyond the parser (they are reported,
    not refused); but SQL the planner generated must always parse: if it does not, the phase
    would likely fail when run, and nothing is written.
    """
    own = {_words(text) for text in user_statements}
    texts = {(m.path, st.line): st.text for m in phase_migrations(plan) for st in m.statements}
    for finding in findings:
        if finding.rule != "unparsed-statement":
            continue
        text = texts.get((finding.path, finding.line), "")
        if _words(text) in own:
            continue
        shown = display(_words(text))[:120]
        raise PlanError(
            f"no safe plan: the plan's {PurePath(finding.path).name}:{finding.line} holds SQL bgmigrate wrote "
            f"but cannot read back ({shown}); nothing written (a bgmigrate bug, please report it). Plan the "
            "statement by hand with `bgmigrate explain` for its rule's recipe"
        )
