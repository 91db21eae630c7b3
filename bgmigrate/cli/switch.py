"""``bgmigrate switch``: init, status, promote, rollback, reconcile, retire, log.

Exit status: 0 done, 2 bad configuration or usage, 3 refused by a gate (nothing changed),
4 failed and undone (the proxy shows routing as before), 5 failed and NOT undone (operator).
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from bgmigrate.cli.errors import fail
from bgmigrate.exitcodes import FAILED, INPUT_ERROR, NOT_UNDONE, REFUSED

if TYPE_CHECKING:  # imported lazily at run time: `bgmigrate --help` stays fast
    from bgmigrate.switch.backends import Gradual
    from bgmigrate.switch.config import SwitchConfig
    from bgmigrate.switch.coordinator import Coordinator, Outcome
    from bgmigrate.switch.db import Connection
ACTOR_ENV = "BGMIGRATE_ACTOR"
T = TypeVar("T")
_EXIT = {"done": 0, "refused": REFUSED, "failed": FAILED}


def _status_of(outcome: Outcome) -> int:
    if outcome.outcome == "failed" and not outcome.undone:
        return NOT_UNDONE
    return _EXIT[outcome.outcome]


def _default_actor() -> str:
    """Who acts: ``BGMIGRATE_ACTOR`` (set it to the CI job or person), else user@host."""
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _config_option(function: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--config", "config_path", type=click.Path(dir_okay=False),
        help="Configuration file (default: bgmigrate.toml in the working directory).",
    )(function)  # fmt: skip


def _actor_option(function: Callable[..., None]) -> Callable[..., None]:
    return click.option("--actor", help=f"Who acts, for the log (default: ${ACTOR_ENV} or user@host).")(function)


def _load(config_path: str | None) -> SwitchConfig:
    """The configuration, or a one-line error and exit 2."""
    from bgmigrate.switch.config import SwitchConfigError, find_switch_config, load_switch_config

    try:
        return load_switch_config(find_switch_config(config_path))
    except SwitchConfigError as exc:
        fail(str(exc))


def _connect(config: SwitchConfig) -> Connection:
    """A connection to the configured database, or a one-line (redacted) error and exit 2."""
    from bgmigrate.switch.db import DatabaseError, connect

    try:
        return connect(config.dsn)
    except DatabaseError as exc:
        fail(str(exc))


def _read(config: SwitchConfig, read: Callable[[Connection], T]) -> T:
    """``read(conn)`` on the configured database; a driver error is one redacted line and exit 2."""
    import psycopg

    from bgmigrate.switch.db import describe

    with _connect(config) as conn:
        try:
            return read(conn)
        except psycopg.Error as exc:
            fail(str(describe(exc, config.dsn, "cannot read the switch state")))


def _act(config: SwitchConfig, actor: str | None, action: Callable[[Coordinator], Outcome]) -> None:
    """Run one coordinator action, print its verdicts and exit with its outcome's status."""
    import psycopg

    from bgmigrate.switch.backends import make_backend
    from bgmigrate.switch.config import SwitchConfigError
    from bgmigrate.switch.coordinator import Coordinator
    from bgmigrate.switch.db import describe
    from bgmigrate.switch.render import console, print_outcome
    from bgmigrate.switch.schema_gate import ApplyLedger

    with _connect(config) as conn:
        coordinator = Coordinator(config, conn, make_backend(config), ApplyLedger(conn),
                                  actor or _default_actor())  # fmt: skip
        try:
            outcome = action(coordinator)
        except SwitchConfigError as exc:
            fail(str(exc))
        except psycopg.Error as exc:
            # The coordinator handles errors once routing may have moved (fencing); this one came first.
            error = describe(exc, config.dsn, "database error before any routing change; nothing changed")
            fail(str(error), INPUT_ERROR)
    print_outcome(console(sys.stdout), outcome)
    if outcome.outcome == "failed" and not outcome.undone:
        sys.stderr.write("bgmigrate: error: routing could NOT be confirmed back where it was: check "
                         "`bgmigrate switch status` and the proxy, then `switch reconcile` or fix by hand\n")  # fmt: skip
    sys.exit(_status_of(outcome))


