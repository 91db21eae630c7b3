"""Reading migration files into migrations: the bytes once, then parsed (in workers when many).

The bytes a file is read into are hashed for the cache key and parsed only on a miss; parsing
needs no other file, so helper processes parse the later files while the earlier ones replay.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bgmigrate.lint.findings import InputError
from bgmigrate.model.migration import Migration
from bgmigrate.project.config import Config
from bgmigrate.project.discovery import display_path

if TYPE_CHECKING:
    from bgmigrate.model.operations import Operation

# A file read and parsed (what a worker sends back), or why it could not be.
Loaded = tuple[Migration, list["Operation"], list[InputError]] | InputError


@dataclass(frozen=True)
class SourceFile:
    """One migration file's bytes, read once: hashed for the cache key, parsed on a miss."""

    path: Path
    shown: str
    data: bytes | None = None
    error: str = ""  # why it could not be read, when data is None
    section: str = ""  # "up" or "down": the dbmate section of the file to lint ("": all of it)


def read_source(path: Path, shown: str | None = None) -> SourceFile:
    """A file's bytes, or why they cannot be read (``shown``: its display path, when known)."""
    shown = display_path(path) if shown is None else shown
    try:
        return SourceFile(path, shown, path.read_bytes())
    except OSError as exc:
        return SourceFile(path, shown, error=f"cannot read: {exc.strerror or exc}")


def migration_from(source: SourceFile, assume_in_transaction: bool) -> Migration | InputError:
    """A read file as a Migration, or say why it is not one."""
    if source.data is None:
        return InputError(source.shown, 0, source.error)
    try:
        text = source.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = source.data[: exc.start].count(b"\n") + 1
        return InputError(source.shown, line, f"not UTF-8 (byte 0x{source.data[exc.start]:02x})")
    if source.path.suffix == ".py":
        from dataclasses import replace

        from bgmigrate.project.alembic_offline import AlembicInputError, load_alembic

        try:
            migration = load_alembic(source.path)
        except AlembicInputError as exc:
            return InputError(source.shown, exc.line, exc.message)
        return replace(migration, path=source.shown)
    from bgmigrate.parse.source import load_sql

    if source.section:
        from bgmigrate.project.layouts import dbmate_section

        text = dbmate_section(text, source.section)
    return load_sql(source.shown, text, assume_in_transaction=assume_in_transaction)


def read_migration(path: Path, config: Config) -> Migration | InputError:
    """Read one file into a Migration, or say why it cannot be read."""
    return migration_from(read_source(path), config.settings.assume_in_transaction)


def load_source(source: SourceFile, assume_in_transaction: bool) -> Loaded:
    """Read and parse one file: the per-file work, which needs no other file (workers run it)."""
    from bgmigrate.lint.engine import parse_migration

    migration = migration_from(source, assume_in_transaction)
    if isinstance(migration, InputError):
        return migration
    operations, errors = parse_migration(migration)
    return migration, operations, errors


def load_stream(sources: Sequence[SourceFile], config: Config, jobs: int) -> Iterator[Loaded]:
    """Each source read and parsed, in order, as the workers finish them."""
    from bgmigrate.project.parallel import WorkerFailure, parallel_imap, worker_count

    if worker_count(jobs, len(sources)) > 1:
        _import_before_fork(sources)
    work = functools.partial(load_source, assume_in_transaction=config.settings.assume_in_transaction)
    for source, outcome in zip(sources, parallel_imap(work, sources, jobs), strict=True):
        if isinstance(outcome, WorkerFailure):
            # A bug in bgmigrate, not in the file: say so, and still lint the other files.
            outcome = InputError(source.shown, 0, f"internal error while reading this file: {outcome}")
        yield outcome


# First words of the statements bgmigrate.parse.parser hands to sqlglot, at the start of a line
# (a hint only: a false match costs one needless import, a miss lets each worker import sqlglot
# itself). Plain INSERT/UPDATE/DELETE take the fast path (sql_dml_fast) without sqlglot.
_DML_HINT = re.compile(rb"^[ \t(]*(?:select|with|merge)\b", re.IGNORECASE | re.MULTILINE)


def _import_before_fork(sources: Sequence[SourceFile]) -> None:
    """Import the parsers once here, rather than once in every worker process."""
    import bgmigrate.lint.engine  # the workers inherit it

    if any(s.data is not None and _DML_HINT.search(s.data) for s in sources):
        import bgmigrate.parse.dml  # noqa: F401 - sqlglot: ~0.1 s per process
