"""A lint run at the I/O edge: find files and configuration, read them, lint, collect results.

Each linted file is judged against the schema its earlier siblings build (SQL files by name,
Alembic revisions by their graph), so linting one new file in pre-commit still knows the
tables and column types the folder created before it.

A folder's result is cached by the content of all its files (see ``bgmigrate.project.cache``); on a
miss its files are read and parsed in worker processes when there are enough of them, and
replayed in order here.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bgmigrate.lint.catalogue import Catalogue, load_catalogue
from bgmigrate.lint.findings import InputError, Severity
from bgmigrate.lint.recipes import RecipeSource
from bgmigrate.lint.selection import RuleSelection, SelectionError, known_selectors, select_rules, selects_something
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema
from bgmigrate.project.alembic_loader import AlembicLoader
from bgmigrate.project.cache import FileResult, FolderEntry, ResultCache, SequenceResult, Warn, sequence_result
from bgmigrate.project.config import Config, check_selectors, find_config, load_config, with_overrides
from bgmigrate.project.layouts import has_extension, looks_like_sql, rollback_home
from bgmigrate.project.result import LintResult
from bgmigrate.project.rollbacks import arrange_rollbacks, skipped_extension_records, skipped_extensions_note

if TYPE_CHECKING:
    from bgmigrate.model.operations import Operation
MIGRATION_SUFFIXES = (".sql", ".py")

# A file read and parsed (what a worker sends back), or why it could not be.
Loaded = tuple[Migration, list["Operation"], list[InputError]] | InputError


@dataclass(frozen=True)
class LintRequest:
    """What the user asked for on the command line."""

    paths: tuple[str, ...]
    config_path: str | None = None
    alembic_config: str | None = None
    diff_ref: str | None = None
    use_cache: bool = True
    jobs: int = 0  # 0: one per core
    overrides: dict[str, object] = field(default_factory=dict)
    dsn: str | None = None  # lint against this live database (read-only)
    schema_path: str | None = None  # or against a snapshot written by `bgmigrate inspect`
    alembic_mode: str = "run"  # run: revisions run in a worker process; static: read, never run
    alembic_timeout: float = 60.0  # seconds one revision may take in the worker


@dataclass
class _Group:
    """Files sharing one configuration, split into sequences that replay together."""

    config: Config
    sequences: dict[Path, list[Path]] = field(default_factory=dict)  # folder → migration files
    report: set[Path] = field(default_factory=set)
    skipped: list[Path] = field(default_factory=list)  # SQL-looking files with an ending not configured


@dataclass(frozen=True)
class SourceFile:
    """One migration file's bytes, read once: hashed for the cache key, parsed on a miss."""

    path: Path
    shown: str
    data: bytes | None = None
    error: str = ""  # why it could not be read, when data is None
    section: str = ""  # "up" or "down": the dbmate section of the file to lint ("": all of it)


def display_path(path: Path) -> str:
    """A path as the user sees it: relative to the working directory when under it."""
    return _shown(path.resolve())


def _shown(resolved: Path) -> str:
    try:
        return resolved.relative_to(_resolved_cwd(os.getcwd())).as_posix()
    except ValueError:
        return resolved.as_posix()


@functools.lru_cache(maxsize=4)
def _resolved_cwd(cwd: str) -> Path:
    # Keyed by the cwd string, so a chdir (tests do it) is seen; resolving once per run matters
    # with thousands of files.
    return Path(cwd).resolve()


def _is_revision(path: Path) -> bool:
    if path.suffix != ".py":
        return True
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # reading it again later reports the error
    from bgmigrate.project.alembic_offline import is_alembic_revision

    return is_alembic_revision(text)


def _folder_migrations(folder: Path, extensions: tuple[str, ...] = (".sql",)) -> list[Path]:
    # scandir's entries know whether they are files without a stat call each (a folder may hold
    # thousands), and names sort as one folder's Paths do (normcase: where those ignore case).
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if _is_migration_entry(folder, e, extensions)]
    return [folder / name for name in sorted(names, key=os.path.normcase)]


def _is_migration_entry(folder: Path, entry: os.DirEntry[str], extensions: tuple[str, ...]) -> bool:
    """``_is_migration`` for a directory entry, asking the entry whether it is a file."""
    if entry.name.endswith(".py") and Path(entry.name).suffix == ".py":
        return entry.is_file() and _is_revision(folder / entry.name)
    return has_extension(entry.name, extensions) and entry.is_file()


def _is_migration(path: Path, extensions: tuple[str, ...] = (".sql",)) -> bool:
    if path.suffix == ".py":
        return path.is_file() and _is_revision(path)
    return has_extension(path.name, extensions) and path.is_file()


