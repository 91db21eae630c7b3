"""Reading ``DIR/plan.json`` and rejecting plans apply could not run safely."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from bgmigrate.apply.effects import deferred_preconditions, live_preconditions
from bgmigrate.apply.errors import ApplyError
from bgmigrate.apply.live_checks import CHECK_KINDS
from bgmigrate.apply.plan_settings import PlanSettings, read_settings
from bgmigrate.plan.phases import PHASES, Check, Phase, Plan, Step


@dataclass(frozen=True)
class LoadedPlan:
    plan: Plan
    digest: str  # sha256 of the canonical JSON: a re-formatted file is the same plan
    path: Path
    settings: PlanSettings = field(default_factory=PlanSettings)  # the plan's own lock/retry settings


def load_plan(directory: str | Path) -> LoadedPlan:
    """The plan in ``directory``; raises :class:`ApplyError` naming the file and the problem."""
    folder = Path(directory)
    if not folder.is_dir():
        raise ApplyError(f"{folder}: no such directory")
    path = folder / "plan.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApplyError(f"{path}: not found (is {folder} a plan directory?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApplyError(f"{path}: cannot read: {exc}") from None
    try:
        plan = Plan.from_json(text)
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        # from_json turns most malformations into ValueError; a non-object document slips past.
        raise ApplyError(f"{path}: not a bgmigrate plan: {exc}") from None
    problem = validate(plan)
    if problem:
        raise ApplyError(f"{path}: {problem}")
    try:
        settings = read_settings(json.loads(text))
    except ValueError as exc:
        raise ApplyError(f"{path}: {exc}") from None
    digest = hashlib.sha256(plan.to_json().encode("utf-8")).hexdigest()
    return LoadedPlan(plan=plan, digest=digest, path=path, settings=settings)


def validate(plan: Plan) -> str | None:
    """What makes ``plan`` unrunnable, or None."""
    if not plan.id:
        return "plan has no id"
    names = [phase.name for phase in plan.phases]
    if len(set(names)) != len(names) or names != [p for p in PHASES if p in names]:
        return f"phases must be a subset of {', '.join(PHASES)}, in that order, once each (got {names})"
    for check in plan.preconditions:
        if check.kind not in CHECK_KINDS:
            return f"precondition: unknown check kind {check.kind!r}"
    for phase in plan.phases:
        problem = _validate_phase(phase)
        if problem:
            return f"{phase.name}: {problem}"
    return None


def _validate_phase(phase: Phase) -> str | None:
    for check in phase.checks:
        if check.kind not in CHECK_KINDS:
            return f"unknown check kind {check.kind!r}"
    for number, step in enumerate(phase.steps, 1):
        problem = _validate_step(step)
        if problem:
            return f"step {number} ({step.description}): {problem}"
    return None


def _validate_step(step: Step) -> str | None:
    if step.kind == "sql":
        return None if step.sql.strip() else "no SQL"
    if step.kind == "backfill":
        if step.backfill is None:
            return "backfill step without a backfill spec"
        if not step.backfill.assignments or step.backfill.batch_size < 1:
            return "backfill needs assignments and a positive batch size"
        return None
    return f"unknown step kind {step.kind!r}"


def precondition_checks(plan: Plan, phase_name: str) -> tuple[Check, ...]:
    """What must hold before ``phase_name`` runs: the previous phase's checks, or before the first
    phase the plan's preconditions that none of its own steps produces (see :mod:`effects`)."""
    index = [str(p.name) for p in plan.phases].index(phase_name)
    return live_preconditions(plan) if index == 0 else phase_checks(plan, plan.phases[index - 1].name)


def phase_checks(plan: Plan, phase_name: str) -> tuple[Check, ...]:
    """What must hold once ``phase_name`` ran: its checks and the preconditions it produces."""
    return plan.phase(phase_name).checks + deferred_preconditions(plan, phase_name)
