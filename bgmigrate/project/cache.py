"""The result cache: a folder's lint results, keyed by everything that decides them.

A migration is judged against the schema its earlier siblings build, so each file's result is
keyed by a *chain*: the key of file i covers the engine (rule catalogue, bgmigrate's version
and code), the settings, the live base's digest and the path and content of files 1..i in
replay order. One entry per folder and settings holds every file's result under its chain key
and the replayed schema at a few points (before the last file, before the first file asked
about, at the end). A run reuses the results and the schema up to the first file whose chain
key differs and replays from there, so editing the newest migration re-lints that file alone,
and a changed earlier file invalidates everything from it on. A changed key overwrites the
entry, so the cache never grows with history.

Alembic revisions are also cached one by one (``revisions/``), by their content: what the
worker process read from a revision (see ``bgmigrate.project.alembic_worker``).

Layout (like ruff's and black's): ``.bgmigrate_cache/`` with ``CACHEDIR.TAG`` and a
``.gitignore`` of ``*``, entries as JSON under ``v2/``. Entries are data, never pickles, and a
corrupt one is a warning and a rebuild, never a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.findings import Finding, InputError, Severity

FORMAT = "v3"  # bump when the entry layout or the meaning of a key changes
DIR_NAME = ".bgmigrate_cache"
ENV_DIR = "BGMIGRATE_CACHE_DIR"

_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by bgmigrate.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)

Warn = Callable[[str], None]


@dataclass(frozen=True)
class SequenceResult:
    """What linting one folder produced, for every file in it (the caller filters for ``--diff``).

    ``loaded`` lists, in replay order, the files that were read and linted; ``errors`` holds
    the input errors of all files, ``findings`` the findings of all files.
    """

    findings: tuple[Finding, ...]
    errors: tuple[InputError, ...]
    loaded: tuple[str, ...]


def cache_dir(config_source: Path | None) -> Path:
    """Where the cache lives: ``$BGMIGRATE_CACHE_DIR``, else beside the config file, else the cwd."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    base = config_source.parent if config_source is not None else Path.cwd()
    return base / DIR_NAME


def engine_fingerprint(catalogue: Catalogue) -> str:
    """A digest of what turns files into findings: the version, the rule catalogue and the code."""
    from bgmigrate import __version__

    digest = hashlib.sha256(f"bgmigrate {__version__}\0".encode())
    # The entries as loaded (what this run judges by), not the files, which may have changed since.
    for name in sorted(catalogue.entries):
        digest.update(f"{catalogue.entries[name]!r}\0".encode())
    # Rule code changes without a version bump in a checkout or an editable install.
    package = Path(__file__).resolve().parents[1]  # the whole bgmigrate package
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def chain_start(fingerprint: str, settings_key: str) -> str:
    """The key before the first file: what every result of the folder depends on."""
    return hashlib.sha256(f"{FORMAT}\0{fingerprint}\0{settings_key}".encode()).hexdigest()


