"""Rule detection code, one module per rule or small family, found by discovery."""

from __future__ import annotations

import importlib
import pkgutil

from bgmigrate.lint.rules.api import REGISTRY, RegisteredRule

_DISCOVERED: list[bool] = []


def discover() -> dict[str, RegisteredRule]:
    """Import every module of this package once, so each registers its rules.

    Importing one check module directly (a doctest) registers only its rules; the flag, not
    an empty registry, says whether discovery ran.
    """
    if not _DISCOVERED:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "api":
                importlib.import_module(f"{__name__}.{info.name}")
        _DISCOVERED.append(True)
    return REGISTRY
