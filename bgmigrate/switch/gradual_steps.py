"""``--gradual`` steps (durations are :mod:`bgmigrate.durations`'s)."""

from __future__ import annotations

import itertools


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
