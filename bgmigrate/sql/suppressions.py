"""Inline suppression comments: ``bgmigrate: ignore[rule, ...] reason``.

The same syntax serves SQL (``-- bgmigrate: ignore[drop-column] old version retired``) and
Python (``# bgmigrate: ignore[drop-column] ...``); ``ignore-file[...]`` covers the whole file.
A suppression keeps its line so an unused or reasonless one can be reported where it stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PATTERN = re.compile(
    r"bgmigrate:\s*(?P<kind>ignore-file|ignore)\s*(?:\[(?P<rules>[^\]]*)\])?(?P<reason>[^\n]*)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Suppression:
    """One ignore comment: which rules, why, and where it was written."""

    rules: tuple[str, ...]  # names, codes, prefixes or groups; empty means every rule
    reason: str
    line: int
    file_level: bool = False


def parse_suppressions(comment: str, first_line: int) -> list[Suppression]:
    """Suppressions written in one comment starting on ``first_line``.

    >>> parse_suppressions("-- bgmigrate: ignore[drop-column] retired in 4.2", 7)
    [Suppression(rules=('drop-column',), reason='retired in 4.2', line=7, file_level=False)]
    >>> parse_suppressions("/* nothing here */", 1)
    []
    """
    found: list[Suppression] = []
    for match in _PATTERN.finditer(comment):
        raw_rules = match.group("rules") or ""
        rules = tuple(r.strip() for r in raw_rules.split(",") if r.strip())
        reason = match.group("reason").strip().rstrip("*/").strip()
        reason = reason.lstrip(":-\u2014\u2013 ").strip()  # dashes people put before a reason
        line = first_line + comment.count("\n", 0, match.start())
        found.append(Suppression(rules, reason, line, match.group("kind").lower() == "ignore-file"))
    return found
