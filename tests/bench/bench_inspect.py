"""Benchmark ``bgmigrate inspect`` against ``pg_dump --schema-only`` on the same 2,000-table database.

    .venv/bin/python tests/bench/bench_inspect.py                 # shared server, 2,000 tables, 7 rounds
    .venv/bin/python tests/bench/bench_inspect.py --dsn postgresql://postgres@127.0.0.1:5432/postgres

It creates a scratch database (dropped afterwards unless --keep), builds the schema the issue
describes — each table with 8 columns, a primary key and an index, every other table with a
foreign key to the one before it — ANALYZEs it, then times in interleaved rounds:

* ``bgmigrate inspect --dsn … --out snapshot.json`` (the whole command, interpreter start-up included);
* ``pg_dump --schema-only --dbname … --file dump.sql``.

Both write to a file, so terminal speed plays no part. Wall times are medians over the rounds.
Target: inspect no slower than pg_dump (exit 1 otherwise).
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
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "bgm_bench_inspect"


def schema_sql(first: int, last: int) -> str:
    """Tables first..last-1: 8 columns, a primary key and an index each; a foreign key every other table."""
    parts: list[str] = []
    for i in range(first, last):
        fk = f", parent_id bigint REFERENCES t{i - 1:04d} (id)" if i % 2 == 1 else ", parent_id bigint"
        parts.append(
            f"CREATE TABLE t{i:04d} (id bigint PRIMARY KEY{fk}, name text NOT NULL, status varchar(20) DEFAULT 'new',"
            f" amount numeric(12,2), created_at timestamptz NOT NULL DEFAULT now(), flag boolean, note text);"
            f"CREATE INDEX t{i:04d}_created_idx ON t{i:04d} (created_at);"
        )
    return "\n".join(parts)


def build(admin_dsn: str, tables: int) -> str:
    """Create the scratch database with the benchmark schema; return its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    dsn = make_conninfo(admin_dsn, dbname=DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # A batch per transaction: one transaction creating 2,000 tables runs out of lock slots.
        for first in range(0, tables, 100):
            conn.execute(schema_sql(first, min(first + 100, tables)).encode())
        conn.execute("ANALYZE")
    return dsn


def drop(admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default=os.environ.get("BGMIGRATE_TEST_DSN", DEFAULT_DSN), help="admin DSN")
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pg-dump", default=shutil.which("pg_dump") or "/usr/bin/pg_dump")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    started = time.perf_counter()
    dsn = build(args.dsn, args.tables)
    print(f"built {args.tables} tables in {time.perf_counter() - started:.1f} s ({conninfo_to_dict(dsn)['dbname']})")
    bgmigrate = [sys.executable, "-m", "bgmigrate", "inspect", "--dsn", dsn]
    inspect_s: list[float] = []
    dump_s: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            snapshot, dump = Path(tmp) / "snapshot.json", Path(tmp) / "dump.sql"
            timed([*bgmigrate, "--out", str(snapshot)])  # warm the server's caches for both alike
            timed([args.pg_dump, "--schema-only", "--dbname", dsn, "--file", str(dump)])
            for _ in range(args.rounds):
                inspect_s.append(timed([*bgmigrate, "--out", str(snapshot)]))
                dump_s.append(timed([args.pg_dump, "--schema-only", "--dbname", dsn, "--file", str(dump)]))
            sizes = (snapshot.stat().st_size, dump.stat().st_size)
    finally:
        if not args.keep:
            drop(args.dsn)
    version = subprocess.run([args.pg_dump, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    ins, dmp = statistics.median(inspect_s), statistics.median(dump_s)
    print(f"{version}; {args.rounds} rounds, medians (min):")
    print(f"  bgmigrate inspect       {ins:6.3f} s ({min(inspect_s):.3f})  {sizes[0] / 1e6:5.1f} MB snapshot")
    print(f"  pg_dump --schema-only   {dmp:6.3f} s ({min(dump_s):.3f})  {sizes[1] / 1e6:5.1f} MB dump")
    verdict = "PASS" if ins <= dmp else "FAIL"
    print(f"{verdict}: inspect takes {ins / dmp:.2f}x the time of pg_dump (target: at most 1x)")
    return 0 if ins <= dmp else 1


if __name__ == "__main__":
    sys.exit(main())
