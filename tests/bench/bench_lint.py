"""Benchmark ``bgmigrate lint`` against squawk on a generated corpus, in one run.

    .venv/bin/python tests/bench/bench_lint.py            # 1,000 files (DDL and DML), 7 rounds

Each round runs, interleaved so that background load spreads evenly over them:

* ``squawk`` over every file of the corpus;
* ``bgmigrate lint --no-cache --format json`` over the corpus (cold), again with ``--jobs 1``,
  and in the default text format;
* ``bgmigrate lint`` twice over the corpus after emptying the cache (the second run is warm);
* pre-commit: the last file of the corpus edited, then ``bgmigrate lint`` on that file alone
  (its 999 earlier siblings' schema comes from the cache);
* squawk and ``bgmigrate lint --no-cache`` on one file alone in its own folder.

Wall and CPU times are medians over the rounds (CPU time is user + system of the command and
its helper processes); peak memory is the largest resident set among the command's processes
(``wait4``'s resource usage). Both tools exit 1 on findings: that is fine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from frozen import frozen_env  # noqa: E402 - scripts beside this one
from gen_corpus import generate  # noqa: E402

# The targets (12.1, 12.2): cold within 3x squawk, warm within 1x, one edited file at
# the end of the folder (pre-commit) within 0.3 s, one file alone under 0.35 s.
COLD_RATIO = 3.0
WARM_RATIO = 1.0
PRE_COMMIT_SECONDS = 0.3
ONE_FILE_SECONDS = 0.35


@dataclass
class Timing:
    """Wall times and peak memory of one command over the rounds."""

    label: str
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system, helper processes included
    peak_kib: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time, CPU time and peak RSS (KiB) of one command; its output is discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} exited {process.returncode}:\n{stderr.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def tool(name: str) -> str:
    """A tool from this interpreter's environment (the venv), else from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found (pip install {'squawk-cli' if name == 'squawk' else '-e .'})")
    return found


def version(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0]


