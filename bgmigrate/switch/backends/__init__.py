"""Backends move traffic: nginx (upstream file + reload), HAProxy (runtime API), or user commands.

Every backend leaves routing as it found it when its own step fails; the coordinator adds the
confirmation through the proxy and the switch back when that confirmation fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bgmigrate.switch.config import Environment, SwitchConfig
from bgmigrate.switch.verdict import GateResult


@dataclass(frozen=True)
class Gradual:
    """``--gradual``: target weight percentages, time per step, 5xx rate that aborts."""

    steps: tuple[int, ...]
    step_wait: float
    max_error_rate: float


@dataclass(frozen=True)
class Routed:
    """What a backend did: each step with its verdict; ``ok`` False means routing is unchanged."""

    ok: bool
    steps: tuple[GateResult, ...]

    @property
    def detail(self) -> str:
        bad = [s for s in self.steps if not s.ok]
        return (bad or list(self.steps) or [GateResult("", True, "")])[-1].detail


class Backend(Protocol):
    name: str
    supports_gradual: bool

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        """Send traffic to ``target`` (away from ``previous``); on failure restore and say so."""

    def identifiers(self, env: Environment) -> frozenset[str]:
        """Names the proxy may report for a server of ``env`` (addresses, server names)."""

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        """The backend's own confirmation, if it has one (the command backend's ``check``)."""


def make_backend(config: SwitchConfig) -> Backend:
    """The backend ``[switch] backend`` names, built from its table."""
    if config.backend == "nginx" and config.nginx is not None:
        from bgmigrate.switch.backends.nginx import NginxBackend

        return NginxBackend(config.nginx)
    if config.backend == "haproxy" and config.haproxy is not None:
        from bgmigrate.switch.backends.haproxy import HaproxyBackend

        return HaproxyBackend(config.haproxy, config.environments)
    if config.backend == "command" and config.command is not None:
        from bgmigrate.switch.backends.command import CommandBackend

        return CommandBackend(config.command, config.environments)
    raise ValueError(f"backend {config.backend!r} is not configured")
