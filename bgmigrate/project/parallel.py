"""Map a function over many items in worker processes, when that pays.

Workers never print: whatever a call raises comes back as a :class:`WorkerFailure` value in
its item's place, and a pool that dies (a worker killed, a result that cannot be pickled) falls
back to running the rest in this process. Few items run in-process, with no pool at all.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Executor, Future

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a pool's start-up (fork, pickling results back) costs more than it saves.
MIN_PARALLEL_ITEMS = 100
# Without fork, each worker imports bgmigrate afresh: only large batches are worth it.
MIN_SPAWN_ITEMS = 400
# Items per chunk: enough to amortise sending them to a helper, few enough that the processes
# meet in the middle evenly (and that this process waits at most one chunk for a busy helper).
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


def idle_cores() -> int:
    """Cores not already busy with other programs (at least one: this process).

    A helper on a core that other work keeps busy only adds start-up and hand-over costs:
    measured on a loaded 2-core machine, the default of one helper made a cold lint 20-30%
    slower than ``--jobs 1``. So the default counts the cores the load average leaves free.
    """
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available here: assume the machine is ours
        return cores
    return max(1, min(cores, round(cores - load + 0.5)))


def worker_count(jobs: int, items: int) -> int:
    """How many processes to use for ``items`` items: 1 means in-process.

    >>> worker_count(0, 10), worker_count(4, 1000), worker_count(1, 1000)
    (1, 4, 1)
    """
    wanted = jobs if jobs > 0 else idle_cores()
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
    """``fn(item)`` for each item, in order, across ``jobs`` processes; failures come as values.

    Helper processes work through the items from the last chunk backwards while this process
    works forwards from the first, so the caller gets the first results at once (unpickled
    ones, at that). Where they meet, a chunk no helper has finished is done here, so this
    process never sits waiting on a busy or starved helper. ``fn`` must be picklable (a
    module-level function or a ``functools.partial`` of one); ``jobs`` counts this process,
    0 means one per core.
    """
    processes = worker_count(jobs, len(items))
    if processes == 1:
        yield from _safe_chunk(fn, items)
        return
    size = max(1, min(_MAX_CHUNK, -(-len(items) // (processes * _TASKS_PER_WORKER))))
    chunks = _chunks(items, size)
    pool, futures = _start_helpers(fn, chunks, processes - 1)
    try:
        for chunk, future in zip(chunks, futures, strict=True):
            yield from _here_or_there(fn, chunk, future)
    finally:
        if pool is not None:
            # When the caller stops early (an error, Ctrl-C), drop the work not yet started.
            pool.shutdown(wait=True, cancel_futures=True)


def _here_or_there(
    fn: Callable[[T], R], chunk: Sequence[T], future: Future[list[R | WorkerFailure]] | None
) -> list[R | WorkerFailure]:
    """A chunk's results: a helper's when it has them ready, else computed here and now.

    A chunk a helper holds but has not finished is computed here too (its copy is dropped):
    waiting would make this process only as fast as the slowest helper on a busy machine.
    """
    if future is not None and (future.cancel() or not future.done()):
        future = None
    if future is None:
        return _safe_chunk(fn, chunk)
    try:
        return future.result()
    except Exception:  # fn's own errors are values already: this is the pool failing
        return _safe_chunk(fn, chunk)  # a helper died or sent back what cannot be unpickled


def _start_helpers(
    fn: Callable[[T], R], chunks: Sequence[Sequence[T]], helpers: int
) -> tuple[Executor | None, list[Future[list[R | WorkerFailure]] | None]]:
    """Submit every chunk, last first, to helper processes; no futures if they cannot start."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    # Frozen objects are never traversed by a collection, so the forked helpers do not copy
    # this process's memory page by page when they collect.
    gc.freeze()
    try:
        context = multiprocessing.get_context(_start_method())
        pool = ProcessPoolExecutor(helpers, mp_context=context, initializer=_quiet_worker)
        task = partial(_safe_chunk, fn)
        # Last chunk first (the first submit forks the helpers).
        futures: list[Future[list[R | WorkerFailure]] | None] = [pool.submit(task, c) for c in reversed(chunks)]
        return pool, futures[::-1]
    except Exception:  # cannot fork or spawn here: this process computes everything itself
        return None, [None] * len(chunks)
    finally:
        gc.unfreeze()


def parallel_map(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> list[R | WorkerFailure]:
    """``parallel_imap`` collected into a list."""
    return list(parallel_imap(fn, items, jobs))
