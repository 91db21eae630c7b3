"""Rollback scripts in a folder's replay: left out by default, or judged as rollbacks.

A rollback runs after its forward migration, against the schema the forward ones built, so when
linted (``down-migrations = "lint"``) the rollbacks replay after every forward migration, newest
first, the order a full rollback runs them in. Verify scripts (sqitch) change nothing and are
never replayed. What is left out is said in a note, never silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from bgmigrate.project.discovery import display_path
from bgmigrate.project.layouts import DOWN, UP, VERIFY, file_role, has_dbmate_sections
from bgmigrate.project.result import Note
from bgmigrate.project.sources import SourceFile

_SHOWN_NAMES = 3


def arrange_rollbacks(
    sources: Sequence[SourceFile], mode: str, shown: set[str], records: list[Note] | None = None
) -> tuple[list[SourceFile], list[str]]:
    """The sources to replay, in order, and notes on what was left out (files the user asked about).

    ``records`` receives the same file by file, for machine formats.
    """
    ups: list[SourceFile] = []
    downs: list[SourceFile] = []
    verifies: list[SourceFile] = []
    sections: list[SourceFile] = []
    for source in sources:
        role = UP if source.path.suffix == ".py" else file_role(source.path)
        if role == UP and source.data is not None and _has_sections(source.data):
            ups.append(replace(source, section=UP))
            sections.append(replace(source, section=DOWN))
        else:
            {UP: ups, DOWN: downs, VERIFY: verifies}[role].append(source)
    notes: list[str] = []
    if mode == "lint":
        # Newest first: the order a full rollback runs them in, after every forward migration.
        rollbacks = sorted([*downs, *sections], key=lambda s: _position(sources, s), reverse=True)
        ordered = [*ups, *rollbacks]
    else:
        ordered = ups
        notes.extend(_note(downs, shown, "rollback script", 'down-migrations = "lint" judges them as rollbacks'))
        notes.extend(
            _note(sections, shown, "-- migrate:down section", 'down-migrations = "lint" judges them as rollbacks')
        )
        _record(
            records, downs, shown, "rollback-script", 'rollback script not linted (down-migrations = "lint" judges it)'
        )
        _record(
            records,
            sections,
            shown,
            "down-section",
            '-- migrate:down section not linted (down-migrations = "lint" judges it)',
        )
    notes.extend(_note(verifies, shown, "verify script", "they change nothing in the schema"))
    _record(records, verifies, shown, "verify-script", "verify script not linted (it changes nothing in the schema)")
    return ordered, notes


def _record(
    records: list[Note] | None, left_out: Iterable[SourceFile], shown: set[str], kind: str, message: str
) -> None:
    if records is None:
        return
    for source in left_out:
        if source.shown in shown:
            line = _section_line(source.data) if kind == "down-section" else None
            records.append(Note(source.shown, kind, message, line))


def _section_line(data: bytes | None) -> int | None:
    """The line of a file's ``-- migrate:down`` marker."""
    at = data.find(b"migrate:down") if data is not None else -1
    return data[:at].count(b"\n") + 1 if data is not None and at >= 0 else None


def _has_sections(data: bytes) -> bool:
    if b"migrate:down" not in data:
        return False
    return has_dbmate_sections(data.decode("utf-8", errors="replace"))


def _position(sources: Sequence[SourceFile], source: SourceFile) -> int:
    return next(i for i, s in enumerate(sources) if s.path == source.path)


def _note(left_out: Iterable[SourceFile], shown: set[str], what: str, how: str) -> list[str]:
    names = [s.shown for s in left_out if s.shown in shown]
    if not names:
        return []
    return [f"not linted: {_count(len(names), what)} ({_names(names)}); {how}"]


def skipped_extension_records(paths: Sequence[Path], extensions: tuple[str, ...]) -> list[Note]:
    """One note per SQL-looking file left out because its ending is not configured."""
    listed = ", ".join(f'"{e}"' for e in extensions)
    message = f"not linted: the name ends in none of sql-extensions = [{listed}]"
    return [Note(display_path(p), "unknown-extension", message) for p in sorted(paths)]


def skipped_extensions_note(paths: Sequence[Path], extensions: tuple[str, ...]) -> str:
    """Say which SQL-looking files were left out because their ending is not configured."""
    names = sorted(display_path(p) for p in paths)
    listed = ", ".join(f'"{e}"' for e in extensions)
    return (
        f"not linted: {_count(len(names), 'file')} whose name ends in none of sql-extensions = [{listed}] "
        f"({_names(names)}); add the ending to sql-extensions to lint them"
    )


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _names(names: Sequence[str]) -> str:
    more = len(names) - _SHOWN_NAMES
    return ", ".join(names[:_SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
