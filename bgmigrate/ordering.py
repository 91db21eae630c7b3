"""In which order migrations run: SQL files by natural file-name order, Alembic revisions by their graph.

Pure functions apart from ``find_versions_dir``/``find_version_dirs``, which read ``alembic.ini``.
"""

from __future__ import annotations

import configparser
import heapq
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from bgmigrate.migration import Migration

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key that compares runs of digits as numbers.

    >>> sorted(["10_b.sql", "2_a.sql", "1_c.sql"], key=natural_key)
    ['1_c.sql', '2_a.sql', '10_b.sql']
    """
    parts: list[tuple[int, int, str]] = []
    for i, part in enumerate(_DIGITS.split(name)):
        if not part:
            continue
        # Odd indexes of the split are the digit runs; numbers sort before text at the same place.
        parts.append((0, int(part), part) if i % 2 else (1, 0, part.casefold()))
    return tuple(parts)


def order_sql_files(paths: Iterable[Path]) -> list[Path]:
    """SQL migration files in the order they run: by file name, numbers compared as numbers.

    >>> [p.name for p in order_sql_files([Path("10_x.sql"), Path("b/2_x.sql"), Path("a/1_x.sql")])]
    ['1_x.sql', '2_x.sql', '10_x.sql']
    """
    return sorted(paths, key=lambda p: (natural_key(p.name), str(p)))


def order_alembic(migrations: Sequence[Migration]) -> tuple[list[Migration], list[str]]:
    """Alembic revisions in a running order, roots first, plus what could not be placed.

    The order is topological over ``down_revisions`` (branches and merges included); among
    revisions that could run next, the smallest revision id goes first, so the result is stable.
    Revisions whose parent is missing, that sit on a cycle, or that depend on such a revision
    come last (still in dependency order as far as it goes) and are described in the problems.

    >>> def m(rev, *down):
    ...     return Migration(path=rev, kind="alembic", statements=(), revision=rev, down_revisions=down)
    >>> ordered, problems = order_alembic([m("c", "a", "b"), m("b", "r"), m("a", "r"), m("r")])
    >>> [x.revision for x in ordered], problems
    (['r', 'a', 'b', 'c'], [])
    """
    by_rev: dict[str, Migration] = {}
    problems: list[str] = []
    leftovers: list[Migration] = []
    for migration in migrations:
        rev = migration.revision
        if rev is None:
            problems.append(f"{migration.path}: no revision id")
            leftovers.append(migration)
        elif rev in by_rev:
            problems.append(f"{migration.path}: revision {rev} is also defined in {by_rev[rev].path}")
            leftovers.append(migration)
        else:
            by_rev[rev] = migration

    ordered, stuck = _topological(by_rev)
    if stuck:
        problems.extend(_describe_stuck(by_rev, stuck))
        ordered.extend(_relaxed_order(by_rev, stuck))
    return [by_rev[rev] for rev in ordered] + leftovers, problems


def _topological(by_rev: dict[str, Migration]) -> tuple[list[str], set[str]]:
    """Kahn's algorithm with a min-heap; returns the order and the revisions never reached."""
    waiting = {rev: set(m.down_revisions) for rev, m in by_rev.items()}
    children: dict[str, list[str]] = {}
    for rev, parents in waiting.items():
        for parent in parents:
            children.setdefault(parent, []).append(rev)
    ready = [rev for rev, parents in waiting.items() if not parents]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        rev = heapq.heappop(ready)
        order.append(rev)
        for child in children.get(rev, ()):
            waiting[child].discard(rev)
            if not waiting[child]:
                heapq.heappush(ready, child)
    return order, set(by_rev) - set(order)


def _relaxed_order(by_rev: dict[str, Migration], stuck: set[str]) -> list[str]:
    """Order the unplaceable revisions as well as possible: ignore missing parents, break cycles by id."""
    order: list[str] = []
    placed: set[str] = set()
    remaining = set(stuck)
    while remaining:
        ready = sorted(
            rev
            for rev in remaining
            if all(p in placed or p not in remaining for p in by_rev[rev].down_revisions)
        )
        # On a cycle nothing is ready: take the smallest id to break it.
        chosen = ready[0] if ready else min(remaining)
        order.append(chosen)
        placed.add(chosen)
        remaining.discard(chosen)
    return order


