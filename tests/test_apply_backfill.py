"""Batched backfills: resume after Ctrl-C or a killed process without redoing a batch; finish under inserts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from apply_helpers import ROOT, apply_cli, backfill, check, execute, rows, scalar

from bgmigrate.apply.errors import ApplyError, Interrupted
from bgmigrate.apply.executor import apply_phase
from bgmigrate.apply.loader import LoadedPlan, load_plan
from bgmigrate.apply.options import ApplyOptions, Output
from bgmigrate.apply.state import Checkpoint
from bgmigrate.plan.phases import Phase, Plan
from bgmigrate.switch.contract import contract_answer

ROWS = 5000
BATCH = 100
FIXED = ApplyOptions(pause=0, batch_size=BATCH)  # batch counts below assume this size


def make_table(dsn: str, key_type: str = "bigint", count: int = ROWS) -> None:
    """``big`` with ``w`` to fill, and ``touched`` recording every row update (to count redone work)."""
    key = "id bigint PRIMARY KEY" if key_type == "bigint" else "id uuid PRIMARY KEY DEFAULT gen_random_uuid()"
    execute(
        dsn,
        f"""
        CREATE TABLE big ({key}, v integer NOT NULL, w integer);
        CREATE TABLE touched (id text NOT NULL);
        CREATE FUNCTION count_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO touched VALUES (NEW.id::text); RETURN NEW; END $$;
        CREATE TRIGGER count_touch AFTER UPDATE ON big FOR EACH ROW EXECUTE FUNCTION count_touch();
        """,
    )
    if key_type == "bigint":
        execute(dsn, f"INSERT INTO big (id, v) SELECT g, g FROM generate_series(1, {count}) g")
    else:
        execute(dsn, f"INSERT INTO big (v) SELECT g FROM generate_series(1, {count}) g")


def write_plan(folder: Path, batch_size: int = BATCH) -> LoadedPlan:
    plan = Plan(
        id="0009_fill_w",
        source="migrations/0009_fill_w.sql",
        preconditions=(check("column_exists", "big", "w"),),
        phases=(
            Phase(
                name="migrate",
                steps=(backfill("big", (("w", "v * 2"),), "w IS NULL", batch_size=batch_size),),
                checks=(check("no_rows", query="SELECT 1 FROM big WHERE w IS DISTINCT FROM v * 2"),),
            ),
        ),
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(plan.to_json())
    return load_plan(folder)


def checkpoint(dsn: str) -> Checkpoint:
    found = rows(dsn, "SELECT pass, last_key, target_key, rows_updated, batches FROM bgmigrate.backfill_checkpoints")
    return Checkpoint(*found[0])


def touches(dsn: str) -> tuple[int, int]:
    """(rows updated at least once, most updates of any one row)."""
    found = rows(dsn, "SELECT count(*), coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM touched GROUP BY id) t")
    return int(found[0][0]), int(found[0][1])


def test_interrupted_backfill_resumes_after_the_last_committed_batch(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn)
    loaded = write_plan(tmp_path)

    def ctrl_c_after_12(point: Checkpoint) -> None:
        if point.batches == 12:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as stopped:
        apply_phase(
            pg_dsn, loaded, "migrate", FIXED, Output(after_batch=ctrl_c_after_12), contract_gate=contract_answer
        )
    assert stopped.value.code == 130
    assert checkpoint(pg_dsn) == Checkpoint(1, "1200", str(ROWS), 1200, 12)
    assert touches(pg_dsn) == (1200, 1)
    assert scalar(pg_dsn, "SELECT status FROM bgmigrate.phases") == "failed"

    said: list[str] = []
    batches: list[int] = []
    apply_phase(
        pg_dsn,
        loaded,
        "migrate",
        FIXED,
        Output(say=said.append, after_batch=lambda p: batches.append(p.batches)),
        contract_gate=contract_answer,
    )
    assert batches[0] == 13 and batches[-1] == ROWS // BATCH  # continued, did not start over
    assert touches(pg_dsn) == (ROWS, 1)  # every row updated exactly once across both runs
    assert any("resuming migrate step 1/1 (backfill big) after batch 12 (key 1200)" in line for line in said)
    assert scalar(pg_dsn, "SELECT status FROM bgmigrate.phases") == "done"


@pytest.mark.parametrize(
    ("sig", "code", "status"),
    [
        (signal.SIGKILL, -signal.SIGKILL, "running"),  # a crash: no handler runs, nothing is tidied up
        (signal.SIGTERM, 130, "failed"),  # a cancelled CI job: stops like Ctrl-C
    ],
)
def test_stopped_apply_process_resumes_from_its_checkpoint(
    pg_dsn: str, tmp_path: Path, sig: signal.Signals, code: int, status: str
) -> None:
    make_table(pg_dsn)
    write_plan(tmp_path)
    args = [sys.executable, "-m", "bgmigrate", "apply", str(tmp_path), "--phase", "migrate", "--dsn", pg_dsn,
            "--batch-size", str(BATCH)]  # fmt: skip
    proc = subprocess.Popen([*args, "--pause", "0.02s"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _batches(pg_dsn) >= 5, "the backfill to get going")
    finally:
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == code
    if sig == signal.SIGTERM:
        assert stderr.decode().strip() == (
            "bgmigrate: error: migrate interrupted; progress is recorded: re-run to resume"
        )
    _wait_for(lambda: _applies(pg_dsn) == 0, "the server to notice the dead sessions")
    done = checkpoint(pg_dsn)
    assert 0 < done.batches < ROWS // BATCH
    assert touches(pg_dsn) == (done.rows_updated, 1)  # the batch in flight rolled back whole
    assert scalar(pg_dsn, "SELECT status FROM bgmigrate.phases") == status

    rerun = subprocess.run([*args, "--pause", "0"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert f"after batch {done.batches} (key {done.last_key})" in rerun.stdout
    assert "rows/s" in rerun.stdout  # plain progress lines when not on a terminal
    assert touches(pg_dsn) == (ROWS, 1)
    assert checkpoint(pg_dsn).batches == ROWS // BATCH


def _batches(dsn: str) -> int:
    if scalar(dsn, "SELECT to_regclass('bgmigrate.backfill_checkpoints')") is None:
        return 0
    return int(scalar(dsn, "SELECT coalesce(max(batches), 0) FROM bgmigrate.backfill_checkpoints"))


def _applies(dsn: str) -> int:
    return int(
        scalar(
            dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bgmigrate apply%%' AND datname = current_database()",
        )
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_rows_inserted_during_the_walk_are_caught_by_a_later_pass(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn)
    loaded = write_plan(tmp_path)
    writer = psycopg.connect(pg_dsn, autocommit=True)
    next_id = iter(range(ROWS + 1, ROWS + 10_000))

    def insert_during_first_pass(point: Checkpoint) -> None:
        # A version that bypasses the fill: rows beyond the first pass's end, and never filled.
        if point.pass_no == 1:
            for _ in range(3):
                writer.execute("INSERT INTO big (id, v) VALUES (%s, 1)", (next(next_id),))

    try:
        apply_phase(
            pg_dsn,
            loaded,
            "migrate",
            FIXED,
            Output(after_batch=insert_during_first_pass),
            contract_gate=contract_answer,
        )
    finally:
        writer.close()
    assert scalar(pg_dsn, "SELECT count(*) FROM big WHERE w IS NULL") == 0
    assert scalar(pg_dsn, "SELECT count(*) FROM big") > ROWS + 100  # stragglers really were written
    assert checkpoint(pg_dsn).pass_no == 3  # pass 2 filled the stragglers; pass 3 found none
    assert touches(pg_dsn)[1] == 1


def test_passes_are_bounded_when_a_writer_never_stops_leaving_rows_behind(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn, count=300)
    loaded = write_plan(tmp_path)
    writer = psycopg.connect(pg_dsn, autocommit=True)
    next_id = iter(range(1000, 100_000))

    def insert_always(_point: Checkpoint) -> None:
        writer.execute("INSERT INTO big (id, v) VALUES (%s, 1)", (next(next_id),))

    try:
        with pytest.raises(ApplyError, match=r"still match the backfill's WHERE after 5 passes") as failed:
            apply_phase(
                pg_dsn, loaded, "migrate", FIXED, Output(after_batch=insert_always), contract_gate=contract_answer
            )
    finally:
        writer.close()
    assert "migrate step 1/1 (backfill big) failed" in str(failed.value)
    assert scalar(pg_dsn, "SELECT status FROM bgmigrate.phases") == "failed"


def test_backfill_batches_over_a_uuid_key(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn, key_type="uuid", count=1000)
    write_plan(tmp_path)
    result = apply_cli(tmp_path, "migrate", pg_dsn, "--batch-size", str(BATCH))
    assert result.exit_code == 0, result.output
    assert touches(pg_dsn) == (1000, 1)
    assert checkpoint(pg_dsn).batches == 10


def test_batch_size_option_overrides_the_plan(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn, count=1000)
    write_plan(tmp_path)
    result = apply_cli(tmp_path, "migrate", pg_dsn, "--batch-size", "250")
    assert result.exit_code == 0, result.output
    assert "1,000 rows in 4 batches" in result.output


# --------------------------------------------------------------------------- adaptive batch size (issue 12 item 4)


def batch_sizes(dsn: str, loaded: LoadedPlan, options: ApplyOptions) -> list[int]:
    """Rows of each committed batch of pass 1."""
    updated: list[int] = []
    apply_phase(
        dsn,
        loaded,
        "migrate",
        options,
        Output(after_batch=lambda p: updated.append(p.rows_updated)),
        contract_gate=contract_answer,
    )
    return [b - a for a, b in zip([0, *updated], updated, strict=False)]


def test_fast_batches_grow_towards_the_batch_time(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn, count=20_000)
    sizes = batch_sizes(pg_dsn, write_plan(tmp_path), ApplyOptions(pause=0, batch_time=10.0))
    assert sizes[:4] == [BATCH, 2 * BATCH, 4 * BATCH, 8 * BATCH]  # at most doubling per batch
    assert len(sizes) < 20_000 // BATCH // 4
    assert touches(pg_dsn) == (20_000, 1)


def test_slow_batches_shrink_so_row_locks_stay_short(pg_dsn: str, tmp_path: Path) -> None:
    make_table(pg_dsn, count=1000)
    # Every row update costs 1 ms: a batch of 400 takes 0.4 s, four times the 0.1 s asked for.
    execute(pg_dsn, "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.001); "
                    "RETURN NEW; END $$; CREATE TRIGGER slow BEFORE UPDATE ON big FOR EACH ROW EXECUTE FUNCTION slow()")  # fmt: skip
    sizes = batch_sizes(pg_dsn, write_plan(tmp_path, batch_size=400), ApplyOptions(pause=0, batch_time=0.1))
    assert sizes[:3] == [400, 200, 100]  # at most halving per batch, never below 100
    assert sum(sizes) == 1000 and touches(pg_dsn) == (1000, 1)


@pytest.mark.parametrize(
    "keys",
    [
        # dense, with a gap: walked as key ranges (after ANALYZE the estimate says dense)
        "SELECT g FROM generate_series(1, 3000) g UNION ALL SELECT g FROM generate_series(5001, 8000) g",
        # sparse, negative and extreme: walked by the keys themselves, never key by key
        "SELECT g * 7919 - 5000000 FROM generate_series(1, 3000) g "
        "UNION ALL VALUES (-9223372036854775807), (9223372036854775806)",
    ],
    ids=["dense-with-gap", "sparse"],
)
def test_integer_keys_of_any_spread_are_each_filled_once(pg_dsn: str, tmp_path: Path, keys: str) -> None:
    make_table(pg_dsn, count=0)
    execute(pg_dsn, f"INSERT INTO big (id, v) SELECT k, 1 FROM ({keys}) AS keys(k)")
    execute(pg_dsn, "ANALYZE big")
    count = scalar(pg_dsn, "SELECT count(*) FROM big")
    apply_phase(pg_dsn, write_plan(tmp_path), "migrate", ApplyOptions(pause=0), Output(), contract_gate=contract_answer)
    assert scalar(pg_dsn, "SELECT count(*) FROM big WHERE w IS DISTINCT FROM v * 2") == 0
    assert touches(pg_dsn) == (count, 1)
