"""HAProxy: change weights and drain through the runtime API, never reload.

Without ``--gradual`` the target's servers are made ready first and the previous ones drained
after, so there is never a moment with no server. With ``--gradual`` weight moves in steps;
after each step the target's 5xx rate from HAProxy's own counters decides: past
``--max-error-rate`` all traffic goes back, without waiting for anyone.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping

from bgmigrate.switch.backends import Gradual, Routed
from bgmigrate.switch.backends.haproxy_api import HaproxyError, send, server_stats, set_state, set_weight
from bgmigrate.switch.backends.nginx import write_atomically
from bgmigrate.switch.config import Environment, HaproxySettings
from bgmigrate.switch.routing import Observed, shares_of
from bgmigrate.switch.verdict import GateResult, failed, passed

_RESPONSE_COLUMNS = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def _count(row: Mapping[str, str], column: str) -> int:
    value = row.get(column, "")
    return int(value) if value.isdigit() else 0


def responses(stats: Mapping[str, Mapping[str, str]], servers: Iterable[str]) -> tuple[int, int]:
    """(5xx answers, all answers) of ``servers``, with failed connections counted as 5xx.

    >>> responses({"g": {"hrsp_2xx": "8", "hrsp_5xx": "2", "eresp": "1"}}, ["g"])
    (3, 11)
    """
    bad = total = 0
    for name in servers:
        row = stats.get(name, {})
        errors = _count(row, "eresp") + _count(row, "econ")
        bad += _count(row, "hrsp_5xx") + errors
        total += sum(_count(row, c) for c in _RESPONSE_COLUMNS) + errors
    return bad, total


_NO_TRAFFIC = ("DRAIN", "MAINT", "DOWN")


def observed_weights(stats: Mapping[str, Mapping[str, str]], servers: Mapping[str, Iterable[str]]) -> Observed:
    """Shares by environment: the weights of servers that take new requests (not drained, in maintenance or down).

    >>> stats = {"blue": {"weight": "100", "status": "DRAIN"}, "green": {"weight": "100", "status": "UP"}}
    >>> observed_weights(stats, {"blue": ["blue"], "green": ["green"]}).describe()
    'green 100%'
    """
    owner = {server: env for env, names in servers.items() for server in names}
    weights = dict.fromkeys(servers, 0)
    unknown = []
    for server, row in stats.items():
        taking = not row.get("status", "").upper().startswith(_NO_TRAFFIC) and _count(row, "weight") > 0
        if server in owner:
            weights[owner[server]] += _count(row, "weight") if taking else 0
        elif taking:
            unknown.append(server)
    return Observed(shares_of(weights), "runtime API", tuple(sorted(unknown)))


class HaproxyBackend:
    name = "haproxy"

    def __init__(self, settings: HaproxySettings, environments: Mapping[str, Environment]) -> None:
        self.settings = settings
        self.environments = environments

    def identifiers(self, env: Environment) -> frozenset[str]:
        return frozenset(self.settings.servers_of(env.name)) | frozenset(env.addresses)

    def check(self, target: Environment, previous: Environment | None) -> GateResult | None:
        return None

    def observe(self) -> Observed:
        """Shares from the servers' live weights and states (runtime API): what HAProxy does now."""
        try:
            stats = server_stats(self.settings.socket, self.settings.backend)
        except HaproxyError as exc:
            return Observed(None, str(exc))
        return observed_weights(stats, {e.name: self.settings.servers_of(e.name) for e in self.environments.values()})

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        routed = self._route(target, previous, gradual)
        if self.settings.state_file is None:
            return routed
        saved = self._save_state()
        if saved.ok or not routed.ok:
            return Routed(routed.ok, (*routed.steps, saved))
        # Routing a reload would undo is not a switch: give it back while the old state file still holds.
        restore = self._restore(previous) if previous is not None else failed("haproxy: restore", "nothing to restore")
        return Routed(False, (*routed.steps, saved, restore, self._save_state()))

    def _save_state(self) -> GateResult:
        """Write ``show servers state`` to the state file HAProxy loads on a reload (``load-server-state-from-file``)."""
        path = self.settings.state_file
        assert path is not None
        try:
            dump = send(self.settings.socket, "show servers state")
            if not dump.lstrip().startswith("1"):
                raise HaproxyError(
                    f"show servers state: {dump.strip().splitlines()[0] if dump.strip() else 'no answer'}"
                )
            write_atomically(path, dump.encode())
        except (HaproxyError, OSError) as exc:
            return failed("haproxy: state file", f"{path}: {exc}; a reload would undo this routing")
        return passed("haproxy: state file", f"saved to {path}: a reload keeps this routing")

    def _route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        others = [e for e in self.environments.values() if e.name != target.name]
        away = [previous] if previous is not None else others
        try:
            if gradual is None or previous is None:
                return Routed(True, (self._shift(target, away, 100),))
            return self._gradual(target, previous, gradual)
        except HaproxyError as exc:
            # Partway is worse than either end: give everything back to where it was.
            restore = (
                self._restore(previous) if previous is not None else failed("haproxy: restore", "nothing to restore")
            )
            return Routed(False, (failed("haproxy: runtime API", str(exc)), restore))

    def _set(self, env: Environment, weight: int) -> None:
        for server in self.settings.servers_of(env.name):
            if weight > 0:
                set_weight(self.settings.socket, self.settings.backend, server, weight)
                set_state(self.settings.socket, self.settings.backend, server, "ready")
            else:
                set_state(self.settings.socket, self.settings.backend, server, "drain")

    def _shift(self, target: Environment, away: list[Environment], percent: int) -> GateResult:
        full = self.settings.weight
        share = max(1, round(full * percent / 100))
        # Target first: the pool never goes empty between the two commands.
        self._set(target, share)
        for env in away:
            self._set(env, full - share)
        names = ", ".join(e.name for e in away) or "nothing"
        return passed(f"haproxy: {percent}%", f"{target.name} weight {share}, {names} weight {full - share}")

    def _restore(self, previous: Environment) -> GateResult:
        try:
            others = [e for e in self.environments.values() if e.name != previous.name]
            self._shift(previous, others, 100)
        except HaproxyError as exc:
            return failed("haproxy: restore", f"could not give traffic back to {previous.name}: {exc}")
        return passed("haproxy: restore", f"all traffic back on {previous.name}")

    def _gradual(self, target: Environment, previous: Environment, gradual: Gradual) -> Routed:
        steps: list[GateResult] = []
        for percent in gradual.steps:
            before = self._responses(target)
            steps.append(self._shift(target, [previous], percent))
            verdict = self._watch_step(target, percent, before, gradual)
            steps.append(verdict)
            if not verdict.ok:
                return Routed(False, (*steps, self._restore(previous)))
        return Routed(True, tuple(steps))

    def _responses(self, target: Environment) -> tuple[int, int]:
        stats = server_stats(self.settings.socket, self.settings.backend)
        return responses(stats, self.settings.servers_of(target.name))

    def _watch_step(self, target: Environment, percent: int, before: tuple[int, int], gradual: Gradual) -> GateResult:
        """Read the target's counters every ``poll`` through the step; fail at the first window over the limit.

        The rate is over a sliding ``window``, so a green that starts failing is out within
        about ``poll + window`` seconds however long the step is.
        """
        start = time.monotonic()
        deadline = start + gradual.step_wait
        samples: deque[tuple[float, tuple[int, int]]] = deque([(start, before)])
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(gradual.poll, remaining))
            if gradual.guard is not None:
                gradual.guard()
            now, current = time.monotonic(), self._responses(target)
            samples.append((now, current))
            while len(samples) > 2 and samples[1][0] <= now - gradual.window:
                samples.popleft()
            verdict = _error_rate(target.name, percent, samples[0][1], current, gradual.max_error_rate)
            if not verdict.ok:
                return failed(verdict.name, f"{verdict.detail} over the last {now - samples[0][0]:.1f}s")
        return _error_rate(target.name, percent, before, self._responses(target), gradual.max_error_rate)


def _error_rate(name: str, percent: int, before: tuple[int, int], after: tuple[int, int], limit: float) -> GateResult:
    """The step's verdict from the change in the target's counters.

    >>> _error_rate("green", 10, (0, 0), (5, 50), 0.01).detail
    'green at 10%: 5 of 50 answers were 5xx (0.1 > 0.01)'
    """
    bad, total = after[0] - before[0], after[1] - before[1]
    gate = f"error rate: {percent}%"
    if total <= 0:
        return passed(gate, f"no requests reached {name} during the step")
    rate = bad / total
    detail = f"{name} at {percent}%: {bad} of {total} answers were 5xx ({rate:.3g} {'>' if rate > limit else '<='} {limit:g})"
    return failed(gate, detail) if rate > limit else passed(gate, detail)
