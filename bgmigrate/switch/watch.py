"""The metrics gate around a promote: through every ``--gradual`` step, then for the watch window.

``metered`` wraps a backend so that each ``--gradual`` step is routed on its own and gated by
readings (at its end, or all through it for a backend without error counts of its own); a bad
reading gives all traffic back to the previous environment at once. ``watch_window`` runs after the promote is routed and confirmed, and still inside the
coordinator's transaction: a bad reading switches back and the promote fails, so the state only
ever records a target that passed its whole watch.
"""

from __future__ import annotations

import dataclasses
import time

from bgmigrate.switch.backends import Backend, Gradual, Routed, WrappedBackend
from bgmigrate.switch.config import ConfirmSettings, Environment, MetricsSettings, SwitchConfig
from bgmigrate.switch.confirm import confirm_gate
from bgmigrate.switch.metrics import metrics_gate
from bgmigrate.switch.placeholders import mentions
from bgmigrate.switch.verdict import GateResult, failed, passed


def gradual_problem(config: SwitchConfig) -> str | None:
    """Why ``--gradual`` cannot run with this configuration, or None."""
    if config.backend == "haproxy":
        return None
    if config.backend != "command" or config.command is None:
        return f"--gradual needs a backend that takes weights: haproxy, or command with {{weight}} (configured: {config.backend})"
    if not mentions(config.command.switch, "weight"):
        return "--gradual with the command backend needs the {weight} placeholder in [switch.command] switch"
    if config.metrics is None:
        return "--gradual with the command backend needs [switch.metrics]: the command backend has no error counts of its own"
    return None


class MeteredBackend(WrappedBackend):
    """A backend whose ``--gradual`` steps each wait for a passing metrics reading."""

    def __init__(self, inner: Backend, settings: MetricsSettings) -> None:
        super().__init__(inner)
        self.settings = settings

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        if gradual is None or previous is None:
            return self.inner.route(target, previous, gradual)
        # HAProxy watches its own counters through each step, so it keeps the step's wait and
        # the metrics read at its end; a backend without error counts leaves the wait to the
        # metrics, read every interval, so a bad step ends at its first bad reading.
        own_wait = self.inner.name != "command"
        steps: list[GateResult] = []
        for percent in gradual.steps:
            step = dataclasses.replace(gradual, steps=(percent,), step_wait=gradual.step_wait if own_wait else 0.0)
            routed = self.inner.route(target, previous, step)
            steps.extend(routed.steps)
            if not routed.ok:
                return Routed(False, tuple(steps))
            readings = self._readings(target, percent, 0.0 if own_wait else gradual.step_wait)
            steps.extend(readings)
            if not readings[-1].ok:
                back = self.inner.route(previous, target, None)
                return Routed(False, (*steps, *back.steps, _returned("metrics: restore", back.ok, previous)))
        return Routed(True, tuple(steps))

    def _readings(self, target: Environment, percent: int, wait: float) -> list[GateResult]:
        """Readings every ``interval`` for ``wait`` (at least one), ending at the first failing one."""
        readings: list[GateResult] = []
        deadline = time.monotonic() + wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(min(self.settings.interval, remaining))
            readings.append(metrics_gate(self.settings, target.name, f"metrics: {percent}%"))
            if not readings[-1].ok or time.monotonic() >= deadline:
                return readings


def metered(backend: Backend, settings: MetricsSettings | None) -> Backend:
    """``backend`` with its ``--gradual`` steps gated on the metrics, when they are configured."""
    return backend if settings is None else MeteredBackend(backend, settings)


def watch_window(
    backend: Backend, config: SwitchConfig, target: Environment, previous: Environment | None, routed: Routed
) -> Routed:
    """After a confirmed promote: read the metrics every ``interval`` for ``watch``; a bad one switches back."""
    settings = config.metrics
    if not routed.ok or settings is None or settings.watch <= 0:
        return routed
    steps = list(routed.steps)
    deadline = time.monotonic() + settings.watch
    count = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            time.sleep(max(0.0, min(settings.interval, remaining)))
            count += 1
            reading = metrics_gate(settings, target.name, f"metrics: watch {count}")
            steps.append(reading)
            if not reading.ok:
                break
            if time.monotonic() >= deadline:
                steps.append(
                    passed("metrics: watch", f"{target.name} passed {count} reading(s) over {settings.watch:g}s")
                )
                return Routed(True, tuple(steps))
    except KeyboardInterrupt:
        # An interrupted watch did not pass: the target must not stay active unwatched.
        steps.append(failed("metrics: watch", "interrupted before the watch window ended"))
    return Routed(False, (*steps, *_switch_back(backend, config.confirm, target, previous)))


def _switch_back(
    backend: Backend, confirm: ConfirmSettings, target: Environment, previous: Environment | None
) -> tuple[GateResult, ...]:
    if previous is None:
        return (failed("switch back", "no previous environment to return to: fix by hand"),)
    back = backend.route(previous, target, None)
    if not back.ok:
        return (*back.steps, _returned("switch back", False, previous))
    confirmed = confirm_gate(confirm, previous.name, backend.identifiers(previous))
    return (*back.steps, confirmed, _returned("switch back", confirmed.ok, previous))


def _returned(name: str, ok: bool, previous: Environment) -> GateResult:
    if ok:
        return passed(name, f"traffic returned to {previous.name}")
    return failed(name, f"traffic could not return to {previous.name}: fix by hand")