def _describe_stuck(by_rev: dict[str, Migration], stuck: set[str]) -> list[str]:
    problems: list[str] = []
    missing_parent: set[str] = set()
    for rev in sorted(stuck):
        missing = [p for p in by_rev[rev].down_revisions if p not in by_rev]
        if missing:
            problems.append(f"{rev} ({by_rev[rev].path}): down_revision {', '.join(missing)} not found")
            missing_parent.add(rev)
    cyclic = _on_cycles(by_rev, stuck)
    if cyclic:
        problems.append(f"revisions {', '.join(sorted(cyclic))} form a cycle")
    blocked = sorted(stuck - missing_parent - cyclic)
    if blocked:
        problems.append(f"revisions {', '.join(blocked)} depend on revisions that cannot be placed")
    return problems


def _on_cycles(by_rev: dict[str, Migration], candidates: set[str]) -> set[str]:
    """Revisions among ``candidates`` that can reach themselves through their parents."""
    cyclic: set[str] = set()
    for start in candidates:
        seen: set[str] = set()
        stack = [p for p in by_rev[start].down_revisions if p in candidates]
        while stack:
            rev = stack.pop()
            if rev == start:
                cyclic.add(start)
                break
            if rev in seen:
                continue
            seen.add(rev)
            stack.extend(p for p in by_rev[rev].down_revisions if p in candidates)
    return cyclic


def find_version_dirs(alembic_ini: Path) -> list[Path]:
    """Every directory holding revision scripts for an ``alembic.ini``.

    ``version_locations`` wins when set; otherwise ``<script_location>/versions``.
    ``%(here)s`` is the directory of the ini file; relative paths are taken from there too.
    """
    here = alembic_ini.resolve().parent
    parser = configparser.ConfigParser(defaults={"here": str(here)})
    parser.read(alembic_ini, encoding="utf-8")
    locations = _option(parser, "version_locations")
    if locations:
        return [_resolve(here, entry) for entry in _split_paths(locations, _separator(parser))]
    script_location = _option(parser, "script_location") or "."
    return [_resolve(here, script_location) / "versions"]


def find_versions_dir(alembic_ini: Path) -> Path:
    """The (first) directory holding revision scripts for an ``alembic.ini``."""
    return find_version_dirs(alembic_ini)[0]


def _option(parser: configparser.ConfigParser, name: str) -> str | None:
    try:
        value = parser.get("alembic", name, fallback=None)
    except configparser.Error:
        # A stray "%" elsewhere in the value breaks interpolation; read it raw instead.
        value = parser.get("alembic", name, raw=True, fallback=None)
    return value.strip() if value else None


def _separator(parser: configparser.ConfigParser) -> str | None:
    name = _option(parser, "path_separator") or _option(parser, "version_path_separator")
    return {
        "os": os.pathsep,
        "space": " ",
        "newline": "\n",
        "colon": ":",
        "semicolon": ";",
        ":": ":",
        ";": ";",
    }.get(name or "")


def _split_paths(value: str, separator: str | None) -> list[str]:
    """Split a path list the way alembic does: by the configured separator, else by spaces/commas."""
    parts = re.split(r"[,\s]+", value) if separator in (None, " ") else value.split(separator)
    return [part.strip() for part in parts if part.strip()]


def _resolve(here: Path, location: str) -> Path:
    path = Path(location)
    if _looks_like_package_resource(location):
        path = _package_path(location) or path
    return path if path.is_absolute() else (here / path).resolve()


def _looks_like_package_resource(location: str) -> bool:
    # "myapp:migrations" names a directory inside an installed package (not a Windows drive "C:\").
    if re.match(r"[A-Za-z]:[\\/]", location):
        return False
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*:[\w./]+", location))


def _package_path(location: str) -> Path | None:
    import importlib.util

    package, _, sub = location.partition(":")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / sub
