"""PLAN.md: the plan for people — a diagram of phases against app versions, then each phase.

For each phase: what it does step by step, the locks it takes on which tables, what holds
once it is done, and what the application release must do before the next phase.
"""

from __future__ import annotations

import re

from bgmigrate.plan.column_type import PREPARED
from bgmigrate.plan.phases import PHASES, Phase, Plan, Step
from bgmigrate.plan.render_sql import LOCK_TIMEOUT, file_name
from bgmigrate.safetext import display

_BETWEEN = {
    "expand": "Deploy the new app version now: from here on the old and the new version run side by side "
    "against this schema.",
    "migrate": "Then switch all traffic to the new version and retire the old one. Wait out your rollback "
    "window: once contract runs, the old version no longer works.",
    "contract": "Done: the schema is what the original migration intended, and only the new version runs.",
}
_LIVE = {"expand": "old and new", "migrate": "old and new", "contract": "new only"}


def _label(text: str) -> str:
    """Text safe inside a quoted Mermaid label."""
    return display(text).replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _code(text: str) -> str:
    """A Markdown code span that no backtick inside ``text`` can end early.

    >>> _code("t"), _code("a`b")
    ('`t`', '`` a`b ``')
    """
    text = display(text)
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return f"{fence} {text} {fence}"


def _summary(phase: Phase, limit: int = 3) -> str:
    parts = [s.description.split(" (")[0] for s in phase.steps[:limit]]
    if len(phase.steps) > limit:
        parts.append(f"… {len(phase.steps) - limit} more")
    return "<br/>".join(_label(p) for p in parts) or "nothing to do"


def mermaid(plan: Plan) -> list[str]:
    """The diagram: phases left to right, grouped by the app versions live while they are in place."""
    expand, migrate, contract = (plan.phase(name) for name in PHASES)
    return [
        "```mermaid",
        "flowchart LR",
        '    before(["old app only"])',
        '    subgraph both["old and new app live"]',
        "        direction LR",
        f'        expand["1 · expand<br/>{_summary(expand)}"]',
        '        deploy{{"deploy the new app"}}',
        f'        migrate["2 · migrate<br/>{_summary(migrate)}"]',
        "        expand --> deploy --> migrate",
        "    end",
        '    switch{{"switch traffic to new,<br/>retire old"}}',
        '    subgraph new_only["new app only"]',
        f'        contract["3 · contract<br/>{_summary(contract)}"]',
        "    end",
        '    after(["done"])',
        "    before --> expand",
        "    migrate --> switch --> contract --> after",
        "```",
    ]


def _step_line(number: int, step: Step) -> str:
    tags = []
    if step.takes_lock:
        tags.append(f"{_code(step.takes_lock)} on {_code(step.table)}")
    if not step.transactional:
        tags.append("outside a transaction")
    if step.kind == "backfill" and step.backfill is not None:
        tags.append(f"batches of {step.backfill.batch_size}, each its own transaction")
    return f"{number}. {display(step.description)}" + (f" — {'; '.join(tags)}" if tags else "")


def _locks(phase: Phase) -> list[str]:
    seen: dict[str, list[str]] = {}
    for step in phase.steps:
        if step.takes_lock:
            modes = seen.setdefault(step.table, [])
            if step.takes_lock not in modes:
                modes.append(step.takes_lock)
    if not seen:
        return ["No lock on an existing table."]
    lines = [f"- {_code(table)}: {display(', '.join(modes))}" for table, modes in seen.items()]
    return [*lines, f"Each locking statement runs with `lock_timeout = {LOCK_TIMEOUT}` and is retried; "
            "ACCESS EXCLUSIVE is held only for the one catalog change."]  # fmt: skip


def _phase(plan: Plan, phase: Phase) -> list[str]:
    number = PHASES.index(phase.name) + 1
    lines = [
        f"## {number} · {phase.name} — `{file_name(phase)}`",
        "",
        f"App versions live while it is in place: {_LIVE[phase.name]}.",
        "",
    ]
    lines += ["**What it does**", ""]
    lines += [_step_line(n, s) for n, s in enumerate(phase.steps, start=1)] or ["Nothing."]
    lines += ["", "**Locks**", "", *_locks(phase), ""]
    if phase.checks:
        lines += ["**Holds afterwards** (checked by apply and the traffic switch)", ""]
        lines += [f"- {display(c.description or c.kind)}" for c in phase.checks] + [""]
    lines += ["**The application release**", ""]
    lines += [f"- {display(note)}" for note in phase.notes] + [f"- {_BETWEEN[phase.name]}", ""]
    return lines


def render_md(plan: Plan) -> str:
    """The whole PLAN.md."""
    lines = [*mermaid(plan), "", f"# Plan {_code(plan.id)} for {_code(plan.source)}", ""]
    if plan.rewrites:
        lines += ["Rewritten into phases:", "", *[f"- {display(r)}" for r in plan.rewrites], ""]
    else:
        lines += ["Nothing needed rewriting: every statement is safe as written and runs in expand.", ""]
    if plan.assumptions:
        lines += ["**Assumptions** — check these before you run anything:", ""]
        lines += [f"- ⚠ {display(a)}" for a in plan.assumptions] + [""]
    warnings = [n for n in plan.phase("contract").notes if n.startswith(PREPARED)]
    if warnings:
        lines += ["**⚠ Before contract** — plan for this, or the new version fails after contract:", ""]
        lines += [f"- {display(w)}" for w in warnings] + [""]
    if plan.preconditions:
        lines += ["**Before expand** (apply checks these first):", ""]
        lines += [f"- {display(c.description or c.kind)}" for c in plan.preconditions] + [""]
    for phase in plan.phases:
        lines += _phase(plan, phase)
    if plan.passthrough:
        lines += ["## Carried over unchanged, or left out", "", *[f"- {display(n)}" for n in plan.passthrough], ""]
    lines += [
        "## Running it",
        "",
        "```sh",
        'bgmigrate apply <this folder> --phase expand --dsn "$DATABASE_URL"',
        "# deploy the new app version",
        'bgmigrate apply <this folder> --phase migrate --dsn "$DATABASE_URL"',
        "# switch traffic to the new version, retire the old one, wait out the rollback window",
        'bgmigrate apply <this folder> --phase contract --dsn "$DATABASE_URL" --confirm-old-version-retired',
        "```",
        "",
        "Or run each SQL file with `psql -v ON_ERROR_STOP=1 -f FILE`, never inside one transaction.",
        "",
    ]
    return "\n".join(lines)
