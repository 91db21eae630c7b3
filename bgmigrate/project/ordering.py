"""In which order migrations run: SQL files by natural file-name order, Alembic revisions by their graph.

Pure functions apart from ``find_versions_dir``/``find_version_dirs``, which read ``alembic.ini``,
and ``run_order``, which reads the ``sqitch.plan`` next to a deploy/ folder.
"""

from __future__ import annotations

import configparser
import heapq
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from bgmigrate.model.migration import Migration

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


# A leading version: optional letters (Flyway's V), then numbers joined by ".", "_" or "-"
# (1, 1.2, 2024-01-31, 20240131120000). What follows is the description.
_VERSION = re.compile(r"([A-Za-z]*)(\d+(?:[._-]\d+)*)")
_SEPARATORS = "._- "
_FLYWAY = re.compile(r"([VRB])(\d+(?:[._]\d+)*)?__(.*)", re.IGNORECASE)

ORDERS = ("natural", "flyway", "lexical")


def version_key(name: str) -> tuple[object, ...]:
    """Sort key of a migration file name: its leading version as numbers, then the rest.

    Separators do not matter (``1-a`` and ``1_a`` are both version 1), and a longer version
    comes after its prefix (V10 < V10.1 < V11), as Flyway, golang-migrate and dbmate read them.

    >>> sorted(["V10.1__b.sql", "V2__a.sql", "V10__c.sql", "V1_1__d.sql"], key=version_key)
    ['V1_1__d.sql', 'V2__a.sql', 'V10__c.sql', 'V10.1__b.sql']
    """
    found = _VERSION.match(name)
    if found is None:
        # No version: by the name's text, as natural order would (numbers still before text).
        return (re.split(r"\d", name, maxsplit=1)[0].casefold(), 1, (), natural_key(name))
    numbers = tuple(int(part) for part in re.split(r"[._-]", found[2]))
    rest = name[found.end() :].lstrip(_SEPARATORS)
    return (found[1].casefold(), 0, numbers, natural_key(rest))


def flyway_key(name: str) -> tuple[object, ...]:
    """Flyway's order: versioned (``V``/baseline ``B``) by version, then repeatable ``R__`` by description.

    >>> sorted(["R__views.sql", "V10__c.sql", "V2__a.sql", "V10.1__b.sql"], key=flyway_key)
    ['V2__a.sql', 'V10__c.sql', 'V10.1__b.sql', 'R__views.sql']
    """
    found = _FLYWAY.fullmatch(name)
    if found is None:
        return (2, (), natural_key(name))  # not a Flyway migration name: after the others
    if found[1].upper() == "R" or found[2] is None:
        return (1, (), natural_key(found[3]))
    numbers = tuple(int(part) for part in re.split(r"[._]", found[2]))
    while len(numbers) > 1 and numbers[-1] == 0:  # Flyway reads 1.0 as 1
        numbers = numbers[:-1]
    return (0, numbers, natural_key(found[3]))


def order_sql_files(paths: Iterable[Path], order: str = "natural") -> list[Path]:
    """SQL migration files in the order they run.

    ``natural`` (default): by leading version, numbers compared as numbers, then the rest of the
    name; ``flyway``: Flyway's versioned-then-repeatable order; ``lexical``: plain name compare.

    >>> [p.name for p in order_sql_files([Path("10_x.sql"), Path("b/2_x.sql"), Path("a/1_x.sql")])]
    ['1_x.sql', '2_x.sql', '10_x.sql']
    """
    if order == "lexical":
        return sorted(paths, key=lambda p: (p.name, str(p)))
    key = flyway_key if order == "flyway" else version_key
    return sorted(paths, key=lambda p: (key(p.name), p.name, str(p)))


def sqitch_plan_changes(plan: str) -> list[str]:
    """The deploy scripts' names (without ``.sql``) of a ``sqitch.plan``, in deploy order.

    A reworked change runs twice: first its old script, kept as ``name@tag`` after the tag that
    followed it, and later the current ``name``.

    >>> sqitch_plan_changes("%project=x\\nusers 2024 a <a@b>\\n@v1 2024 a <a@b>\\nposts 2024 a <a@b>\\nusers [users@v1] 2024 a <a@b>\\n")
    ['users@v1', 'posts', 'users']
    """
    entries: list[list[str]] = []  # [change, first tag after it]
    for raw in plan.splitlines():
        line = raw.strip()
        if not line or line.startswith(("%", "#")):
            continue
        if line.startswith("@"):
            for entry in entries:
                if len(entry) == 1:
                    entry.append(line.split()[0][1:])
            continue
        entries.append([line.split()[0]])
    last = {entry[0]: i for i, entry in enumerate(entries)}
    return [
        entry[0] if last[entry[0]] == i or len(entry) == 1 else f"{entry[0]}@{entry[1]}"
        for i, entry in enumerate(entries)
    ]


def order_by_plan(paths: Iterable[Path], changes: Sequence[str]) -> list[Path]:
    """Files named after plan changes (``users.sql``, ``users@v1.sql``) in plan order; the rest after them."""
    rank = {name: i for i, name in enumerate(changes)}

    def key(path: Path) -> tuple[int, tuple[object, ...], str]:
        return (rank.get(path.name.split(".")[0], len(rank)), version_key(path.name), str(path))

    return sorted(paths, key=key)


def run_order(paths: Sequence[Path], order: str = "natural") -> list[Path]:
    """SQL files in the configured name order, then Alembic revisions (ordered by their graph later)."""
    sql = [p for p in paths if p.suffix != ".py"]
    plan = _sqitch_plan(sql)
    # sqitch deploys in its plan's order, not by file name; otherwise the order the planner uses
    sql = order_by_plan(sql, plan) if plan is not None else order_sql_files(sql, order)
    return [*sql, *(p for p in paths if p.suffix == ".py")]


def _sqitch_plan(paths: Sequence[Path]) -> list[str] | None:
    """The changes of the sqitch.plan next to a deploy/ folder these files are in, if there is one."""
    folders = {p.parent for p in paths if p.parent.name == "deploy"}
    for folder in sorted(folders):
        plan = folder.parent / "sqitch.plan"
        if plan.is_file():
            try:
                return sqitch_plan_changes(plan.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                return None
    return None


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
            rev for rev in remaining if all(p in placed or p not in remaining for p in by_rev[rev].down_revisions)
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
