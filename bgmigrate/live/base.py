"""The base schema a lint run starts from: a live database (``--dsn``) or a snapshot (``--schema``).

Both go through ``schema_from_dict``, so CI linting against a snapshot gets the verdicts a run
against the database itself would. The base is read once per run; ``lint_migrations`` changes
the schema it is given, so each sequence of migrations must get its own ``copy.deepcopy``.
"""

from __future__ import annotations

from bgmigrate.dsn import DEFAULT_STATEMENT_TIMEOUT_MS, DatabaseError
from bgmigrate.live.snapshot import SnapshotError, load
from bgmigrate.model.schema import Schema


class BaseSchemaError(Exception):
    """The base schema could not be had; ``str()`` is one line, passwords redacted."""


def load_base_schema(
    dsn: str | None, snapshot: str | None, *, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
) -> Schema | None:
    """The live or snapshot schema to lint against, or None when neither was given."""
    if dsn and snapshot:
        raise BaseSchemaError("give --dsn or --schema, not both")
    try:
        if snapshot:
            return load(snapshot)
        if dsn:
            from bgmigrate.live.introspect import gc_paused, read_live_schema

            with gc_paused():
                return read_live_schema(dsn, statement_timeout_ms=statement_timeout_ms)
    except (DatabaseError, SnapshotError) as exc:
        raise BaseSchemaError(str(exc)) from None
    return None
