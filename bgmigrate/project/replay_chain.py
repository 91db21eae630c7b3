"""The cached replay of one folder: each file linted against the schema its predecessors built.

A folder's result is cached by the chain of its files' contents (see ``bgmigrate.project.cache``):
results are reused up to the first changed file, whose replay starts from a stored schema, and
the rest is replayed here while worker processes parse the files ahead.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.findings import InputError
from bgmigrate.lint.recipes import RecipeSource
from bgmigrate.lint.selection import RuleSelection
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema
from bgmigrate.project.alembic_loader import AlembicLoader
from bgmigrate.project.cache import FileResult, FolderEntry, ResultCache, SequenceResult, Warn, sequence_result
from bgmigrate.project.config import Config
from bgmigrate.project.sources import Loaded, SourceFile, load_stream

if TYPE_CHECKING:
    from bgmigrate.model.operations import Operation


@dataclass
class _Replay:
    """One folder being linted: the schema so far, replayed onto by each migration in turn."""

    config: Config
    catalogue: Catalogue
    selection: RuleSelection
    schema: Schema = field(default_factory=Schema)
    recipes: RecipeSource | None = None

    def lint(self, migration: Migration, parsed: tuple[list[Operation], list[InputError]]) -> FileResult:
        from bgmigrate.lint.engine import lint_migrations

        settings = self.config.settings
        findings, errors = lint_migrations(
            [migration], self.catalogue, settings, self.selection, schema=self.schema, parsed=[parsed],
            recipes=self.recipes,
        )  # fmt: skip
        return FileResult(migration.path, True, tuple(findings), tuple(errors))


@dataclass(frozen=True)
class _Item:
    """One file in replay order: an Alembic revision comes read already (its order needs it)."""

    source: SourceFile
    migration: Migration | None = None
    error: InputError | None = None  # why it cannot be linted


def _unread(item: _Item, error: InputError) -> FileResult:
    return FileResult(item.source.shown, False, (), (error,))


def lint_sequence(
    items: Sequence[_Item],
    config: Config,
    catalogue: Catalogue,
    selection: RuleSelection,
    jobs: int = 0,
    schema: Schema | None = None,
    *,
    offset: int = 0,
    snapshot_at: frozenset[int] = frozenset(),
    recipes: RecipeSource | None = None,
) -> tuple[list[FileResult], dict[int, object]]:
    """Lint files in replay order, each against the schema the ones before it built.

    ``schema`` is replayed onto (the caller passes a copy); ``offset`` files came before
    ``items``. Returns each item's result and the schema (as data) before each position in
    ``snapshot_at`` (and after the last, when its position is there). SQL files replay as soon
    as they are parsed, while helper processes parse the later ones. ``recipes`` renders the
    fixes it covers (``bgmigrate.lint.recipes``).
    """
    from bgmigrate.lint.engine import parse_migration
    from bgmigrate.model.schema_codec import schema_to_data

    replay = _Replay(config, catalogue, selection, schema if schema is not None else Schema(), recipes)
    unparsed = [item.source for item in items if item.migration is None and item.error is None]
    stream = load_stream(unparsed, config, jobs)
    results: list[FileResult] = []
    snapshots: dict[int, object] = {}
    for position, item in enumerate(items, start=offset):
        if position in snapshot_at:
            snapshots[position] = schema_to_data(replay.schema)
        if item.error is not None:
            results.append(_unread(item, item.error))
            continue
        if item.migration is not None:
            outcome: Loaded = (item.migration, *parse_migration(item.migration))
        else:
            outcome = next(stream)
        if isinstance(outcome, InputError):
            results.append(_unread(item, outcome))
            continue
        migration, operations, parse_errors = outcome
        results.append(replay.lint(migration, (operations, parse_errors)))
    if offset + len(items) in snapshot_at:
        snapshots[offset + len(items)] = schema_to_data(replay.schema)
    return results, snapshots


def _prepare(run: GroupRun, sources: Sequence[SourceFile]) -> tuple[list[_Item], bool]:
    """The folder's files in replay order, Alembic revisions read; and whether caching may keep it.

    SQL files come in the order given, then revisions in the order of their graph, then the
    revisions that could not be read.
    """
    sql: list[_Item] = []
    revisions: dict[str, _Item] = {}
    failed: list[_Item] = []
    lasting = True
    for source in sources:
        if source.path.suffix != ".py":
            sql.append(_Item(source))
        elif source.data is None:
            failed.append(_Item(source, error=InputError(source.shown, 0, source.error)))
        else:
            store = run.cache.store if run.cache is not None else None
            fingerprint = run.cache.fingerprint if run.cache is not None else ""
            loaded = run.alembic.load(source.path, source.shown, source.data, store, fingerprint)
            lasting = lasting and loaded.lasting
            if isinstance(loaded.outcome, InputError):
                failed.append(_Item(source, error=loaded.outcome))
            else:
                revisions[source.shown] = _Item(source, migration=loaded.outcome)
    if revisions:
        from bgmigrate.project.ordering import order_alembic

        ordered, _problems = order_alembic([item.migration for item in revisions.values() if item.migration])
        return [*sql, *(revisions[m.path] for m in ordered), *failed], lasting
    return [*sql, *failed], lasting


# ---- the cache -------------------------------------------------------------------------------


@dataclass
class CacheContext:
    """The cache for one configuration, and what keys its entries."""

    store: ResultCache
    fingerprint: str
    settings_key: str


def _cacheable(sources: Sequence[SourceFile]) -> bool:
    # An unreadable file's error is no result worth keeping: lint such folders afresh every time.
    return all(s.data is not None for s in sources)


@dataclass(frozen=True)
class GroupRun:
    """What every folder of one configuration group is linted with."""

    config: Config
    catalogue: Catalogue
    selection: RuleSelection
    jobs: int
    cache: CacheContext | None
    shown: set[str]  # display paths of the files the user asked about
    alembic: AlembicLoader
    base: Schema | None = None  # the live database or snapshot to start from
    recipes: RecipeSource | None = None  # renders fixes from the planner (handed in by the command)


def lint_folder(run: GroupRun, folder: Path, sources: Sequence[SourceFile]) -> tuple[SequenceResult, dict[str, str]]:
    """A folder's result: cached files' results reused up to the first changed one, the rest linted."""
    items, lasting = _prepare(run, sources)
    texts = _texts(items, run.shown)
    cache = run.cache
    if cache is None or not _cacheable(sources):
        results, _ = lint_sequence(
            items, run.config, run.catalogue, run.selection, run.jobs, _base(run), recipes=run.recipes
        )
        return sequence_result(results), texts
    from bgmigrate.project.cache import chain_keys, chain_start, slot_name

    slot = slot_name(folder, cache.settings_key)
    start = chain_start(cache.fingerprint, cache.settings_key)
    keys = chain_keys(start, _chain_files(items))
    entry = cache.store.load(slot)
    reused, schema = _resume_point(entry, keys, cache, slot)
    kept = _reported(entry.files[:reused] if entry is not None else (), run.shown, cache, slot)
    if kept is None:  # a stored result that cannot be read: lint the folder afresh
        entry, reused, schema, kept = None, 0, None, []
    if entry is not None and reused == len(items):
        return sequence_result(kept), texts
    wanted = _snapshot_points(items, run.shown)
    results, schemas = lint_sequence(
        items[reused:], run.config, run.catalogue, run.selection, run.jobs, schema or _base(run),
        offset=reused, snapshot_at=frozenset(p for p in wanted if p > reused or (p == reused and schema is None)),
        recipes=run.recipes,
    )  # fmt: skip
    if lasting:
        # A schema is stored under the chain key of the files replayed before it.
        key_at = [start, *keys]
        named = {p: key_at[p] for p in wanted if p <= reused and entry is not None and p in entry.snapshots}
        named.update({p: key_at[p] for p in schemas})
        stored = FolderEntry(tuple(keys), (*kept, *results), named)
        cache.store.store(slot, stored, {key_at[p]: data for p, data in schemas.items()})
    return sequence_result([*kept, *results]), texts


def _base(run: GroupRun) -> Schema:
    # Replay changes the schema it is given: every folder starts from its own copy of the base.
    return copy.deepcopy(run.base) if run.base is not None else Schema()


def _reported(files: Sequence[FileResult], shown: set[str], cache: CacheContext, slot: str) -> list[FileResult] | None:
    """Cached results with those of the files asked about decoded (None when one is corrupt)."""
    kept: list[FileResult] = []
    for result in files:
        if result.path not in shown:
            kept.append(result)  # written back as stored; decoded on a run that reports it
            continue
        try:
            kept.append(result.decoded())
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            reason = " ".join((str(exc) or type(exc).__name__).split())
            cache.store.warn(f"cache entry {cache.store.entry_path(slot)} is corrupt ({reason}); rebuilding it")
            return None
    return kept


def _chain_files(items: Sequence[_Item]) -> list[tuple[str, bytes]]:
    return [(item.source.shown + _section_mark(item.source), item.source.data or b"") for item in items]


def _section_mark(source: SourceFile) -> str:
    # The up and down sections of one dbmate file are two steps of the chain.
    return f"#{source.section}" if source.section else ""


def _texts(items: Sequence[_Item], shown: set[str]) -> dict[str, str]:
    """The text of each file the user asked about, for code frames (a file's text is its bytes)."""
    found: dict[str, str] = {}
    for item in items:
        data = item.source.data
        if item.source.shown in shown and data is not None and item.error is None:
            with contextlib.suppress(UnicodeDecodeError):
                found[item.source.shown] = data.decode("utf-8")
    return found


def _resume_point(
    entry: FolderEntry | None, keys: Sequence[str], cache: CacheContext, slot: str
) -> tuple[int, Schema | None]:
    """How many leading files' results to reuse, and the schema after them (None: start afresh).

    Only as far as a stored schema reaches: results are reused up to the latest snapshot within
    the files whose chain keys still agree (all of them, when every key agrees).
    """
    if entry is None:
        return 0, None
    agree = entry.reusable(keys)
    if agree == len(keys) == len(entry.chain):
        return agree, None
    from bgmigrate.model.schema_codec import schema_from_data

    for position in sorted((p for p in entry.snapshots if 0 < p <= agree), reverse=True):
        data = cache.store.load_schema(slot, entry.snapshots[position])
        try:
            return position, schema_from_data(data)
        except (ValueError, KeyError, TypeError):
            cache.store.warn("a cache entry names a missing or corrupt schema; replaying its files instead")
    return 0, None


def _snapshot_points(items: Sequence[_Item], shown: set[str]) -> set[int]:
    """Where to keep the replayed schema: before the last file, before the first asked about, at the end.

    Editing the newest migration (pre-commit) then replays only that file.
    """
    points = {len(items), max(len(items) - 1, 0)}
    first = next((i for i, item in enumerate(items) if item.source.shown in shown), None)
    if first is not None:
        points.add(first)
    return points


class CacheOpener:
    """Opens the cache of each configuration; the engine fingerprint is computed once per run."""

    def __init__(self, enabled: bool, catalogue: Catalogue, warn: Warn) -> None:
        self._enabled = enabled
        self._catalogue = catalogue
        self._warn = warn
        self._fingerprint = ""
        self._stores: dict[Path, ResultCache] = {}  # one per folder, so each warns once

    def open(self, config: Config, base_key: str = "") -> CacheContext | None:
        if not self._enabled:
            return None
        from bgmigrate.project.cache import cache_dir, engine_fingerprint

        if not self._fingerprint:
            self._fingerprint = engine_fingerprint(self._catalogue)
        root = cache_dir(config.source)
        store = self._stores.setdefault(root, ResultCache(root, self._warn))
        return CacheContext(store, self._fingerprint, config.settings.cache_key() + base_key)
