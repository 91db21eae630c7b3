"""Moving traffic: the backend's route, then confirmation, and the switch back when it fails."""

from __future__ import annotations

from bgmigrate.switch.backends import Backend, Gradual, Routed
from bgmigrate.switch.config import ConfirmSettings, Environment
from bgmigrate.switch.confirm import confirm_gate
from bgmigrate.switch.verdict import GateResult, failed, passed


def move(
    backend: Backend, confirm: ConfirmSettings, target: Environment, previous: Environment | None,
    gradual: Gradual | None = None,
) -> Routed:  # fmt: skip
    """Route to ``target``; if the proxy does not confirm, route back to ``previous``."""
    routed = backend.route(target, previous, gradual)
    if not routed.ok:
        return routed
    checks = [c for c in (backend.check(target, previous),) if c is not None]
    checks.append(confirm_gate(confirm, target.name, backend.identifiers(target)))
    steps = (*routed.steps, *checks)
    if all(c.ok for c in checks):
        return Routed(True, steps)
    return Routed(False, (*steps, *_switch_back(backend, confirm, previous, target)))


def _switch_back(
    backend: Backend, confirm: ConfirmSettings, previous: Environment | None, target: Environment
) -> tuple[GateResult, ...]:
    """Route back to ``previous`` and wait until the proxy shows it (a reload is asynchronous)."""
    if previous is None:
        return (passed("switch back", "nothing to switch back to on the first deploy"),)
    back = backend.route(previous, target, None)
    if not back.ok:
        return (*back.steps, failed("switch back", f"traffic could not return to {previous.name}: fix by hand"))
    back_confirmed = confirm_gate(confirm, previous.name, backend.identifiers(previous))
    return (*back.steps, back_confirmed, passed("switch back", f"traffic returned to {previous.name}"))
