"""Running one step of a phase under lock_timeout and retries, recording it as it goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from bgmigrate.apply.backfill import BackfillRun
from bgmigrate.apply.connect import Connection, describe
from bgmigrate.apply.errors import ApplyError
from bgmigrate.apply.options import ApplyOptions, Output
from bgmigrate.apply.retry import OnRetry, with_retries
from bgmigrate.apply.runner import run_sql
from bgmigrate.apply.state import DONE, Checkpoint, PlanState, StepStatus
from bgmigrate.plan.phases import Phase, Step
from bgmigrate.safetext import display

T = TypeVar("T")


class StepRunner:
    """Executes the steps of one phase on the work connection."""

    def __init__(
        self, conn: Connection, state: PlanState, phase: Phase, options: ApplyOptions, out: Output, dsn: str
    ) -> None:
        self.conn, self.state, self.phase = conn, state, phase
        self.options, self.out, self.dsn = options, out, dsn

    def label(self, index: int, verb: str = "step") -> str:
        step = self.phase.steps[index - 1]
        return f"{self.phase.name} {verb} {index}/{len(self.phase.steps)} ({display(step.description)})"

    def run_sql(
        self,
        index: int,
        text: str,
        *,
        transactional: bool,
        retry_sql: str = "",
        resumed: bool = False,
        status: StepStatus = DONE,
        verb: str = "step",
    ) -> None:
        """Run ``text`` with retries; record ``status`` for the step when it succeeds.

        ``retry_sql`` runs before every retry, and before the first attempt when an earlier
        run stopped inside this step (``resumed``): it clears what a failed attempt left behind.
        """
        name = self.phase.name

        def attempt(number: int) -> None:
            self.state.count_attempt(name, index)
            if retry_sql and (number > 1 or resumed):
                run_sql(self.conn, retry_sql, transactional=transactional, lock_timeout=self.options.lock_timeout)
                self.out.say(f"  {self.label(index, verb)}: cleared what the stopped attempt left ({retry_sql})")
            run_sql(
                self.conn,
                text,
                transactional=transactional,
                lock_timeout=self.options.lock_timeout,
                then=lambda conn: self.state.finish_step(conn, name, index, status),
            )

        self._guarded(index, verb, lambda: with_retries(attempt, self.options.policy, self.on_retry(index, verb)))

    def run_backfill(self, index: int, step: Step) -> Checkpoint:
        """Run a backfill step from its checkpoint; records the step done at the end."""
        assert step.backfill is not None  # the loader rejects backfill steps without a spec
        name = self.phase.name
        point = self.state.checkpoint(name, index) or Checkpoint()
        if point.batches:
            self.out.say(f"  resuming {self.label(index)} after batch {point.batches} (key {point.last_key})")
        run = BackfillRun(
            self.conn,
            step.backfill,
            self.options.backfill(),
            save=lambda conn, p: self.state.save_checkpoint(conn, name, index, p),
            progress=self.out.progress,
            on_retry=self.on_retry(index, "step"),
            after_batch=self.out.after_batch,
        )

        def go() -> Checkpoint:
            final = run.run(point)
            with self.conn.transaction():
                self.state.finish_step(self.conn, name, index)
            return final

        return self._guarded(index, "step", go)

    def _guarded(self, index: int, verb: str, work: Callable[[], T]) -> T:
        """``work()``, with its failures turned into one line naming the step."""
        try:
            return work()
        except psycopg.Error as exc:
            raise ApplyError(f"{self.label(index, verb)} failed: {describe(exc, self.dsn)}") from None
        except ApplyError as exc:
            raise ApplyError(f"{self.label(index, verb)} failed: {exc}") from None

    def on_retry(self, index: int, verb: str) -> OnRetry:
        def report(failures: int, exc: psycopg.Error, delay: float) -> None:
            reason = "lock timeout" if exc.sqlstate == "55P03" else "deadlock"
            self.out.say(
                f"  {self.label(index, verb)}: {reason}; retry {failures}/{self.options.policy.retries} in {delay:.1f}s"
            )

        return report


def timed(started: float) -> str:
    return f"{time.monotonic() - started:.2f}s"
