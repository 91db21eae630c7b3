"""Switch configuration: ``[database]``, ``[switch]`` and ``[environments.*]`` of ``bgmigrate.toml``.

Read from ``bgmigrate.toml`` in the working directory or ``--config PATH``; ``BGMIGRATE_DSN``
wins over ``[database] dsn`` so CI can keep the password out of the file. Relative paths are
relative to the file. Unknown keys are errors: a typo in a safety gate must not pass silently.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgmigrate.durations import parse_duration
from bgmigrate.plan.phases import PHASES, PhaseName, phase_name
from bgmigrate.switch.promql import env_placement_problem

CONFIG_NAME = "bgmigrate.toml"
DSN_ENV = "BGMIGRATE_DSN"
BACKENDS = ("nginx", "haproxy", "command")
# No whitespace, quotes or nginx syntax: an address is pasted into a config file.
_ADDRESS = re.compile(r"^[^\s;{}#'\"]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SwitchConfigError(Exception):
    """A configuration that cannot be read, or holds an unknown key or a bad value."""


@dataclass(frozen=True)
class Requirement:
    """``plan_id:phase`` that must be applied (and verified) before an environment may serve."""

    plan_id: str
    phase: PhaseName

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.phase}"

    @classmethod
    def parse(cls, text: str) -> Requirement:
        """Parse ``plan_id:phase``.

        >>> str(Requirement.parse("0002_rename_status:migrate"))
        '0002_rename_status:migrate'
        """
        plan_id, sep, phase = text.rpartition(":")
        if not sep or not plan_id or phase not in PHASES:
            raise ValueError(f"requires entry {text!r} is not 'plan_id:phase' with phase one of {PHASES}")
        return cls(plan_id, phase_name(phase))


@dataclass(frozen=True)
class Environment:
    """One deployment colour: where it listens, how to ask its health, what schema it needs."""

    name: str
    addresses: tuple[str, ...]
    health_url: str
    application_name: str | None = None
    requires: tuple[Requirement, ...] = ()

    def knows_plan(self, plan_id: str) -> bool:
        """True if this version was built for ``plan_id``'s new shapes.

        An environment that does not list a plan predates it, so it still reads and writes
        the old shapes that plan's contract removes.
        """
        return any(req.plan_id == plan_id for req in self.requires)


@dataclass(frozen=True)
class HealthSettings:
    checks: int = 3  # consecutive 2xx answers needed
    interval: float = 1.0
    timeout: float = 2.0


@dataclass(frozen=True)
class ConfirmSettings:
    """Confirmation through the proxy: requests to ``url`` must come back from the target."""

    url: str | None = None
    header: str = "X-Bgmigrate-Upstream"
    requests: int = 5  # consecutive answers from the target
    timeout: float = 10.0


@dataclass(frozen=True)
class NginxSettings:
    upstream_file: Path
    upstream_name: str = "bgmigrate_active"
    test: tuple[str, ...] = ("nginx", "-t")
    reload: tuple[str, ...] = ("nginx", "-s", "reload")


@dataclass(frozen=True)
class HaproxySettings:
    socket: Path
    backend: str = "bgmigrate"
    weight: int = 100  # weight of a server taking all of its environment's share
    servers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # env → server names
    # HAProxy's server-state-file: written after every change so a reload keeps the routing.
    state_file: Path | None = None

    def servers_of(self, env: str) -> tuple[str, ...]:
        """HAProxy server names of ``env`` (default: one server named after it)."""
        return self.servers.get(env, (env,))


@dataclass(frozen=True)
class CommandSettings:
    switch: tuple[str, ...]  # argv; placeholders: {to} {from} {to_addresses} {weight} {other}...
    check: tuple[str, ...] = ()  # optional confirmation, same placeholders


@dataclass(frozen=True)
class MetricsSettings:
    """``[switch.metrics]``: a Prometheus query whose value past ``max`` means the target is failing."""

    url: str
    query: str  # PromQL; {env} is the target's name, escaped as a double-quoted string
    max: float
    watch: float = 300.0  # after promote: keep reading this long, roll back on a bad reading
    interval: float = 15.0
    timeout: float = 5.0  # per HTTP request to Prometheus
    fail_open: bool = False  # True: no answer or no data counts as passing (still logged)


@dataclass(frozen=True)
class SmokeSettings:
    """``[switch.smoke]``: URLs and commands that must pass against the target before traffic moves."""

    urls: tuple[str, ...] = ()  # placeholders {to} and {address} (run once per address)
    commands: tuple[tuple[str, ...], ...] = ()  # argv; {to} {from} {to_addresses} {address}
    timeout: float = 10.0


@dataclass(frozen=True)
class SwitchConfig:
    backend: str
    environments: Mapping[str, Environment]
    dsn: str | None = None
    health: HealthSettings = HealthSettings()
    confirm: ConfirmSettings = ConfirmSettings()
    nginx: NginxSettings | None = None
    haproxy: HaproxySettings | None = None
    command: CommandSettings | None = None
    metrics: MetricsSettings | None = None
    smoke: SmokeSettings = SmokeSettings()
    source: Path | None = None

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise SwitchConfigError(f"unknown environment {name!r} (configured: {known})") from None


def find_switch_config(explicit: str | None, cwd: Path | None = None) -> Path:
    """``--config`` if given, else ``bgmigrate.toml`` in the working directory."""
    if explicit:
        return Path(explicit)
    candidate = (cwd or Path.cwd()) / CONFIG_NAME
    if not candidate.is_file():
        raise SwitchConfigError(f"no {CONFIG_NAME} in {candidate.parent} (pass --config PATH)")
    return candidate


def load_switch_config(path: Path, environ: Mapping[str, str] | None = None) -> SwitchConfig:
    """Read and validate the switch configuration in ``path``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SwitchConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SwitchConfigError(f"{path}: {exc}") from None
    try:
        return _config(data, path, os.environ if environ is None else environ)
    except (TypeError, ValueError, KeyError) as exc:
        raise SwitchConfigError(f"{path}: {exc}") from None