@click.group()
def switch() -> None:
    """Move traffic between environments only when the schema serves both.

    Exit status: 0 done, 2 configuration or usage error, 3 refused by a gate (nothing
    changed), 4 failed (tried, then switched back).
    """


@switch.command()
@click.argument("env")
@_config_option
@_actor_option
def init(env: str, config_path: str | None, actor: str | None) -> None:
    """First deploy: ENV becomes active (no gates)."""
    _act(_load(config_path), actor, lambda c: c.init(env))


@switch.command()
@click.argument("env")
@click.option("--gradual", metavar="STEPS", help="Weight steps, e.g. 10,50,100 (haproxy; command with {weight}).")
@click.option("--step-wait", default="30s", show_default=True, help="Time at each --gradual step.")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="5xx share of the target's answers that rolls a --gradual switch back.")  # fmt: skip
@_config_option
@_actor_option
def promote(
    env: str, gradual: str | None, step_wait: str, max_error_rate: float, config_path: str | None, actor: str | None
) -> None:
    """Send traffic to ENV once it is healthy and the schema serves it (rollback stays possible)."""
    config = _load(config_path)
    plan = _gradual(gradual, step_wait, max_error_rate)
    if plan is not None:
        from bgmigrate.switch.watch import gradual_problem

        problem = gradual_problem(config)
        if problem:
            fail(problem)
    _act(config, actor, lambda c: c.promote(env, plan))


def _gradual(steps: str | None, step_wait: str, max_error_rate: float) -> Gradual | None:
    from bgmigrate.durations import parse_duration
    from bgmigrate.switch.backends import Gradual
    from bgmigrate.switch.gradual_steps import parse_steps

    if steps is None:
        return None
    try:
        return Gradual(parse_steps(steps), parse_duration(step_wait), max_error_rate)
    except ValueError as exc:
        fail(str(exc), INPUT_ERROR)


@switch.command()
@_config_option
@_actor_option
def rollback(config_path: str | None, actor: str | None) -> None:
    """Send traffic back to the rollback target, under the same gates."""
    _act(_load(config_path), actor, lambda c: c.rollback())


@switch.command()
@_config_option
@_actor_option
def reconcile(config_path: str | None, actor: str | None) -> None:
    """After a crash: route all traffic to the recorded active environment (gated, logged)."""
    _act(_load(config_path), actor, lambda c: c.reconcile())


@switch.command()
@click.argument("env")
@_config_option
@_actor_option
def retire(env: str, config_path: str | None, actor: str | None) -> None:
    """Declare ENV gone: closes the rollback window so contract may run."""
    _act(_load(config_path), actor, lambda c: c.retire(env))


@switch.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_config_option
def status(fmt: str, config_path: str | None) -> None:
    """Active environment, rollback target, retired environments, and what the proxy routes now (drift)."""
    import json

    from bgmigrate.switch.backends import make_backend
    from bgmigrate.switch.lock import switch_holder
    from bgmigrate.switch.render import console, print_status, status_json
    from bgmigrate.switch.store import load_state

    config = _load(config_path)
    state, holder = _read(config, lambda conn: (load_state(conn), switch_holder(conn)))
    seen = make_backend(config).observe()  # the proxy's own account, never the state's
    if fmt == "json":
        sys.stdout.write(json.dumps(status_json(state, holder, seen), indent=2) + "\n")
    else:
        print_status(console(sys.stdout), state, holder, seen)


@switch.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--limit", type=click.IntRange(1), help="Only the last N entries.")
@_config_option
def log(fmt: str, limit: int | None, config_path: str | None) -> None:
    """Every attempt, refused ones included: time, actor, action, target, outcome, gates."""
    from bgmigrate.switch.render import console, log_json, print_log
    from bgmigrate.switch.store import read_log

    entries = _read(_load(config_path), lambda conn: read_log(conn, limit))
    if fmt == "json":
        sys.stdout.write(log_json(entries))
    else:
        print_log(console(sys.stdout), entries)
