"""One plain HTTP GET for health and confirmation probes.

Environment proxies (``http_proxy``) are ignored on purpose: a probe must reach the address
in the configuration, not whatever a CI runner's proxy would answer.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Answer:
    status: int | None  # None when no HTTP answer came at all
    headers: Message | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        return str(self.status) if self.status is not None else self.error


def get(url: str, timeout: float) -> Answer:
    """GET ``url``; never raises for network or HTTP errors."""
    request = urllib.request.Request(url, headers={"User-Agent": "bgmigrate-switch", "Connection": "close"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
            return Answer(status=int(response.status), headers=response.headers)
    except urllib.error.HTTPError as exc:
        return Answer(status=int(exc.code), headers=exc.headers)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(status=None, headers=None, error=f"no answer ({reason})")
