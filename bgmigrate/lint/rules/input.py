"""Rules about the input itself: what could not be analysed, and misused suppressions."""

from __future__ import annotations

from collections.abc import Iterator

from bgmigrate.lint.rules.api import Hit, OpContext, builtin_rule, op_rule
from bgmigrate.model import operations as ops

# Raised by the linter while it applies suppressions (see linter.to_findings).
builtin_rule("unused-ignore")
builtin_rule("ignore-without-reason")


@op_rule("unparsed-statement", ops.Unparsed)
def unparsed_statement(op: ops.Operation, ctx: OpContext) -> Iterator[Hit]:
    """A statement bgmigrate could not analyse is reported, never skipped."""
    assert isinstance(op, ops.Unparsed)
    if not op.stmt.text:
        # Front-end notices carry their own message (partial Alembic analysis).
        yield Hit(op, op.reason, "Review this part of the migration by hand.")
        return
    first_line = op.stmt.text.strip().splitlines()[0][:80]
    yield Hit(
        op,
        f"Not analysed: {op.reason} ({first_line!r}). Any lock or compatibility hazard in it goes unchecked.",
        "Review it by hand; if it is safe, say so with `-- bgmigrate: ignore[unparsed-statement] <reason>`.",
    )
