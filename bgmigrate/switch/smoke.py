"""The smoke gate: ``[switch.smoke]`` URLs and commands run against the target before traffic moves.

One gate per URL or command (per address, when it uses ``{address}``): a URL passes on a 2xx
answer, a command on exit 0. Like every gate, a failure refuses the action with nothing
changed.
"""

from __future__ import annotations

from bgmigrate.switch.backends.command import placeholder_values
from bgmigrate.switch.backends.process import run
from bgmigrate.switch.config import Environment, SmokeSettings
from bgmigrate.switch.http import get
from bgmigrate.switch.placeholders import mentions, substitute, substitute_all
from bgmigrate.switch.verdict import GateResult, failed, passed


def _per_address(parts: tuple[str, ...], target: Environment, previous: Environment | None) -> list[dict[str, str]]:
    """One set of placeholder values per target address if ``{address}`` is used, else one set."""
    values = placeholder_values(target, previous)
    addresses = target.addresses if mentions(parts, "address") else target.addresses[:1]
    return [{**values, "address": address} for address in addresses]


def _url_gate(url: str, timeout: float) -> GateResult:
    answer = get(url, timeout)
    name = f"smoke: {url}"
    return passed(name, f"answered {answer.status}") if answer.ok else failed(name, f"answered {answer.describe()}")


def _command_gate(argv: list[str], timeout: float) -> GateResult:
    ok, detail = run(argv, timeout)
    name = f"smoke: {' '.join(argv)}"
    return passed(name, detail) if ok else failed(name, detail)


def smoke_gates(settings: SmokeSettings, target: Environment, previous: Environment | None) -> list[GateResult]:
    """Every smoke check against ``target``, in configuration order."""
    gates = [
        _url_gate(substitute(url, values), settings.timeout)
        for url in settings.urls
        for values in _per_address((url,), target, previous)
    ]
    gates += [
        _command_gate(substitute_all(argv, values), settings.timeout)
        for argv in settings.commands
        for values in _per_address(argv, target, previous)
    ]
    return gates
