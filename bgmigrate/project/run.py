"""A lint run at the I/O edge: find files and configuration, read them, lint, collect results.

Each linted file is judged against the schema its earlier siblings build (SQL files by name,
Alembic revisions by their graph), so linting one new file in pre-commit still knows the
tables and column types the folder created before it. Which files (``discovery``), reading
them (``sources``), their order (``ordering``) and the cached replay of a folder
(``replay_chain``) each have their own module; this one runs them per configuration group.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bgmigrate.lint.catalogue import Catalogue, load_catalogue
from bgmigrate.lint.findings import Severity
from bgmigrate.lint.recipes import RecipeSource
from bgmigrate.lint.selection import RuleSelection, SelectionError, known_selectors, select_rules, selects_something
from bgmigrate.model.schema import Schema
from bgmigrate.project.alembic_loader import AlembicLoader
from bgmigrate.project.cache import SequenceResult, Warn
from bgmigrate.project.config import Config, check_selectors
from bgmigrate.project.discovery import FileGroup, plan_groups, shown_path
from bgmigrate.project.ordering import run_order
from bgmigrate.project.replay_chain import CacheContext, CacheOpener, GroupRun, lint_folder
from bgmigrate.project.result import LintResult
from bgmigrate.project.rollbacks import arrange_rollbacks, skipped_extension_records, skipped_extensions_note
from bgmigrate.project.sources import read_source


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


def _warn_on_stderr(message: str) -> None:
    sys.stderr.write(f"bgmigrate: warning: {message}\n")


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
    caches = CacheOpener(request.use_cache, catalogue, warn)
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
                shown = {shown_path(p) for p in report}
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
    group: FileGroup,
    shown: set[str],
    catalogue: Catalogue,
    jobs: int,
    cache: CacheContext | None,
    result: LintResult,
    base: Schema | None,
    alembic: AlembicLoader,
    recipes: RecipeSource | None = None,
) -> None:
    selection = _selection(catalogue, group.config)
    run = GroupRun(group.config, catalogue, selection, jobs, cache, shown, alembic, base, recipes)
    if group.skipped:
        result.notes.append(skipped_extensions_note(group.skipped, group.config.sql_extensions))
        result.skipped.extend(skipped_extension_records(group.skipped, group.config.sql_extensions))
    settings = group.config.settings
    for folder, files in group.sequences.items():
        ordered = [(path, shown_path(path)) for path in run_order(files, settings.order)]
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
        outcome, texts = lint_folder(run, folder, sources)
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
