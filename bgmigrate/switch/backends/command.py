"""The command backend: the user's own commands move traffic (a cloud load balancer, DNS).

Placeholders in each argument: ``{to}``, ``{from}`` (empty on the first deploy) and
``{to_addresses}`` (comma-separated). Arguments are substituted one by one and never passed
through a shell, so an environment's name or address cannot inject a command.
"""

from __future__ import annotations

import re

from bgmigrate.switch.backends import Gradual, Routed
from bgmigrate.switch.backends.process import run
from bgmigrate.switch.config import CommandSettings, Environment
from bgmigrate.switch.verdict import GateResult, failed, passed

# Only these three are replaced: other braces (JSON arguments, say) pass through untouched.
_PLACEHOLDER = re.compile(r"\{(to_addresses|to|from)\}")


def fill(argv: tuple[str, ...], target: Environment, previous: Environment | None) -> list[str]:
    """``argv`` with the placeholders filled in.

    >>> env = Environment("green", ("10.0.2.10:80",), "http://x/health")
    >>> fill(("swap", "--to={to}", "{from}", "{to_addresses}", '{"k": 1}'), env, None)
    ['swap', '--to=green', '', '10.0.2.10:80', '{"k": 1}']
    """
    values = {"to": target.name, "from": previous.name if previous else "", "to_addresses": ",".join(target.addresses)}
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in argv]


class CommandBackend:
    name = "command"
    supports_gradual = False

    def __init__(self, settings: CommandSettings) -> None:
        self.settings = settings

    def identifiers(self, env: Environment) -> frozenset[str]:
        return frozenset(env.addresses) | {env.name}

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        ok, detail = run(fill(self.settings.switch, target, previous))
        if ok:
            return Routed(True, (passed("command: switch", detail),))
        steps = [failed("command: switch", detail)]
        if previous is not None:
            # The command may have done half its work; run it toward the previous environment.
            back_ok, back = run(fill(self.settings.switch, previous, target))
            steps.append(passed("command: switch back", back) if back_ok else failed("command: switch back", back))
        return Routed(False, tuple(steps))

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        if not self.settings.check:
            return None
        ok, detail = run(fill(self.settings.check, target, previous))
        return passed("command: check", detail) if ok else failed("command: check", detail)