def _config(data: dict[str, Any], path: Path, environ: Mapping[str, str]) -> SwitchConfig:
    base = path.parent
    switch = _table(data, "switch")
    _known(switch, "[switch]", {"backend", "health", "confirm", "nginx", "haproxy", "command", "metrics", "smoke"})
    backend = str(switch.get("backend", "nginx"))
    if backend not in BACKENDS:
        raise ValueError(f"[switch] backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    database = _table(data, "database")
    _known(database, "[database]", {"dsn"})
    environments = {name: _environment(name, table) for name, table in _table(data, "environments").items()}
    if len(environments) < 2:
        raise ValueError("configure at least two [environments.NAME] tables (e.g. blue and green)")
    config = SwitchConfig(
        backend=backend,
        environments=environments,
        dsn=environ.get(DSN_ENV) or _optional_str(database.get("dsn")),
        health=_health(_table(switch, "health")),
        confirm=_confirm(_table(switch, "confirm")),
        nginx=_nginx(_table(switch, "nginx"), base) if "nginx" in switch else None,
        haproxy=_haproxy(_table(switch, "haproxy"), base) if "haproxy" in switch else None,
        command=_command(_table(switch, "command")) if "command" in switch else None,
        metrics=_metrics(_table(switch, "metrics")) if "metrics" in switch else None,
        smoke=_smoke(_table(switch, "smoke")),
        source=path,
    )
    if getattr(config, backend) is None:
        raise ValueError(f"backend {backend!r} needs a [switch.{backend}] table")
    return config


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] must be a table")
    return value


def _known(table: dict[str, Any], where: str, keys: set[str]) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise ValueError(f"{where} unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{what} must be a string or a non-empty list of strings, got {value!r}")


def _argv(value: object, what: str) -> tuple[str, ...]:
    """A command as a string (split like a shell would, but never run by one) or a list."""
    argv = tuple(shlex.split(value)) if isinstance(value, str) else _strings(value, what)
    if not argv:
        raise ValueError(f"{what} is empty")
    return argv


def _environment(name: str, table: object) -> Environment:
    where = f"[environments.{name}]"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    if not _NAME.match(name):
        raise ValueError(f"{where} names may use letters, digits, '_', '.', '-' only")
    _known(table, where, {"address", "health_url", "application_name", "requires"})
    if "address" not in table or "health_url" not in table:
        raise ValueError(f"{where} needs address and health_url")
    addresses = _strings(table["address"], f"{where} address")
    bad = [a for a in addresses if not _ADDRESS.match(a)]
    if bad:
        raise ValueError(f"{where} address {bad[0]!r} may not contain spaces, quotes, ';', '{{', '}}' or '#'")
    requires = table.get("requires", [])
    if not isinstance(requires, list):
        raise ValueError(f"{where} requires must be a list of 'plan_id:phase'")
    return Environment(
        name=name,
        addresses=addresses,
        health_url=str(table["health_url"]),
        application_name=_optional_str(table.get("application_name")),
        requires=tuple(Requirement.parse(str(r)) for r in requires),
    )


