"""`bgmigrate lint --dsn` and `--schema` from the command line, against a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg


def bgmigrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def findings(done: subprocess.CompletedProcess[str]) -> list[tuple[str, int, str, str]]:
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    return [(f["rule"], f["line"], f["severity"], f["message"]) for f in report["findings"]]


def test_live_and_snapshot_runs_give_the_same_verdicts(tmp_path: Path, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, status text, note varchar(20))")
        conn.execute("CREATE TABLE tiny (id bigint PRIMARY KEY, email text)")
        conn.execute("INSERT INTO big SELECT g, 'new', 'x' FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE big; ANALYZE tiny")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001.sql").write_text(
        "SET lock_timeout = '2s';\n"
        "CREATE INDEX big_status_idx ON big (status);\n"
        "CREATE INDEX tiny_email_idx ON tiny (email);\n"
        "ALTER TABLE big ALTER COLUMN note TYPE text;\n"
        "ALTER TABLE bigg ADD COLUMN x int;\n",
        encoding="utf-8",
    )
    live = bgmigrate("lint", "--no-cache", "--format", "json", "--dsn", pg_dsn, "m", cwd=tmp_path)
    snapshot = tmp_path / "snapshot.json"
    inspected = bgmigrate("inspect", "--dsn", pg_dsn, "--out", str(snapshot), cwd=tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    offline = bgmigrate("lint", "--no-cache", "--format", "json", "--schema", str(snapshot), "m", cwd=tmp_path)
    assert findings(live) == findings(offline)
    by_line = {(rule, line): severity for rule, line, severity, _ in findings(live)}
    assert by_line[("non-concurrent-index", 2)] == "error"  # 20,000 rows: above the threshold
    assert by_line[("non-concurrent-index", 3)] == "info"  # an empty table: the lock is brief
    assert ("change-column-type", 4) not in by_line  # varchar → text is binary-coercible
    assert by_line[("unknown-object", 5)] == "error"
    message = next(m for rule, line, _, m in findings(live) if (rule, line) == ("non-concurrent-index", 2))
    assert "big: ~20 k rows" in message


def test_bad_dsn_is_one_line_and_hides_the_password(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001.sql").write_text("SELECT 1;\n", encoding="utf-8")
    done = bgmigrate("lint", "--dsn", "postgresql://app:s3cret-pw@127.0.0.1:1/app", "m", cwd=tmp_path)
    assert done.returncode == 2
    assert "s3cret-pw" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_env_dsn_yields_to_an_explicit_snapshot(tmp_path: Path, pg_dsn: str) -> None:
    import os

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001.sql").write_text("ALTER TABLE missing ADD COLUMN x int;\n", encoding="utf-8")
    snapshot = tmp_path / "snapshot.json"
    assert bgmigrate("inspect", "--dsn", pg_dsn, "--out", str(snapshot), cwd=tmp_path).returncode == 0
    env = {**os.environ, "BGMIGRATE_DSN": "postgresql://app:pw@127.0.0.1:1/none"}  # unreachable: must not be used
    done = subprocess.run(
        [sys.executable, "-m", "bgmigrate", "lint", "--no-cache", "--format", "json", "--schema", str(snapshot), "m"],
        capture_output=True, text=True, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert ("unknown-object", 1) in {(rule, line) for rule, line, _, _ in findings(done)}
    both = bgmigrate("lint", "--dsn", pg_dsn, "--schema", str(snapshot), "m", cwd=tmp_path)
    assert both.returncode == 2 and "not both" in both.stderr
