"""The coordinator: init, promote, rollback, retire — each gated, locked, logged.

Every action runs in one transaction that holds the switch lock: the state change and its
log entry commit together, and a second job cannot act until the first has finished. A
refused action changes nothing but its log entry.

Fencing: before every routing change and before recording, the session must still hold the
lock; when it does not (or the commit fails), routing goes back to where it was before this
action began and nothing is recorded. Every failed outcome says whether that undo is
confirmed by the proxy itself (``undone``) or an operator must act.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from bgmigrate.switch.backends import Backend, Gradual, Routed
from bgmigrate.switch.config import Environment, SwitchConfig
from bgmigrate.switch.db import Connection, describe
from bgmigrate.switch.fence import FencedBackend, FenceLost, fence
from bgmigrate.switch.health import health_gate
from bgmigrate.switch.lock import switch_holder, try_switch_lock
from bgmigrate.switch.routing import Observed, drift
from bgmigrate.switch.schema_gate import Ledger, schema_gates
from bgmigrate.switch.smoke import smoke_gates
from bgmigrate.switch.store import (
    SwitchState,
    append_log,
    ensure_schema,
    load_state,
    record_environments,
    save_state,
    set_retired,
)
from bgmigrate.switch.traffic import move
from bgmigrate.switch.verdict import GateResult, Verdict, failed, passed
from bgmigrate.switch.watch import metered, watch_window


@dataclass(frozen=True)
class Outcome:
    """What one action came to: ``done``, ``refused`` (nothing changed) or ``failed``.

    A failed action is ``undone`` when the proxy itself shows routing back where it was before
    the action; otherwise an operator must act.
    """

    action: str
    target: str
    outcome: str
    gates: tuple[GateResult, ...]
    steps: tuple[GateResult, ...] = ()
    detail: str = ""
    undone: bool = True


class Coordinator:
    def __init__(self, config: SwitchConfig, conn: Connection, backend: Backend, ledger: Ledger, actor: str) -> None:
        self.config = config
        self.conn = conn
        self.backend = backend
        self.ledger = ledger
        self.actor = actor
        self._moving = False  # a routing change may have happened in this action
        self._before: Environment | None = None  # where traffic went before this action

    @property
    def fenced(self) -> Backend:
        """The backend for routing changes: each one only while this session holds the lock."""
        return FencedBackend(self.backend, self.conn)

    # -- actions -----------------------------------------------------------------------

    def init(self, name: str) -> Outcome:
        """First deploy: ``name`` becomes active with no gates but the empty state."""
        env = self.config.environment(name)
        return self._locked("init", name, lambda state: self._init(state, env))

    def promote(self, name: str, gradual: Gradual | None = None) -> Outcome:
        env = self.config.environment(name)
        return self._locked("promote", name, lambda state: self._promote(state, env, gradual))

    def rollback(self) -> Outcome:
        return self._locked("rollback", "", self._rollback)

    def reconcile(self) -> Outcome:
        """Make the proxy route what the state records as active (after a crash), logged."""
        return self._locked("reconcile", "", self._reconcile)

    def retire(self, name: str) -> Outcome:
        self.config.environment(name)
        return self._locked("retire", name, lambda state: self._retire(state, name))

    # -- the transaction around each action ------------------------------------------------

    def _locked(self, action: str, target: str, body: Callable[[SwitchState | None], Outcome]) -> Outcome:
        ensure_schema(self.conn)
        self._moving, self._before = False, None
        try:
            with self.conn.transaction():
                # The transaction stays open (idle) while health checks and reloads run; a server-wide
                # idle-in-transaction timeout would otherwise end the switch half-way.
                self.conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                if try_switch_lock(self.conn):
                    outcome = body(load_state(self.conn))
                else:
                    outcome = Outcome(action, target, "refused", (self._busy(),))
                target = outcome.target or target
                if self._moving:
                    fence(self.conn)  # record only what this session still vouches for
                append_log(self.conn, self.actor, action, target, outcome.outcome,
                           (*outcome.gates, *outcome.steps), outcome.detail)  # fmt: skip
        except (psycopg.Error, FenceLost) as exc:
            if not self._moving:
                raise  # nothing was routed: the caller reports the error, nothing changed
            return self._lost(action, target, exc)
        return outcome

    def _lost(self, action: str, target: str, exc: Exception) -> Outcome:
        """The session or lock was lost after routing may have changed: put it back, record nothing."""
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        lost = failed("fence", f"{why}; nothing was recorded")
        before = self._before
        if before is None:
            gate = failed("switch back", "no environment served before this action: fix by hand")
            return Outcome(action, target, "failed", (), (lost, gate), gate.detail, undone=False)
        back = move(self.backend, self.config.confirm, before, None)  # routed and confirmed through the proxy
        seen = self.backend.observe()
        confirmed = _shows(seen, before.name)
        steps = (lost, *back.steps, confirmed)
        detail = f"{lost.detail}; " + (f"traffic is back on {before.name}" if confirmed.ok else confirmed.detail)
        return Outcome(action, target, "failed", (), steps, detail, undone=confirmed.ok)

    def _busy(self) -> GateResult:
        holder = switch_holder(self.conn)
        who = f"pid {holder.pid}, {holder.application_name or 'unnamed'}" if holder else "just finished"
        return failed("lock", f"another switch is running ({who}); nothing changed")

    # -- bodies ----------------------------------------------------------------------------

    def _init(self, state: SwitchState | None, env: Environment) -> Outcome:
        if state is not None:
            gate = failed("state", f"already initialised (active: {state.active}); use promote or rollback")
            return Outcome("init", env.name, "refused", (gate,), detail=gate.detail)
        gate = passed("state", "first deploy: no gates")
        self._moving = True
        routed = move(self.fenced, self.config.confirm, env, None)
        if routed.ok:
            self._record(active=env.name, rollback_target=None, unretire=env.name)
        return self._finish("init", env.name, (gate,), routed, None)

    def _promote(self, state: SwitchState | None, env: Environment, gradual: Gradual | None) -> Outcome:
        if state is None:
            return self._uninitialised("promote", env.name)
        if state.active == env.name:
            seen = self.backend.observe()
            if drift(state.active, seen) is not None:
                return self._to_recorded("promote", state, seen)
            gate = failed("target", f"{env.name} is already active")
            return Outcome("promote", env.name, "refused", (gate,), detail=gate.detail)
        current = self.config.environments.get(state.active) or state.environments.get(state.active)
        gates = (passed("target", f"{state.active} → {env.name}"), *self._toward(env, current))
        if not Verdict(gates).allowed:
            return self._refused("promote", env.name, gates)
        self._moving, self._before = True, current
        routed = move(metered(self.fenced, self.config.metrics), self.config.confirm, env, current, gradual)
        routed = watch_window(self.backend, self.config, env, current, routed)
        if routed.ok:
            self._record(active=env.name, rollback_target=state.active, unretire=env.name)
        return self._finish("promote", env.name, gates, routed, current)

    def _rollback(self, state: SwitchState | None) -> Outcome:
        if state is None:
            return self._uninitialised("rollback", "")
        seen = self.backend.observe()
        if drift(state.active, seen) is not None:
            # After a crash mid-switch: all traffic back to the last environment a switch confirmed.
            return self._to_recorded("rollback", state, seen)
        if state.rollback_target is None:
            why = "no rollback target: none was kept, or `switch retire` closed the rollback window"
            return Outcome("rollback", "", "refused", (failed("rollback target", why),), detail=why)
        back = self.config.environments.get(state.rollback_target)
        if back is None:
            why = f"rollback target {state.rollback_target} is not in the configuration"
            return Outcome("rollback", state.rollback_target, "refused", (failed("rollback target", why),), detail=why)
        current = self.config.environments.get(state.active) or state.environments.get(state.active)
        gates = (passed("rollback target", f"{state.active} → {back.name}"), *self._toward(back, current))
        if not Verdict(gates).allowed:
            return self._refused("rollback", back.name, gates)
        self._moving, self._before = True, current
        routed = move(self.fenced, self.config.confirm, back, current)
        if routed.ok:
            self._record(active=back.name, rollback_target=state.active, unretire=back.name)
        return self._finish("rollback", back.name, gates, routed, current)

    def _reconcile(self, state: SwitchState | None) -> Outcome:
        if state is None:
            return self._uninitialised("reconcile", "")
        seen = self.backend.observe()
        if not seen.known:
            gate = failed("proxy", f"cannot read the proxy's routing: {seen.detail}")
            return Outcome("reconcile", state.active, "refused", (gate,), detail=gate.detail)
        if drift(state.active, seen) is None:
            gate = passed("proxy", f"state and proxy agree: {seen.describe()}")
            return Outcome("reconcile", state.active, "done", (gate,), detail=gate.detail)
        return self._to_recorded("reconcile", state, seen)

    def _to_recorded(self, action: str, state: SwitchState, seen: Observed) -> Outcome:
        """The proxy drifted from the state (a crash mid-switch): route all traffic to the recorded active."""
        env = self.config.environments.get(state.active)
        found = passed("drift", drift(state.active, seen) or "")
        if env is None:
            gate = failed("target", f"{state.active} (recorded as active) is not in the configuration")
            return Outcome(action, state.active, "refused", (found, gate), detail=gate.detail)
        kept = self.config.environments.get(state.rollback_target or "")
        gates = (found, *self._toward(env, kept))
        if not Verdict(gates).allowed:
            return self._refused(action, env.name, gates)
        # What served before is unknown (partly both): the undo, if needed, is the recorded one.
        self._moving, self._before = True, env
        routed = move(self.fenced, self.config.confirm, env, None)
        if routed.ok:
            self._record(active=env.name, rollback_target=state.rollback_target, unretire=env.name)
        return self._finish(action, env.name, gates, routed, env)

    def _retire(self, state: SwitchState | None, name: str) -> Outcome:
        if state is None:
            return self._uninitialised("retire", name)
        if state.active == name:
            gate = failed("target", f"{name} is active; promote another environment first")
            return Outcome("retire", name, "refused", (gate,), detail=gate.detail)
        closes = state.rollback_target == name
        gate = passed("target", f"{name} retired" + ("; the rollback window is closed" if closes else ""))
        record_environments(self.conn, self.config.environments.values())
        set_retired(self.conn, name, True)
        if closes:
            save_state(self.conn, state.active, None)
        return Outcome("retire", name, "done", (gate,), detail=gate.detail)

    # -- helpers -----------------------------------------------------------------------------

    def _toward(self, target: Environment, kept: Environment | None) -> tuple[GateResult, ...]:
        """The gates for sending traffic to ``target`` while keeping ``kept`` to roll back to."""
        health = health_gate(target, self.config.health)
        return (health, *smoke_gates(self.config.smoke, target, kept), *self._schema(target, kept))

    def _schema(self, target: Environment, kept: Environment | None) -> list[GateResult]:
        # A savepoint: a check query that errors (a plan's no_rows SQL, a permission) must
        # refuse this action, not abort the transaction that holds the lock and the log entry.
        try:
            with self.conn.transaction():
                return schema_gates(self.ledger, target, kept)
        except psycopg.Error as exc:
            return [failed(f"schema: {target.name}", str(describe(exc, self.config.dsn, "checking the schema")))]

    def _record(self, active: str, rollback_target: str | None, unretire: str) -> None:
        record_environments(self.conn, self.config.environments.values())
        save_state(self.conn, active, rollback_target)
        set_retired(self.conn, unretire, False)  # a retired colour redeployed with a new version

    def _uninitialised(self, action: str, target: str) -> Outcome:
        gate = failed("state", "not initialised: run `bgmigrate switch init ENV` on the first deploy")
        return Outcome(action, target, "refused", (gate,), detail=gate.detail)

    def _refused(self, action: str, target: str, gates: tuple[GateResult, ...]) -> Outcome:
        bad = Verdict(gates).failed
        return Outcome(action, target, "refused", gates, detail=f"{len(bad)} gate(s) failed: "
                       + ", ".join(g.name for g in bad))  # fmt: skip

    def _finish(
        self, action: str, target: str, gates: tuple[GateResult, ...], routed: Routed, before: Environment | None
    ) -> Outcome:
        if routed.ok:
            return Outcome(action, target, "done", gates, routed.steps, routed.detail)
        # Failed: is routing back where it was? Ask the proxy, not the steps' own account.
        seen = self.backend.observe()
        if before is None:
            shown = failed("proxy", f"no environment served before; the proxy routes {seen.describe()}")
        elif seen.known:
            shown = _shows(seen, before.name)
        else:  # the proxy cannot say (a command backend without check): trust the steps' account
            undone = not any(not s.ok and ("restore" in s.name or "back" in s.name) for s in routed.steps)
            shown = GateResult("proxy", undone, f"routing cannot be read ({seen.detail}); the backend reports "
                               + ("it was restored" if undone else "it was NOT restored"))  # fmt: skip
        return Outcome(action, target, "failed", gates, (*routed.steps, shown), routed.detail, undone=shown.ok)


def _shows(seen: Observed, name: str) -> GateResult:
    """Does the proxy route all traffic to ``name``?"""
    if seen.only(name):
        return passed("proxy", f"the proxy routes {seen.describe()}")
    return failed("proxy", f"the proxy routes {seen.describe()}, not all to {name}: an operator must act")
