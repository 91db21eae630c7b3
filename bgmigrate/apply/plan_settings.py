"""Lock-timeout and retry settings a plan may carry for apply (``"apply"`` in plan.json).

A plan for a hot table can ask for a shorter lock wait, or for more retries, than apply's
defaults; the command line still has the last word. Unknown keys are an error, not ignored: a
misspelt setting that silently falls back to the default is the surprise this avoids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bgmigrate.apply.lock_timeout import parse_duration

KEYS = ("lock_timeout", "retries", "retry_delay", "retry_max_delay")
MAX_RETRIES = 1000


@dataclass(frozen=True)
class PlanSettings:
    """What the plan asks for; None where it leaves apply's default."""

    lock_timeout: float | None = None
    retries: int | None = None
    retry_delay: float | None = None
    retry_max_delay: float | None = None


def read_settings(document: Any) -> PlanSettings:
    """The ``apply`` object of a parsed plan.json; raises ``ValueError`` naming the bad key.

    >>> read_settings({"apply": {"lock_timeout": "250ms", "retries": 20}})
    PlanSettings(lock_timeout=0.25, retries=20, retry_delay=None, retry_max_delay=None)
    >>> read_settings({})
    PlanSettings(lock_timeout=None, retries=None, retry_delay=None, retry_max_delay=None)
    """
    raw = document.get("apply") if isinstance(document, dict) else None
    if raw is None:
        return PlanSettings()
    if not isinstance(raw, dict):
        raise ValueError('"apply" must be an object')
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(f'"apply" has unknown setting {unknown[0]!r} (known: {", ".join(KEYS)})')
    return PlanSettings(
        lock_timeout=_positive_duration(raw, "lock_timeout"),
        retries=_retries(raw),
        retry_delay=_positive_duration(raw, "retry_delay"),
        retry_max_delay=_positive_duration(raw, "retry_max_delay"),
    )


def _positive_duration(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(f'"apply".{key} must be a duration such as "300ms"')
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f'"apply".{key}: {exc}') from None
    if seconds <= 0:
        raise ValueError(f'"apply".{key} must be more than zero')
    return seconds


def _retries(raw: dict[str, Any]) -> int | None:
    value = raw.get("retries")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_RETRIES:
        raise ValueError(f'"apply".retries must be a whole number from 0 to {MAX_RETRIES}')
    return value
