"""The last step of planning: placed fragments → phases of steps, in the migration's order.

Statements carried over verbatim stay one statement: when every action of an ALTER TABLE went
to the same phase its text is used once; when they split, each action is rendered alone. The
user's transaction blocks stay atomic within a phase (one step holding several statements), and
the user's own suppression comments travel with their statements.
"""

from __future__ import annotations

from itertools import groupby

from bgmigrate.plan.draft import CONTRACT, EXPAND, MIGRATE, Draft, Fragment
from bgmigrate.plan.evolve import evolve
from bgmigrate.plan.phases import PHASES, Check, Phase, PhaseName, Plan, Step
from bgmigrate.plan.suppress import ignore
from bgmigrate.plan.verbatim import render_action

SERVES = {EXPAND: ("old", "new"), MIGRATE: ("old", "new"), CONTRACT: ("new",)}
RETIRED = "contract: runs only after the old app version is retired"


def _own_suppressions(fragment: Fragment) -> str:
    """The user's ``bgmigrate: ignore`` comments on the statement, as comment lines."""
    assert fragment.verbatim is not None
    lines = []
    for s in fragment.verbatim.stmt.suppressions:
        if not s.file_level:
            lines.append(ignore(s.rules, s.reason) if s.rules else f"-- bgmigrate: ignore {s.reason}\n")
    return "".join(lines)


def _statement_step(group: list[Fragment], draft: Draft) -> Step:
    """One step for the fragments of one verbatim statement placed in one phase."""
    first = group[0]
    assert first.verbatim is not None
    stmt = first.verbatim.stmt
    siblings = [i for i in draft.items if i.op.stmt is stmt]
    rules = tuple(dict.fromkeys(r for f in group for r in f.ignore))
    head = _own_suppressions(first) + (ignore(rules, RETIRED) if rules else "")
    if len(siblings) == len(group):
        return evolve(first.step, sql=head + stmt.text)
    sql = ";\n".join(render_action(f.verbatim) for f in group if f.verbatim is not None)
    return evolve(first.step, sql=head + sql)


def _merge_statements(fragments: list[Fragment], draft: Draft) -> list[Fragment]:
    merged: list[Fragment] = []
    for _stmt, run in groupby(fragments, key=lambda f: id(f.verbatim.stmt) if f.verbatim is not None else id(f)):
        group = list(run)
        if group[0].verbatim is None:
            merged.extend(group)
        else:
            merged.append(evolve(group[0], step=_statement_step(group, draft)))
    return merged


def _merge_blocks(fragments: list[Fragment]) -> list[Step]:
    """Consecutive verbatim steps from one user transaction block → one atomic step."""
    steps: list[Step] = []
    for block, run in groupby(
        fragments, key=lambda f: f.block if f.verbatim is not None and f.step.transactional else None
    ):
        group = list(run)
        if block is None or len(group) == 1:
            steps.extend(f.step for f in group)
            continue
        first = group[0].step
        steps.append(evolve(
            first,
            description=f"as written, in one transaction (lines {first.source_line} to {group[-1].step.source_line})",
            sql=";\n".join(f.step.sql for f in group),
            takes_lock=next((f.step.takes_lock for f in group if f.step.takes_lock), ""),
            table=next((f.step.table for f in group if f.step.takes_lock), ""),
        ))  # fmt: skip
    return steps


def _phase(draft: Draft, name: PhaseName) -> Phase:
    fragments = sorted((f for f in draft.fragments if f.phase == name), key=lambda f: f.order)
    steps = _merge_blocks(_merge_statements(fragments, draft))
    checks: list[Check] = []
    for phase, check in draft.checks:
        if phase == name and check not in checks:
            checks.append(check)
    notes = tuple(dict.fromkeys(n for phase, n in draft.notes if phase == name))
    return Phase(name=name, steps=tuple(steps), serves=SERVES[name], notes=notes, checks=tuple(checks))


def _rewrites(draft: Draft) -> tuple[str, ...]:
    lines = []
    for index, recipe in sorted(draft.recipes):
        stmt = draft.items[index].op.stmt
        lines.append(f"line {stmt.line}: {stmt.text.splitlines()[0][:80]} → {recipe}")
    return tuple(dict.fromkeys(lines))


def assemble(draft: Draft) -> Plan:
    """The plan the draft describes: all three phases, always, in order."""
    request = draft.request
    return Plan(
        id=request.id,
        source=request.source,
        phases=tuple(_phase(draft, name) for name in PHASES),
        preconditions=tuple(dict.fromkeys(draft.preconditions)),
        passthrough=draft.passthrough,
        source_revision=request.source_revision,
        assumptions=tuple(dict.fromkeys(draft.assumptions)),
        rewrites=_rewrites(draft),
    )
