"""``{name}`` placeholders in commands and URLs: only the known names are replaced.

Other braces (a JSON argument, a PromQL selector) pass through untouched, and each argument
is filled on its own, so a value can never split one argument into two or reach a shell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``{key}`` of ``values`` replaced, in one pass (a value is never re-read).

    >>> substitute('{"w": {weight}, "x": {to}}', {"to": "{weight}", "weight": "10"})
    '{"w": 10, "x": {weight}}'
    """
    if not values:
        return text
    pattern = re.compile(r"\{(" + "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)) + r")\}")
    return pattern.sub(lambda m: values[m.group(1)], text)


def substitute_all(argv: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """Every argument of ``argv`` filled in on its own."""
    return [substitute(arg, values) for arg in argv]


def mentions(argv: Sequence[str], name: str) -> bool:
    """True if any argument uses ``{name}``."""
    return any("{" + name + "}" in arg for arg in argv)
