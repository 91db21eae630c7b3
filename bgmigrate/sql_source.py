"""SQL migration files → ``Migration`` values."""

from __future__ import annotations

from bgmigrate.migration import Migration
from bgmigrate.statements import file_suppressions, split_sql


def load_sql(path: str, text: str, *, assume_in_transaction: bool = False) -> Migration:
    """A SQL file's statements; ``assume_in_transaction`` says whether a runner wraps the file."""
    return Migration(
        path=path,
        kind="sql",
        statements=tuple(split_sql(text)),
        implicit_transaction=assume_in_transaction,
        file_suppressions=tuple(file_suppressions(text)),
        text=text,
    )
