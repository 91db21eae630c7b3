"""The planner's I/O edge: read the migration, and learn the schema it will run against.

The schema comes from a live database or snapshot (``--dsn`` / ``--schema``, through
``bgmigrate.live.base``), or else — as lint does — from replaying the migrations that run
before it in its own folder: earlier SQL files by name, or the Alembic revisions it descends
from. Only the CLI command and the Alembic hook import this module; the planner itself is pure.
"""

from __future__ import annotations

from pathlib import Path

from bgmigrate.dsn import redact_text
from bgmigrate.lint.engine import parse_migration
from bgmigrate.lint.findings import InputError
from bgmigrate.model.migration import Migration
from bgmigrate.plan.facts import Knowledge
from bgmigrate.plan.request import PlanError
from bgmigrate.project.config import Config
from bgmigrate.project.discovery import MIGRATION_SUFFIXES
from bgmigrate.project.sources import read_migration


def read(path: Path) -> Migration:
    """The migration, or a ``PlanError`` saying why it cannot be read or parsed."""
    if not path.is_file():
        raise PlanError(f"{path}: no such file")
    if path.suffix not in MIGRATION_SUFFIXES:
        raise PlanError(f"{path}: not a migration file (expected .sql or an Alembic .py revision)")
    loaded = read_migration(path, Config())
    if isinstance(loaded, InputError):
        raise PlanError(str(loaded))
    return loaded


def _earlier_sql(path: Path) -> list[Path]:
    from bgmigrate.project.ordering import order_sql_files

    ordered = order_sql_files(p for p in path.parent.iterdir() if p.is_file() and p.suffix == ".sql")
    names = [p.resolve() for p in ordered]
    return ordered[: names.index(path.resolve())] if path.resolve() in names else []


def _revisions(folders: list[Path], skip: Path | None = None) -> dict[str, Migration]:
    """Every Alembic revision in the folders, by revision id."""
    from bgmigrate.project.alembic_offline import AlembicInputError, is_alembic_revision, load_alembic

    by_rev: dict[str, Migration] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if not is_alembic_revision(text) or (skip is not None and path.resolve() == skip.resolve()):
                continue
            try:
                loaded = load_alembic(path)
            except AlembicInputError:
                continue
            if loaded.revision:
                by_rev[loaded.revision] = loaded
    return by_rev


def _ancestors(by_rev: dict[str, Migration], parents: tuple[str, ...]) -> list[Migration]:
    """The revisions ``parents`` are or descend from, in the order they run."""
    from bgmigrate.project.ordering import order_alembic

    wanted: set[str] = set()
    todo = list(parents)
    while todo:
        rev = todo.pop()
        if rev in by_rev and rev not in wanted:
            wanted.add(rev)
            todo.extend(by_rev[rev].down_revisions)
    ordered, _problems = order_alembic([by_rev[r] for r in wanted])
    return ordered


def learn(migrations: list[Migration]) -> Knowledge:
    knowledge = Knowledge()
    for m in migrations:
        operations, _errors = parse_migration(m)
        knowledge.learn_all(operations, m.path)
    return knowledge


def knowledge_of_revisions(folders: list[Path], heads: tuple[str, ...]) -> Knowledge:
    """The schema the Alembic revisions up to ``heads`` build (for a revision about to be written)."""
    return learn(_ancestors(_revisions(folders), heads))


def earlier_migrations(path: Path, migration: Migration) -> list[Migration]:
    """The migrations that run before this one in its folder, in order."""
    if migration.kind == "alembic":
        return _ancestors(_revisions([path.parent], skip=path), migration.down_revisions)
    earlier: list[Migration] = []
    for sibling in _earlier_sql(path):
        loaded = read_migration(sibling, Config())
        if isinstance(loaded, Migration):
            earlier.append(loaded)
    return earlier


def live_knowledge(dsn: str | None, snapshot: str | None) -> Knowledge:
    """The schema of a live database or snapshot (needs ``bgmigrate.live``)."""
    try:
        from bgmigrate.live.base import load_base_schema
    except ImportError:
        raise PlanError("--dsn/--schema need bgmigrate's live-schema support, which is not installed here") from None
    try:
        schema = load_base_schema(dsn, snapshot)
        index_sql = _index_definitions(dsn) if dsn else {}
    except Exception as exc:  # any failure to read the schema is one line, password redacted
        raise PlanError(redact_text(f"cannot read the schema: {exc}", dsn)) from None
    if schema is None:
        raise PlanError("no schema could be read from --dsn/--schema")
    return Knowledge(schema=schema, index_sql=index_sql)


_INDEX_QUERY_TIMEOUT_MS = 10_000


def _index_definitions(dsn: str) -> dict[tuple[str, str], str]:
    """Every index's CREATE INDEX text, so a rename or type change can rebuild partial and
    expression indexes on the new column (the schema model keeps only their columns)."""
    import psycopg

    from bgmigrate.dsn import close_quietly, connect, describe

    query = (
        "SELECT schemaname, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    )
    conn = connect(dsn, statement_timeout_ms=_INDEX_QUERY_TIMEOUT_MS)
    try:
        return {(str(s), str(n)): str(d) for s, n, d in conn.execute(query).fetchall()}
    except psycopg.Error as exc:
        raise describe(exc, dsn, "index definitions", _INDEX_QUERY_TIMEOUT_MS) from None
    finally:
        close_quietly(conn)
