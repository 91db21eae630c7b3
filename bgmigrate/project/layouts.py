"""Which migration files (or parts of files) run forward, and which undo or verify.

Migration tools keep rollbacks next to the forward changes: golang-migrate ``1_x.down.sql``,
Flyway ``U1__x.sql``, sqitch ``revert/`` and ``verify/`` folders, diesel ``down.sql``, dbmate's
``-- migrate:down`` section. A rollback drops what its forward migration added, so linting it
as a forward change reports hazards nobody runs in a deploy. Pure functions over names and text.
"""

from __future__ import annotations

import re
from pathlib import PurePath

UP, DOWN, VERIFY = "up", "down", "verify"

# "x.down.sql", "x_down.sql", "x-undo.sql", "x.rollback.sql", diesel's "down.sql".
_DOWN_STEM = re.compile(r"(?:^|[._-])(?:down|undo|downgrade)$|(?:^|\.)(?:rollback|revert)$", re.IGNORECASE)
_FLYWAY_UNDO = re.compile(r"U\d+(?:[._]\d+)*__")
_DOWN_FOLDERS = frozenset({"down", "downs", "undo", "rollback", "rollbacks", "revert", "downgrade", "downgrades"})
_VERIFY_FOLDERS = frozenset({"verify"})
# dbmate: "-- migrate:up" and "-- migrate:down" start the two sections of one file.
_DBMATE_MARK = re.compile(r"^[ \t]*--[ \t]*migrate:(up|down)\b.*$", re.IGNORECASE | re.MULTILINE)


def file_role(path: PurePath) -> str:
    """``up``, ``down`` or ``verify`` from the file's name and folder.

    >>> [file_role(PurePath(p)) for p in ("1_a.up.sql", "1_a.down.sql", "U2__x.sql", "revert/x.sql", "0005_shutdown.sql")]
    ['up', 'down', 'down', 'down', 'up']
    """
    name = path.name
    stem = name.split(".")[0] if "." not in name[1:] else _without_sql_endings(name)
    if _DOWN_STEM.search(stem) or _FLYWAY_UNDO.match(name):
        return DOWN
    folder = path.parent.name.casefold()
    if folder in _DOWN_FOLDERS:
        return DOWN
    if folder in _VERIFY_FOLDERS:
        return VERIFY
    return UP


def _without_sql_endings(name: str) -> str:
    """``x.down.sql.postgres`` → ``x.down``: drop the trailing endings that say SQL."""
    parts = name.split(".")
    while len(parts) > 1 and ("sql" in parts[-1].casefold() or parts[-1].casefold() in ("postgres", "pg")):
        parts.pop()
    return ".".join(parts)


def has_dbmate_sections(text: str) -> bool:
    """Whether the file has a ``-- migrate:down`` section."""
    return any(found[1].lower() == "down" for found in _DBMATE_MARK.finditer(text))


def dbmate_section(text: str, section: str) -> str:
    """The text with every line outside ``section`` (``up`` or ``down``) blanked.

    Lines are kept (emptied), so statements keep their line numbers.

    >>> dbmate_section("-- migrate:up\\nCREATE TABLE t ();\\n-- migrate:down\\nDROP TABLE t;\\n", "up")
    '-- migrate:up\\nCREATE TABLE t ();\\n\\n\\n'
    """
    out: list[str] = []
    current = UP  # text before any mark belongs to the up section, as dbmate reads it
    for line in text.splitlines(keepends=True):
        mark = _DBMATE_MARK.match(line)
        if mark is not None:
            current = mark[1].lower()
        ending = line[len(line.rstrip("\r\n")) :]
        out.append(line if current == section else ending)
    return "".join(out)


def looks_like_sql(name: str) -> bool:
    """Whether a file name says SQL (``x.sql``, ``x.pgsql``, ``x.psql``, ``x.sql.postgres``, …).

    >>> [looks_like_sql(n) for n in ("a.sql", "a.pgsql", "a.sql.postgres", "a.py", "README.md")]
    [True, True, True, False, False]
    """
    parts = [part.casefold() for part in name.split(".")[1:]]
    return any(part in _SQL_PARTS or (part.endswith("sql") and part not in _OTHER_DIALECTS) for part in parts)


_SQL_PARTS = frozenset({"sql", "pgsql", "psql", "plpgsql"})
_OTHER_DIALECTS = frozenset({"mysql", "mssql", "tsql", "plsql", "sparksql"})  # not PostgreSQL: no note


def has_extension(name: str, extensions: tuple[str, ...]) -> bool:
    """Whether ``name`` ends with one of the configured SQL file endings (case-insensitive)."""
    lowered = name.casefold()
    return any(lowered.endswith(ext.casefold()) and len(lowered) > len(ext) for ext in extensions)


def rollback_home(folder: PurePath, siblings: frozenset[str]) -> str | None:
    """The forward folder a ``revert/``, ``verify/`` or ``down/`` folder belongs to, if it has one.

    ``siblings`` are the names of the folders next to it (sqitch: deploy/revert/verify).
    """
    if folder.name.casefold() not in _DOWN_FOLDERS | _VERIFY_FOLDERS:
        return None
    for name in ("deploy", "up", "ups", "migrate", "upgrade"):
        if name in siblings:
            return name
    return None
