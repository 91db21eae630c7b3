"""Fix texts handed in from above: a finding's recipe rendered from the planner's rewrite.

Lint and the planner used to write their own safe recipe for the same hazard, and the two
drifted apart. The planner sits above lint (lint may not import it, and `bgmigrate lint` must
not pay for loading it on a clean run), so the command hands a ``RecipeSource`` into the run,
as apply is handed its ``ContractGate``: for a hit of one of ``rules``, the linter asks it for
the fix text, given the operation and the schema exactly as the operation finds it. Moving the
rewrite core below lint instead would drag the whole planner (its passes, trigger and backfill
generators) into the lint core.

The fix is computed while the file is replayed, so it is part of a cached result; ``key`` goes
into the cache key, and a cache hit gives what a cold run gives.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Protocol

from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Schema


class RecipeSource(Protocol):
    """Renders the fix text of a finding from the planner's rewrite of its statement."""

    @property
    def key(self) -> str:
        """Names the source in the result cache's key."""

    @property
    def rules(self) -> AbstractSet[str]:
        """The rules whose fix it renders."""

    @property
    def migration_ops(self) -> tuple[type, ...]:
        """Operation types that migration-level rules among ``rules`` report.

        Such a rule speaks after the whole migration is replayed, so the linter asks for these
        operations' recipes as each runs, while the schema is as it finds it.
        """

    def __call__(self, rule: str, op: ops.Operation, schema: Schema, settings: LintSettings) -> str | None:
        """The fix text, or None to keep the rule's own (the planner leaves the statement as written).

        ``schema`` is the schema just before ``op`` runs; it must not be changed.
        """
