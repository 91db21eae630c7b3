"""The health gate: the environment's health URL answers 2xx several times in a row."""

from __future__ import annotations

import time

from bgmigrate.switch.config import Environment, HealthSettings
from bgmigrate.switch.http import get
from bgmigrate.switch.verdict import GateResult, failed, passed


def health_gate(env: Environment, settings: HealthSettings) -> GateResult:
    """Pass after ``settings.checks`` consecutive 2xx; fail at the first other answer.

    Failing fast on one bad answer is deliberate: a target that flaps before the switch
    will flap under full traffic.
    """
    name = f"health: {env.name}"
    for attempt in range(1, settings.checks + 1):
        answer = get(env.health_url, settings.timeout)
        if not answer.ok:
            return failed(name, f"{env.health_url} answer {attempt} of {settings.checks}: {answer.describe()}")
        if attempt < settings.checks:
            time.sleep(settings.interval)
    return passed(name, f"{env.health_url} answered 2xx {settings.checks} times in a row")
