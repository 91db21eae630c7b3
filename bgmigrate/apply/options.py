"""What an apply run is told: limits from the command line, and where its output goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bgmigrate.apply.backfill import AfterBatch, BackfillSettings
from bgmigrate.apply.batch_size import DEFAULT_BATCH_TIME
from bgmigrate.apply.plan_settings import PlanSettings
from bgmigrate.apply.progress import BackfillProgress, QuietProgress
from bgmigrate.apply.retry import RetryPolicy
from bgmigrate.durations import DEFAULT_LOCK_TIMEOUT  # shared with the phase files (plan.render_sql)


class ContractAnswer(NamedTuple):
    """What the traffic switch says about running a plan's contract now."""

    allowed: bool
    # Set when a coordinator keeps state here and refuses: no flag can override it. None when
    # nobody keeps state, so only the operator's ``--confirm-old-version-retired`` can allow it.
    refusal: str | None


# Asked before contract with the plan session and the plan id. apply is below the switch in
# the layers, so the command that runs apply hands the switch's answer in (``switch.contract``).
ContractGate = Callable[[Any, str], ContractAnswer]


@dataclass(frozen=True)
class ApplyOptions:
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds a statement may wait for a lock before a retry
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    pause: float = 0.05  # seconds between backfill batches
    batch_size: int | None = None  # a fixed size for every backfill (else sized to ``batch_time``)
    batch_time: float = DEFAULT_BATCH_TIME  # seconds each backfill batch should take
    confirmed_old_retired: bool = False

    def backfill(self) -> BackfillSettings:
        return BackfillSettings(
            lock_timeout=self.lock_timeout,
            policy=self.policy,
            pause=self.pause,
            batch_size=self.batch_size,
            batch_time=self.batch_time,
        )


def resolve_options(
    command_line: PlanSettings,
    plan: PlanSettings,
    *,
    pause: float,
    batch_size: int | None,
    confirmed_old_retired: bool,
    batch_time: float = DEFAULT_BATCH_TIME,
) -> ApplyOptions:
    """Lock and retry settings: the command line's, else the plan's, else the defaults.

    >>> resolve_options(PlanSettings(retries=3), PlanSettings(lock_timeout=0.1, retries=9), pause=0,
    ...                 batch_size=None, confirmed_old_retired=False).policy.retries
    3
    """
    default = RetryPolicy()

    def pick(name: str, fallback: float) -> float:
        for source in (command_line, plan):
            value = getattr(source, name)
            if value is not None:
                return float(value)
        return fallback

    policy = RetryPolicy(
        retries=int(pick("retries", default.retries)),
        base_delay=pick("retry_delay", default.base_delay),
        max_delay=pick("retry_max_delay", default.max_delay),
    )
    return ApplyOptions(
        lock_timeout=pick("lock_timeout", DEFAULT_LOCK_TIMEOUT),
        policy=policy,
        pause=pause,
        batch_size=batch_size,
        batch_time=batch_time,
        confirmed_old_retired=confirmed_old_retired,
    )


def _discard(_message: str) -> None:
    pass


@dataclass
class Output:
    say: Callable[[str], None] = _discard  # one line of the run's log
    progress: BackfillProgress = field(default_factory=QuietProgress)
    after_batch: AfterBatch | None = None  # called after each committed batch (tests stop runs here)
