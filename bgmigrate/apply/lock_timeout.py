"""Durations for apply: parsed as everywhere else, and handed to PostgreSQL as ``lock_timeout``."""

from __future__ import annotations

from bgmigrate.durations import parse_duration

__all__ = ["parse_duration", "pg_interval"]


def pg_interval(seconds: float) -> str:
    """A value for ``lock_timeout``: whole milliseconds, at least 1 (0 would mean no limit).

    >>> pg_interval(2.0), pg_interval(0.0001)
    ('2000ms', '1ms')
    """
    return f"{max(1, round(seconds * 1000))}ms"
