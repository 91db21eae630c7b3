"""Durations as people type them in options and configuration: ``30s``, ``500ms``, ``2m``."""

from __future__ import annotations

import re

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
