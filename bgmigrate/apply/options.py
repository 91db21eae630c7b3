"""What an apply run is told: limits from the command line, and where its output goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bgmigrate.apply.backfill import AfterBatch, BackfillSettings
from bgmigrate.apply.progress import BackfillProgress, QuietProgress
from bgmigrate.apply.retry import RetryPolicy


@dataclass(frozen=True)
class ApplyOptions:
    lock_timeout: float = 2.0  # seconds any statement may wait for a lock before it is retried
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    pause: float = 0.05  # seconds between backfill batches
    batch_size: int | None = None  # overrides each backfill's own batch size
    confirmed_old_retired: bool = False

    def backfill(self) -> BackfillSettings:
        return BackfillSettings(
            lock_timeout=self.lock_timeout, policy=self.policy, pause=self.pause, batch_size=self.batch_size
        )


def _discard(_message: str) -> None:
    pass


@dataclass
class Output:
    say: Callable[[str], None] = _discard  # one line of the run's log
    progress: BackfillProgress = field(default_factory=QuietProgress)
    after_batch: AfterBatch | None = None  # called after each committed batch (tests stop runs here)
