"""Durations as people write them in configuration and options: ``30s``, ``500ms``, ``2m``."""

from __future__ import annotations

import itertools
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text``; a bare number means seconds.

    >>> parse_duration("30s"), parse_duration("500ms"), parse_duration("2m"), parse_duration(1.5)
    (30.0, 0.5, 120.0, 1.5)
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
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 500ms, 2m)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def parse_steps(text: str) -> tuple[int, ...]:
    """``--gradual`` percentages: increasing, 1..100, ending at 100.

    >>> parse_steps("10,50,100")
    (10, 50, 100)
    >>> parse_steps("50,10")
    Traceback (most recent call last):
    ValueError: steps must increase and end at 100 (e.g. 10,50,100), got '50,10'
    """
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"steps are whole percentages (e.g. 10,50,100), got {text!r}") from None
    rising = all(a < b for a, b in itertools.pairwise(steps))
    if not steps or not rising or steps[0] < 1 or steps[-1] != 100:
        raise ValueError(f"steps must increase and end at 100 (e.g. 10,50,100), got {text!r}")
    return steps