def chain_keys(start: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
    """Each file's key: the previous key, its shown path and its content, in replay order.

    >>> a = chain_keys("s", [("a.sql", b"x"), ("b.sql", b"y")])
    >>> b = chain_keys("s", [("a.sql", b"X"), ("b.sql", b"y")])
    >>> a[1] != b[1], len(a)
    (True, 2)
    """
    keys: list[str] = []
    key = start
    for shown, data in files:
        # The length keeps one file's end from being read as the next file's start.
        digest = hashlib.sha256(f"{key}\0{shown}\0{len(data)}\0".encode())
        digest.update(data)
        key = digest.hexdigest()
        keys.append(key)
    return keys


@dataclass(frozen=True)
class FileResult:
    """One file's part of a folder's result (``loaded``: it was read and replayed).

    From the cache, ``body`` holds the findings and errors as stored, decoded only for the
    files a run reports on (``decoded``) and written back as they were for the others.
    """

    path: str
    loaded: bool
    findings: tuple[Finding, ...] = ()
    errors: tuple[InputError, ...] = ()
    body: str | None = field(default=None, compare=False, repr=False)

    def decoded(self) -> FileResult:
        """The result with its findings and errors read from ``body``; ValueError when corrupt."""
        if self.body is None:
            return self
        data = _object(json.loads(self.body))
        findings = tuple(_finding_from_json(_object(f)) for f in _array(data["findings"]))
        errors = tuple(
            InputError(_text(e, "path"), _int(e, "line"), _text(e, "message"))
            for e in map(_object, _array(data["errors"]))
        )
        return FileResult(self.path, self.loaded, findings, errors, self.body)

    def encoded(self) -> str:
        if self.body is not None:
            return self.body
        data = {
            "findings": [_finding_to_json(f) for f in self.findings],
            "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in self.errors],
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class FolderEntry:
    """A folder's cached results: file i's result under ``chain[i]``, and where schemas are kept.

    ``snapshots`` maps a count of files replayed to the chain key the schema after them is
    stored under (a file of its own: the entry is read on every run, a schema only when used).
    """

    chain: tuple[str, ...]
    files: tuple[FileResult, ...]
    snapshots: dict[int, str]

    def reusable(self, keys: Sequence[str]) -> int:
        """How many leading files of ``keys`` have their result here (the chains agree)."""
        count = 0
        for mine, theirs in zip(self.chain, keys, strict=False):
            if mine != theirs:
                break
            count += 1
        return count


def sequence_result(files: Iterable[FileResult]) -> SequenceResult:
    """The folder's result from its files' (decoded) results, read errors first as a cold run orders them."""
    results = list(files)
    unread = [e for r in results if not r.loaded for e in r.errors]
    return SequenceResult(
        tuple(f for r in results for f in r.findings),
        (*unread, *(e for r in results if r.loaded for e in r.errors)),
        tuple(r.path for r in results if r.loaded),
    )


def slot_name(folder: Path, settings_key: str) -> str:
    """The entry a folder's results live in under some settings."""
    return hashlib.sha256(f"{folder}\0{settings_key}".encode()).hexdigest()[:24]


class ResultCache:
    """Entries in one cache folder. Problems become warnings; the run then goes on without it."""

    def __init__(self, root: Path, warn: Warn) -> None:
        self.root = root
        self.entries = root / FORMAT
        self._warn = warn
        self._writable = True

    def warn(self, message: str) -> None:
        self._warn(message)

    def entry_path(self, slot: str) -> Path:
        return self.entries / f"{slot}.json"

    def load(self, slot: str) -> FolderEntry | None:
        """The folder's entry; None when there is none or it cannot be read (with a warning)."""
        raw = self._read(self.entry_path(slot))
        if raw is None:
            return None
        try:
            return decode_entry(raw)
        except KeyError as exc:
            reason = f"no {exc}"
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            reason = str(exc) or type(exc).__name__
        self._warn(f"cache entry {self.entry_path(slot)} is corrupt ({' '.join(reason.split())}); rebuilding it")
        return None

    def store(self, slot: str, entry: FolderEntry, schemas: dict[str, object]) -> None:
        """Write an entry and the new schemas it names, atomically; drop the slot's schemas it no longer names.

        A reader sees the old entry or the new one, never half; the schemas go first, so an
        entry never names a schema not yet written.
        """
        for key, schema in schemas.items():
            self._write(self._schema_path(slot, key), json.dumps(schema, separators=(",", ":")).encode("utf-8"))
        self._write(self.entry_path(slot), encode_entry(entry))
        named = {self._schema_path(slot, key).name for key in entry.snapshots.values()}
        with contextlib.suppress(OSError):
            for path in (self.entries / "schemas").glob(f"{slot}.*.json"):
                if path.name not in named:
                    path.unlink(missing_ok=True)

    def load_schema(self, slot: str, key: str) -> object | None:
        """A schema an entry names (as JSON data); None when missing or not JSON."""
        raw = self._read(self._schema_path(slot, key))
        if raw is None:
            return None
        try:
            data: object = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            return None
        return data

    def _schema_path(self, slot: str, key: str) -> Path:
        return self.entries / "schemas" / f"{slot}.{key}.json"

    def load_revision(self, key: str) -> bytes | None:
        """What the worker read from a revision with this key, as stored; None on a miss."""
        return self._read(self.entries / "revisions" / f"{key}.json")

    def store_revision(self, key: str, data: bytes) -> None:
        self._write(self.entries / "revisions" / f"{key}.json", data)

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing cached yet (a folder that cannot exist is reported when writing)
        except OSError as exc:
            self._warn(f"cannot read cache entry {path} ({exc.strerror or exc}); rebuilding it")
            return None

    def _write(self, path: Path, data: bytes) -> None:
        if not self._writable:
            return
        try:
            self._prepare()
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, data)
        except OSError as exc:
            self._writable = False
            self._warn(f"cannot write the cache in {self.root} ({exc.strerror or exc}); not caching")

    def _prepare(self) -> None:
        self.entries.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", _TAG), (".gitignore", "# Created by bgmigrate.\n*\n")):
            if not (self.root / name).exists():
                _write_atomic(self.root / name, text.encode())


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


# ---- JSON form --------------------------------------------------------------------------------


def encode_entry(entry: FolderEntry) -> bytes:
    """An entry as JSON bytes.

    >>> e = FolderEntry(("k1",), (FileResult("a.sql", True),), {1: "k1"})
    >>> decode_entry(encode_entry(e)) == e
    True
    """
    data = {
        "chain": list(entry.chain),
        "files": [{"path": r.path, "loaded": r.loaded, "body": r.encoded()} for r in entry.files],
        "snapshots": {str(count): key for count, key in entry.snapshots.items()},
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_entry(raw: bytes) -> FolderEntry:
    """The entry ``encode_entry`` wrote (bodies still encoded); raises ValueError (or KeyError/TypeError) on anything else."""
    data = _object(json.loads(raw.decode("utf-8")))
    chain = tuple(_string(k) for k in _array(data["chain"]))
    files = tuple(_file_result(_object(r)) for r in _array(data["files"]))
    if len(chain) != len(files):
        raise ValueError("chain and files differ in length")
    snapshots: dict[int, str] = {}
    for count, key in _object(data["snapshots"]).items():
        if not count.isdigit():
            raise ValueError(f"snapshot {count!r}: expected a count of files")
        snapshots[int(count)] = _string(key)
    return FolderEntry(chain, files, snapshots)


def _file_result(d: dict[str, object]) -> FileResult:
    loaded = d["loaded"]
    if not isinstance(loaded, bool):
        raise ValueError("loaded: expected true or false")
    return FileResult(path=_text(d, "path"), loaded=loaded, body=_text(d, "body"))


def _finding_to_json(f: Finding) -> dict[str, object]:
    return {
        "rule": f.rule,
        "code": f.code,
        "severity": f.severity.label,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line,
        "end_column": f.end_column,
        "message": f.message,
        "fix": f.fix,
        "table": f.table,
    }


def _finding_from_json(d: dict[str, object]) -> Finding:
    table = d["table"]
    return Finding(
        rule=_text(d, "rule"),
        code=_text(d, "code"),
        severity=Severity.parse(_text(d, "severity")),
        path=_text(d, "path"),
        line=_int(d, "line"),
        column=_int(d, "column"),
        end_line=_int(d, "end_line"),
        end_column=_int(d, "end_column"),
        message=_text(d, "message"),
        fix=_text(d, "fix"),
        table=None if table is None else _string(table),
    )


def _object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, found {type(value).__name__}")
    return value


def _array(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array, found {type(value).__name__}")
    return value


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, found {type(value).__name__}")
    return value


def _text(d: dict[str, object], name: str) -> str:
    return _string(d[name])


def _int(d: dict[str, object], name: str) -> int:
    value = d[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, found {type(value).__name__}")
    return value
