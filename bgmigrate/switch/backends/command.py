"""The command backend: the user's own commands move traffic (a cloud load balancer, DNS).

Placeholders in each argument: ``{to}``, ``{from}`` (empty on the first deploy),
``{to_addresses}`` (comma-separated), ``{weight}`` (the target's share, 0-100), and the side
traffic moves away from: ``{other}``, ``{other_addresses}``, ``{other_weight}`` (100 minus
``{weight}``). ``{other}`` is ``{from}``, or on the first deploy the one other configured
environment, so a weighted record set can be written whole even then. Arguments are filled
one by one and never passed through a shell, so a name or address cannot inject a command.

With ``{weight}`` in the switch command, ``--gradual`` runs it once per step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bgmigrate.switch.backends import Gradual, Routed
from bgmigrate.switch.backends.process import run
from bgmigrate.switch.config import CommandSettings, Environment
from bgmigrate.switch.placeholders import substitute_all
from bgmigrate.switch.routing import Observed
from bgmigrate.switch.verdict import GateResult, failed, passed

FULL = 100


def placeholder_values(
    target: Environment, previous: Environment | None, weight: int = FULL, other: Environment | None = None
) -> dict[str, str]:
    """The placeholder values for routing ``weight`` % to ``target``; ``other`` defaults to ``previous``."""
    away = previous or other
    return {
        "to": target.name,
        "from": previous.name if previous else "",
        "to_addresses": ",".join(target.addresses),
        "weight": str(weight),
        "other": away.name if away else "",
        "other_addresses": ",".join(away.addresses) if away else "",
        "other_weight": str(FULL - weight),
    }


def fill(argv: tuple[str, ...], target: Environment, previous: Environment | None, weight: int = FULL) -> list[str]:
    """``argv`` with the placeholders filled in.

    >>> env = Environment("green", ("10.0.2.10:80",), "http://x/health")
    >>> fill(("swap", "--to={to}", "{from}", "{to_addresses}", '{"k": 1}', "{weight}"), env, None, 10)
    ['swap', '--to=green', '', '10.0.2.10:80', '{"k": 1}', '10']
    """
    return substitute_all(argv, placeholder_values(target, previous, weight))


class CommandBackend:
    name = "command"

    def __init__(self, settings: CommandSettings, environments: Mapping[str, Environment] | None = None) -> None:
        self.settings = settings
        self.environments = environments or {}

    def identifiers(self, env: Environment) -> frozenset[str]:
        return frozenset(env.addresses) | {env.name}

    def _values(self, target: Environment, previous: Environment | None, weight: int) -> dict[str, str]:
        others = [e for e in self.environments.values() if e.name != target.name]
        only_other = others[0] if previous is None and len(others) == 1 else None
        return placeholder_values(target, previous, weight, only_other)

    def _run(self, target: Environment, previous: Environment | None, weight: int) -> tuple[bool, str]:
        return run(substitute_all(self.settings.switch, self._values(target, previous, weight)))

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        weights = gradual.steps if gradual is not None and previous is not None else (FULL,)
        steps: list[GateResult] = []
        for weight in weights:
            ok, detail = self._run(target, previous, weight)
            name = "command: switch" if gradual is None else f"command: {weight}%"
            if not ok:
                steps.append(failed(name, detail))
                return Routed(False, (*steps, *self._back(target, previous)))
            steps.append(passed(name, f"{target.name} at {weight}%: {detail}"))
            if gradual is not None and previous is not None:
                time.sleep(gradual.step_wait)
        return Routed(True, tuple(steps))

    def _back(self, target: Environment, previous: Environment | None) -> tuple[GateResult, ...]:
        if previous is None:
            return ()
        # The command may have done half its work; run it toward the previous environment.
        ok, detail = self._run(previous, target, FULL)
        return (passed("command: switch back", detail) if ok else failed("command: switch back", detail),)

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        if not self.settings.check:
            return None
        ok, detail = run(substitute_all(self.settings.check, self._values(target, previous, FULL)))
        return passed("command: check", detail) if ok else failed("command: check", detail)

    def observe(self) -> Observed:
        """The ``check`` command run for each environment: the one it confirms has all traffic."""
        if not self.settings.check:
            return Observed(None, "no [switch.command] check command to ask the load balancer")
        confirmed = [
            env.name
            for env in self.environments.values()
            if run(substitute_all(self.settings.check, self._values(env, None, FULL)))[0]
        ]
        if len(confirmed) != 1:
            shown = ", ".join(confirmed) or "none"
            return Observed(None, f"the check command confirms {shown}: not exactly one environment")
        return Observed({name: 100 if name == confirmed[0] else 0 for name in self.environments}, "check command")
