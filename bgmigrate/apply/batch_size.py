"""How many rows the next backfill batch takes: sized to a target time, measured as it goes.

A fixed row count is wrong for most tables: 1,000 narrow rows take a few milliseconds (the
backfill then spends its time on per-batch overhead), 1,000 wide rows with many indexes may hold
row locks for a second (and a writer touching one of them waits that long). So the size follows
the measured time of each committed batch towards ``target`` seconds, at most doubling or halving
per batch so one slow batch (a checkpoint, a busy disk) cannot swing it wildly.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BATCH_TIME = 0.05  # seconds: see docs/apply.md (Backfills) for the measurement behind it
MIN_BATCH = 100
MAX_BATCH = 200_000


@dataclass
class BatchSizer:
    """The current batch size; ``fixed`` keeps it (``--batch-size`` given)."""

    size: int
    target: float = DEFAULT_BATCH_TIME
    fixed: bool = False

    def measured(self, rows: int, seconds: float) -> None:
        """Adjust after a batch of ``rows`` rows that took ``seconds``.

        >>> sizer = BatchSizer(1000, target=0.15)
        >>> sizer.measured(1000, 0.03); sizer.size            # fast: grow, at most twice
        2000
        >>> sizer.measured(2000, 0.2); sizer.size             # a bit slow: towards the target
        1500
        >>> sizer.measured(10, 0.001); sizer.size             # the end of a pass says nothing
        1500
        """
        if self.fixed or rows < self.size or seconds <= 0:
            return
        ideal = self.size * self.target / seconds
        bounded = min(max(ideal, self.size / 2), self.size * 2)
        self.size = int(min(max(round(bounded), MIN_BATCH), MAX_BATCH))

    def backed_off(self) -> None:
        """A batch lost a lock race: retry with a smaller one (its locks are held for less time)."""
        if not self.fixed:
            self.size = max(MIN_BATCH, self.size // 2)
