"""Durations for apply: parsed as everywhere else, and handed to PostgreSQL as ``lock_timeout``."""

from __future__ import annotations

from bgmigrate.durations import parse_duration, pg_interval

__all__ = ["parse_duration", "pg_interval"]
