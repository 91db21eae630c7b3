"""nginx: write the upstream file atomically, ``test``, reload gracefully; never reload a broken config.

A reload makes nginx start new workers with the new file while the old ones finish their
in-flight requests, so a switch loses no request.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bgmigrate.switch.backends import Gradual, Routed
from bgmigrate.switch.backends.process import run
from bgmigrate.switch.config import Environment, NginxSettings
from bgmigrate.switch.routing import Observed
from bgmigrate.switch.verdict import GateResult, failed, passed


def render_upstream(name: str, env: Environment) -> str:
    """The upstream block for ``env``.

    >>> print(render_upstream("app", Environment("green", ("10.0.2.10:80",), "http://x/health")), end="")
    # Written by bgmigrate switch: green. Do not edit by hand.
    upstream app {
        server 10.0.2.10:80;
    }
    """
    servers = "".join(f"    server {address};\n" for address in env.addresses)
    return f"# Written by bgmigrate switch: {env.name}. Do not edit by hand.\nupstream {name} {{\n{servers}}}\n"


def write_atomically(path: Path, content: bytes | None) -> None:
    """Replace ``path`` with ``content`` in one rename (``None`` removes it); readers never see half a file."""
    if content is None:
        path.unlink(missing_ok=True)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)  # nginx workers may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SERVER = re.compile(r"^\s*server\s+([^\s;]+)", re.MULTILINE)


def observed_upstream(text: str, environments: Mapping[str, Environment]) -> Observed:
    """Shares by environment from an upstream file's ``server`` lines.

    >>> envs = {"blue": Environment("blue", ("10.0.1.10:80",), ""), "green": Environment("green", ("10.0.2.10:80",), "")}
    >>> observed_upstream(render_upstream("app", envs["green"]), envs).describe()
    'green 100%'
    """
    owner = {address: env.name for env in environments.values() for address in env.addresses}
    servers = _SERVER.findall(text)
    if not servers:
        return Observed(None, "the upstream file lists no server")
    counts = dict.fromkeys(environments, 0)
    for address in servers:
        if address in owner:
            counts[owner[address]] += 1
    unknown = tuple(sorted({a for a in servers if a not in owner}))
    total = len(servers)
    return Observed({name: round(100 * n / total) for name, n in counts.items()}, "upstream file", unknown)


class NginxBackend:
    name = "nginx"

    def __init__(self, settings: NginxSettings, environments: Mapping[str, Environment] | None = None) -> None:
        self.settings = settings
        self.environments = environments or {}

    def observe(self) -> Observed:
        """The environments whose addresses the upstream file lists (the file is what a reload loads)."""
        path = self.settings.upstream_file
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            return Observed(None, f"{path}: {exc.strerror or exc}")
        return observed_upstream(text, self.environments)

    def identifiers(self, env: Environment) -> frozenset[str]:
        return frozenset(env.addresses)

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        return None

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        path = self.settings.upstream_file
        try:
            old = path.read_bytes() if path.exists() else None
            write_atomically(path, render_upstream(self.settings.upstream_name, target).encode())
        except OSError as exc:
            return Routed(False, (failed("nginx: write", f"{path}: {exc.strerror or exc}"),))
        steps = [passed("nginx: write", f"wrote {path} for {target.name}")]
        ok, detail = run(self.settings.test)
        if not ok:
            return Routed(False, (*steps, failed("nginx: test", detail), self._restore(path, old)))
        steps.append(passed("nginx: test", detail))
        ok, detail = run(self.settings.reload)
        if not ok:
            return Routed(False, (*steps, failed("nginx: reload", detail), self._restore(path, old)))
        return Routed(True, (*steps, passed("nginx: reload", detail)))

    def _restore(self, path: Path, old: bytes | None) -> GateResult:
        """Put the previous file back; the running nginx never saw the new one."""
        try:
            write_atomically(path, old)
        except OSError as exc:
            return failed("nginx: restore", f"could not restore {path}: {exc.strerror or exc}; fix it by hand")
        return passed("nginx: restore", f"restored the previous {path.name}; nginx was not reloaded")
