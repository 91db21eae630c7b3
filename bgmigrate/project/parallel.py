"""Map a function over many items in helper processes, when that pays.

The items are cut into chunks, and every chunk is done exactly once, by whichever process takes
its number first (from a pipe the numbers wait in; spawned helpers share a locked counter
instead): this process takes the chunk it needs next when no helper has, and otherwise uses the
helper's result, so nothing is computed twice and the results come in order. Helpers never
print: whatever a call raises comes back as a :class:`WorkerFailure` value in its item's place.
A helper that dies, stalls or sends back what cannot be pickled costs time only: its chunks are
done here. Few items run in-process, with no helper at all.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

T = TypeVar("T")
R = TypeVar("R")

# Below this many items a helper's start-up (fork, pickling results back) costs more than it saves.
MIN_PARALLEL_ITEMS = 100
# Without fork, each helper imports bgmigrate afresh: only large batches are worth it.
MIN_SPAWN_ITEMS = 400
# Items per chunk: enough to amortise one message, few enough that this process, which takes
# the chunks in order, seldom waits long for the one a helper is still working on.
_MAX_CHUNK = 16
_CHUNKS_PER_PROCESS = 8
# How long this process waits for a chunk a helper took, in multiples of the time it takes
# here, before doing it itself: a helper starved of CPU (or stopped) never holds it up for long.
_PATIENCE = 3.0
_MIN_WAIT = 0.05  # seconds: the first chunk's time is not known yet
_LOCK_WAIT = 1.0  # seconds: the shared counter's lock is held for an instant, or lost with a helper


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

    ``jobs`` 0 means one per available core. No chunk is ever done twice, so a helper on a
    core that other programs keep busy costs only its start-up and the hand-over of its results.

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
    # Ctrl-C reaches the whole process group; the parent handles it, helpers just stop quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def chunk_size(items: int, processes: int) -> int:
    """Items per chunk.

    >>> chunk_size(1000, 2), chunk_size(100, 2), chunk_size(5, 4)
    (16, 7, 1)
    """
    return max(1, min(_MAX_CHUNK, -(-items // (processes * _CHUNKS_PER_PROCESS))))


def parallel_imap(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> Iterator[R | WorkerFailure]:
    """``fn(item)`` for each item, in order, across ``jobs`` processes; failures come as values.

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one) where
    helpers are spawned rather than forked; ``jobs`` counts this process, 0 means one per core.
    """
    processes = worker_count(jobs, len(items))
    if processes == 1:
        yield from _safe_chunk(fn, items)
        return
    # At least as large as the pipe of chunk numbers needs (a million items: 62 each).
    size = max(chunk_size(len(items), processes), -(-len(items) // _PipeNumbers.MOST))
    chunks = _chunks(items, size)
    helpers = _Helpers.start(fn, chunks, processes - 1)
    if helpers is None:  # cannot fork or spawn here: this process does everything itself
        yield from _safe_chunk(fn, items)
        return
    try:
        for index in range(len(chunks)):
            yield from helpers.chunk(index)
    finally:
        helpers.stop()  # also when the caller stops early (an error, Ctrl-C)


def parallel_map(fn: Callable[[T], R], items: Sequence[T], jobs: int = 0) -> list[R | WorkerFailure]:
    """``parallel_imap`` collected into a list."""
    return list(parallel_imap(fn, items, jobs))


# ---- the helpers ----------------------------------------------------------------------------


def _helper_main(fn: Callable[[Any], Any], chunks: Sequence[Sequence[Any]], numbers: _Numbers, out: Connection) -> None:
    """A helper's loop: take the next unclaimed chunk, do it, send it back; stop when none is left."""
    _quiet_worker()
    while (index := numbers.take()) is not None:
        done = _safe_chunk(fn, chunks[index])
        try:
            payload = pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a result that cannot travel: an empty body, and the chunk is done there
            payload = b""
        try:
            out.send_bytes(index.to_bytes(_INDEX_BYTES, "little") + payload)
        except OSError:  # the main process is gone (killed): stop, quietly
            return
    out.close()


