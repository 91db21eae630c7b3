"""Alembic revisions → Migrations for one lint run: from the cache, else read afresh.

``run`` mode (the default) runs each revision's ``upgrade()`` offline in one worker process
for the whole lint run (``bgmigrate.project.alembic_worker``); ``static`` mode reads the ``op.*`` calls
from the syntax tree and executes nothing of the project (``bgmigrate.project.alembic_ast``). Results
are cached one revision at a time by the revision's path and content, the mode and the engine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bgmigrate.lint.findings import InputError
from bgmigrate.model.migration import Migration
from bgmigrate.project.cache import FORMAT, ResultCache

if TYPE_CHECKING:
    from bgmigrate.project.alembic_worker import AlembicWorker

MODES = ("run", "static")


@dataclass(frozen=True)
class Loaded:
    """A revision read, or why not; ``lasting``: whether the outcome may be cached."""

    outcome: Migration | InputError
    lasting: bool = True


class AlembicLoader:
    """Reads the revisions of one lint run (starting the worker only when one is needed)."""

    def __init__(self, mode: str = "run", timeout: float | None = None) -> None:
        """``timeout``: seconds one revision may take in the worker (None: the worker's default)."""
        if mode not in MODES:
            raise ValueError(f"unknown Alembic mode {mode!r} (expected one of {', '.join(MODES)})")
        self.mode = mode
        self._timeout = timeout
        self._worker: AlembicWorker | None = None  # made for the first revision read (a SQL-only run never imports it)

    def load(self, path: Path, shown: str, data: bytes, store: ResultCache | None, fingerprint: str) -> Loaded:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            return Loaded(InputError(shown, line, f"not UTF-8 (byte 0x{data[exc.start]:02x})"))
        key = self._key(path, data, fingerprint)
        if store is not None:
            cached = self._cached(store, key, shown, text)
            if cached is not None:
                return Loaded(cached)
        loaded = self._read(path, shown, text)
        if store is not None and isinstance(loaded.outcome, Migration) and loaded.lasting:
            from bgmigrate.project.alembic_worker import migration_to_json

            store.store_revision(key, json.dumps(migration_to_json(loaded.outcome)).encode("utf-8"))
        return loaded

    def _key(self, path: Path, data: bytes, fingerprint: str) -> str:
        digest = hashlib.sha256(f"{FORMAT}\0{fingerprint}\0{self.mode}\0{path}\0{len(data)}\0".encode())
        digest.update(data)
        return digest.hexdigest()

    def _cached(self, store: ResultCache, key: str, shown: str, text: str) -> Migration | None:
        raw = store.load_revision(key)
        if raw is None:
            return None
        from bgmigrate.project.alembic_worker import migration_from_json

        try:
            return migration_from_json(json.loads(raw.decode("utf-8")), shown, text)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None  # rewritten after this read

    def _read(self, path: Path, shown: str, text: str) -> Loaded:
        from bgmigrate.project.alembic_offline import AlembicInputError

        if self.mode == "static":
            from bgmigrate.project.alembic_ast import load_alembic_static

            try:
                return Loaded(load_alembic_static(path, text, shown))
            except AlembicInputError as exc:
                return Loaded(InputError(shown, exc.line, exc.message))
        from bgmigrate.project.alembic_worker import DEFAULT_TIMEOUT, AlembicWorker, RevisionFailed

        if self._worker is None:
            self._worker = AlembicWorker(DEFAULT_TIMEOUT if self._timeout is None else self._timeout)
        try:
            return Loaded(self._worker.analyse(path, text, shown))
        except RevisionFailed as exc:
            # A revision that could not be read as one (not Python) gives the same error every
            # time; a worker that died or timed out may not: never keep that.
            lasting = exc.line > 0
            return Loaded(InputError(shown, exc.line, exc.message), lasting)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
