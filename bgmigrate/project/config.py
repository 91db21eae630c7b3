"""Configuration: ``[tool.bgmigrate]`` in pyproject.toml or ``[lint]`` in bgmigrate.toml.

Found by walking up from each linted path, so every project of a monorepo keeps its own
settings. Keys use dashes or underscores alike.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bgmigrate.lint.settings import LintSettings


class ConfigError(Exception):
    """A configuration file that cannot be read or holds an unknown key or bad value."""


@dataclass(frozen=True)
class Config:
    """Settings plus the run options configuration may also give."""

    settings: LintSettings = field(default_factory=LintSettings)
    fail_on: str = "error"
    exclude: tuple[str, ...] = ()
    sql_extensions: tuple[str, ...] = (".sql",)  # file name endings read as SQL migrations
    alembic_config: str | None = None
    source: Path | None = None  # the file it came from
    root: Path | None = None  # its directory: per-path globs are relative to it
    file_selectors: tuple[tuple[str, str], ...] = ()  # (key, rule selector) as written in the file
    key_lines: tuple[tuple[str, int], ...] = ()  # where each key is written, for messages
    header: str = ""  # the table the settings came from, e.g. "tool.bgmigrate"


_KEYS = {
    "select", "ignore", "extend-select", "severity", "per-path-ignores", "pg-version",
    "assume-in-transaction", "small-table-rows", "fail-on", "exclude", "alembic-config",
    "order", "down-migrations", "sql-extensions",
}  # fmt: skip
# Keys whose values name rules; checked against the catalogue by :func:`check_selectors`.
FAIL_ON = ("error", "warning", "info")
ORDERS = ("natural", "flyway", "lexical")
DOWN_MIGRATIONS = ("skip", "lint")
PG_VERSIONS = range(10, 19)
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def find_config(start: Path) -> Path | None:
    """The nearest bgmigrate.toml, or pyproject.toml with a [tool.bgmigrate] table, at or above ``start``.

    A pyproject.toml that is not valid TOML is an error, not a file without settings: running
    with defaults because a bracket is missing would quietly change every verdict.
    """
    here = start.resolve()
    if here.is_file() or not here.exists():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "bgmigrate.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "bgmigrate" in _read_toml(pyproject).get("tool", {}):
            return pyproject
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        if found is not None:
            raise ConfigError(f"{path}:{found[1]}: invalid TOML: {message[: found.start()]}") from None
        # "(at end of document)": the problem shows on the last line.
        last = max(1, len(text.splitlines()))
        reason = message.removesuffix(" (at end of document)")
        raise ConfigError(f"{path}:{last}: invalid TOML: {reason} (at end of file)") from None


def load_config(path: Path) -> Config:
    """Read one configuration file; every value is checked here, with the line it is on."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        table, header = data.get("tool", {}).get("bgmigrate", {}), "tool.bgmigrate"
        if isinstance(table.get("lint"), dict):
            table, header = table["lint"], "tool.bgmigrate.lint"
    else:
        table, header = data.get("lint", {}), "lint"
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{header}] must be a table")
    lines = key_lines(path.read_text(encoding="utf-8"), header)
    return _from_table(table, _Where(path, header, lines))


@dataclass(frozen=True)
class _Where:
    """Where a configuration's keys are written, for error messages."""

    path: Path
    header: str
    lines: dict[str, int]

    def error(self, key: str, message: str) -> ConfigError:
        line = self.lines.get(key)
        place = f"{self.path}:{line}" if line is not None else str(self.path)
        return ConfigError(f"{place}: [{self.header}] key {key!r}: {message}")


def key_lines(text: str, header: str) -> dict[str, int]:
    """The 1-based line of each key of table ``[header]`` (dashes for underscores).

    Keys may be written plainly, quoted, dotted (``severity.drop-column = ...``) or as a
    sub-table header (``[tool.bgmigrate.severity]``).

    >>> key_lines('[tool.bgmigrate]\\nselect = []\\n\\n[tool.bgmigrate.severity]\\nx = 1\\n', "tool.bgmigrate")
    {'select': 2, 'severity': 4}
    """
    found: dict[str, int] = {}
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            name = line.strip("[] \t").split("]")[0].replace('"', "").replace("'", "")
            current = name
            if name.startswith(header + "."):
                found.setdefault(_normal(name[len(header) + 1 :].split(".")[0]), number)
            continue
        if current == header:
            match = re.match(r"""["']?([A-Za-z0-9_-]+)["']?\s*[.=]""", line)
            if match:
                found.setdefault(_normal(match[1]), number)
    return found


def _normal(key: str) -> str:
    return key.replace("_", "-")


