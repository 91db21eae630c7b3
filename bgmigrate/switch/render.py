"""Output: rich text for people, stable JSON for machines. No other module prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bgmigrate.safetext import display
from bgmigrate.switch.coordinator import Outcome
from bgmigrate.switch.lock import Holder
from bgmigrate.switch.routing import Observed, drift
from bgmigrate.switch.store import LogEntry, SwitchState
from bgmigrate.switch.verdict import GateResult

_OUTCOME_STYLE = {"done": "bold green", "refused": "bold yellow", "failed": "bold red"}


def console(out: TextIO, color: bool | None = None) -> Console:
    return Console(file=out, highlight=False, soft_wrap=True, force_terminal=color, no_color=color is False)


def _mark(gate: GateResult) -> str:
    return "[green]✓[/]" if gate.ok else "[red]✗[/]"


def _gate_lines(out: Console, gates: Iterable[GateResult], indent: str = "  ") -> None:
    for gate in gates:
        out.print(f"{indent}{_mark(gate)} [bold]{escape(display(gate.name))}[/]: {escape(display(gate.detail))}")


def print_outcome(out: Console, outcome: Outcome) -> None:
    """The action, each gate and step with its verdict, then the failed gates once more."""
    what = f"{outcome.action} {outcome.target}".strip()
    out.print(f"[bold]{escape(display(what))}[/]: [{_OUTCOME_STYLE[outcome.outcome]}]{outcome.outcome}[/]")
    _gate_lines(out, outcome.gates)
    if outcome.steps:
        out.print("  [dim]switch:[/]")
        _gate_lines(out, outcome.steps, "    ")
    failed = [g for g in (*outcome.gates, *outcome.steps) if not g.ok]
    if outcome.outcome == "refused":
        out.print(f"[yellow]refused, nothing changed; {len(failed)} failed gate(s):[/]")
        _gate_lines(out, failed)
    elif outcome.outcome == "failed":
        out.print(f"[red]failed: {escape(display(outcome.detail))}[/]")


def proxy_json(state: SwitchState | None, seen: Observed) -> dict[str, object]:
    """The proxy's real routing and how it disagrees with the state (``drift``: None when it agrees)."""
    return {"routes": dict(seen.shares) if seen.shares is not None else None, "detail": seen.detail,
            "unknown_servers": list(seen.unknown), "drift": drift(state.active if state else None, seen)}  # fmt: skip


def status_json(state: SwitchState | None, holder: Holder | None, seen: Observed) -> dict[str, object]:
    """``switch status --format json``."""
    busy = None if holder is None else {
        "pid": holder.pid, "since": holder.since.isoformat() if holder.since else None,
        "application_name": holder.application_name,
    }  # fmt: skip
    if state is None:
        return {"initialized": False, "active": None, "rollback_target": None, "retired": [],
                "environments": [], "switch_in_progress": busy, "proxy": proxy_json(state, seen)}  # fmt: skip
    environments = [
        {"name": env.name, "addresses": list(env.addresses), "requires": [str(r) for r in env.requires],
         "application_name": env.application_name, "retired": env.name in state.retired}
        for env in state.environments.values()
    ]  # fmt: skip
    return {"initialized": True, "active": state.active, "rollback_target": state.rollback_target,
            "retired": sorted(state.retired), "environments": environments, "switch_in_progress": busy,
            "proxy": proxy_json(state, seen)}  # fmt: skip


def print_status(out: Console, state: SwitchState | None, holder: Holder | None, seen: Observed) -> None:
    if holder is not None:
        out.print(f"[yellow]a switch is running now[/] (pid {holder.pid})")
    if state is None:
        out.print("not initialised: run [bold]bgmigrate switch init ENV[/] on the first deploy")
        out.print(f"proxy routes:    {escape(display(seen.describe()))}")
        return
    out.print(f"active:          [bold green]{escape(state.active)}[/]")
    out.print(f"proxy routes:    {escape(display(seen.describe()))}")
    off = drift(state.active, seen)
    if off is not None:
        out.print(f"[bold red]DRIFT[/]:           {escape(display(off))}; run [bold]bgmigrate switch reconcile[/]"
                  " (or rollback) to route all traffic to the recorded active environment")  # fmt: skip
    out.print(f"rollback target: {escape(state.rollback_target or '—')}")
    out.print(f"retired:         {escape(', '.join(sorted(state.retired)) or '—')}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("environment", "addresses", "requires", "sessions as", "role"):
        table.add_column(column, overflow="fold")  # plan ids are long; never cut them
    for env in state.environments.values():
        table.add_row(escape(env.name), escape(", ".join(env.addresses)),
                      escape(", ".join(str(r) for r in env.requires) or "—"),
                      escape(env.application_name or "—"), _role(state, env.name))  # fmt: skip
    out.print(table)


def _role(state: SwitchState, name: str) -> str:
    if name == state.active:
        return "active"
    if name == state.rollback_target:
        return "rollback target"
    return "retired" if name in state.retired else "idle"


def log_json(entries: Sequence[LogEntry]) -> str:
    """``switch log --format json``: ``{"entries": [{"at", "actor", "action", "target", "outcome", "gates", "detail"}]}``."""
    document = {"entries": [
        {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target, "outcome": e.outcome,
         "gates": [g.to_json() for g in e.gates], "detail": e.detail}
        for e in entries
    ]}  # fmt: skip
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def print_log(out: Console, entries: Sequence[LogEntry]) -> None:
    if not entries:
        out.print("no switch actions recorded yet")
    for e in entries:
        style = _OUTCOME_STYLE.get(e.outcome, "bold")
        out.print(f"{e.at:%Y-%m-%d %H:%M:%S%z}  [{style}]{e.outcome:<7}[/] [bold]{escape(display(e.action))} "
                  f"{escape(display(e.target))}[/]  by {escape(display(e.actor))}")  # fmt: skip
        _gate_lines(out, [g for g in e.gates if not g.ok] if e.outcome != "done" else [], "    ")
