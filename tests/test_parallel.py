"""Parallel reading and parsing: same result as serial, failures as values, no pool for a few files."""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from bgmigrate.project import parallel
from bgmigrate.project.parallel import WorkerFailure, parallel_map, worker_count
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint

BENCH = Path(__file__).parent / "bench"
fork_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers fork on Linux only")


def _gen_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_corpus", BENCH / "gen_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lint(folder: Path, jobs: int) -> LintResult:
    result, _ = run_lint(LintRequest(paths=(str(folder),), use_cache=False, jobs=jobs))
    return result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    _gen_corpus().generate(folder, 150)
    return folder


@fork_only
def test_parallel_result_equals_serial_result(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus.parent)
    assert worker_count(2, 150) == 2, "150 files are enough to go parallel"
    serial = lint(corpus, jobs=1)
    together = lint(corpus, jobs=2)
    assert serial.findings, "the corpus should produce findings"
    assert together.findings == serial.findings
    assert together.errors == serial.errors == []
    assert together.files == serial.files == 150
    assert together.sources == serial.sources


def test_the_corpus_is_deterministic(tmp_path: Path) -> None:
    gen = _gen_corpus()
    a = [p.read_bytes() for p in gen.generate(tmp_path / "a", 20)]
    b = [p.read_bytes() for p in gen.generate(tmp_path / "b", 20)]
    assert a == b
    # Every file holds at least the plain statements (some add BEGIN/COMMIT, a function, a view).
    assert all(text.count(b";\n") >= gen.STATEMENTS_PER_FILE for text in a)


def _pid(_: int) -> int:
    return os.getpid()


def _explode(n: int) -> int:
    if n % 7 == 3:
        raise ValueError(f"bad item {n}")
    return n * n


STALL = 3.0


def _stall() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    time.sleep(STALL)


def _unpicklable(n: int) -> object:
    return lambda: n  # a worker cannot send this back


def _slow_pid(_: int) -> int:
    time.sleep(0.002)
    return os.getpid()


def _logged(path: str, n: int) -> tuple[int, int]:
    """Record that item ``n`` was computed (one line per call, in any process), then work a little."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{n}\n".encode())
    finally:
        os.close(fd)
    time.sleep(0.001)
    return n, os.getpid()


@fork_only
def test_every_item_is_computed_once_and_the_helper_does_its_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls"
    monkeypatch.setattr(parallel, "_PATIENCE", 1000.0)  # never give up on a helper here
    monkeypatch.setattr(parallel, "_MIN_WAIT", 60.0)
    results = parallel_map(functools.partial(_logged, str(log)), list(range(300)), jobs=2)
    assert [n for n, _pid in results] == list(range(300)), "results come in order"
    calls = sorted(int(line) for line in log.read_text().split())
    assert calls == list(range(300)), "no item is computed twice (nor left out)"
    pids = [pid for _n, pid in results]
    assert len(set(pids)) == 2 and pids.count(os.getpid()) < 250, "a helper does a good share"


def _dies_in_helper(parent: int, n: int) -> int:
    if n == 150 and os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return n * 2


def _stops_in_helper(parent: int, n: int) -> int:
    if n == 150 and os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGSTOP)
    return n * 2


@fork_only
@pytest.mark.parametrize("fault", [_dies_in_helper, _stops_in_helper], ids=["killed", "stopped"])
def test_a_helper_that_dies_or_stops_costs_only_time(fault: Callable[[int, int], int]) -> None:
    started = time.perf_counter()
    results: list[object] = parallel_map(functools.partial(fault, os.getpid()), list(range(400)), jobs=2)
    assert results == [n * 2 for n in range(400)]
    assert time.perf_counter() - started < 10


@fork_only
def test_a_starved_helper_never_holds_this_process_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_quiet_worker", _stall)  # the helper cannot work for a while
    started = time.perf_counter()
    results = []
    for result in parallel.parallel_imap(_explode, list(range(200)), jobs=2):
        results.append(result)
        if len(results) == 200:
            delivered = time.perf_counter() - started
    assert results == parallel_map(_explode, list(range(200)), jobs=1)
    assert delivered < STALL / 2, "every chunk was done here rather than waited for"


def test_a_few_items_never_start_a_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_helpers(*args: object, **kwargs: object) -> object:
        raise AssertionError("no helper for a handful of items")

    monkeypatch.setattr(parallel._Helpers, "start", no_helpers)
    assert parallel_map(_pid, [1, 2, 3], jobs=8) == [os.getpid()] * 3
    assert worker_count(8, parallel.MIN_PARALLEL_ITEMS - 1) == 1
    assert worker_count(1, 10_000) == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_failures_come_back_as_values_in_order(jobs: int, capfd: pytest.CaptureFixture[str]) -> None:
    results = parallel_map(_explode, list(range(100)), jobs=jobs)
    for n, result in enumerate(results):
        if n % 7 == 3:
            assert result == WorkerFailure("ValueError", f"bad item {n}")
        else:
            assert result == n * n
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


@fork_only
def test_a_failing_pool_falls_back_to_this_process(capfd: pytest.CaptureFixture[str]) -> None:
    results = parallel_map(_unpicklable, list(range(100)), jobs=2)
    assert [r() for r in results] == list(range(100))  # type: ignore[operator]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_internal_error_is_one_files_input_error(
    corpus: Path, jobs: int, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import bgmigrate.lint.engine

    real = bgmigrate.lint.engine.parse_migration

    def broken(migration):  # type: ignore[no-untyped-def]
        if migration.path.endswith("0007_migration_7.sql"):
            raise RuntimeError("parser bug")
        return real(migration)

    monkeypatch.setattr(bgmigrate.lint.engine, "parse_migration", broken)  # forked workers inherit it
    monkeypatch.chdir(corpus.parent)
    result = lint(corpus, jobs=jobs)
    [error] = result.errors
    assert error.path.endswith("0007_migration_7.sql")
    assert error.message == "internal error while reading this file: RuntimeError: parser bug"
    assert result.files == 149
    assert "Traceback" not in "".join(capfd.readouterr())


@fork_only
def test_alembic_revisions_load_in_helpers_as_they_do_here(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)
    versions = root / "fixtures" / "alembic" / "versions"
    serial = lint(versions, jobs=1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_ITEMS", 2)  # even a handful of revisions go parallel
    together = lint(versions, jobs=2)
    assert serial.findings and serial.files >= 2
    assert (together.findings, together.errors, together.files) == (serial.findings, serial.errors, serial.files)
    assert together.sources == serial.sources


def test_the_default_uses_every_core_this_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    assert worker_count(0, 1000) == 2
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    assert worker_count(0, 1000) == 1
    assert worker_count(2, 1000) == 2, "an explicit --jobs is obeyed"


def test_spawned_helpers_give_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where fork is not used (macOS, Windows), helpers are spawned and share a locked counter."""
    monkeypatch.setattr(parallel, "_start_method", lambda: "spawn")
    monkeypatch.setattr(parallel, "MIN_SPAWN_ITEMS", 100)
    started: list[object] = []
    real = parallel._Helpers.start.__func__  # type: ignore[attr-defined]

    def recording(cls: type, *args: object) -> object:
        helpers = real(cls, *args)
        started.append(helpers)
        return helpers

    monkeypatch.setattr(parallel._Helpers, "start", classmethod(recording))
    work = functools.partial(pow, 3)  # picklable by reference: a spawned helper imports nothing of the tests
    assert parallel_map(work, list(range(400)), jobs=2) == [3**n for n in range(400)]
    assert started and started[0] is not None, "a helper was spawned"


