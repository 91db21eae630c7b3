"""Backfill progress: a rich bar with rows/s and ETA on a terminal, a plain line now and then in CI."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from bgmigrate.safetext import display


class BackfillProgress(Protocol):
    def begin(self, label: str, total: int) -> None:
        """A pass starts over ``total`` rows (an estimate: writers keep inserting)."""

    def advance(self, walked: int) -> None:
        """A batch committed, covering ``walked`` more rows of the pass."""

    def end(self) -> None:
        """The pass is over (finished or stopped)."""


class QuietProgress:
    """No output: for the API and benchmarks."""

    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, walked: int) -> None:
        pass

    def end(self) -> None:
        pass


class PlainProgress:
    """A line every ``every`` batches and at the end: readable in CI logs, which keep every line."""

    def __init__(self, echo: Callable[[str], None], every: int = 100) -> None:
        self.echo, self.every = echo, every
        self.label, self.total, self.done, self.batches, self.started = "", 0, 0, 0, 0.0

    def begin(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.batches, self.started = label, total, 0, 0, time.monotonic()

    def advance(self, walked: int) -> None:
        self.done += walked
        self.batches += 1
        if self.batches % self.every == 0:
            self.echo(self._line())

    def end(self) -> None:
        if self.batches % self.every:
            self.echo(self._line())

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        percent = f" ({100 * self.done // self.total}%)" if self.total else ""
        eta = f", ETA {max(self.total - self.done, 0) / rate:.0f}s" if rate and self.total > self.done else ""
        return f"  {self.label}: {self.done:,}/{self.total:,} rows{percent}, {rate:,.0f} rows/s{eta}"


class _RowRate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} rows/s", style="progress.data.speed")


class RichProgress:
    """A live bar on the terminal (stderr, so stdout stays a clean log)."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowRate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None

    def begin(self, label: str, total: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task(escape(display(label)), total=total)  # a name may hold "[" or a newline

    def advance(self, walked: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, walked)

    def end(self) -> None:
        self.bar.stop()
        self.task = None


def make_progress(echo: Callable[[str], None]) -> BackfillProgress:
    """The bar on a terminal, plain lines otherwise."""
    console = Console(file=sys.stderr)
    if console.is_terminal:
        return RichProgress(console)
    return PlainProgress(echo)
