"""Shared set-up for the switch tests: two apps, a proxy, a bgmigrate.toml, and ways to act."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result
from loadgen import LoadGenerator
from proxies import App, Haproxy, Nginx

from bgmigrate.cli import main
from bgmigrate.switch.backends import make_backend
from bgmigrate.switch.config import load_switch_config
from bgmigrate.switch.coordinator import Coordinator
from bgmigrate.switch.db import connect
from bgmigrate.switch.schema_gate import ApplyLedger

PLAN_ID = "0002_rename_status"


def _toml_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


@dataclass
class Rig:
    """Everything one switch test needs; ``write_config`` may be called again to change it."""

    root: Path
    dsn: str
    blue: App
    green: App
    proxy: Nginx | Haproxy | None = None
    command: str = ""  # the command backend's switch command, when proxy is None
    config_path: Path = field(init=False)
    requires: dict[str, list[str]] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    confirm_timeout: str = "3s"
    keep_state: bool = False  # HAProxy: configure its server-state-file (routing survives a reload)

    def __post_init__(self) -> None:
        self.config_path = self.root / "bgmigrate.toml"
        self.write_config()

    def address(self, env: str) -> str:
        app = self.blue if env == "blue" else self.green
        return self.addresses.get(env, app.address)

    def write_config(self) -> None:
        self.config_path.write_text(self._database() + self._switch() + self._env("blue", self.blue)
                                    + self._env("green", self.green))  # fmt: skip

    def _database(self) -> str:
        return f'[database]\ndsn = "{self.dsn}"\n\n'

    def _switch(self) -> str:
        health = '[switch.health]\nchecks = 3\ninterval = "20ms"\ntimeout = "1s"\n\n'
        if isinstance(self.proxy, Nginx):
            n = self.proxy
            return (f'[switch]\nbackend = "nginx"\n\n{health}'
                    f'[switch.confirm]\nurl = "{n.url}"\nrequests = 5\ntimeout = "{self.confirm_timeout}"\n\n'
                    f'[switch.nginx]\nupstream_file = "{n.upstream_file}"\nupstream_name = "{n.upstream_name}"\n'
                    f"test = {_toml_list(n.test_argv)}\nreload = {_toml_list(n.reload_argv)}\n\n")  # fmt: skip
        if isinstance(self.proxy, Haproxy):
            h = self.proxy
            return (f'[switch]\nbackend = "haproxy"\n\n{health}'
                    f'[switch.confirm]\nurl = "{h.url}"\nrequests = 5\ntimeout = "3s"\n\n'
                    f'[switch.haproxy]\nsocket = "{h.socket}"\nbackend = "{h.backend}"\n'
                    + (f'state_file = "{h.state_file}"\n' if self.keep_state else "") + "\n")  # fmt: skip
        return f'[switch]\nbackend = "command"\n\n{health}[switch.command]\n{self.command}\n\n'

    def _env(self, name: str, app: App) -> str:
        return (f'[environments.{name}]\naddress = "{self.address(name)}"\nhealth_url = "{app.health_url}"\n'
                f'application_name = "shop-{name}"\nrequires = {_toml_list(self.requires.get(name, []))}\n\n')  # fmt: skip

    def cli(self, *args: str) -> Result:
        """``bgmigrate switch ARGS --config ...`` in-process, as a user would type it."""
        return CliRunner().invoke(main, ["switch", *args, "--config", str(self.config_path)], catch_exceptions=False)

    @contextmanager
    def coordinator(self, actor: str = "test") -> Iterator[Coordinator]:
        """The coordinator on its own connection (for concurrent use from threads)."""
        config = load_switch_config(self.config_path)
        with connect(config.dsn) as conn:
            yield Coordinator(config, conn, make_backend(config), ApplyLedger(conn), actor)

    def status(self) -> dict[str, object]:
        result = self.cli("status", "--format", "json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert isinstance(data, dict)
        return data

    def log(self) -> list[dict[str, object]]:
        result = self.cli("log", "--format", "json")
        assert result.exit_code == 0, result.output
        entries = json.loads(result.output)["entries"]
        assert isinstance(entries, list)
        return entries


@contextmanager
def apps() -> Iterator[tuple[App, App]]:
    blue, green = App("blue").start(), App("green").start()
    try:
        yield blue, green
    finally:
        blue.stop()
        green.stop()


@contextmanager
def nginx_rig(root: Path, dsn: str) -> Iterator[Rig]:
    with apps() as (blue, green):
        (root / "nginx").mkdir()
        proxy = Nginx(root / "nginx").start(blue.address)
        try:
            yield Rig(root, dsn, blue, green, proxy)
        finally:
            proxy.stop()


@contextmanager
def haproxy_rig(root: Path, dsn: str, keep_state: bool = False) -> Iterator[Rig]:
    with apps() as (blue, green):
        (root / "haproxy").mkdir()
        proxy = Haproxy(root / "haproxy").start({"blue": blue.address, "green": green.address}, keep_state)
        try:
            yield Rig(root, dsn, blue, green, proxy, keep_state=keep_state)
        finally:
            proxy.stop()


def act_under_load(rig: Rig, *args: str) -> tuple[int, str, LoadGenerator]:
    """Run one CLI action while the load generator hammers the proxy; return its report too."""
    assert rig.proxy is not None
    with LoadGenerator(rig.proxy.url) as load:
        load.wait_requests(50)
        result = rig.cli(*args)
        load.wait_requests(50)
    return result.exit_code, result.output, load


def served_by(rig: Rig, seconds: float = 0.3) -> set[str]:
    """Which backends answer through the proxy right now (and that none of them fails)."""
    assert rig.proxy is not None
    with LoadGenerator(rig.proxy.url, threads=2, max_seconds=seconds) as load:
        load.wait_requests(20)
    assert load.report.failures == 0, load.report
    return set(load.report.by_server)


def record_switch_state(dsn: str, active: str, kept: str | None, requires: dict[str, list[str]]) -> None:
    """The switch's state as its actions leave it (``kept``: the rollback target), without apps or a proxy.

    For contract gates that read only the database: who serves, who is kept, what each requires.
    Blue or green, when neither active nor kept, is recorded as retired.
    """
    from bgmigrate.switch.config import Environment, Requirement
    from bgmigrate.switch.store import ensure_schema, record_environments, save_state, set_retired

    envs = [
        Environment(name, ("127.0.0.1:1",), "http://127.0.0.1:1/health", f"app-{name}",
                    tuple(Requirement.parse(r) for r in reqs))
        for name, reqs in requires.items()
    ]  # fmt: skip
    with connect(dsn) as conn:
        ensure_schema(conn)
        record_environments(conn, envs)
        save_state(conn, active, kept)
        for name in ("blue", "green"):
            set_retired(conn, name, name not in (active, kept))
