"""The value the planner's passes hand each other: operations still to place, and what is placed.

A pass takes a ``Draft`` and returns a new one (nothing is mutated). Recipes turn one
operation into a ``Rewrite`` — steps for each phase plus the checks, notes and assumptions
that come with them; ``Draft.place`` records it. Steps keep the position of the operation
they came from, so the assembled phases follow the migration's own order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bgmigrate.model import operations as ops
from bgmigrate.plan.evolve import evolve
from bgmigrate.plan.facts import Facts
from bgmigrate.plan.phases import Check, PhaseName, Step
from bgmigrate.plan.request import PlanRequest

EXPAND: PhaseName = "expand"
MIGRATE: PhaseName = "migrate"
CONTRACT: PhaseName = "contract"


@dataclass(frozen=True)
class Item:
    """One operation of the migration, its position, and the schema as it finds it."""

    index: int
    op: ops.Operation
    facts: Facts
    block: int | None = None  # the user's BEGIN … COMMIT block it sits in, if any


@dataclass(frozen=True)
class Rewrite:
    """What a recipe makes of one operation."""

    expand: tuple[Step, ...] = ()
    migrate: tuple[Step, ...] = ()
    contract: tuple[Step, ...] = ()
    checks: tuple[tuple[str, Check], ...] = ()  # (phase, check that holds after it)
    preconditions: tuple[Check, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()  # (phase, what the app release must do around it)
    assumptions: tuple[str, ...] = ()
    recipe: str = ""  # short name shown in PLAN.md ("rename column")


@dataclass(frozen=True)
class Fragment:
    """A placed step: which phase, and where it sorts (operation index, then recipe order)."""

    phase: PhaseName
    order: tuple[int, int]
    step: Step
    verbatim: ops.Operation | None = None  # the operation carried over in the user's own text
    block: int | None = None
    ignore: tuple[str, ...] = ()  # rules a reasoned suppression comment names (contract drops)


@dataclass(frozen=True)
class Draft:
    """A plan under construction."""

    request: PlanRequest
    items: tuple[Item, ...]
    done: frozenset[int] = frozenset()
    fragments: tuple[Fragment, ...] = ()
    checks: tuple[tuple[str, Check], ...] = ()
    preconditions: tuple[Check, ...] = ()
    notes: tuple[tuple[str, str], ...] = ()
    passthrough: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    recipes: tuple[tuple[int, str], ...] = field(default=())  # (operation index, recipe name)
    # Columns replaced through a second column: (operation index, table key, old name, new name, recipe).
    shadows: tuple[tuple[int, tuple[str, str], str, str, str], ...] = ()

    def pending(self, *types: type) -> Iterator[Item]:
        """Items not yet placed whose operation is one of ``types``."""
        for item in self.items:
            if item.index not in self.done and isinstance(item.op, types):
                yield item

    def place(self, item: Item, rewrite: Rewrite) -> Draft:
        """Record a recipe's rewrite of ``item``."""
        fragments = [
            Fragment(phase, (item.index, n), s)
            for phase, steps in ((EXPAND, rewrite.expand), (MIGRATE, rewrite.migrate), (CONTRACT, rewrite.contract))
            for n, s in enumerate(steps)
        ]
        return evolve(
            self,
            done=self.done | {item.index},
            fragments=self.fragments + tuple(fragments),
            checks=self.checks + rewrite.checks,
            preconditions=self.preconditions + rewrite.preconditions,
            notes=self.notes + rewrite.notes,
            assumptions=self.assumptions + rewrite.assumptions,
            recipes=self.recipes + (((item.index, rewrite.recipe),) if rewrite.recipe else ()),
        )

    def keep(self, item: Item, phase: PhaseName, step: Step, note: str = "", ignore: tuple[str, ...] = ()) -> Draft:
        """Carry ``item`` over unchanged, in the user's own text, into ``phase``."""
        fragment = Fragment(phase, (item.index, 0), step, verbatim=item.op, block=item.block, ignore=ignore)
        return evolve(
            self,
            done=self.done | {item.index},
            fragments=(*self.fragments, fragment),
            passthrough=self.passthrough + ((note,) if note else ()),
        )

    def absorb(self, *items: Item) -> Draft:
        """Mark ``items`` placed: a recipe that read several statements as one change placed them all."""
        return evolve(self, done=self.done | {i.index for i in items})

    def skip(self, item: Item, note: str) -> Draft:
        """Leave ``item`` out of every phase, saying why (transaction control the phases own)."""
        return evolve(self, done=self.done | {item.index}, passthrough=(*self.passthrough, note))


def combine(*rewrites: Rewrite, recipe: str = "") -> Rewrite:
    """One rewrite doing each of ``rewrites`` in turn, phase by phase."""
    return Rewrite(
        expand=tuple(s for r in rewrites for s in r.expand),
        migrate=tuple(s for r in rewrites for s in r.migrate),
        contract=tuple(s for r in rewrites for s in r.contract),
        checks=tuple(c for r in rewrites for c in r.checks),
        preconditions=tuple(c for r in rewrites for c in r.preconditions),
        notes=tuple(n for r in rewrites for n in r.notes),
        assumptions=tuple(a for r in rewrites for a in r.assumptions),
        recipe=recipe or next((r.recipe for r in rewrites if r.recipe), ""),
    )


def dropped_indexes(draft: Draft) -> frozenset[str]:
    """Names of the indexes the migration drops (a replaced column's copies leave those out)."""
    return frozenset(i.op.index.name for i in draft.items if isinstance(i.op, ops.DropIndex))


def suppressed(item: Item, *rules: str) -> bool:
    """Whether the user's own ``bgmigrate: ignore`` on the statement names one of ``rules`` (or all rules).

    Such a statement was judged safe as written by its author, so recipes leave it alone.
    """
    return any(
        not s.file_level and (not s.rules or any(r in rules for r in s.rules)) for s in item.op.stmt.suppressions
    )
