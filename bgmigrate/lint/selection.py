"""Which rules run, at which severity, for which path — from settings and the catalogue."""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from bgmigrate.lint.catalogue import GROUPS, Catalogue
from bgmigrate.lint.findings import Severity
from bgmigrate.lint.settings import LintSettings


class SelectionError(ValueError):
    """A selector that names no rule (a typo in configuration)."""


@dataclass(frozen=True)
class RuleSelection:
    """Active rule names and their severities."""

    severities: dict[str, Severity]
    per_path: tuple[tuple[str, frozenset[str]], ...]
    small_table_rows: int = 10_000

    def active(self, rule: str, path: str) -> bool:
        if rule not in self.severities:
            return False
        return not any(rule in names and _matches(path, glob) for glob, names in self.per_path)

    def severity(self, rule: str) -> Severity:
        return self.severities[rule]


def _matches(path: str, glob: str) -> bool:
    return fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(path, f"*/{glob}") or path.startswith(glob.rstrip("/") + "/")


def names_for(catalogue: Catalogue, selector: str) -> set[str]:
    """Rule names a selector (name, code, prefix, group, alias, ``all``) stands for."""
    found = {e.name for e in catalogue.select(selector)}
    if not found:
        close = difflib.get_close_matches(selector.strip().lower(), sorted(known_selectors(catalogue)), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SelectionError(f"unknown rule selector {selector!r}{hint}")
    return found


def known_selectors(catalogue: Catalogue) -> set[str]:
    """Every whole word a selector may be: rule names, codes, groups and ``all``."""
    return {e.name for e in catalogue} | {e.code.lower() for e in catalogue} | set(GROUPS) | {"all"}


def selects_something(catalogue: Catalogue, selector: str) -> bool:
    """Whether ``selector`` names at least one rule."""
    return bool(catalogue.select(selector))


def select_rules(catalogue: Catalogue, settings: LintSettings) -> RuleSelection:
    """Default-enabled rules, plus ``select``, minus ``ignore``, with severity overrides."""
    active = {e.name for e in catalogue if e.enabled}
    for selector in settings.select:
        active |= names_for(catalogue, selector)
    for selector in settings.ignore:
        active -= names_for(catalogue, selector)
    severities = {name: catalogue.entries[name].severity for name in active}
    for selector, level in settings.severity:
        for name in names_for(catalogue, selector):
            if name in severities:
                severities[name] = Severity.parse(level)
    per_path = tuple(
        (glob, frozenset(n for s in selectors for n in names_for(catalogue, s)))
        for glob, selectors in settings.per_path_ignores
    )
    return RuleSelection(severities, per_path, settings.small_table_rows)
