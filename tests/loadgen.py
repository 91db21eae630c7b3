"""A bounded load generator: threads hammering a loopback URL, counting every failed request.

Bounded in requests and in time, loopback only. Each request opens a fresh connection, the
way a stream of new clients arrives during a switch.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

HEADER = "X-Bgmigrate-Upstream"


@dataclass
class LoadReport:
    total: int = 0
    failures: int = 0
    by_server: Counter[str] = field(default_factory=Counter)  # who answered (2xx only)
    reasons: Counter[str] = field(default_factory=Counter)  # why requests failed

    def __str__(self) -> str:
        return f"{self.total} requests, {self.failures} failed {dict(self.reasons)}, served by {dict(self.by_server)}"


class LoadGenerator:
    def __init__(self, url: str, threads: int = 4, max_requests: int = 20_000, max_seconds: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"load is for 127.0.0.1 only, not {url}")
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path or "/"
        self.threads, self.max_requests, self.max_seconds = threads, max_requests, max_seconds
        self.report = LoadReport()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._deadline = 0.0

    def __enter__(self) -> LoadGenerator:
        self._deadline = time.monotonic() + self.max_seconds
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> LoadReport:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)
        return self.report

    def wait_requests(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` more requests finished (so a switch really happens under load)."""
        target = self.report.total + count
        deadline = time.monotonic() + timeout
        while self.report.total < target and time.monotonic() < deadline:
            time.sleep(0.01)

    def _more(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline and self.report.total < self.max_requests

    def _run(self) -> None:
        while self._more():
            server, reason = self._one()
            with self._lock:
                self.report.total += 1
                if reason:
                    self.report.failures += 1
                    self.report.reasons[reason] += 1
                else:
                    self.report.by_server[server] += 1

    def _one(self) -> tuple[str, str]:
        """(the server that answered, why it failed or "")."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", self.path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            server = (response.getheader(HEADER) or "").split(",")[-1].strip()
            ok = 200 <= response.status < 300
            return server, "" if ok else f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            return "", type(exc).__name__
        finally:
            conn.close()