def _from_table(table: dict[str, Any], where: _Where) -> Config:
    raw = {_normal(key): value for key, value in table.items()}
    for key in sorted(raw):
        if key not in _KEYS:
            raise where.error(
                key, f"unknown key{_did_you_mean(key, sorted(_KEYS))} (known: {', '.join(sorted(_KEYS))})"
            )
    settings = LintSettings(
        pg_version=_pg_version(raw, where),
        assume_in_transaction=_bool(raw, "assume-in-transaction", where),
        small_table_rows=_count(raw, "small-table-rows", 10_000, where),
        select=_strings(raw, "select", where) + _strings(raw, "extend-select", where),
        ignore=_strings(raw, "ignore", where),
        severity=_severities(raw, where),
        per_path_ignores=tuple(
            (str(glob), _strings({"per-path-ignores": names}, "per-path-ignores", where))
            for glob, names in _table(raw, "per-path-ignores", where).items()
        ),
        order=_choice(raw, "order", ORDERS, where),
        down_migrations=_choice(raw, "down-migrations", DOWN_MIGRATIONS, where),
    )
    alembic_config = raw.get("alembic-config")
    if alembic_config is not None and not isinstance(alembic_config, str):
        raise where.error("alembic-config", f"expected a path, got {alembic_config!r}")
    return Config(
        settings=settings,
        fail_on=_choice(raw, "fail-on", FAIL_ON, where),
        exclude=_strings(raw, "exclude", where),
        sql_extensions=_extensions(raw, where),
        alembic_config=alembic_config,
        source=where.path,
        root=where.path.parent,
        file_selectors=_file_selectors(raw),
        key_lines=tuple(sorted(where.lines.items())),
        header=where.header,
    )


def _file_selectors(raw: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(key, selector) for every rule name the file itself writes."""
    pairs: list[tuple[str, str]] = []
    for key in ("select", "extend-select", "ignore"):
        value = raw.get(key, [])
        pairs.extend((key, s) for s in ([value] if isinstance(value, str) else value))
    pairs.extend(("severity", str(s)) for s in dict(raw.get("severity", {})))
    for names in dict(raw.get("per-path-ignores", {})).values():
        pairs.extend(("per-path-ignores", s) for s in ([names] if isinstance(names, str) else names))
    return tuple(pairs)


def check_selectors(config: Config, known: Callable[[str], bool], names: Iterable[str]) -> None:
    """Raise :class:`ConfigError` at the line of the first rule name the catalogue does not know."""
    if config.source is None:
        return
    where = _Where(config.source, config.header, dict(config.key_lines))
    candidates = sorted(names)
    for key, selector in config.file_selectors:
        if not known(selector):
            raise where.error(key, f"unknown rule selector {selector!r}{_did_you_mean(selector, candidates)}")


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or nothing.

    >>> _did_you_mean("drop-colum", ["drop-column", "drop-table"])
    " (did you mean 'drop-column'?)"
    """
    close = difflib.get_close_matches(word.strip().lower(), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strings(raw: dict[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = raw.get(key, [])
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise where.error(key, f"expected a list of strings, got {value!r}")


def _extensions(raw: dict[str, Any], where: _Where) -> tuple[str, ...]:
    """``sql-extensions``: file name endings such as ".sql" or ".pgsql" (a leading dot is added)."""
    if "sql-extensions" not in raw:
        return (".sql",)
    found = _strings(raw, "sql-extensions", where)
    if not found or any(not e.strip(".") or "/" in e or e.strip(".") == "py" for e in found):
        raise where.error(
            "sql-extensions", f'expected file name endings such as [".sql", ".pgsql"], got {list(found)!r}'
        )
    return tuple(e if e.startswith(".") else "." + e for e in found)


def _table(raw: dict[str, Any], key: str, where: _Where) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise where.error(key, f"expected a table such as {{ name = value }}, got {value!r}")
    return value


def _severities(raw: dict[str, Any], where: _Where) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for selector, level in _table(raw, "severity", where).items():
        if not isinstance(level, str) or level.strip().lower() not in FAIL_ON:
            hint = _did_you_mean(str(level), FAIL_ON)
            raise where.error("severity", f"{selector}: unknown severity {level!r}{hint} (error, warning or info)")
        pairs.append((str(selector), level.strip().lower()))
    return tuple(pairs)


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...], where: _Where) -> str:
    value = raw.get(key, choices[0])
    if not isinstance(value, str) or value.strip().lower() not in choices:
        hint = _did_you_mean(str(value), choices)
        raise where.error(key, f"got {value!r}{hint}; expected one of {', '.join(choices)}")
    return value.strip().lower()


def _bool(raw: dict[str, Any], key: str, where: _Where) -> bool:
    value = raw.get(key, False)
    if isinstance(value, bool):
        return value
    raise where.error(key, f"must be true or false, got {value!r}")


def _count(raw: dict[str, Any], key: str, default: int, where: _Where) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(key, f"expected a whole number, got {value!r}")
    if value < 0:
        raise where.error(key, f"must not be negative, got {value}")
    return value


def _pg_version(raw: dict[str, Any], where: _Where) -> int:
    value = raw.get("pg-version", 15)
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error("pg-version", f"expected a whole number such as 15, got {value!r}")
    if value not in PG_VERSIONS:
        raise where.error("pg-version", f"must be between {PG_VERSIONS[0]} and {PG_VERSIONS[-1]}, got {value}")
    return value


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
