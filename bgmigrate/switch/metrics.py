"""The metrics gate: one reading of ``[switch.metrics] query`` from Prometheus's HTTP API.

A reading is a value (the worst series, when the query returns several), or no value: no
answer, an answer that is not Prometheus's, an empty result or NaN. No value fails unless
``fail_open`` is set; a query Prometheus rejects as wrong always fails, since passing it
would switch the gate off for good.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from bgmigrate.switch.config import MetricsSettings
from bgmigrate.switch.promql import fill_env
from bgmigrate.switch.verdict import GateResult, failed, passed

MAX_ANSWER_BYTES = 4 * 1024 * 1024
# Environment proxies are ignored on purpose, as for the health probes: the gate must read
# the Prometheus in the configuration.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reading:
    """The query's value, or why there is none (``rejected``: Prometheus called the query wrong)."""

    value: float | None
    problem: str = ""
    rejected: bool = False


def shown(url: str) -> str:
    """``url`` without credentials, for messages and the log.

    >>> shown("https://user:pw@prom.example:9090/x")
    'https://prom.example:9090'
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _endpoint(url: str) -> tuple[str, dict[str, str]]:
    """The query URL without credentials, and the basic-auth header they become (if any).

    >>> _endpoint("https://bg:pw@prom.example:9090/prefix")
    ('https://prom.example:9090/prefix/api/v1/query', {'Authorization': 'Basic Ymc6cHc='})
    """
    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return urllib.parse.urlunsplit(bare).rstrip("/") + "/api/v1/query", headers


def read(settings: MetricsSettings, env: str) -> Reading:
    """Ask Prometheus for the query's value for ``env`` now; never raises for I/O or bad answers."""
    body = urllib.parse.urlencode({"query": fill_env(settings.query, env)}).encode()
    url, auth = _endpoint(settings.url)
    headers = {"User-Agent": "bgmigrate-switch", "Content-Type": "application/x-www-form-urlencoded", **auth}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    where = shown(settings.url)
    try:
        with _OPENER.open(request, timeout=settings.timeout) as response:
            raw = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return _http_error(where, exc)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Reading(None, f"Prometheus at {where} did not answer ({getattr(exc, 'reason', exc)})")
    if len(raw) > MAX_ANSWER_BYTES:
        return Reading(None, f"Prometheus at {where} answered more than {MAX_ANSWER_BYTES} bytes")
    return parse_answer(raw, where)


def _http_error(where: str, exc: urllib.error.HTTPError) -> Reading:
    try:
        why = str(json.loads(exc.read(64 * 1024)).get("error", ""))[:300]
    except (ValueError, AttributeError, OSError):
        why = ""
    if exc.code in (400, 422):  # bad_data / execution error: the query itself is wrong
        return Reading(None, f"Prometheus at {where} rejected the query: {why or exc.code}", rejected=True)
    return Reading(None, f"Prometheus at {where} answered HTTP {exc.code}" + (f": {why}" if why else ""))


def parse_answer(raw: bytes, where: str = "Prometheus") -> Reading:
    """The reading in one ``/api/v1/query`` answer.

    >>> parse_answer(b'{"status":"success","data":{"resultType":"vector","result":['
    ...              b'{"metric":{},"value":[1,"0.02"]},{"metric":{},"value":[1,"0.5"]}]}}').value
    0.5
    >>> parse_answer(b'{"status":"success","data":{"resultType":"vector","result":[]}}').problem
    'no data: the query returned an empty result'
    """
    try:
        answer = json.loads(raw)
        data = answer["data"]
        kind, result = data["resultType"], data["result"]
    except (ValueError, KeyError, TypeError):
        return Reading(None, f"{where} did not answer like Prometheus's query API")
    if answer.get("status") != "success":
        return Reading(None, f"{where}: {answer.get('error', 'query failed')}", rejected=True)
    try:
        if kind == "scalar":
            values = [float(result[1])]
        elif kind == "vector":
            values = [float(series["value"][1]) for series in result]
        else:
            return Reading(
                None, f"the query returns a {kind}; it must return one number (a vector or scalar)", rejected=True
            )
    except (ValueError, KeyError, TypeError, IndexError):
        return Reading(None, f"{where} did not answer like Prometheus's query API")
    numbers = [v for v in values if not math.isnan(v)]
    if not values:
        return Reading(None, "no data: the query returned an empty result")
    if not numbers:
        return Reading(None, "no data: the query's value is NaN (no requests counted?)")
    return Reading(max(numbers))


def judge(settings: MetricsSettings, env: str, reading: Reading, name: str) -> GateResult:
    """The gate's verdict on one reading."""
    if reading.value is not None:
        over = reading.value > settings.max
        detail = f"{env}: {reading.value:.4g} {'>' if over else '<='} max {settings.max:g}"
        return failed(name, detail) if over else passed(name, detail)
    if reading.rejected:
        return failed(name, f"{env}: {reading.problem}")
    if settings.fail_open:
        return passed(name, f"{env}: {reading.problem}; fail_open = true, counted as passing")
    return failed(name, f"{env}: {reading.problem} (fail closed; fail_open = true would count it as passing)")


def metrics_gate(settings: MetricsSettings, env: str, name: str = "metrics") -> GateResult:
    """Read the query for ``env`` and judge it."""
    return judge(settings, env, read(settings, env), name)
