"""Confirmation through the proxy: after a switch, do requests really reach the target?

The proxy must name the server that answered in a response header (nginx:
``add_header X-Bgmigrate-Upstream $upstream_addr always;``, HAProxy:
``http-response set-header X-Bgmigrate-Upstream %s``); the value must be one of the target's
addresses or server names.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from bgmigrate.switch.config import ConfirmSettings
from bgmigrate.switch.http import get
from bgmigrate.switch.verdict import GateResult, failed, passed

_POLL_S = 0.05


def answered_by(header_value: str | None) -> str:
    """The server that gave the final answer (nginx lists every upstream it tried).

    >>> answered_by("127.0.0.1:81, 127.0.0.1:82")
    '127.0.0.1:82'
    """
    return (header_value or "").split(",")[-1].strip()


def confirm_gate(settings: ConfirmSettings, target: str, identifiers: Collection[str]) -> GateResult:
    """Pass once ``settings.requests`` answers in a row came from the target; give up at the timeout."""
    name = f"confirm: {target}"
    if settings.url is None:
        return passed(name, "not checked through the proxy ([switch.confirm] url not set)")
    deadline = time.monotonic() + settings.timeout
    in_a_row, last = 0, "no answer yet"
    while time.monotonic() < deadline:
        answer = get(settings.url, min(2.0, settings.timeout))
        server = answered_by(answer.headers.get(settings.header) if answer.headers else None)
        if answer.ok and server in identifiers:
            in_a_row += 1
            if in_a_row >= settings.requests:
                return passed(name, f"{in_a_row} answers in a row through {settings.url} from {server}")
        else:
            in_a_row = 0
            last = f"{answer.describe()} from {server or 'an unnamed server'}"
        time.sleep(_POLL_S)
    return failed(name, f"traffic through {settings.url} did not reach {target} in {settings.timeout:g}s "
                        f"(last: {last})")  # fmt: skip
