"""trace never leaves a change: crafted files, transaction control, runaway statements, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from live_support import ROOT, cli, execute

from bgmigrate.cli import main
from bgmigrate.model.migration import Migration
from bgmigrate.parse.source import load_sql
from bgmigrate.sql.statements import Statement
from bgmigrate.trace import tracer
from bgmigrate.trace.session import APPLICATION_NAME
from bgmigrate.trace.tracer import TraceRefused, run_trace

SETUP = """
CREATE TABLE keep (id int PRIMARY KEY);
INSERT INTO keep SELECT generate_series(1, 100);
CREATE TABLE other (id int);
INSERT INTO other SELECT generate_series(1, 10);
CREATE SEQUENCE ran;
"""
FUNCTION = "CREATE FUNCTION f() RETURNS int LANGUAGE sql"
PAYLOAD = "DROP TABLE keep;\nDELETE FROM other;\nCOMMIT;\nSELECT 1 AS x$$;\n"
RUNAWAY = """DO $$
BEGIN
  LOOP
    BEGIN
      PERFORM pg_sleep(0.2);
    EXCEPTION WHEN query_canceled THEN
      NULL;
    END;
  END LOOP;
END $$;
"""


def _rows(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        keep = conn.execute("SELECT count(*) FROM keep").fetchone()
        other = conn.execute("SELECT count(*) FROM other").fetchone()
    assert keep is not None and other is not None
    return int(keep[0]), int(other[0])


def _nothing_ran(dsn: str) -> bool:
    """``SELECT nextval('ran')`` opens each file below: a sequence does not roll back."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT is_called FROM ran").fetchone()
    return row is not None and not row[0]


def _own_backends(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (APPLICATION_NAME,),
        ).fetchone()
    return int(row[0]) if row else -1


@pytest.mark.parametrize(
    "crafted",
    [
        # A routine body whose keyword labels fooled the old splitter into one multi-statement send.
        f"{FUNCTION}\nBEGIN ATOMIC\n  SELECT 1 AS case;\nEND;\n" + PAYLOAD,
        "SELECT begin atomic FROM (SELECT 1 AS begin) s;\n" + PAYLOAD,
        "SELECT 1 AS begin\u00a0atomic;\n" + PAYLOAD,
        "SELECT 1 AS €$$;\n" + PAYLOAD,
    ],
)
def test_a_crafted_file_cannot_commit_a_drop_table(pg_dsn: str, tmp_path: Path, crafted: str) -> None:
    execute(pg_dsn, SETUP)
    migration = tmp_path / "crafted.sql"
    migration.write_text(crafted, encoding="utf-8")
    done = cli("trace", "--dsn", pg_dsn, str(migration), "--no-color")
    assert done.returncode == 3, (done.stdout, done.stderr)
    line = crafted.count("\n", 0, crafted.index("COMMIT")) + 1
    assert f"crafted.sql:{line}: forbidden: transaction control (COMMIT)" in done.stderr
    assert "Rolled back" not in done.stdout
    assert _rows(pg_dsn) == (100, 10)  # the table is there, with every row


