"""Rule detection code, one module per rule or small family, found by discovery."""

from __future__ import annotations

import importlib
import pkgutil

from bgmigrate.checks.api import REGISTRY, RegisteredRule


def discover() -> dict[str, RegisteredRule]:
    """Import every module of this package once, so each registers its rules."""
    if not REGISTRY:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "api":
                importlib.import_module(f"{__name__}.{info.name}")
    return REGISTRY
