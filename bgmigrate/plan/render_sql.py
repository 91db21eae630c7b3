"""A plan's phases as SQL files a person can read, lint, and run with psql.

Each file sets ``lock_timeout`` first, to apply's own default (so a statement waiting for a lock
fails fast instead of queueing every query behind it; psql does not retry, and the file says how
to), then lists its steps with what each does. The contract file starts with a guard that stops
psql while the old version may still serve (:mod:`contract_guard`). Steps that must
commit together are wrapped in BEGIN/COMMIT; statements that cannot run in a transaction say
so. A backfill is written as a PL/pgSQL loop that commits after every batch, with the hint that
``bgmigrate apply`` runs it with progress and resumes after a crash.
"""

from __future__ import annotations

from bgmigrate.durations import DEFAULT_LOCK_TIMEOUT, pg_interval
from bgmigrate.plan.contract_guard import contract_guard
from bgmigrate.plan.phases import PHASES, Backfill, Phase, Plan, Step
from bgmigrate.plan.suppress import ignore
from bgmigrate.safetext import comment
from bgmigrate.sql.quote import dollar_quote
from bgmigrate.sql.statements import split_sql

LOCK_TIMEOUT = pg_interval(DEFAULT_LOCK_TIMEOUT)  # apply's default: one value for every way a phase runs
HEADER_SET = f"SET lock_timeout = '{LOCK_TIMEOUT}';"


def file_name(phase: Phase) -> str:
    """The phase's file name, numbered so the files sort in the order they run.

    >>> file_name(Phase("migrate"))
    '02_migrate.sql'
    """
    return f"{PHASES.index(phase.name) + 1:02d}_{phase.name}.sql"


def _header(plan: Plan, phase: Phase) -> list[str]:
    number = PHASES.index(phase.name) + 1
    serves = " and ".join(phase.serves)
    return [
        comment(f"bgmigrate plan {plan.id} · phase {number} of {len(PHASES)}: {phase.name}"),
        comment(f"from {plan.source}; app versions live while this phase is in place: {serves}."),
        comment(f"Run: bgmigrate apply <plan dir> --phase {phase.name} --dsn DSN"),
        "-- or with psql, statement by statement (autocommit; stop on the first error: psql -X -v ON_ERROR_STOP=1 -f FILE).",
        "-- Never wrap this whole file in one transaction: some statements cannot run inside one, and every lock",
        "-- would be held to the end.",
        f"-- A statement that waits longer than {LOCK_TIMEOUT} for its lock fails rather than stall the application.",
        "-- psql does not retry: run the file again from the statement that failed (those before it are done), or",
        "-- use `bgmigrate apply`, which retries with backoff and jitter and resumes where it stopped.",
        HEADER_SET,
    ] + (contract_guard(plan.id) if phase.name == "contract" else [])


def backfill_loop(fill: Backfill) -> str:
    """A DO block filling the rows in key-range batches, committing after each (PostgreSQL 11+).

    The key's type is taken from the column (``%TYPE``), so integer, uuid and text keys all work.
    """
    k, t = fill.key, fill.table
    sets = ", ".join(f"{column} = {value}" for column, value in fill.assignments)
    scan = f"SELECT {k} FROM {t}"
    last = f" ORDER BY {k} DESC LIMIT 1"  # the batch's last key (max() does not take uuid)
    body = "\n".join([
        "",
        "DECLARE",
        f"  last_key {t}.{k}%TYPE;",
        f"  batch_end {t}.{k}%TYPE;",
        "BEGIN",
        "  LOOP",
        "    IF last_key IS NULL THEN",
        f"      SELECT {k} INTO batch_end FROM ({scan} ORDER BY {k} LIMIT {fill.batch_size}) AS batch{last};",
        "    ELSE",
        f"      SELECT {k} INTO batch_end FROM ({scan} WHERE {k} > last_key ORDER BY {k} LIMIT {fill.batch_size}) AS batch{last};",
        "    END IF;",
        "    EXIT WHEN NOT FOUND;",
        "    IF last_key IS NULL THEN",
        f"      UPDATE {t} SET {sets} WHERE {k} <= batch_end AND ({fill.where});",
        "    ELSE",
        f"      UPDATE {t} SET {sets} WHERE {k} > last_key AND {k} <= batch_end AND ({fill.where});",
        "    END IF;",
        "    last_key := batch_end;",
        "    COMMIT;",
        "  END LOOP;",
        "END",
        "",
    ])  # fmt: skip
    return f"DO {dollar_quote(body)}"


def backfill_sql(fill: Backfill) -> str:
    """The backfill loop with the suppression that says why lint may let its DO block pass.

    Lint reads the loop's UPDATEs; the first batch is bounded above by a key a LIMIT chose and
    below by the table's start, which no static check can see as a batch.
    """
    reason = ignore(["unbatched-data-change"], "generated backfill loop: key-range batches, each committed")
    return reason + backfill_loop(fill)


def _backfill(step: Step) -> list[str]:
    assert step.backfill is not None
    fill = step.backfill
    batches = f"({fill.batch_size} rows by {fill.key})"
    return [
        comment(f"   `bgmigrate apply … --phase migrate` runs this batch by batch {batches},"),
        "--    with progress, and resumes after a crash. By hand, the loop below commits after every batch",
        "--    (not in a transaction block). Rows still to do:",
        comment(f"   SELECT count(*) FROM {fill.table} WHERE {fill.where};"),
        backfill_sql(fill) + ";",
    ]


def _step(number: int, step: Step) -> list[str]:
    tags = []
    if step.takes_lock:
        tags.append(f"locks {step.table}: {step.takes_lock}")
    if not step.transactional:
        tags.append("not in a transaction")
    label = comment(f"{number}. {step.description}" + (f" [{'; '.join(tags)}]" if tags else ""))
    if step.kind == "backfill":
        return [label, *_backfill(step)]
    statements = step.sql.rstrip().rstrip(";")
    if step.transactional and len(split_sql(statements)) > 1:
        return [label, "BEGIN;", statements + ";", "COMMIT;"]
    return [label, statements + ";"]


def render_phase(plan: Plan, phase: Phase) -> str:
    """The SQL file of one phase."""
    lines = _header(plan, phase)
    if not phase.steps:
        lines += ["", "-- Nothing to do in this phase."]
    for number, step in enumerate(phase.steps, start=1):
        lines += ["", *_step(number, step)]
    return "\n".join(lines) + "\n"


def render_sql(plan: Plan) -> dict[str, str]:
    """File name → text, one file per phase."""
    return {file_name(phase): render_phase(plan, phase) for phase in plan.phases}
