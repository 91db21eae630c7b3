"""Tiny builders for doctests and tests: SQL text in, operations and drafts out (no I/O)."""

from __future__ import annotations

from bgmigrate.lint.engine import parse_migration
from bgmigrate.model import operations as ops
from bgmigrate.parse.source import load_sql
from bgmigrate.plan.draft import Draft
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.request import PlanRequest


def operations_of(sql: str, path: str = "m.sql") -> list[ops.Operation]:
    """The operations of a SQL text; a syntax error raises ``ValueError``."""
    operations, errors = parse_migration(load_sql(path, sql))
    if errors:
        raise ValueError(str(errors[0]))
    return operations


def op_of(sql: str) -> ops.Operation:
    """The first operation of one statement.

    >>> type(op_of("ALTER TABLE t RENAME a TO b")).__name__
    'RenameColumn'
    """
    return operations_of(sql)[0]


def knowledge_of(setup: str) -> Knowledge:
    """What replaying ``setup`` (earlier migrations) teaches."""
    knowledge = Knowledge()
    knowledge.learn_all(operations_of(setup, "setup.sql"), "setup.sql")
    return knowledge


def draft_of(sql: str, setup: str = "", **options: object) -> Draft:
    """The initial draft of planning ``sql`` after ``setup``."""
    from bgmigrate.plan.passes import initial_draft

    request = PlanRequest(id="p", source="m.sql", **options)  # type: ignore[arg-type]
    return initial_draft(operations_of(sql), knowledge_of(setup), request)
