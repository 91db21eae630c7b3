"""Benchmark one large migration file: lint must stay linear in the statements of a file.

    .venv/bin/python tests/bench/bench_large_file.py              # 3 rounds of every case
    .venv/bin/python tests/bench/bench_large_file.py --rounds 5 --statements 20000

Cases, each run as ``bgmigrate lint --no-cache`` in its own process (wall and CPU time, peak
RSS of the process from ``wait4``; on a loaded machine the CPU time is the steadier figure):

* ``inserts``: a seed file of N ``INSERT … VALUES`` statements (after one CREATE TABLE);
* ``mixed``: N statements mixing DDL, UPDATE, INSERT and DELETE on a few tables;
* ``semicolons``: N empty statements (``;`` alone);
* ``drops``: N ``ALTER TABLE … DROP COLUMN`` on one table after a copy of one of the columns
  (move-column's pairs were found by rereading every earlier statement per drop);
* ``findings``: 2,000 findings in one file, rendered by the ``text`` report;
* ``blank lines``: a million blank lines then a DROP TABLE, rendered by the ``text`` report.

Targets (issue 11 B1/B2): N = 20,000 statements in ≤ 2 s and ≤ 200 MB; 2,000 findings in ≤ 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from frozen import frozen_env  # noqa: E402 - a script beside this one

SECONDS = 2.0
PEAK_MIB = 200.0


def inserts(n: int) -> str:
    rows = (f"INSERT INTO seed (id, name, note) VALUES ({i}, 'name {i}', NULL);\n" for i in range(n - 1))
    return "CREATE TABLE seed (id bigint PRIMARY KEY, name text NOT NULL, note text);\n" + "".join(rows)


def mixed(n: int) -> str:
    shapes = (
        "CREATE TABLE m{i} (id bigint PRIMARY KEY, v integer);",
        "INSERT INTO m{j} (id, v) VALUES ({i}, {i});",
        "UPDATE m{j} SET v = v + 1 WHERE id = {i};",
        "ALTER TABLE m{j} ADD COLUMN c{i} integer;",
        "DELETE FROM m{j} WHERE id = {i};",
        "CREATE INDEX m{j}_c{i}_idx ON m{j} (c{i});",
        "INSERT INTO m{j} SELECT {i}, v FROM m{j} WHERE id = 1;",
        "COMMENT ON TABLE m{j} IS 'x';",
    )
    return "".join(shapes[i % len(shapes)].format(i=i, j=max(i - i % len(shapes), 0)) + "\n" for i in range(n))


def semicolons(n: int) -> str:
    return ";\n" * n


def drops(n: int) -> str:
    copy = "INSERT INTO archive (id, c0) SELECT id, c0 FROM orders;\n"
    return copy + "".join(f"ALTER TABLE orders DROP COLUMN c{i};\n" for i in range(n - 1))


def findings(n: int) -> str:
    """``n`` statements that each raise a finding (dropping a column of an existing table)."""
    return "".join(f"ALTER TABLE orders DROP COLUMN c{i};\n" for i in range(n))


def blank_lines(n: int) -> str:
    return "\n" * n + "DROP TABLE orders;\n"


CASES = {
    "inserts": (inserts, "statements", "json"),
    "mixed": (mixed, "statements", "json"),
    "semicolons": (semicolons, "statements", "json"),
    "drops": (drops, "statements", "json"),
    "findings": (findings, "findings", "text"),
    "blank lines": (blank_lines, "lines", "text"),
}


ENV: dict[str, str] = {}


def run_once(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one command; its output is discarded."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"exit {code}: {stderr.decode(errors='replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=20_000)
    parser.add_argument("--findings", type=int, default=2_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = {"statements": args.statements, "findings": args.findings, "lines": args.lines}
    bgmigrate = str(Path(sys.executable).parent / "bgmigrate")
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds; medians")
    print(f"{'case':<12} {'size':>9} {'median s':>9} {'cpu s':>7} {'peak MiB':>9}  verdict")
    ok = True
    with tempfile.TemporaryDirectory(prefix="bgmigrate-large-") as tmp:
        ENV.update(frozen_env(Path(tmp)))
        for label, (make, unit, fmt) in CASES.items():
            folder = Path(tmp) / label.replace(" ", "_")
            folder.mkdir()
            path = folder / "0001_large.sql"
            path.write_text(make(sizes[unit]), encoding="utf-8")
            argv = [bgmigrate, "lint", "--no-cache", "--format", fmt, str(path)]
            runs = [run_once(argv) for _ in range(args.rounds)]
            seconds = statistics.median(s for s, _, _ in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            peak = max(m for _, _, m in runs)
            passed = seconds <= SECONDS and (unit != "statements" or peak <= PEAK_MIB)
            ok = ok and passed
            verdict = "PASS" if passed else "FAIL"
            print(f"{label:<12} {sizes[unit]:>9} {seconds:>9.2f} {cpu:>7.2f} {peak:>9.1f}  {verdict}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
