"""Reasoned ``bgmigrate: ignore[...]`` comments for the steps that are hazards on purpose.

The contract phase exists to drop what the old version used; linting it must not fail for
doing exactly that. The comment names the rules and says why, so a reader (and ``lint``)
sees the decision where it is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from bgmigrate.safetext import display


def ignore(rules: Sequence[str], reason: str) -> str:
    """A comment line to put before a statement (the reason may name anything: it stays on the line).

    >>> ignore(["drop-column"], "old version retired")
    '-- bgmigrate: ignore[drop-column] old version retired\\n'
    """
    return f"-- bgmigrate: ignore[{display(', '.join(rules))}] {display(reason)}\n"
