"""A column copied once and then dropped in the same migration: moved, split or merged."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bgmigrate.lint.rules.api import Hit, OpContext, migration_rule
from bgmigrate.lint.rules.compat_columns import added_in_migration, q, steps
from bgmigrate.model import operations as ops
from bgmigrate.model.copies import OneShotCopy, one_shot_copies


def _message(found: OneShotCopy) -> str:
    src, c = found.source.sql(), q(found.column)
    where = "within the table" if found.within_table else f"into {found.into.sql()}"
    return (
        f"Line {found.copy.stmt.line} copies {src}.{c} {where} once, and line {found.drop.stmt.line} drops "
        f"{src}.{c}. The old version keeps writing {c} until it is retired: every write after the copy is "
        f"lost, and what the new version writes to the copy never reaches the {c} the old version reads."
    )


def _fix(found: OneShotCopy) -> str:
    src, c = found.source.sql(), q(found.column)
    target = "the new columns" if found.within_table else f"{found.into.sql()}"
    return steps(
        f"Expand: create {target}, plus a trigger on {src} that keeps {target} up to date from {c} on every "
        f"INSERT and UPDATE (and, if the new version writes only {target}, a trigger carrying those writes back to {c}).",
        f"Migrate: copy the existing rows in batches, only where {target} is still unset (never overwrite a "
        "row a version wrote since the trigger went in).",
        "Switch traffic to the new version and retire the old one.",
        f"Contract, a migration of its own: drop the triggers, then {c} of {src}.",
    )


@migration_rule("move-column")
def move_column(seen: Sequence[tuple[ops.Operation, OpContext]]) -> Iterator[Hit]:
    """Each statement copying a column that a later statement drops (on a table serving traffic)."""
    operations = [op for op, _ctx in seen]
    contexts = [ctx for _op, ctx in seen]
    reported: set[int] = set()
    for found in one_shot_copies(
        operations,
        lambda i, table: contexts[i].is_existing_table(table),
        lambda i, table, column: added_in_migration(contexts[i].earlier, table, column),
    ):
        if id(found.copy) not in reported:
            reported.add(id(found.copy))
            yield Hit(found.copy, _message(found), _fix(found))
