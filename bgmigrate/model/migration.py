"""A migration as the front-ends hand it to the linter: located statements plus what is known about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bgmigrate.sql.statements import Statement
from bgmigrate.sql.suppressions import Suppression


@dataclass(frozen=True)
class Notice:
    """Something a front-end has to report about its input (partial analysis, skipped code).

    ``rule`` names the catalogue rule it is reported under (``unparsed-statement`` …).
    """

    rule: str
    message: str
    line: int
    column: int = 1
    severity: str | None = None  # None: the rule's own default


@dataclass(frozen=True)
class Migration:
    """One migration file read into statements.

    ``implicit_transaction``: whether its statements run inside a transaction unless a statement
    says otherwise (Alembic on PostgreSQL: yes; plain SQL files: as configured).
    """

    path: str
    kind: Literal["sql", "alembic"]
    statements: tuple[Statement, ...]
    implicit_transaction: bool = False
    revision: str | None = None
    down_revisions: tuple[str, ...] = ()
    notices: tuple[Notice, ...] = ()
    file_suppressions: tuple[Suppression, ...] = ()
    text: str = field(default="", repr=False)  # the file's source, for code frames