class _Numbers(Protocol):
    """Hands out the chunk numbers in order, each to exactly one process."""

    def take(self) -> int | None:
        """The next number no process has taken, or None when all are taken."""

    def close(self) -> None:
        """No more numbers for anyone (this process stops the helpers)."""


class _PipeNumbers:
    """The numbers written into a pipe before the helpers fork, four bytes each; whoever reads a
    number owns it. Reads of four bytes from a pipe holding whole numbers are atomic, and with
    no writer left a read never blocks: no lock, so no lock a killed helper could take with it."""

    WIDTH = 4
    MOST = (1 << 16) // WIDTH  # what a pipe holds by default: the writes below never block

    def __init__(self, count: int) -> None:
        if count > self.MOST:
            raise ValueError(f"at most {self.MOST} chunks")
        self._fd, write = os.pipe()
        # Never block: a pipe can be smaller than usual (a user over the kernel's pipe budget gets
        # one page), and with no reader yet a blocking write would wait forever. BlockingIOError
        # is an OSError: the caller then runs without helpers.
        os.set_blocking(write, False)
        try:
            data = b"".join(n.to_bytes(self.WIDTH, "little") for n in range(count))
            while data:
                data = data[os.write(write, data) :]
        except OSError:
            os.close(self._fd)
            raise
        finally:
            os.close(write)

    def take(self) -> int | None:
        got = os.read(self._fd, self.WIDTH)
        return int.from_bytes(got, "little") if len(got) == self.WIDTH else None

    def close(self) -> None:
        while os.read(self._fd, 1 << 16):  # empty it: every helper's next read finds no number
            pass
        os.close(self._fd)


class _CounterNumbers:
    """A shared counter under a lock (for helpers that are spawned, which inherit no pipe).

    A helper killed while it held the lock would hold it forever: after a second this process
    stops asking, and does every chunk it has not received itself.
    """

    def __init__(self, count: int, context: Any) -> None:
        self._count = count
        self._counter = context.Value("q", 0)
        self._broken = False

    def take(self) -> int | None:
        lock = self._counter.get_lock()
        if self._broken or not lock.acquire(timeout=_LOCK_WAIT):
            self._broken = True
            return None
        try:
            index = int(self._counter.value)
            if index >= self._count:
                return None
            self._counter.value = index + 1
            return index
        finally:
            lock.release()

    def close(self) -> None:
        lock = self._counter.get_lock()
        if not self._broken and lock.acquire(timeout=_LOCK_WAIT):
            self._counter.value = self._count
            lock.release()


_INDEX_BYTES = 8  # each message: the chunk's index, then its pickled results (empty: none)


