"""Map a function over many items in worker processes, when that pays.

Workers never print: whatever a call raises comes back as a :class:`WorkerFailure` value in
its item's place, and a pool that dies (a worker killed, a result that cannot be pickled) falls
back to running the rest in this process. Few items run in-process, with no pool at all.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a pool's start-up (fork, pickling results back) costs more than it saves.
MIN_PARALLEL_ITEMS = 48
# Without fork, each worker imports bgmigrate afresh: only large batches are worth it.
MIN_SPAWN_ITEMS = 400
# Items per task: enough to amortise pickling, few enough to balance the workers.
_TASKS_PER_WORKER = 4


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
    except Exception as exc:  # noqa: BLE001 - errors travel back as values, never as tracebacks
        return WorkerFailure(type(exc).__name__, str(exc))


def _safe_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R | WorkerFailure]:
    return [safe_call(fn, item) for item in chunk]


def _quiet_worker() -> None:
    # Ctrl-C reaches the whole process group; the parent handles it, workers just stop quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def parallel_map(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> list[R | WorkerFailure]:
    """``[fn(item) for item in items]`` across processes, in order, failures as values.

    ``fn`` must be a module-level function (it is sent to the workers by name); ``jobs`` 0 means
    one worker per core.
    """
    workers = worker_count(jobs, len(items))
    if workers == 1:
        return _safe_chunk(fn, items)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    size = max(1, -(-len(items) // (workers * _TASKS_PER_WORKER)))
    chunks = _chunks(items, size)
    results: list[R | WorkerFailure] = []
    context = multiprocessing.get_context(_start_method())
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_worker) as pool:
            for done in pool.map(partial(_safe_chunk, fn), chunks):
                results.extend(done)
    except Exception:  # noqa: BLE001 - fn's own errors are values already: this is the pool failing
        # A worker died, could not start, or sent back what cannot be unpickled: finish what is
        # left here rather than fail the run.
        results.extend(_safe_chunk(fn, items[len(results) :]))
    return results
