"""Durations as people type them: ``2s``, ``500ms``, ``0.05s``, ``1m``, or bare seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m)?\s*")


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises ``ValueError`` on anything else.

    >>> parse_duration("2s"), parse_duration("500ms"), parse_duration("0.05s"), parse_duration("1.5")
    (2.0, 0.5, 0.05, 1.5)
    """
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (try 2s, 500ms or 1m)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def pg_interval(seconds: float) -> str:
    """A value for ``lock_timeout``: whole milliseconds, at least 1 (0 would mean no limit).

    >>> pg_interval(2.0), pg_interval(0.0001)
    ('2000ms', '1ms')
    """
    return f"{max(1, round(seconds * 1000))}ms"