class Bench:
    """The commands of one benchmark run and their timings."""

    def __init__(self, workdir: Path, files: int) -> None:
        self.workdir = workdir
        self.corpus = workdir / "corpus"
        self.sql = generate(self.corpus, files)
        single = workdir / "single"
        single.mkdir()
        self.one = single / self.sql[len(self.sql) // 2].name
        shutil.copyfile(self.sql[len(self.sql) // 2], self.one)
        self.cache = workdir / "cache"
        self.env = {**frozen_env(workdir), "BGMIGRATE_CACHE_DIR": str(self.cache)}
        self.timings: dict[str, Timing] = {}
        squawk, bgmigrate = tool("squawk"), tool("bgmigrate")
        lint = [bgmigrate, "lint", "--format", "json"]
        self.commands: dict[str, list[str]] = {
            "squawk": [squawk, *(str(p) for p in self.sql)],
            "cold": [*lint, "--no-cache", str(self.corpus)],
            "cold -j1": [*lint, "--no-cache", "--jobs", "1", str(self.corpus)],
            # The default format, as a developer or a CI log sees it (output to a pipe: plain text).
            "cold text": [bgmigrate, "lint", "--no-cache", str(self.corpus)],
            "first": [*lint, str(self.corpus)],
            "warm": [*lint, str(self.corpus)],
            "pre-commit": [*lint, str(self.sql[-1])],
            "squawk one file": [squawk, str(self.one)],
            "one file": [*lint, "--no-cache", str(self.one)],
        }

    def record(self, label: str) -> None:
        seconds, cpu, peak = run_once(self.commands[label], self.workdir, self.env)
        timing = self.timings.setdefault(label, Timing(label))
        timing.seconds.append(seconds)
        timing.cpu.append(cpu)
        timing.peak_kib = max(timing.peak_kib, peak)

    def edit_last(self) -> None:
        """Change the newest migration, as a developer does before committing it."""
        self.edits = getattr(self, "edits", 0) + 1
        with self.sql[-1].open("a", encoding="utf-8") as handle:
            handle.write(f"ALTER TABLE t1 ADD COLUMN edit{self.edits} integer;\n")

    def round(self) -> None:
        self.record("squawk")
        self.record("cold")
        self.record("cold -j1")
        self.record("cold text")
        shutil.rmtree(self.cache, ignore_errors=True)
        self.record("first")  # fills the cache
        self.record("warm")
        self.edit_last()
        self.record("pre-commit")
        self.record("squawk one file")
        self.record("one file")


def memory_floor(workdir: Path) -> int:
    """Peak RSS (KiB) that ``wait4`` reports for a do-nothing command.

    Linux counts the launching process's size at fork into the child's peak, so smaller
    figures mean "at most this"; larger ones are the command's own peak.
    """
    true = shutil.which("true")
    return run_once([true], workdir, dict(os.environ))[2] if true else 0


def report(bench: Bench, rounds: int, load: tuple[str, str], out: Callable[[str], None] = print) -> bool:
    """Print the table and the verdicts; True when every target is met."""
    t = bench.timings
    squawk = t["squawk"].median
    out(f"corpus: {len(bench.sql)} files, {_statements(bench)} statements; {rounds} rounds; {_machine()}")
    out(f"{version([tool('squawk'), '--version'])}; {version([tool('bgmigrate'), '--version'])}")
    out(f"load average before / after: {load[0]} / {load[1]}")
    out(f"memory floor (see memory_floor): {memory_floor(bench.workdir) / 1024:.1f} MiB")
    out("")
    out(f"{'command':<16} {'median s':>9} {'min s':>7} {'x squawk':>9} {'cpu s':>7} {'peak MiB':>9}")
    for label in (
        "squawk",
        "cold",
        "cold -j1",
        "cold text",
        "first",
        "warm",
        "pre-commit",
        "squawk one file",
        "one file",
    ):
        row = t[label]
        ratio = f"{row.median / squawk:.2f}" if label in ("cold", "cold -j1", "cold text", "first", "warm") else ""
        cpu = statistics.median(row.cpu)
        out(
            f"{label:<16} {row.median:>9.3f} {min(row.seconds):>7.3f} {ratio:>9} {cpu:>7.3f} {row.peak_kib / 1024:>9.1f}"
        )
    checks = [
        (f"cold ≤ {COLD_RATIO}x squawk", t["cold"].median / squawk, COLD_RATIO, "x"),
        (f"cold text ≤ {COLD_RATIO}x squawk", t["cold text"].median / squawk, COLD_RATIO, "x"),
        (f"warm ≤ {WARM_RATIO}x squawk", t["warm"].median / squawk, WARM_RATIO, "x"),
        (f"pre-commit ≤ {PRE_COMMIT_SECONDS} s", t["pre-commit"].median, PRE_COMMIT_SECONDS, " s"),
        (f"one file < {ONE_FILE_SECONDS} s", t["one file"].median, ONE_FILE_SECONDS, " s"),
    ]
    out("")
    for name, value, limit, unit in checks:
        out(f"{'PASS' if value <= limit else 'FAIL'}  {name}: {value:.2f}{unit}")
    return all(value <= limit for _, value, limit, _ in checks)


def _statements(bench: Bench) -> int:
    return sum(p.read_text(encoding="utf-8").count(";\n") for p in bench.sql)


def _load() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "?"


def _machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores, Python {sys.version.split()[0]}, {sys.platform}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="migrations in the corpus (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="repetitions of every command (default 7)")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bgmigrate-bench-") as temporary:
        workdir = args.keep or Path(temporary)
        if args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
        bench = Bench(workdir, args.files)
        bench.record("cold")  # warm the OS file cache and .pyc files; not counted
        bench.timings.clear()
        before = _load()
        for _ in range(args.rounds):
            bench.round()
        ok = report(bench, args.rounds, (before, _load()))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