def _is_candidate(path: Path) -> bool:
    """A file that may be a migration under some configuration: SQL-looking names, revisions."""
    if path.suffix == ".py":
        return path.is_file() and _is_revision(path)
    return looks_like_sql(path.name) and path.is_file()


def _expand(raw: str, errors: list[InputError]) -> list[Path]:
    path = Path(raw)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if _is_candidate(p))
    if not path.exists():
        errors.append(InputError(raw, 0, "no such file or directory"))
        return []
    if path.suffix not in MIGRATION_SUFFIXES and not looks_like_sql(path.name):
        errors.append(InputError(raw, 0, "not a migration file (expected .sql or an Alembic .py revision)"))
        return []
    return [path] if _is_revision(path) else []


@dataclass
class _Lookups:
    """Per-run memo of what is the same for every file of a folder (config, resolved folder)."""

    configs: dict[Path | None, Config] = field(default_factory=dict)
    config_files: dict[Path, Path | None] = field(default_factory=dict)
    folders: dict[Path, Path] = field(default_factory=dict)
    files: dict[Path, Path] = field(default_factory=dict)

    def folder(self, raw: Path) -> Path:
        if raw not in self.folders:
            self.folders[raw] = raw.resolve()
        return self.folders[raw]

    def resolved(self, path: Path) -> Path:
        """``path.resolve()``, resolving each folder once (a file that is a link still resolves)."""
        if path not in self.files:
            self.files[path] = path.resolve() if path.is_symlink() else self.folder(path.parent) / path.name
        return self.files[path]


def _config_for(path: Path, request: LintRequest, lookups: _Lookups) -> Config:
    if request.config_path:
        source: Path | None = Path(request.config_path)
    else:
        # Every file of a folder finds the same configuration: walk up once per folder.
        if path.parent not in lookups.config_files:
            lookups.config_files[path.parent] = find_config(path)
        source = lookups.config_files[path.parent]
    if source not in lookups.configs:
        base = load_config(source) if source is not None else Config()
        lookups.configs[source] = with_overrides(base, **request.overrides)
    return lookups.configs[source]


def _excluded(path: Path, config: Config, lookups: _Lookups) -> bool:
    if not config.exclude:
        return False
    import fnmatch

    shown = _shown(lookups.resolved(path))
    return any(fnmatch.fnmatch(shown, glob) or fnmatch.fnmatch(path.name, glob) for glob in config.exclude)


def plan_groups(request: LintRequest, errors: list[InputError]) -> list[_Group]:
    """Group the requested files by configuration, each with the folders that give it context."""
    lookups = _Lookups()
    groups: dict[int, _Group] = {}
    targets: list[Path] = []
    for raw in request.paths:
        targets.extend(_expand(raw, errors))
    if request.alembic_config:
        targets.extend(_alembic_targets(Path(request.alembic_config), errors))
    for path in targets:
        config = _config_for(path, request, lookups)
        if _excluded(path, config, lookups):
            continue
        group = groups.setdefault(id(config), _Group(config))
        if path.suffix != ".py" and not has_extension(path.name, config.sql_extensions):
            group.skipped.append(path)
            continue
        home = _sequence_home(path.parent)
        folder = lookups.folder(home)
        if folder not in group.sequences:
            group.sequences[folder] = [lookups.resolved(p) for p in _sequence_files(home, config.sql_extensions)]
        group.report.add(lookups.resolved(path))
    return list(groups.values())


def _sequence_home(folder: Path) -> Path:
    """The folder whose sequence a file replays in: sqitch's revert/ and verify/ join deploy/."""
    if folder.name.casefold() not in ("revert", "verify", "down", "downs", "rollback", "undo"):
        return folder
    siblings = frozenset(p.name for p in folder.parent.iterdir() if p.is_dir())
    home = rollback_home(folder, siblings)
    return folder.parent / home if home else folder


def _sequence_files(home: Path, extensions: tuple[str, ...]) -> list[Path]:
    """The migrations of a sequence: the folder's own, plus its rollback folders' (sqitch)."""
    files = _folder_migrations(home, extensions)
    if home.name.casefold() not in ("deploy", "up", "ups", "migrate", "upgrade"):
        return files
    for sibling in sorted(home.parent.iterdir()):
        if sibling.is_dir() and sibling != home and _sequence_home(sibling) == home:
            files.extend(_folder_migrations(sibling, extensions))
    return files


