"""The result cache: a folder's lint results, keyed by everything that decides them.

A migration is judged against the schema its earlier siblings build, so the unit cached is a
whole folder (a *sequence*): its key covers every file's path and content in replay order, the
settings, the rule catalogue and bgmigrate's own code. One entry per folder and settings: a
changed key overwrites it, so the cache never grows with history.

Layout (like ruff's and black's): ``.bgmigrate_cache/`` with ``CACHEDIR.TAG`` and a
``.gitignore`` of ``*``, entries as JSON under ``v1/``. Entries are data, never pickles, and a
corrupt one is a warning and a rebuild, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bgmigrate.catalogue import Catalogue
from bgmigrate.findings import Finding, InputError, Severity

FORMAT = "v1"  # bump when the entry layout or the meaning of a key changes
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
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def sequence_key(fingerprint: str, settings_key: str, files: Iterable[tuple[str, bytes]]) -> str:
    """The key of one folder's result: engine, settings, and each ``(shown path, content)`` in order.

    >>> sequence_key("e", "s", [("a.sql", b"x")]) == sequence_key("e", "s", [("a.sql", b"y")])
    False
    """
    digest = hashlib.sha256(f"{FORMAT}\0{fingerprint}\0{settings_key}\0".encode())
    for shown, data in files:
        # The length keeps one file's end from being read as the next file's start.
        digest.update(f"{shown}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


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

    def entry_path(self, slot: str) -> Path:
        return self.entries / f"{slot}.json"

    def load(self, slot: str, key: str) -> SequenceResult | None:
        """The cached result when its key matches; None on a miss or an unreadable entry."""
        path = self.entry_path(slot)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None  # nothing cached yet (a folder that cannot exist is reported when writing)
        except OSError as exc:
            self._warn(f"cannot read cache entry {path} ({exc.strerror or exc}); rebuilding it")
            return None
        try:
            return decode_entry(raw, key)
        except KeyError as exc:
            reason = f"no {exc}"
        except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            reason = str(exc) or type(exc).__name__
        self._warn(f"cache entry {path} is corrupt ({' '.join(reason.split())}); rebuilding it")
        return None

    def store(self, slot: str, key: str, result: SequenceResult) -> None:
        """Write an entry atomically (a reader sees the old entry or the new one, never half)."""
        if not self._writable:
            return
        path = self.entry_path(slot)
        try:
            self._prepare()
            _write_atomic(path, encode_entry(key, result))
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


def encode_entry(key: str, result: SequenceResult) -> bytes:
    """An entry as JSON bytes.

    >>> decode_entry(encode_entry("k", SequenceResult((), (), ("a.sql",))), "k").loaded
    ('a.sql',)
    """
    entry = {
        "key": key,
        "findings": [_finding_to_json(f) for f in result.findings],
        "errors": [{"path": e.path, "line": e.line, "message": e.message} for e in result.errors],
        "loaded": list(result.loaded),
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_entry(raw: bytes, key: str) -> SequenceResult | None:
    """The result an entry holds, None when it was written for another key.

    Raises ValueError (or KeyError/TypeError) when the entry is not what ``encode_entry`` writes.
    """
    entry = _object(json.loads(raw.decode("utf-8")))
    if entry.get("key") != key:
        return None
    return SequenceResult(
        findings=tuple(_finding_from_json(_object(f)) for f in _array(entry["findings"])),
        errors=tuple(
            InputError(_text(e, "path"), _int(e, "line"), _text(e, "message"))
            for e in map(_object, _array(entry["errors"]))
        ),
        loaded=tuple(_string(p) for p in _array(entry["loaded"])),
    )


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
