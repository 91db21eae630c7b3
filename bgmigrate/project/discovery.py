"""Which files a lint run covers: the migrations a path names, their configuration and groups.

A file is linted in the sequence of its folder (sqitch's revert/ and verify/ join deploy/), so
every group also names the folders that give its files their context.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bgmigrate.lint.findings import InputError
from bgmigrate.project.config import Config, find_config, load_config, with_overrides
from bgmigrate.project.layouts import has_extension, looks_like_sql, rollback_home

MIGRATION_SUFFIXES = (".sql", ".py")


class FileRequest(Protocol):
    """What discovery reads of a lint request (``bgmigrate.project.run.LintRequest``)."""

    @property
    def paths(self) -> tuple[str, ...]: ...
    @property
    def config_path(self) -> str | None: ...
    @property
    def alembic_config(self) -> str | None: ...
    @property
    def overrides(self) -> Mapping[str, object]: ...


@dataclass
class FileGroup:
    """Files sharing one configuration, split into sequences that replay together."""

    config: Config
    sequences: dict[Path, list[Path]] = field(default_factory=dict)  # folder → migration files
    report: set[Path] = field(default_factory=set)
    skipped: list[Path] = field(default_factory=list)  # SQL-looking files with an ending not configured


def display_path(path: Path) -> str:
    """A path as the user sees it: relative to the working directory when under it."""
    return shown_path(path.resolve())


def shown_path(resolved: Path) -> str:
    """A resolved path as the user sees it (``display_path`` without resolving again)."""
    if os.name == "posix":
        # What relative_to gives, as string operations: a run shows thousands of paths.
        text, base = str(resolved), _cwd_text(os.getcwd())
        if text.startswith(base) and (len(text) == len(base) or text[len(base)] == "/" or base == "/"):
            rest = text[len(base) :].lstrip("/")
            return rest or "."
        return text
    try:
        return resolved.relative_to(_resolved_cwd(os.getcwd())).as_posix()
    except ValueError:
        return resolved.as_posix()


@functools.lru_cache(maxsize=4)
def _cwd_text(cwd: str) -> str:
    return str(_resolved_cwd(cwd))


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


def _is_migration_entry(folder: Path, entry: os.DirEntry[str], extensions: tuple[str, ...] | None) -> bool:
    """Whether a directory entry is a migration: a file with one of ``extensions`` (None: any
    SQL-looking name), or an Alembic revision."""
    if entry.name.endswith(".py") and Path(entry.name).suffix == ".py":
        return _is_file(entry) and _is_revision(folder / entry.name)
    named = looks_like_sql(entry.name) if extensions is None else has_extension(entry.name, extensions)
    return named and _is_file(entry)


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _candidates_under(root: Path) -> list[Path]:
    """Every file under ``root`` that may be a migration under some configuration (a SQL-looking
    name, an Alembic revision), in path order; a link to a folder is not followed, as ``rglob``
    does not. One directory read per folder, no stat and no Path per entry."""
    found: list[Path] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except OSError:
            continue  # unreadable, as rglob skips it
        for entry in listed:
            if _is_folder(entry):
                folders.append(folder / entry.name)
            elif _is_migration_entry(folder, entry, None):
                found.append(folder / entry.name)
    return sorted(found, key=_path_order)


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir() and not entry.is_symlink()
    except OSError:
        return False


def _path_order(path: Path) -> tuple[str, ...]:
    # The order PurePath sorts in: by parts, case-folded where the system ignores case.
    return tuple(os.path.normcase(part) for part in path.parts)


def _expand(raw: str, errors: list[InputError]) -> list[Path]:
    path = Path(raw)
    if path.is_dir():
        return _candidates_under(path)
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


def _config_for(path: Path, request: FileRequest, lookups: _Lookups) -> Config:
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

    shown = shown_path(lookups.resolved(path))
    return any(fnmatch.fnmatch(shown, glob) or fnmatch.fnmatch(path.name, glob) for glob in config.exclude)


def plan_groups(request: FileRequest, errors: list[InputError]) -> list[FileGroup]:
    """Group the requested files by configuration, each with the folders that give it context."""
    lookups = _Lookups()
    groups: dict[int, FileGroup] = {}
    targets: list[Path] = []
    for raw in request.paths:
        targets.extend(_expand(raw, errors))
    if request.alembic_config:
        targets.extend(_alembic_targets(Path(request.alembic_config), errors))
    for path in targets:
        config = _config_for(path, request, lookups)
        if _excluded(path, config, lookups):
            continue
        group = groups.setdefault(id(config), FileGroup(config))
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
