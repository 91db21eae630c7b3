"""Configuration: ``[tool.bgmigrate]`` in pyproject.toml or ``[lint]`` in bgmigrate.toml.

Found by walking up from each linted path, so every project of a monorepo keeps its own
settings. Keys use dashes or underscores alike.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bgmigrate.settings import LintSettings


class ConfigError(Exception):
    """A configuration file that cannot be read or holds an unknown key or bad value."""


@dataclass(frozen=True)
class Config:
    """Settings plus the run options configuration may also give."""

    settings: LintSettings = field(default_factory=LintSettings)
    fail_on: str = "error"
    exclude: tuple[str, ...] = ()
    alembic_config: str | None = None
    source: Path | None = None  # the file it came from
    root: Path | None = None  # its directory: per-path globs are relative to it


_KEYS = {
    "select", "ignore", "extend-select", "severity", "per-path-ignores", "pg-version",
    "assume-in-transaction", "small-table-rows", "fail-on", "exclude", "alembic-config",
}  # fmt: skip


def find_config(start: Path) -> Path | None:
    """The nearest bgmigrate.toml, or pyproject.toml with a [tool.bgmigrate] table, at or above ``start``."""
    here = start.resolve()
    if here.is_file() or not here.exists():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "bgmigrate.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "bgmigrate" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def load_config(path: Path) -> Config:
    """Read one configuration file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if path.name == "pyproject.toml":
        table, where = data.get("tool", {}).get("bgmigrate", {}), "[tool.bgmigrate]"
        table = table.get("lint", table) if isinstance(table.get("lint"), dict) else table
    else:
        table, where = data.get("lint", {}), "[lint]"
    return _from_table(table, f"{path}: {where}", path)


def _from_table(table: dict[str, Any], where: str, path: Path) -> Config:
    raw = {key.replace("_", "-"): value for key, value in table.items()}
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{where} unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    try:
        settings = LintSettings(
            pg_version=int(raw.get("pg-version", 15)),
            assume_in_transaction=_bool(raw.get("assume-in-transaction", False), "assume-in-transaction"),
            small_table_rows=int(raw.get("small-table-rows", 10_000)),
            select=_strings(raw.get("select", [])) + _strings(raw.get("extend-select", [])),
            ignore=_strings(raw.get("ignore", [])),
            severity=tuple((str(k), str(v)) for k, v in dict(raw.get("severity", {})).items()),
            per_path_ignores=tuple(
                (str(glob), _strings(names)) for glob, names in dict(raw.get("per-path-ignores", {})).items()
            ),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where} {exc}") from None
    return Config(
        settings=settings,
        fail_on=str(raw.get("fail-on", "error")),
        exclude=_strings(raw.get("exclude", [])),
        alembic_config=str(raw["alembic-config"]) if "alembic-config" in raw else None,
        source=path,
        root=path.parent,
    )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def _bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"{key} must be true or false, got {value!r}")


def with_overrides(config: Config, **overrides: Any) -> Config:
    """Command-line options win over the file; ``None`` means not given."""
    settings = config.settings
    given = {k: v for k, v in overrides.items() if v is not None and v != ()}
    if "pg_version" in given:
        settings = replace(settings, pg_version=int(given["pg_version"]))
    if "assume_in_transaction" in given:
        settings = replace(settings, assume_in_transaction=bool(given["assume_in_transaction"]))
    if "small_table_rows" in given:
        settings = replace(settings, small_table_rows=int(given["small_table_rows"]))
    if "select" in given:
        settings = replace(settings, select=settings.select + tuple(given["select"]))
    if "ignore" in given:
        settings = replace(settings, ignore=settings.ignore + tuple(given["ignore"]))
    result = replace(config, settings=settings)
    if "fail_on" in given:
        result = replace(result, fail_on=str(given["fail_on"]))
    return result
