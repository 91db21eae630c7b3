"""Durations as people type them in options and configuration: ``30s``, ``500ms``, ``2m``."""

from __future__ import annotations

import re

# Every query on a table queues behind a statement waiting for its ACCESS EXCLUSIVE lock, so the
# lock timeout is the stall the application sees per attempt. 300 ms stays inside a web request's
# budget and is still ample for a catalog-only change behind short OLTP transactions; a long
# transaction is outlasted by retries with backoff, not by a long queue (docs/apply.md). The one
# default: apply uses it, and the phase files and Alembic revisions set it too.
DEFAULT_LOCK_TIMEOUT = 0.3

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h)?\s*")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text``; a bare number means seconds. Raises ``ValueError`` on anything else.

    >>> parse_duration("2s"), parse_duration("500ms"), parse_duration("0.05s"), parse_duration("1.5")
    (2.0, 0.5, 0.05, 1.5)
    >>> parse_duration("30s"), parse_duration("2m"), parse_duration("1min"), parse_duration(1.5)
    (30.0, 120.0, 60.0, 1.5)
    >>> parse_duration("soon")
    Traceback (most recent call last):
    ValueError: not a duration: 'soon' (use e.g. 30s, 500ms, 2m)
    """
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"not a duration: {text!r}")
        return float(text)
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 500ms, 2m)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def pg_interval(seconds: float) -> str:
    """A value for ``lock_timeout``: whole milliseconds, at least 1 (0 would mean no limit).

    >>> pg_interval(2.0), pg_interval(0.0001), pg_interval(DEFAULT_LOCK_TIMEOUT)
    ('2000ms', '1ms', '300ms')
    """
    return f"{max(1, round(seconds * 1000))}ms"
