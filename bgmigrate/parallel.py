"""Map a function over many items in worker processes, when that pays.

Workers never print: whatever a call raises comes back as a :class:`WorkerFailure` value in
its item's place, and a pool that dies (a worker killed, a result that cannot be pickled) falls
back to running the rest in this process. Few items run in-process, with no pool at all.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a pool's start-up (fork, pickling results back) costs more than it saves.
MIN_PARALLEL_ITEMS = 48
# Without fork, each worker imports bgmigrate afresh: only large batches are worth it.
MIN_SPAWN_ITEMS = 400
# Items per task: enough to amortise pickling, few enough to balance the workers and to let
# the caller start on the first results early.
_TASKS_PER_WORKER = 4
_MAX_CHUNK = 32


@dataclass(frozen=True)
class WorkerFailure:
    """A call that raised, as a value: the exception's type and message."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" if self.message else self.kind


def available_cores() -> int:
    """CPUs this process may run on (respects affinity masks and container limits where visible)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(jobs: int, items: int) -> int:
    """How many processes to use for ``items`` items: 1 means in-process.

    >>> worker_count(0, 10), worker_count(4, 1000), worker_count(1, 1000)
    (1, 4, 1)
    """
    wanted = jobs if jobs > 0 else available_cores()
    threshold = MIN_PARALLEL_ITEMS if _start_method() == "fork" else MIN_SPAWN_ITEMS
    if wanted <= 1 or items < threshold:
        return 1
    return min(wanted, items)


def _start_method() -> str:
    # fork is cheap and shares the imported modules; elsewhere (macOS, Windows) fork is unsafe
    # or missing, so those platforms pay spawn's start-up instead.
    return "fork" if sys.platform.startswith("linux") else "spawn"


def safe_call(fn: Callable[[T], R], item: T) -> R | WorkerFailure:
    """``fn(item)``, with any exception turned into a value."""
    try:
        return fn(item)
    except Exception as exc:  # errors travel back as values, never as tracebacks
        return WorkerFailure(type(exc).__name__, str(exc))


def _safe_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R | WorkerFailure]:
    return [safe_call(fn, item) for item in chunk]


def _quiet_worker() -> None:
    # Ctrl-C reaches the whole process group; the parent handles it, workers just stop quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def parallel_imap(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> Iterator[R | WorkerFailure]:
    """``fn(item)`` for each item, in order, computed across processes; failures come as values.

    Results arrive while the workers are still busy with later items, so the caller can work
    on the first ones meanwhile. ``fn`` must be picklable (a module-level function or a
    ``functools.partial`` of one); ``jobs`` 0 means one worker per core.
    """
    workers = worker_count(jobs, len(items))
    if workers == 1:
        yield from _safe_chunk(fn, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    size = max(1, min(_MAX_CHUNK, -(-len(items) // (workers * _TASKS_PER_WORKER))))
    delivered = 0
    try:
        context = multiprocessing.get_context(_start_method())
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker) as pool:
            for done in pool.map(partial(_safe_chunk, fn), _chunks(items, size)):
                delivered += len(done)
                yield from done
    except Exception:  # fn's own errors are values already: this is the pool failing
        # A worker died, could not start, or sent back what cannot be unpickled: finish what is
        # left here rather than fail the run.
        yield from _safe_chunk(fn, items[delivered:])


def parallel_map(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> list[R | WorkerFailure]:
    """``parallel_imap`` collected into a list."""
    return list(parallel_imap(fn, items, jobs))
