"""Fencing: no routing change unless this session is alive and still holds the switch lock.

The switch lock is an advisory lock of the coordinator's session. If that session ends (a
terminated backend, a failover, a network cut), another job may take the lock and switch, and
nothing this one does can be recorded any more. So before every routing change, and before
recording the outcome, the coordinator asks the server whether the lock is still its own.
"""

from __future__ import annotations

import dataclasses

import psycopg

from bgmigrate.switch.backends import Backend, Gradual, Routed, WrappedBackend
from bgmigrate.switch.config import Environment
from bgmigrate.switch.db import Connection
from bgmigrate.switch.lock import holds_switch_lock
from bgmigrate.switch.verdict import GateResult


class FenceLost(Exception):
    """The coordinator's session or its switch lock is gone: it may not change routing any more."""


def fence(conn: Connection) -> None:
    """Raise :class:`FenceLost` unless this session is alive and holds the switch lock."""
    try:
        held = holds_switch_lock(conn)
    except psycopg.Error as exc:
        raise FenceLost(f"the database session was lost: {str(exc).strip().splitlines()[0]}") from None
    if not held:
        raise FenceLost("this session no longer holds the switch lock")


class FencedBackend(WrappedBackend):
    """A backend that checks the fence before each routing change (each ``--gradual`` step alone)."""

    def __init__(self, inner: Backend, conn: Connection) -> None:
        super().__init__(inner)
        self.conn = conn

    def route(self, target: Environment, previous: Environment | None, gradual: Gradual | None) -> Routed:
        if gradual is None or previous is None:
            fence(self.conn)
            return self.inner.route(target, previous, gradual)
        steps: list[GateResult] = []
        for percent in gradual.steps:
            fence(self.conn)
            step = dataclasses.replace(gradual, steps=(percent,), guard=lambda: fence(self.conn))
            routed = self.inner.route(target, previous, step)
            steps.extend(routed.steps)
            if not routed.ok:
                return Routed(False, tuple(steps))
        return Routed(True, tuple(steps))
