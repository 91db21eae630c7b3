"""A lint run at the I/O edge: find files and configuration, read them, lint, collect results.

Each linted file is judged against the schema its earlier siblings build (SQL files by name,
Alembic revisions by their graph), so linting one new file in pre-commit still knows the
tables and column types the folder created before it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bgmigrate.catalogue import Catalogue, load_catalogue
from bgmigrate.config import Config, find_config, load_config, with_overrides
from bgmigrate.findings import InputError, Severity
from bgmigrate.linter import lint_migrations
from bgmigrate.migration import Migration
from bgmigrate.result import LintResult
from bgmigrate.selection import select_rules
from bgmigrate.sql_source import load_sql

MIGRATION_SUFFIXES = (".sql", ".py")


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


@dataclass
class _Group:
    """Files sharing one configuration, split into sequences that replay together."""

    config: Config
    sequences: dict[Path, list[Path]] = field(default_factory=dict)  # folder → migration files
    report: set[Path] = field(default_factory=set)


def display_path(path: Path) -> str:
    """A path as the user sees it: relative to the working directory when under it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _is_revision(path: Path) -> bool:
    if path.suffix != ".py":
        return True
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # reading it again later reports the error
    from bgmigrate.alembic_source import is_alembic_revision

    return is_alembic_revision(text)


def _folder_migrations(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in MIGRATION_SUFFIXES and _is_revision(p))


def _expand(raw: str, errors: list[InputError]) -> list[Path]:
    path = Path(raw)
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in MIGRATION_SUFFIXES and _is_revision(p)
        )
    if not path.exists():
        errors.append(InputError(raw, 0, "no such file or directory"))
        return []
    if path.suffix not in MIGRATION_SUFFIXES:
        errors.append(InputError(raw, 0, "not a migration file (expected .sql or an Alembic .py revision)"))
        return []
    return [path] if _is_revision(path) else []


def _config_for(path: Path, request: LintRequest, cache: dict[Path | None, Config]) -> Config:
    source = Path(request.config_path) if request.config_path else find_config(path)
    if source not in cache:
        base = load_config(source) if source is not None else Config()
        cache[source] = with_overrides(base, **request.overrides)  # type: ignore[arg-type]
    return cache[source]


def _excluded(path: Path, config: Config) -> bool:
    import fnmatch

    shown = display_path(path)
    return any(fnmatch.fnmatch(shown, glob) or fnmatch.fnmatch(path.name, glob) for glob in config.exclude)


def plan_groups(request: LintRequest, errors: list[InputError]) -> list[_Group]:
    """Group the requested files by configuration, each with the folders that give it context."""
    configs: dict[Path | None, Config] = {}
    groups: dict[int, _Group] = {}
    targets: list[Path] = []
    for raw in request.paths:
        targets.extend(_expand(raw, errors))
    if request.alembic_config:
        targets.extend(_alembic_targets(Path(request.alembic_config), errors))
    for path in targets:
        config = _config_for(path, request, configs)
        if _excluded(path, config):
            continue
        group = groups.setdefault(id(config), _Group(config))
        folder = path.parent.resolve()
        if folder not in group.sequences:
            group.sequences[folder] = [p.resolve() for p in _folder_migrations(path.parent)]
        group.report.add(path.resolve())
    return list(groups.values())


def _alembic_targets(ini: Path, errors: list[InputError]) -> list[Path]:
    from bgmigrate.ordering import find_versions_dir

    if not ini.is_file():
        errors.append(InputError(str(ini), 0, "no such file"))
        return []
    try:
        versions = find_versions_dir(ini)
    except Exception as exc:  # noqa: BLE001 - any unreadable ini is one input error
        errors.append(InputError(str(ini), 0, f"cannot find the versions folder: {exc}"))
        return []
    return _folder_migrations(versions) if versions.is_dir() else []


def read_migration(path: Path, config: Config) -> Migration | InputError:
    """Read one file into a Migration, or say why it cannot be read."""
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return InputError(shown, 0, f"cannot read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return InputError(shown, line, f"not UTF-8 (byte 0x{data[exc.start]:02x})")
    if path.suffix == ".py":
        from bgmigrate.alembic_source import AlembicInputError, load_alembic

        try:
            migration = load_alembic(path)
        except AlembicInputError as exc:
            return InputError(shown, exc.line, exc.message)
        from dataclasses import replace

        return replace(migration, path=shown)
    return load_sql(shown, text, assume_in_transaction=config.settings.assume_in_transaction)


def _ordered(paths: Sequence[Path], config: Config, errors: list[InputError], report: set[Path]) -> list[Migration]:
    sql = sorted((p for p in paths if p.suffix == ".sql"), key=_natural_key)
    migrations: list[Migration] = []
    alembic: list[Migration] = []
    for path in [*sql, *(p for p in paths if p.suffix == ".py")]:
        loaded = read_migration(path, config)
        if isinstance(loaded, InputError):
            if path in report:
                errors.append(loaded)
            continue
        (alembic if loaded.kind == "alembic" else migrations).append(loaded)
    if alembic:
        from bgmigrate.ordering import order_alembic

        ordered, _problems = order_alembic(alembic)
        migrations.extend(ordered)
    return migrations


def _natural_key(path: Path) -> list[object]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _changed_since(ref: str) -> set[Path]:
    from bgmigrate.gitdiff import changed_files

    return {p.resolve() for p in changed_files(ref)}


def run_lint(request: LintRequest, catalogue: Catalogue | None = None) -> tuple[LintResult, Severity]:
    """Lint what the request names; returns the result and the ``fail_on`` threshold."""
    catalogue = catalogue or load_catalogue()
    result = LintResult()
    groups = plan_groups(request, result.errors)
    changed = _changed_since(request.diff_ref) if request.diff_ref else None
    fail_on = Severity.ERROR
    for group in groups:
        fail_on = Severity.parse(group.config.fail_on)
        selection = select_rules(catalogue, group.config.settings)
        report = group.report if changed is None else group.report & changed
        for folder_files in group.sequences.values():
            migrations = _ordered(folder_files, group.config, result.errors, report)
            shown = {display_path(p) for p in report}
            wanted = {m.path for m in migrations if m.path in shown}
            if not wanted:
                continue
            findings, errors = lint_migrations(
                migrations, catalogue, group.config.settings, selection, report=wanted
            )
            result.findings.extend(findings)
            result.errors.extend(errors)
            result.files += len(wanted)
            result.sources.update({m.path: m.text for m in migrations if m.path in wanted})
    return result, fail_on


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)