def _widen(pipe: Connection) -> None:
    """Let a pipe hold a megabyte (Linux; elsewhere it stays as it is).

    This process reads its helpers' pipes from a thread, which gets the interpreter lock only
    now and then while the main thread lints: with the default 64 KiB a helper blocked on a
    full pipe about a quarter of its time.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe.fileno(), setsize, _PIPE_BYTES)


_PIPE_BYTES = 1 << 20  # Linux's default limit for an unprivileged process


class _Helpers:
    """Helper processes working through the chunks, and the results they have sent back so far.

    One thread per helper reads its pipe at once (a helper blocks when its pipe is full), and
    keeps each result as bytes: it is unpickled only when the chunk is needed.
    """

    def __init__(self, fn: Callable[[Any], Any], chunks: Sequence[Sequence[Any]], numbers: _Numbers) -> None:
        self._fn = fn
        self._chunks = chunks
        self._numbers = numbers
        self._arrived: dict[int, memoryview] = {}
        self._changed = threading.Condition()
        self._live = 0
        self._processes: list[BaseProcess] = []
        self._ahead: dict[int, list[Any]] = {}  # chunks done here before they were needed
        self._patience = _MIN_WAIT

    @classmethod
    def start(cls, fn: Callable[[T], R], chunks: Sequence[Sequence[T]], count: int) -> _Helpers | None:
        """``count`` helpers started on the chunks; None if none starts."""
        import multiprocessing

        method = _start_method()
        context: Any = multiprocessing.get_context(method)
        try:
            numbers: _Numbers = _PipeNumbers(len(chunks)) if method == "fork" else _CounterNumbers(len(chunks), context)
        except (OSError, ValueError):
            return None
        helpers = cls(fn, chunks, numbers)
        pipes: list[Connection] = []
        # Frozen objects are never traversed by a collection, so the forked helpers do not copy
        # this process's memory page by page when they collect.
        gc.freeze()
        try:
            for _ in range(count):
                receive, send = context.Pipe(duplex=False)
                _widen(send)
                process = context.Process(target=_helper_main, args=(fn, chunks, numbers, send), daemon=True)
                process.start()
                send.close()  # the helper holds the only writing end: its death reads as EOF here
                helpers._processes.append(process)
                pipes.append(receive)
        except Exception:  # cannot fork or spawn here (or no more processes): fewer helpers
            if not helpers._processes:
                numbers.close()
                return None
        finally:
            gc.unfreeze()
        # Threads start after every fork: a forked child must never inherit a running thread.
        helpers._live = len(pipes)
        for pipe in pipes:
            threading.Thread(target=helpers._read, args=(pipe,), daemon=True).start()
        return helpers

    def chunk(self, index: int) -> list[Any]:
        """Chunk ``index``'s results: done here, or a helper's.

        This process takes the next untaken chunk: the one it needs, or (a helper having taken
        that) a later one, done now rather than waiting. With nothing left to take, it waits
        only a few times as long as a chunk takes here, then does it itself: a helper starved
        of CPU, stopped or dead never holds it up.
        """
        if index in self._ahead:
            return self._ahead.pop(index)
        while not self._has_arrived(index):
            taken = self._numbers.take()
            if taken is None:
                break
            done = self._here(taken)
            if taken == index:
                return done
            self._ahead[taken] = done
        arrived = self._arrival(index)
        return self._here(index) if arrived is None else arrived

    def _here(self, index: int) -> list[Any]:
        started = time.perf_counter()
        done = _safe_chunk(self._fn, self._chunks[index])
        self._patience = max(_MIN_WAIT, _PATIENCE * (time.perf_counter() - started))
        return done

    def _has_arrived(self, index: int) -> bool:
        with self._changed:
            return index in self._arrived or self._live == 0

    def _arrival(self, index: int) -> list[Any] | None:
        """A helper's results for chunk ``index``, waited for a while; None if they do not come."""
        deadline = time.monotonic() + self._patience
        with self._changed:
            while index not in self._arrived and self._live > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            message = self._arrived.pop(index, None)
        if not message:  # late, lost with a dead helper, or not picklable
            return None
        try:
            done: list[Any] = pickle.loads(message)
        except Exception:  # a helper killed half-way through a write, or the like
            return None
        return done

    def _read(self, pipe: Connection) -> None:
        """Keep what one helper sends until it closes its pipe (done, or dead)."""
        try:
            while True:
                message = memoryview(pipe.recv_bytes())
                index = int.from_bytes(message[:_INDEX_BYTES], "little")
                with self._changed:
                    self._arrived[index] = message[_INDEX_BYTES:]
                    self._changed.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            pipe.close()
            with self._changed:
                self._live -= 1
                self._changed.notify_all()

    def stop(self) -> None:
        """No more chunks for anyone; helpers still working are ended."""
        self._numbers.close()
        for process in self._processes:
            process.join(timeout=0.5)
            if process.is_alive():
                process.kill()
                process.join()
