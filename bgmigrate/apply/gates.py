"""Whether a phase may be applied or rolled back, decided from the recorded phase statuses.

Pure: statuses in, a decision or a refusal out. Phases run in plan order and once; a phase
rolls back only while no later phase is in place and contract has not run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bgmigrate.apply.errors import ApplyError, Refused
from bgmigrate.apply.state import DONE, FAILED, ROLLED_BACK, ROLLING_BACK, RUNNING
from bgmigrate.plan.phases import Plan

_NOT_IN_PLACE = (None, ROLLED_BACK)


@dataclass(frozen=True)
class Decision:
    run: bool  # False: nothing to do, ``message`` says why
    message: str = ""
    fresh: bool = True  # False: continue a run that stopped part-way


def _names(plan: Plan, phase: str) -> list[str]:
    names = [str(p.name) for p in plan.phases]
    if phase not in names:
        raise ApplyError(f"plan {plan.id} has no {phase} phase (it has {', '.join(names) or 'none'})")
    return names


def _check_digest(plan: Plan, statuses: Mapping[str, str], digest_changed: bool) -> None:
    in_place = [name for name, status in statuses.items() if status not in _NOT_IN_PLACE]
    if digest_changed and in_place:
        raise Refused(
            f"plan.json of {plan.id} differs from the plan applied to this database "
            f"({', '.join(in_place)} in place); apply the plan that was started, or roll it back first"
        )


def forward(plan: Plan, phase: str, statuses: Mapping[str, str], *, digest_changed: bool, confirmed: bool) -> Decision:
    """May ``phase`` be applied now?"""
    names = _names(plan, phase)
    _check_digest(plan, statuses, digest_changed)
    status = statuses.get(phase)
    if status == DONE:
        return Decision(run=False, message=f"{phase} of plan {plan.id} is already applied; nothing to do")
    if status == ROLLING_BACK:
        raise Refused(f"a rollback of {phase} did not finish; run `apply --rollback --phase {phase}` to finish it")
    index = names.index(phase)
    if index > 0 and statuses.get(names[index - 1]) != DONE:
        previous = names[index - 1]
        raise Refused(f"{phase} needs {previous} applied first ({previous} is {statuses.get(previous, 'not applied')})")
    for later in names[index + 1 :]:
        if statuses.get(later) not in _NOT_IN_PLACE:
            raise Refused(f"{later} is {statuses[later]} while {phase} is not applied; the state is inconsistent")
    if phase == "contract" and not confirmed:
        raise Refused(
            "contract removes what the old app version still uses: pass --confirm-old-version-retired "
            "once no old-version instance runs and the rollback window has closed"
        )
    return Decision(run=True, fresh=status not in (RUNNING, FAILED))


def backward(plan: Plan, phase: str, statuses: Mapping[str, str], *, digest_changed: bool) -> Decision:
    """May ``phase`` be rolled back now?"""
    names = _names(plan, phase)
    _check_digest(plan, statuses, digest_changed)
    if phase == "contract":
        raise Refused("contract cannot be rolled back: it removed what the old version used")
    contract = statuses.get("contract")
    if contract not in _NOT_IN_PLACE:
        raise Refused(f"contract has run ({contract}); expand and migrate can no longer be rolled back")
    for later in names[names.index(phase) + 1 :]:
        if statuses.get(later) not in _NOT_IN_PLACE:
            raise Refused(f"roll back {later} first ({later} is {statuses[later]})")
    status = statuses.get(phase)
    if status is None:
        return Decision(run=False, message=f"{phase} of plan {plan.id} is not applied; nothing to roll back")
    if status == ROLLED_BACK:
        return Decision(run=False, message=f"{phase} of plan {plan.id} is already rolled back; nothing to do")
    return Decision(run=True, fresh=status != ROLLING_BACK)
