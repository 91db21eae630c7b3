"""Benchmark linting an Alembic chain: cold (every revision run in the worker), warm, one edited.

    .venv/bin/python tests/bench/bench_alembic.py                 # 300 revisions, 3 rounds
    .venv/bin/python tests/bench/bench_alembic.py --revisions 300 --rounds 5

Rows (each a separate ``bgmigrate lint --format json versions`` process; medians over rounds):

* ``cold``: ``--no-cache``: one worker process runs every revision's ``upgrade()`` offline;
* ``static``: ``--no-cache --alembic-mode static``: every revision read from its syntax tree;
* ``warm``: the same folder again with the cache filled (no revision runs);
* ``one edited``: the newest revision changed, then linted with the cache (one revision runs).

Target (issue 12.3): warm ≤ 0.5 s for a 300-revision chain.
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

WARM_SECONDS = 0.5

REVISION = '''"""revision {i}"""
from alembic import op
import sqlalchemy as sa

revision = "r{i:04d}"
down_revision = {down}


def upgrade() -> None:
    op.create_table(
        "t{i}",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.add_column("orders", sa.Column("c{i}", sa.Integer(), nullable=True))
    op.create_index("ix_orders_c{i}", "orders", ["c{i}"])
    with op.batch_alter_table("t{i}") as batch:
        batch.alter_column("name", type_=sa.String(200), existing_type=sa.String(100))
    op.execute("UPDATE orders SET c{i} = 0 WHERE id BETWEEN {lo} AND {hi}")


def downgrade() -> None:
    op.drop_table("t{i}")
'''


def generate(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        down = "None" if i == 0 else f'"r{i - 1:04d}"'
        path = folder / f"r{i:04d}_step.py"
        path.write_text(REVISION.format(i=i, down=down, lo=i * 1000, hi=i * 1000 + 999), encoding="utf-8")
        paths.append(path)
    return paths


def run(argv: list[str], cwd: Path) -> float:
    env = {**frozen_env(cwd), "BGMIGRATE_CACHE_DIR": str(cwd / "cache")}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"exit {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bgmigrate = str(Path(sys.executable).parent / "bgmigrate")
    lint = [bgmigrate, "lint", "--format", "json"]
    times: dict[str, list[float]] = {"cold": [], "static": [], "warm": [], "one edited": []}
    with tempfile.TemporaryDirectory(prefix="bgmigrate-alembic-") as tmp:
        work = Path(tmp)
        paths = generate(work / "versions", args.revisions)
        run([*lint, "versions"], work)  # fills the cache, warms .pyc files; not counted
        for r in range(args.rounds):
            times["cold"].append(run([*lint, "--no-cache", "versions"], work))
            times["static"].append(run([*lint, "--no-cache", "--alembic-mode", "static", "versions"], work))
            times["warm"].append(run([*lint, "versions"], work))
            with paths[-1].open("a", encoding="utf-8") as handle:
                handle.write(f"# edit {r}\n")
            times["one edited"].append(run([*lint, "versions"], work))
    print(f"{args.revisions} revisions; {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}")
    for label, values in times.items():
        print(f"{label:<11} median {statistics.median(values):6.3f} s   min {min(values):6.3f} s")
    warm = statistics.median(times["warm"])
    print(f"{'PASS' if warm <= WARM_SECONDS else 'FAIL'}  warm ≤ {WARM_SECONDS} s: {warm:.3f} s")
    sys.exit(0 if warm <= WARM_SECONDS else 1)


if __name__ == "__main__":
    main()
