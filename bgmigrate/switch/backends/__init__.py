"""Backends move traffic: nginx (upstream file + reload), HAProxy (runtime API), or user commands.

Every backend leaves routing as it found it when its own step fails; the coordinator adds the
confirmation through the proxy and the switch back when that confirmation fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bgmigrate.switch.config import Environment, SwitchConfig
from bgmigrate.switch.routing import Observed
from bgmigrate.switch.verdict import GateResult


@dataclass(frozen=True)
class Gradual:
    """``--gradual``: target weight percentages, time per step, 5xx rate that aborts."""

    steps: tuple[int, ...]
    step_wait: float
    max_error_rate: float
    poll: float = 1.0  # how often the error rate is read during a step
    window: float = 3.0  # the error rate is over this many seconds (sliding)
    # Called at every poll; raises to stop the switch (the coordinator's fence: is the lock still ours?).
    guard: Callable[[], None] | None = field(default=None, compare=False)


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

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        """Send traffic to ``target`` (away from ``previous``); on failure restore and say so."""

    def identifiers(self, env: Environment) -> frozenset[str]:
        """Names the proxy may report for a server of ``env`` (addresses, server names)."""

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        """The backend's own confirmation, if it has one (the command backend's ``check``)."""

    def observe(self) -> Observed:
        """What the proxy routes now, read from the proxy (never from the switch state)."""


class WrappedBackend:
    """A backend around another: asks pass through; subclasses change only how ``route`` runs."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name

    def identifiers(self, env: Environment) -> frozenset[str]:
        return self.inner.identifiers(env)

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        return self.inner.check(target, previous)

    def observe(self) -> Observed:
        return self.inner.observe()

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        return self.inner.route(target, previous, gradual)


def make_backend(config: SwitchConfig) -> Backend:
    """The backend ``[switch] backend`` names, built from its table."""
    if config.backend == "nginx" and config.nginx is not None:
        from bgmigrate.switch.backends.nginx import NginxBackend

        return NginxBackend(config.nginx, config.environments)
    if config.backend == "haproxy" and config.haproxy is not None:
        from bgmigrate.switch.backends.haproxy import HaproxyBackend

        return HaproxyBackend(config.haproxy, config.environments)
    if config.backend == "command" and config.command is not None:
        from bgmigrate.switch.backends.command import CommandBackend

        return CommandBackend(config.command, config.environments)
    raise ValueError(f"backend {config.backend!r} is not configured")