def test_without_commit_the_crafted_statements_run_and_are_rolled_back(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    migration = tmp_path / "crafted.sql"
    migration.write_text(
        f"{FUNCTION}\nBEGIN ATOMIC\n  SELECT 1 AS case;\nEND;\nDROP TABLE keep;\nDELETE FROM other;\n", encoding="utf-8"
    )
    done = cli("trace", "--dsn", pg_dsn, str(migration), "--no-color", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert '"rolled_back": true' in done.stdout
    assert _rows(pg_dsn) == (100, 10)


def test_a_text_holding_two_statements_is_refused_by_the_server(pg_dsn: str) -> None:
    # As if the splitter had been fooled: the extended protocol still sends one command only.
    execute(pg_dsn, SETUP)
    stmt = Statement("DELETE FROM other; COMMIT; DROP TABLE keep", 1, 1, 1, 40)
    result = run_trace(pg_dsn, Migration(path="m.sql", kind="sql", statements=(stmt,)))
    [traced] = result.statements
    assert traced.error is not None and "multiple commands" in traced.error
    assert result.rolled_back and result.transaction_ended is None
    assert _rows(pg_dsn) == (100, 10)


def test_a_transaction_that_ends_early_stops_the_trace_and_says_so(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if a COMMIT had slipped past the checks: the status check after each statement catches it.
    execute(pg_dsn, SETUP)
    monkeypatch.setattr(tracer, "verdicts", lambda statements, _version: [None] * len(statements))
    migration = tmp_path / "m.sql"
    migration.write_text("DELETE FROM other;\nCOMMIT;\nDROP TABLE keep;\n", encoding="utf-8")
    done = CliRunner().invoke(main, ["trace", "--dsn", pg_dsn, str(migration), "--no-color"])
    assert done.exit_code == 5, done.output
    assert "MAY HAVE BEEN COMMITTED" in done.output and "after line 2" in done.output
    assert "Rolled back" not in done.output
    assert _rows(pg_dsn) == (100, 0)  # the DELETE was committed (and reported); the DROP never ran


REFUSED = [
    "COMMIT;",
    "commit and chain;",
    "/* c */ END;",
    "ROLLBACK;",
    "ABORT;",
    "BEGIN;",
    "START TRANSACTION;",
    "SAVEPOINT s;",
    "RELEASE SAVEPOINT s;",
    "ROLLBACK TO SAVEPOINT s;",
    "PREPARE TRANSACTION 'x';",
    "COMMIT PREPARED 'x';",
    "ROLLBACK PREPARED 'x';",
    "DO $$BEGIN INSERT INTO other VALUES (1); COMMIT; END$$;",
    "DO LANGUAGE plpgsql $body$BEGIN ROLLBACK; END$body$;",
    "SELECT format('DROP TABLE %I', 'keep') \\gexec",
    "\\i other.sql",
    "\\connect other",
    "\\if true",
    "COPY other TO PROGRAM 'cat';",
    "COPY other TO '/tmp/x';",
    "SELECT dblink_exec('dbname=x', 'DROP TABLE keep');",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity;",
    "SELECT pg_create_logical_replication_slot('s', 'pgoutput');",
    "CREATE INDEX CONCURRENTLY other_id ON other (id);",
    "VACUUM other;",
    "ALTER SYSTEM SET work_mem = '1MB';",
    "CREATE DATABASE elsewhere;",
    "DROP DATABASE elsewhere;",
    "CREATE TABLESPACE t LOCATION '/tmp';",
    "ALTER TABLE other ADD COLUMN c int DEFAULT :'value';",
]


def test_refused_before_anything_runs(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    for statement in REFUSED:
        text = f"SELECT nextval('ran');\nDELETE FROM other;\n{statement}\nDROP TABLE keep;\n"
        with pytest.raises(TraceRefused) as refused:
            run_trace(pg_dsn, load_sql("m.sql", text))
        [(stmt, verdict)] = refused.value.refusals
        assert stmt.line == 3 and verdict.reason, statement
        assert _nothing_ran(pg_dsn) and _rows(pg_dsn) == (100, 10), statement


def test_the_files_own_wrapper_is_not_sent_and_the_rest_is_traced(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP)
    result = run_trace(pg_dsn, load_sql("m.sql", "BEGIN;\nDELETE FROM other;\nDROP TABLE keep;\nCOMMIT;\n"))
    first, delete, drop, last = result.statements
    assert first.not_traced and last.not_traced and "own transaction" in first.not_traced
    assert delete.error is None and drop.error is None and drop.duration_ms is not None
    assert result.rolled_back and _rows(pg_dsn) == (100, 10)


def test_tricky_but_valid_statements_each_run_as_one_command(pg_dsn: str) -> None:
    # PostgreSQL as the cross-check: every piece the splitter cuts is one whole statement to it.
    execute(pg_dsn, SETUP)
    text = (
        f"{FUNCTION} BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2 AS end; END;\n"
        "CREATE PROCEDURE p() LANGUAGE sql BEGIN /* ; */ ATOMIC INSERT INTO other VALUES (1); END;\n"
        "CREATE RULE r AS ON INSERT TO keep DO ALSO (INSERT INTO other VALUES (1); INSERT INTO other VALUES (2));\n"
        "SELECT $é$ ; $é$, E'\\'; DROP TABLE keep; ', U&'d\\0061t', 1 AS €$$; -- x\rDELETE FROM other;\n"
        "/* a /* b; */ DROP TABLE keep; */ SELECT 'it''s; here' AS \"we;ird\"\\;SELECT 1;\n"
        "SELECT relacl[1] FROM pg_class WHERE relacl IS NOT NULL LIMIT 1;\n"  # a type with no binary output
    )
    result = run_trace(pg_dsn, load_sql("m.sql", text))
    assert [t.error for t in result.statements] == [None] * 8
    assert result.rolled_back and _rows(pg_dsn) == (100, 10)


def _start_trace(dsn: str, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    migration = tmp_path / "runaway.sql"
    migration.write_text("DELETE FROM other;\n" + RUNAWAY, encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "bgmigrate", "trace", "--dsn", dsn, str(migration), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_runaway(dsn: str) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DO $$%' AND state = 'active'"
                " AND datname = current_database()"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the runaway DO block never started")


def test_a_loop_that_swallows_cancels_is_terminated_at_the_timeout(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    start = time.monotonic()
    proc = _start_trace(pg_dsn, tmp_path, "--statement-timeout", "1", "--format", "json")
    try:
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, (out, err)
    assert elapsed < 1 + 12, elapsed  # timeout + grace + termination + start-up, with room for a loaded machine
    report = json.loads(out)
    assert report["statements"][1]["error"] == "timed out after 1 s: backend terminated"
    assert report["rolled_back"] is True
    assert _own_backends(pg_dsn) == 0
    assert _rows(pg_dsn) == (100, 10)


def test_ctrl_c_stops_a_loop_that_swallows_cancels(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, SETUP)
    proc = _start_trace(pg_dsn, tmp_path, "--statement-timeout", "600", "--no-color")
    try:
        _wait_for_runaway(pg_dsn)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
    finally:
        proc.kill()
    assert time.monotonic() - interrupted < 10
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Rolled back" in out
    assert _own_backends(pg_dsn) == 0
    assert _rows(pg_dsn) == (100, 10)


def test_a_procedure_that_commits_fails_inside_the_trace(pg_dsn: str) -> None:
    execute(pg_dsn, SETUP + "CREATE PROCEDURE purge() LANGUAGE plpgsql AS $$BEGIN DELETE FROM other; COMMIT; END$$;")
    result = run_trace(pg_dsn, load_sql("m.sql", "CALL purge();\nDROP TABLE keep;\n"))
    call, drop = result.statements
    assert call.error is not None and "invalid transaction termination" in call.error
    assert drop.not_traced is not None and drop.duration_ms is None
    assert result.rolled_back and result.transaction_ended is None
    assert _rows(pg_dsn) == (100, 10)