def _health(table: dict[str, Any]) -> HealthSettings:
    _known(table, "[switch.health]", {"checks", "interval", "timeout"})
    checks = int(table.get("checks", 3))
    if checks < 1:
        raise ValueError("[switch.health] checks must be at least 1")
    return HealthSettings(
        checks=checks,
        interval=parse_duration(table.get("interval", 1.0)),
        timeout=parse_duration(table.get("timeout", 2.0)),
    )


def _confirm(table: dict[str, Any]) -> ConfirmSettings:
    _known(table, "[switch.confirm]", {"url", "header", "requests", "timeout"})
    return ConfirmSettings(
        url=_optional_str(table.get("url")),
        header=str(table.get("header", ConfirmSettings.header)),
        requests=max(1, int(table.get("requests", ConfirmSettings.requests))),
        timeout=parse_duration(table.get("timeout", ConfirmSettings.timeout)),
    )


def _nginx(table: dict[str, Any], base: Path) -> NginxSettings:
    _known(table, "[switch.nginx]", {"upstream_file", "upstream_name", "test", "reload"})
    name = str(table.get("upstream_name", NginxSettings.upstream_name))
    if not _NAME.match(name):
        raise ValueError(f"[switch.nginx] upstream_name {name!r} is not a plain name")
    return NginxSettings(
        upstream_file=base / str(table["upstream_file"]),
        upstream_name=name,
        test=_argv(table.get("test", "nginx -t"), "[switch.nginx] test"),
        reload=_argv(table.get("reload", "nginx -s reload"), "[switch.nginx] reload"),
    )


def _haproxy(table: dict[str, Any], base: Path) -> HaproxySettings:
    _known(table, "[switch.haproxy]", {"socket", "backend", "weight", "servers", "state_file"})
    weight = int(table.get("weight", 100))
    if not 1 <= weight <= 256:
        raise ValueError("[switch.haproxy] weight must be 1..256 (HAProxy's range)")
    servers = {env: _strings(names, f"[switch.haproxy.servers] {env}") for env, names in
               _table(table, "servers").items()}  # fmt: skip
    return HaproxySettings(
        socket=base / str(table["socket"]),
        backend=str(table.get("backend", HaproxySettings.backend)),
        weight=weight,
        servers=servers,
        state_file=base / str(table["state_file"]) if "state_file" in table else None,
    )


def _command(table: dict[str, Any]) -> CommandSettings:
    _known(table, "[switch.command]", {"switch", "check"})
    return CommandSettings(
        switch=_argv(table["switch"], "[switch.command] switch"),
        check=_argv(table["check"], "[switch.command] check") if "check" in table else (),
    )


def _metrics(table: dict[str, Any]) -> MetricsSettings:
    where = "[switch.metrics]"
    _known(table, where, {"url", "query", "max", "watch", "interval", "timeout", "fail_open"})
    for key in ("url", "query", "max"):
        if key not in table:
            raise ValueError(f"{where} needs url, query and max")
    url, query = table["url"], table["query"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"{where} url must be an http:// or https:// URL, got {url!r}")
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"{where} query must be a non-empty string")
    problem = env_placement_problem(query)
    if problem:
        raise ValueError(f"{where} query: {problem}")
    fail_open = table.get("fail_open", False)
    if not isinstance(fail_open, bool):
        raise ValueError(f"{where} fail_open must be true or false")
    settings = MetricsSettings(
        url=url.rstrip("/"),
        query=query,
        max=_number(table["max"], f"{where} max"),
        watch=parse_duration(table.get("watch", MetricsSettings.watch)),
        interval=parse_duration(table.get("interval", MetricsSettings.interval)),
        timeout=parse_duration(table.get("timeout", MetricsSettings.timeout)),
        fail_open=fail_open,
    )
    if settings.interval <= 0 or settings.timeout <= 0:
        raise ValueError(f"{where} interval and timeout must be more than 0")
    return settings


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        raise ValueError(f"{what} must be a number, 0 or more, got {value!r}")
    return float(value)


def _smoke(table: dict[str, Any]) -> SmokeSettings:
    where = "[switch.smoke]"
    _known(table, where, {"urls", "commands", "timeout"})
    urls = _strings(table["urls"], f"{where} urls") if "urls" in table else ()
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"{where} urls: {bad[0]!r} is not an http:// or https:// URL")
    commands = table.get("commands", [])
    if not isinstance(commands, list):
        raise ValueError(f"{where} commands must be a list of commands (each a string or a list of strings)")
    timeout = parse_duration(table.get("timeout", SmokeSettings.timeout))
    if timeout <= 0:
        raise ValueError(f"{where} timeout must be more than 0")
    return SmokeSettings(
        urls=urls,
        commands=tuple(_argv(c, f"{where} commands[{i}]") for i, c in enumerate(commands)),
        timeout=timeout,
    )
