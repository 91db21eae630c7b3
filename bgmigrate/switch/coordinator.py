"""The coordinator: init, promote, rollback, retire — each gated, locked, logged.

Every action runs in one transaction that holds the switch lock: the state change and its
log entry commit together, and a second job cannot act until the first has finished. A
refused action changes nothing but its log entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from bgmigrate.switch.backends import Backend, Gradual, Routed
from bgmigrate.switch.config import Environment, SwitchConfig
from bgmigrate.switch.db import Connection, describe
from bgmigrate.switch.health import health_gate
from bgmigrate.switch.lock import switch_holder, try_switch_lock
from bgmigrate.switch.schema_gate import Ledger, schema_gates
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


@dataclass(frozen=True)
class Outcome:
    """What one action came to: ``done``, ``refused`` (nothing changed) or ``failed`` (switched back)."""

    action: str
    target: str
    outcome: str
    gates: tuple[GateResult, ...]
    steps: tuple[GateResult, ...] = ()
    detail: str = ""


class Coordinator:
    def __init__(self, config: SwitchConfig, conn: Connection, backend: Backend, ledger: Ledger, actor: str) -> None:
        self.config = config
        self.conn = conn
        self.backend = backend
        self.ledger = ledger
        self.actor = actor

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

    def retire(self, name: str) -> Outcome:
        self.config.environment(name)
        return self._locked("retire", name, lambda state: self._retire(state, name))

    # -- the transaction around each action ------------------------------------------------

    def _locked(self, action: str, target: str, body: Callable[[SwitchState | None], Outcome]) -> Outcome:
        ensure_schema(self.conn)
        with self.conn.transaction():
            # The transaction stays open (idle) while health checks and reloads run; a server-wide
            # idle-in-transaction timeout would otherwise end the switch half-way.
            self.conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            if try_switch_lock(self.conn):
                outcome = body(load_state(self.conn))
            else:
                outcome = Outcome(action, target, "refused", (self._busy(),))
            target = outcome.target or target
            append_log(self.conn, self.actor, action, target, outcome.outcome,
                       (*outcome.gates, *outcome.steps), outcome.detail)  # fmt: skip
        return outcome

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
        routed = move(self.backend, self.config.confirm, env, None)
        if routed.ok:
            self._record(active=env.name, rollback_target=None, unretire=env.name)
        return self._finish("init", env.name, (gate,), routed)

    def _promote(self, state: SwitchState | None, env: Environment, gradual: Gradual | None) -> Outcome:
        if state is None:
            return self._uninitialised("promote", env.name)
        if state.active == env.name:
            gate = failed("target", f"{env.name} is already active")
            return Outcome("promote", env.name, "refused", (gate,), detail=gate.detail)
        current = self.config.environments.get(state.active) or state.environments.get(state.active)
        gates = (passed("target", f"{state.active} → {env.name}"), *self._toward(env, current))
        if not Verdict(gates).allowed:
            return self._refused("promote", env.name, gates)
        routed = move(self.backend, self.config.confirm, env, current, gradual)
        if routed.ok:
            self._record(active=env.name, rollback_target=state.active, unretire=env.name)
        return self._finish("promote", env.name, gates, routed)

    def _rollback(self, state: SwitchState | None) -> Outcome:
        if state is None:
            return self._uninitialised("rollback", "")
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
        routed = move(self.backend, self.config.confirm, back, current)
        if routed.ok:
            self._record(active=back.name, rollback_target=state.active, unretire=back.name)
        return self._finish("rollback", back.name, gates, routed)

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
        return (health_gate(target, self.config.health), *self._schema(target, kept))

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

    def _finish(self, action: str, target: str, gates: tuple[GateResult, ...], routed: Routed) -> Outcome:
        return Outcome(action, target, "done" if routed.ok else "failed", gates, routed.steps, routed.detail)
