"""HAProxy's runtime API over the stats socket: one command per connection, answers as text.

Needs ``stats socket PATH level admin`` in HAProxy's ``global`` section.
"""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

TIMEOUT_S = 5.0


class HaproxyError(Exception):
    """The socket could not be reached, or HAProxy rejected a command."""


def send(path: Path, command: str) -> str:
    """Send one command and return HAProxy's whole answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT_S)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise HaproxyError(f"stats socket {path}: {exc.strerror or exc}") from None
    return b"".join(chunks).decode(errors="replace")


def command(path: Path, text: str) -> None:
    """Run a ``set ...`` command; HAProxy answers nothing on success, a reason otherwise."""
    answer = send(path, text).strip()
    if answer:
        raise HaproxyError(f"{text}: {answer.splitlines()[0]}")


def set_weight(path: Path, backend: str, server: str, weight: int) -> None:
    command(path, f"set server {backend}/{server} weight {weight}")


def set_state(path: Path, backend: str, server: str, state: str) -> None:
    """``ready`` takes traffic, ``drain`` finishes current requests and takes no new ones."""
    command(path, f"set server {backend}/{server} state {state}")


def parse_stats(text: str) -> list[dict[str, str]]:
    """``show stat`` CSV as one dict per proxy or server row.

    >>> rows = parse_stats("# pxname,svname,hrsp_5xx,\\napp,blue,3,\\n")
    >>> rows[0]["svname"], rows[0]["hrsp_5xx"]
    ('blue', '3')
    """
    lines = text.lstrip("# ").splitlines()
    return [dict(row) for row in csv.DictReader(io.StringIO("\n".join(lines)))]


def server_stats(path: Path, backend: str) -> dict[str, dict[str, str]]:
    """Stats of the servers of ``backend``, by server name."""
    rows = parse_stats(send(path, "show stat"))
    servers = {r["svname"]: r for r in rows if r.get("pxname") == backend and r["svname"] not in ("BACKEND",)}
    if not servers:
        raise HaproxyError(f"no backend named {backend!r} in HAProxy's stats")
    return servers
