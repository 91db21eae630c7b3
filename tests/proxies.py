"""Real nginx and HAProxy for the switch tests, on free 127.0.0.1 ports, plus two tiny backends.

Each proxy runs as the current user from a temp directory with its own configuration, pid
file and logs — never the system service, never port 80 — and is stopped by the test that
started it. Backends are ``http.server`` threads whose ``/health`` can be made to fail and
which can answer a share of requests with 500.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pg import in_ci

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 10.0


def binary(name: str) -> str:
    """Path of ``nginx`` / ``haproxy``; skip locally (fail under CI=true) when missing."""
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.access(p, os.X_OK)), None)
    if found is None:
        reason = f"{name} is not installed (apt-get install {name}; .ci/run installs it)"
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"proxy exited with {process.returncode}: {_tail(log)}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"proxy did not listen on {LOOPBACK}:{port} within {START_TIMEOUT_S}s: {_tail(log)}")


def _tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --------------------------------------------------------------------------- backends


@dataclass
class App:
    """One environment's app: answers with its name; ``healthy`` and ``error_rate`` steer it."""

    name: str
    healthy: bool = True
    error_rate: float = 0.0  # share of non-health requests answered 500, spread evenly
    served: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"http://{self.address}/health"

    def _answer(self, path: str) -> int:
        if path == "/health":
            return 200 if self.healthy else 503
        with self._lock:
            self.served += 1
            n = self.served
        failing = int(n * self.error_rate) != int((n - 1) * self.error_rate)
        return 500 if failing else 200

    def start(self) -> App:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = app._answer(self.path)
                body = f"{app.name}\n".encode()
                self.send_response(status)
                self.send_header("X-Env", app.name)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # the default 5 would refuse connections under load

        self._server = Server((LOOPBACK, 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# --------------------------------------------------------------------------- nginx


class Nginx:
    """nginx proxying 127.0.0.1:PORT to the upstream in ``conf.d/bgmigrate_upstream.conf``."""

    upstream_name = "bgmigrate_active"

    def __init__(self, root: Path) -> None:
        self.exe = binary("nginx")
        self.root = root
        self.port = free_port()
        self.conf = root / "nginx.conf"
        self.error_log = root / "error.log"
        self.upstream_file = root / "conf.d" / "bgmigrate_upstream.conf"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    def _base(self) -> list[str]:
        return [self.exe, "-p", str(self.root), "-c", str(self.conf), "-e", str(self.error_log)]

    @property
    def test_argv(self) -> list[str]:
        return [*self._base(), "-t", "-q"]

    @property
    def reload_argv(self) -> list[str]:
        return [*self._base(), "-s", "reload"]

    def _write_conf(self) -> None:
        for sub in ("conf.d", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        tmp = self.root / "tmp"
        # As root, nginx would hand the workers to "nobody"; keep them as the current user.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"""daemon off;
master_process on;
worker_processes 1;
pid {self.root}/nginx.pid;
error_log {self.error_log} warn;
{user}events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {self.root}/conf.d/*.conf;
    server {{
        listen {LOOPBACK}:{self.port};
        location / {{
            proxy_pass http://{self.upstream_name};
            add_header X-Bgmigrate-Upstream $upstream_addr always;
        }}
    }}
}}
"""
        )

    def start(self, first_address: str) -> Nginx:
        """Start with an upstream pointing at ``first_address`` (nginx -t needs one to exist)."""
        self._write_conf()
        self.upstream_file.write_text(f"upstream {self.upstream_name} {{\n    server {first_address};\n}}\n")
        self.process = subprocess.Popen(
            self._base(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root
        )
        wait_listening(self.port, self.process, self.error_log)
        return self

    def worker_pids(self) -> set[int]:
        """Current worker processes: a reload replaces them, so an unchanged set means no reload."""
        assert self.process is not None
        children: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.process.pid and "shutting down" not in _cmdline(entry):
                children.add(int(entry.name))
        return children

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


def _cmdline(entry: Path) -> str:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------- HAProxy


class Haproxy:
    """HAProxy on 127.0.0.1:PORT with one backend whose servers are named after the environments."""

    backend = "bgmigrate"

    def __init__(self, root: Path) -> None:
        self.exe = binary("haproxy")
        self.root = root
        self.port = free_port()
        self.conf = root / "haproxy.cfg"
        self.socket = root / "admin.sock"
        self.log = root / "haproxy.log"
        self.state_file = root / "servers.state"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    def start(self, servers: dict[str, str], keep_state: bool = False) -> Haproxy:
        """``servers``: server name → address; all start ready (``switch init`` picks one).

        ``keep_state``: a reload loads the servers' weights and states from ``state_file``.
        """
        lines = "".join(f"    server {name} {address} weight 100\n" for name, address in servers.items())
        state = f"    server-state-file {self.state_file}\n" if keep_state else ""
        load = "    load-server-state-from-file global\n" if keep_state else ""
        self.conf.write_text(
            f"""global
    stats socket {self.socket} mode 600 level admin
    maxconn 1024
{state}defaults
{load}
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend web
    bind {LOOPBACK}:{self.port}
    default_backend {self.backend}
    http-response set-header X-Bgmigrate-Upstream %s
backend {self.backend}
    balance roundrobin
{lines}"""
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.exe, "-f", str(self.conf), "-db"], stdout=log, stderr=log, cwd=self.root
            )
        wait_listening(self.port, self.process, self.log)
        return self

    def reload(self) -> None:
        """Re-read the configuration file: a new process takes over (``-sf``), as a service reload does."""
        assert self.process is not None
        old = self.process
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.exe, "-f", str(self.conf), "-db", "-sf", str(old.pid)],
                                            stdout=log, stderr=log, cwd=self.root)  # fmt: skip
        old.wait(timeout=10)
        wait_listening(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
