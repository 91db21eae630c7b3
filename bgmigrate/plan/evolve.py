"""A copy of a frozen dataclass with some fields changed, made without ``__init__``.

The planner builds its drafts and plans as frozen dataclasses and changes them with
``dataclasses.replace``, which calls ``__init__``, which sets every field through
``object.__setattr__``: lint plans every statement it writes a fix for, and those calls were a
quarter of assembling a plan.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def evolve(instance: T, **changes: Any) -> T:
    """``dataclasses.replace(instance, **changes)``, for a dataclass whose fields are all set by
    ``__init__`` and that has no ``__post_init__`` (checked once per class; any other goes
    through ``dataclasses.replace``). With no changes, a shallow copy: a schema's columns,
    constraints and indexes hold only immutable values, so it is also a deep one.

    >>> from bgmigrate.plan.phases import Step
    >>> evolve(Step("sql", "d", "SELECT 1"), sql="SELECT 2") == Step("sql", "d", "SELECT 2")
    True
    """
    cls: type[Any] = type(instance)
    names = _plain_fields(cls)
    if names is None:
        return dataclasses.replace(instance, **changes)  # type: ignore[type-var]
    unknown = changes.keys() - names if changes else ()
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    new: T = object.__new__(cls)
    new.__dict__.update(instance.__dict__)
    new.__dict__.update(changes)
    return new


_PLAIN: dict[type[Any], frozenset[str] | None] = {}


def _plain_fields(cls: type[Any]) -> frozenset[str] | None:
    """The field names of a dataclass ``evolve`` may copy directly, or None (found once per class)."""
    if cls not in _PLAIN:
        _PLAIN[cls] = _fields_if_plain(cls)
    return _PLAIN[cls]


def _fields_if_plain(cls: type[Any]) -> frozenset[str] | None:
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        return None
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields) or any(isinstance(f.type, dataclasses.InitVar) for f in fields):
        return None
    return frozenset(f.name for f in fields)