@fork_only
def test_the_chunk_numbers_go_to_one_reader_each(tmp_path: Path) -> None:
    numbers = parallel._PipeNumbers(5000)
    theirs = tmp_path / "theirs"
    pid = os.fork()
    if pid == 0:  # a second reader, as a helper is
        taken = []
        while (n := numbers.take()) is not None:
            taken.append(n)
        theirs.write_text(" ".join(map(str, taken)))
        os._exit(0)
    mine = []
    while (n := numbers.take()) is not None:
        mine.append(n)
    os.waitpid(pid, 0)
    other = [int(n) for n in theirs.read_text().split()]
    assert mine == sorted(mine) and other == sorted(other), "each reader gets its numbers in order"
    assert sorted(mine + other) == list(range(5000)), "every number once, to one reader"
    numbers.close()


def test_a_huge_list_is_cut_into_chunks_the_pipe_can_hold() -> None:
    assert parallel._PipeNumbers.MOST * parallel._PipeNumbers.WIDTH <= 1 << 16
    with pytest.raises(ValueError):
        parallel._PipeNumbers(parallel._PipeNumbers.MOST + 1)


@fork_only
def test_a_pipe_too_small_for_the_numbers_means_no_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user over the kernel's pipe budget gets pipes of one page: never block on filling one."""
    real_pipe = os.pipe

    def small_pipe() -> tuple[int, int]:
        read, write = real_pipe()
        import fcntl

        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)  # type: ignore[attr-defined]
        return read, write

    monkeypatch.setattr(os, "pipe", small_pipe)
    with pytest.raises(OSError):
        parallel._PipeNumbers(2000)  # 8,000 bytes
    numbers = parallel._PipeNumbers(1000)  # 4,000 bytes fit
    assert numbers.take() == 0
    numbers.close()
    monkeypatch.setattr(parallel, "_MAX_CHUNK", 1)
    assert parallel_map(_explode, list(range(3000)), jobs=2)[4] == 16, "too many chunks: done here"


def _running_in(folder: Path) -> list[int]:
    """Processes whose command line names ``folder`` (a lint of it, or its helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(folder).encode() in cmdline:
                found.append(int(entry.name))
    return found


@fork_only
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_lint_exits_130_and_leaves_no_helper(how: str, tmp_path: Path) -> None:
    import subprocess

    folder = tmp_path / "big"
    _gen_corpus().generate(folder, 3000)
    process = subprocess.Popen(
        [sys.executable, "-m", "bgmigrate", "lint", "--no-cache", "--jobs", "2", "--format", "json", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    time.sleep(1.0)  # in the middle of it: a cold lint of 3,000 files takes seconds
    assert process.poll() is None, "the lint should still be running"
    if how == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)  # a terminal sends it to the whole group
    else:
        process.send_signal(signal.SIGTERM)  # a CI runner stops the command it started
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    time.sleep(0.2)
    assert _running_in(folder) == [], "no helper process outlives the lint"


def test_widening_a_pipe_where_fcntl_is_missing_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no fcntl: helpers must still start there (the pipe keeps its size)."""
    import builtins
    import multiprocessing

    real_import = builtins.__import__

    def no_fcntl(name: str, *args: object, **kwargs: object) -> object:
        if name == "fcntl":
            raise ImportError("no fcntl here")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    receive, send = multiprocessing.Pipe(duplex=False)
    monkeypatch.setattr(builtins, "__import__", no_fcntl)
    parallel._widen(send)  # no ImportError
    monkeypatch.undo()
    send.send_bytes(b"x")
    assert receive.recv_bytes() == b"x"
