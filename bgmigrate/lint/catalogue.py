"""The rule catalogue: one TOML file per rule under ``rules/``, shipped inside the wheel.

Each entry holds what a person needs to understand the rule (summary, why, recipe, version
notes) and examples that the test suite lints. Detection code lives in ``bgmigrate.lint.rules``;
a test keeps the two matched one to one.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bgmigrate.lint.findings import Severity

GROUPS = ("compatibility", "locking", "data-loss", "input", "style", "live-schema")


class CatalogueError(Exception):
    """A rule file is missing, malformed or duplicated."""


@dataclass(frozen=True)
class Example:
    """A bad or good example: a migration (and optionally earlier ones) to lint."""

    kind: Literal["bad", "good"]
    sql: str
    setup: str = ""  # an earlier migration, replayed first (makes its tables existing)
    pg_version: int | None = None
    assume_in_transaction: bool | None = None
    format: str = "sql"  # "sql" | "alembic" (sql is then the body of upgrade())
    note: str = ""
    # The live database the example is linted against, as snapshot JSON (``bgmigrate inspect``
    # form; a TOML table in the rule file). Empty: no live schema.
    schema: str = ""
    # What `bgmigrate trace` saw, as JSON: [{line, locks: [{relation, mode}], rewrites: [relation]}].
    observed: str = ""


@dataclass(frozen=True)
class RuleEntry:
    """One rule as the catalogue describes it."""

    code: str
    name: str
    severity: Severity
    group: str
    summary: str
    why: str
    recipe: str
    pg_versions: str = ""
    enabled: bool = True
    aliases: tuple[str, ...] = ()
    examples: tuple[Example, ...] = field(default=(), repr=False)
    path: str = ""

    @property
    def bad(self) -> tuple[Example, ...]:
        return tuple(e for e in self.examples if e.kind == "bad")

    @property
    def good(self) -> tuple[Example, ...]:
        return tuple(e for e in self.examples if e.kind == "good")


def rules_dir() -> Path:
    """Where the catalogue lives: inside the installed wheel, else the repository's ``rules/``."""
    shipped = Path(__file__).resolve().parents[1] / "_rules"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "rules"


def _example(kind: Literal["bad", "good"], raw: dict[str, object], path: Path) -> Example:
    if "sql" not in raw:
        raise CatalogueError(f"{path}: a {kind} example has no 'sql'")
    pg = raw.get("pg_version")
    in_tx = raw.get("assume_in_transaction")
    return Example(
        kind=kind,
        sql=str(raw["sql"]),
        setup=str(raw.get("setup", "")),
        pg_version=int(pg) if isinstance(pg, int) else None,
        assume_in_transaction=bool(in_tx) if isinstance(in_tx, bool) else None,
        format=str(raw.get("format", "sql")),
        note=str(raw.get("note", "")),
        schema=_as_json(raw.get("schema"), dict, "schema", path),
        observed=_as_json(raw.get("observed"), list, "observed", path),
    )


def _as_json(value: object, kind: type, key: str, path: Path) -> str:
    """A structured example field kept as JSON text, so examples stay hashable values."""
    if value is None:
        return ""
    if not isinstance(value, kind):
        raise CatalogueError(f"{path}: an example's {key!r} must be a {'table' if kind is dict else 'list'}")
    return json.dumps(value, sort_keys=True)


_REQUIRED = ("code", "name", "severity", "group", "summary", "why", "recipe")


def load_entry(path: Path) -> RuleEntry:
    """Read one rule file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise CatalogueError(f"{path}: missing {', '.join(missing)}")
    if data["group"] not in GROUPS:
        raise CatalogueError(f"{path}: unknown group {data['group']!r}")
    if path.stem != data["name"]:
        raise CatalogueError(f"{path}: file name does not match rule name {data['name']!r}")
    examples = [_example("bad", raw, path) for raw in data.get("bad", [])]
    examples += [_example("good", raw, path) for raw in data.get("good", [])]
    return RuleEntry(
        code=str(data["code"]),
        name=str(data["name"]),
        severity=Severity.parse(str(data["severity"])),
        group=str(data["group"]),
        summary=str(data["summary"]).strip(),
        why=str(data["why"]).strip(),
        recipe=str(data["recipe"]).strip(),
        pg_versions=str(data.get("pg_versions", "")).strip(),
        enabled=bool(data.get("enabled", True)),
        aliases=tuple(str(a) for a in data.get("aliases", [])),
        examples=tuple(examples),
        path=str(path),
    )


@dataclass(frozen=True)
class Catalogue:
    """Every rule entry, by name."""

    entries: dict[str, RuleEntry]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(sorted(self.entries.values(), key=lambda e: e.code))

    def get(self, key: str) -> RuleEntry | None:
        """Look a rule up by name, code or alias (case-insensitive)."""
        key = key.strip().lower()
        if key in self.entries:
            return self.entries[key]
        for entry in self.entries.values():
            if entry.code.lower() == key or key in entry.aliases:
                return entry
        return None

    def select(self, selector: str) -> list[RuleEntry]:
        """Rules a selector names: a rule name, code, code prefix, group, alias or ``all``."""
        key = selector.strip().lower()
        if key == "all":
            return list(self)
        single = self.get(key)
        if single is not None:
            return [single]
        if key in GROUPS:
            return [e for e in self if e.group == key]
        return [e for e in self if e.code.lower().startswith(key)]


@functools.cache
def load_catalogue(directory: str | None = None) -> Catalogue:
    """Load and check every rule file; a duplicate code or name is an error."""
    folder = Path(directory) if directory else rules_dir()
    entries: dict[str, RuleEntry] = {}
    codes: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        entry = load_entry(path)
        if entry.code in codes:
            raise CatalogueError(f"{path}: code {entry.code} is also used by {codes[entry.code]}")
        codes[entry.code] = entry.name
        entries[entry.name] = entry
    if not entries:
        raise CatalogueError(f"{folder}: no rule files found")
    return Catalogue(entries)
