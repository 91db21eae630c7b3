"""A real Prometheus for the metrics-gate tests, scraping a tiny exporter the tests steer.

Prometheus (Debian's ``prometheus`` package; only the binary is used, never the service) runs
on a free 127.0.0.1 port with a temp storage directory and scrapes the exporter every
``SCRAPE_MS``. The exporter serves ``http_requests_total{run, env, code}`` counters that grow
at the rates a test sets; each test uses its own ``run`` label, so one Prometheus can serve
the whole session without one test's history leaking into another's query.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from proxies import LOOPBACK, _stop, _tail, binary, free_port

SCRAPE_MS = 500
READY_TIMEOUT_S = 30.0


@dataclass
class Series:
    """One ``{run, env, code}`` counter growing at ``per_second``."""

    per_second: float = 0.0
    total: float = 0.0
    since: float = field(default_factory=time.monotonic)

    def value(self, now: float) -> float:
        self.total += self.per_second * (now - self.since)
        self.since = now
        return self.total


class Exporter:
    """``/metrics`` in the Prometheus text format, with rates the test sets per run and env."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], Series] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def set_rate(self, run: str, env: str, ok_per_s: float, errors_per_s: float) -> None:
        """From now on ``env`` answers ``ok_per_s`` 200s and ``errors_per_s`` 500s a second."""
        now = time.monotonic()
        with self._lock:
            for code, rate in (("200", ok_per_s), ("500", errors_per_s)):
                series = self._series.setdefault((run, env, code), Series(since=now))
                series.value(now)
                series.per_second = rate

    def text(self) -> str:
        now = time.monotonic()
        lines = ["# TYPE http_requests_total counter"]
        with self._lock:
            for (run, env, code), series in sorted(self._series.items()):
                labels = f'run="{_label(run)}",env="{_label(env)}",code="{code}"'
                lines.append(f"http_requests_total{{{labels}}} {series.value(now):.3f}")
        return "\n".join(lines) + "\n"

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> Exporter:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _label(value: str) -> str:
    """A label value in the exposition format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Prometheus:
    """``prometheus`` scraping one exporter, on a free loopback port, storage in ``root``."""

    def __init__(self, root: Path, target: str) -> None:
        self.exe = binary("prometheus")
        self.root = root
        self.port = free_port()
        self.target = target
        self.log = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Prometheus:
        config = self.root / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_MS}ms\n  evaluation_interval: {SCRAPE_MS}ms\n"
            f"scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: ['{self.target}']\n"
        )
        argv = [
            self.exe, f"--config.file={config}", f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.root)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready within {READY_TIMEOUT_S}s: {_tail(self.log)}")

    def query(self, promql: str) -> list[dict[str, object]]:
        """The instant vector ``promql`` gives now (for the tests' own waiting)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as answer:
            result = json.loads(answer.read())["data"]["result"]
        assert isinstance(result, list)
        return result

    def wait_for(self, promql: str, timeout: float = 20.0) -> float:
        """Wait until ``promql`` has a (non-NaN) value; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for series in self.query(promql):
                value = float(series["value"][1])  # type: ignore[index]
                if value == value:
                    return value
            time.sleep(0.1)
        raise AssertionError(f"no value for {promql} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


@contextmanager
def prometheus_with_exporter(root: Path) -> Iterator[tuple[Prometheus, Exporter]]:
    exporter = Exporter().start()
    try:
        server = Prometheus(root, exporter.address).start()
        try:
            yield server, exporter
        finally:
            server.stop()
    finally:
        exporter.stop()
