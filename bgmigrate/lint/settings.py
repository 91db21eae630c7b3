"""The settings a lint run is judged by, frozen so they can key a cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LintSettings:
    """Everything that changes verdicts. Built once by the configuration layer."""

    pg_version: int = 15
    assume_in_transaction: bool = False
    small_table_rows: int = 10_000
    select: tuple[str, ...] = ()  # selectors added on top of the default rules
    ignore: tuple[str, ...] = ()
    severity: tuple[tuple[str, str], ...] = ()  # (selector, severity) overrides
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # (glob, selectors)
    order: str = "natural"  # how SQL file names sort: natural | flyway | lexical
    down_migrations: str = "skip"  # skip rollback scripts, or lint them as rollbacks after the ups

    def cache_key(self) -> str:
        """A digest of every setting, for the result cache."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]