def _alembic_targets(ini: Path, errors: list[InputError]) -> list[Path]:
    from bgmigrate.project.ordering import find_versions_dir

    if not ini.is_file():
        errors.append(InputError(str(ini), 0, "no such file"))
        return []
    try:
        versions = find_versions_dir(ini)
    except Exception as exc:  # any unreadable ini is one input error
        errors.append(InputError(str(ini), 0, f"cannot find the versions folder: {exc}"))
        return []
    return _folder_migrations(versions) if versions.is_dir() else []


# ---- reading and parsing (in worker processes when there are many files) ----------------------


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


def _run_order(paths: Sequence[Path], order: str = "natural") -> list[Path]:
    """SQL files in the configured name order, then Alembic revisions (ordered by their graph later)."""
    from bgmigrate.project.ordering import order_sql_files  # the order the planner uses too

    sql = [p for p in paths if p.suffix != ".py"]
    plan = _sqitch_plan(sql)
    if plan is not None:
        from bgmigrate.project.ordering import order_by_plan

        sql = order_by_plan(sql, plan)  # sqitch deploys in its plan's order, not by file name
    else:
        sql = order_sql_files(sql, order)
    return [*sql, *(p for p in paths if p.suffix == ".py")]


def _sqitch_plan(paths: Sequence[Path]) -> list[str] | None:
    """The changes of the sqitch.plan next to a deploy/ folder these files are in, if there is one."""
    from bgmigrate.project.ordering import sqitch_plan_changes

    folders = {p.parent for p in paths if p.parent.name == "deploy"}
    for folder in sorted(folders):
        plan = folder.parent / "sqitch.plan"
        if plan.is_file():
            try:
                return sqitch_plan_changes(plan.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                return None
    return None


def _load_stream(sources: Sequence[SourceFile], config: Config, jobs: int) -> Iterator[Loaded]:
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
    stream = _load_stream(unparsed, config, jobs)
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


def _prepare(run: _GroupRun, sources: Sequence[SourceFile]) -> tuple[list[_Item], bool]:
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
class _CacheContext:
    """The cache for one configuration, and what keys its entries."""

    store: ResultCache
    fingerprint: str
    settings_key: str


def _cacheable(sources: Sequence[SourceFile]) -> bool:
    # An unreadable file's error is no result worth keeping: lint such folders afresh every time.
    return all(s.data is not None for s in sources)


@dataclass(frozen=True)
class _GroupRun:
    """What every folder of one configuration group is linted with."""

    config: Config
    catalogue: Catalogue
    selection: RuleSelection
    jobs: int
    cache: _CacheContext | None
    shown: set[str]  # display paths of the files the user asked about
    alembic: AlembicLoader
    base: Schema | None = None  # the live database or snapshot to start from
    recipes: RecipeSource | None = None  # renders fixes from the planner (handed in by the command)


def _lint_folder(run: _GroupRun, folder: Path, sources: Sequence[SourceFile]) -> tuple[SequenceResult, dict[str, str]]:
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


def _base(run: _GroupRun) -> Schema:
    # Replay changes the schema it is given: every folder starts from its own copy of the base.
    return copy.deepcopy(run.base) if run.base is not None else Schema()


def _reported(files: Sequence[FileResult], shown: set[str], cache: _CacheContext, slot: str) -> list[FileResult] | None:
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
    entry: FolderEntry | None, keys: Sequence[str], cache: _CacheContext, slot: str
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


class _CacheOpener:
    """Opens the cache of each configuration; the engine fingerprint is computed once per run."""

    def __init__(self, request: LintRequest, catalogue: Catalogue, warn: Warn) -> None:
        self._enabled = request.use_cache
        self._catalogue = catalogue
        self._warn = warn
        self._fingerprint = ""
        self._stores: dict[Path, ResultCache] = {}  # one per folder, so each warns once

    def open(self, config: Config, base_key: str = "") -> _CacheContext | None:
        if not self._enabled:
            return None
        from bgmigrate.project.cache import cache_dir, engine_fingerprint

        if not self._fingerprint:
            self._fingerprint = engine_fingerprint(self._catalogue)
        root = cache_dir(config.source)
        store = self._stores.setdefault(root, ResultCache(root, self._warn))
        return _CacheContext(store, self._fingerprint, config.settings.cache_key() + base_key)


def _warn_on_stderr(message: str) -> None:
    sys.stderr.write(f"bgmigrate: warning: {message}\n")


# ---- the run ----------------------------------------------------------------------------------


def _changed_since(ref: str) -> set[Path]:
    from bgmigrate.project.gitdiff import changed_files

    return {p.resolve() for p in changed_files(ref)}


def _collect(result: LintResult, outcome: SequenceResult, texts: dict[str, str], shown: set[str]) -> None:
    """Add what a folder produced for the files the user asked about."""
    wanted = [path for path in outcome.loaded if path in shown]
    result.errors.extend(e for e in outcome.errors if e.path in shown)
    result.findings.extend(f for f in outcome.findings if f.path in shown)
    result.files += len(wanted)
    result.sources.update({path: texts[path] for path in wanted})


def run_lint(
    request: LintRequest,
    catalogue: Catalogue | None = None,
    *,
    warn: Warn = _warn_on_stderr,
    recipes: RecipeSource | None = None,
) -> tuple[LintResult, Severity]:
    """Lint what the request names; returns the result and the ``fail_on`` threshold.

    ``warn`` receives one-line warnings (an unreadable cache) that do not change the result.
    ``recipes`` renders the fix of the findings it covers from the planner (the commands hand
    it in: this layer may not import the planner).
    """
    catalogue = catalogue or load_catalogue()
    result = LintResult()
    groups = plan_groups(request, result.errors)
    changed = _changed_since(request.diff_ref) if request.diff_ref else None
    base = _base_schema(request)
    caches = _CacheOpener(request, catalogue, warn)
    base_key = (_schema_digest(base) if base is not None else "") + f"-alembic:{request.alembic_mode}"
    base_key += f"-recipes:{recipes.key if recipes is not None else 'rules'}"  # the fixes differ
    fail_on = Severity.ERROR
    alembic = AlembicLoader(request.alembic_mode, request.alembic_timeout)
    try:
        with _fewer_collections():
            for group in groups:
                fail_on = Severity.parse(group.config.fail_on)
                report = group.report if changed is None else group.report & changed
                cache = caches.open(group.config, base_key)
                shown = {_shown(p) for p in report}
                _lint_group(group, shown, catalogue, request.jobs, cache, result, base, alembic, recipes)
    finally:
        alembic.close()
    return result, fail_on


def _base_schema(request: LintRequest) -> Schema | None:
    """The live database or snapshot to lint against (read once per run), or None."""
    if not (request.dsn or request.schema_path):
        return None
    from bgmigrate.live.base import load_base_schema

    return load_base_schema(request.dsn, request.schema_path)


def _schema_digest(schema: Schema) -> str:
    """Part of the cache key: verdicts depend on every table the base holds."""
    import hashlib
    import json

    from bgmigrate.live.snapshot import schema_to_dict

    text = json.dumps(schema_to_dict(schema), sort_keys=True, default=str)
    return "-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _lint_group(
    group: _Group,
    shown: set[str],
    catalogue: Catalogue,
    jobs: int,
    cache: _CacheContext | None,
    result: LintResult,
    base: Schema | None,
    alembic: AlembicLoader,
    recipes: RecipeSource | None = None,
) -> None:
    selection = _selection(catalogue, group.config)
    run = _GroupRun(group.config, catalogue, selection, jobs, cache, shown, alembic, base, recipes)
    if group.skipped:
        result.notes.append(skipped_extensions_note(group.skipped, group.config.sql_extensions))
        result.skipped.extend(skipped_extension_records(group.skipped, group.config.sql_extensions))
    settings = group.config.settings
    for folder, files in group.sequences.items():
        ordered = [(path, _shown(path)) for path in _run_order(files, settings.order)]
        if base is not None:
            # The live database already holds what the earlier, applied migrations did:
            # replaying them again would replace live tables (and their sizes) with stand-ins.
            ordered = [(path, name) for path, name in ordered if name in shown]
        if not any(name in shown for _, name in ordered):
            continue  # context for no file the user asked about (--diff)
        sources = [read_source(path, name) for path, name in ordered]
        sources, notes = arrange_rollbacks(sources, settings.down_migrations, shown, result.skipped)
        result.notes.extend(notes)
        if not sources:
            continue
        outcome, texts = _lint_folder(run, folder, sources)
        _collect(result, outcome, texts, shown)


def _selection(catalogue: Catalogue, config: Config) -> RuleSelection:
    """The rules a group runs; a rule name nobody knows is an error at the line that wrote it."""
    check_selectors(config, lambda selector: selects_something(catalogue, selector), known_selectors(catalogue))
    try:
        return select_rules(catalogue, config.settings)
    except SelectionError as exc:
        # The file's own names were checked above: this one came from the command line.
        raise SelectionError(f"--select/--ignore: {exc}") from None


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the garbage collector less often while linting.

    A lint allocates many small objects that live until the report is written, so the default
    thresholds trigger many collections that find nothing to free (measured: ~5% of a cold lint).
    Reading a cache entry and its schema (pre-commit) makes a few hundred thousand objects: at
    20,000 their three collections cost 5% of that run, at 100,000 none happens.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 100_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
