"""SQL migration files → ``Migration`` values."""

from __future__ import annotations

from bgmigrate.model.migration import Migration
from bgmigrate.sql.lexer import BOM
from bgmigrate.sql.statements import file_suppressions, split_sql


def load_sql(path: str, text: str, *, assume_in_transaction: bool = False) -> Migration:
    """A SQL file's statements; ``assume_in_transaction`` says whether a runner wraps the file.

    A leading byte-order mark is dropped: it is no statement's text, nor a column of line 1.
    """
    text = text.removeprefix(BOM)
    return Migration(
        path=path,
        kind="sql",
        statements=tuple(split_sql(text)),
        implicit_transaction=assume_in_transaction,
        file_suppressions=tuple(file_suppressions(text)),
        text=text,
    )
