"""A resumable batched backfill: short transactions over primary-key ranges, checkpointed per batch.

Pass 1 walks the keys up to the largest one seen when the pass started. Each later pass walks
only the rows that still match the backfill's ``where`` (written meanwhile by a version that
bypassed the sync trigger, or skipped by a concurrent delete and re-insert) and the backfill
ends when a pass finds none. Passes are bounded, so a writer that keeps producing unfilled rows
makes the step fail with a reason instead of looping for ever.

Each batch's UPDATE and its checkpoint commit together: after a crash or Ctrl-C, the next run
starts after the last committed batch and never repeats one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from psycopg import sql

from bgmigrate.apply.batch_size import DEFAULT_BATCH_TIME, BatchSizer
from bgmigrate.apply.connect import Connection
from bgmigrate.apply.errors import ApplyError
from bgmigrate.apply.lock_timeout import pg_interval
from bgmigrate.apply.progress import BackfillProgress
from bgmigrate.apply.retry import OnRetry, RetryPolicy, with_retries
from bgmigrate.apply.state import Checkpoint
from bgmigrate.plan.phases import Backfill
from bgmigrate.sql.names import quote_ident

SaveCheckpoint = Callable[[Connection, Checkpoint], None]
AfterBatch = Callable[[Checkpoint], None]
MAX_PASSES = 5
NO_PARAMS: dict[str, object] = {}  # still makes psycopg read "%%" as "%"
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})


@dataclass(frozen=True)
class BackfillSettings:
    lock_timeout: float
    policy: RetryPolicy
    pause: float = 0.05  # between batches: room for VACUUM, replicas and the apps' own writes
    batch_size: int | None = None  # a fixed size, overriding the plan's and the adaptive sizing
    max_passes: int = MAX_PASSES
    batch_time: float = DEFAULT_BATCH_TIME  # seconds a batch should take: the size follows it


def fragment(text: str) -> sql.SQL:
    """SQL text from the plan, as a piece of a query run with parameters: a ``%`` in a name stays itself."""
    return sql.SQL(text.replace("%", "%%"))


def column_sql(column: str) -> sql.SQL:
    """An assignment target: already-quoted SQL as is, a bare name quoted."""
    return fragment(column if column.startswith('"') else quote_ident(column))


class BatchSql:
    """The statements of one backfill, composed once with quoted identifiers.

    Every statement runs with parameters (``NO_PARAMS`` when it has none), so ``%`` in the plan's
    text is always escaped the same way.
    """

    def __init__(self, spec: Backfill) -> None:
        self.table = fragment(spec.table)
        self.key = fragment(spec.key)
        self.where = fragment(f"({spec.where})" if spec.where.strip() else "true")
        self.assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(column_sql(column), fragment(expression))
            for column, expression in spec.assignments
        )

    def _range(self, lower: bool) -> sql.Composed:
        """``key > last AND key <= upper``, without the lower bound at a pass's start."""
        bound = sql.SQL("{key} <= %(upper)s").format(key=self.key)
        if lower:
            return sql.SQL("{key} > %(last)s AND {bound}").format(key=self.key, bound=bound)
        return bound

    def last_key(self) -> sql.Composed:
        """The table's largest key (one index probe)."""
        # ORDER BY ... LIMIT 1 rather than max(): uuid and other key types have no max(). The
        # text output gets its own name so ORDER BY sorts by the key itself, not its text.
        return sql.SQL("SELECT {key}::text AS bgm_last FROM {table} ORDER BY {key} DESC LIMIT 1").format(
            key=self.key, table=self.table
        )

    def key_type(self) -> sql.Composed:
        """The key's type, read once per run (from a row: no catalog lookup by name)."""
        return sql.SQL("SELECT pg_typeof({key})::text FROM {table} LIMIT 1").format(key=self.key, table=self.table)

    def first_key(self) -> sql.Composed:
        """The table's smallest key (one index probe)."""
        return sql.SQL("SELECT {key}::text AS bgm_first FROM {table} ORDER BY {key} LIMIT 1").format(
            key=self.key, table=self.table
        )

    def left_behind(self) -> sql.Composed:
        """How many rows still match ``where``: a plain count, which PostgreSQL can scan in parallel
        (a window count over the same rows took five times as long on a million-row table)."""
        return sql.SQL("SELECT count(*) FROM {table} WHERE {where}").format(table=self.table, where=self.where)

    def last_left_behind(self) -> sql.Composed:
        """The largest key still matching ``where`` (asked only when some row does)."""
        return sql.SQL("SELECT {key}::text AS bgm_last FROM {table} WHERE {where} ORDER BY {key} DESC LIMIT 1").format(
            key=self.key, table=self.table, where=self.where
        )

    def remaining(self, *, lower: bool, filtered: bool) -> sql.Composed:
        """Rows left in the pass after ``last``: its progress bar's total."""
        return sql.SQL("SELECT count(*) FROM {table} WHERE {range} AND {where}").format(
            table=self.table, range=self._range(lower), where=self.where if filtered else sql.SQL("true")
        )

    def next_upper(self, *, lower: bool, filtered: bool) -> sql.Composed:
        """The key ending the next batch (the batch_size-th after ``last``, capped at the pass's end) and the batch's size."""
        return sql.SQL(
            "SELECT k::text AS bgm_upper, count(*) OVER () FROM (SELECT {key} AS k FROM {table}"
            " WHERE {range} AND {where} ORDER BY {key} LIMIT %(n)s) AS batch ORDER BY k DESC LIMIT 1"
        ).format(
            key=self.key,
            table=self.table,
            range=self._range(lower),
            where=self.where if filtered else sql.SQL("true"),
        )

    def update(self, *, lower: bool) -> sql.Composed:
        return sql.SQL("UPDATE {table} SET {assignments} WHERE {range} AND {where}").format(
            table=self.table, assignments=self.assignments, range=self._range(lower), where=self.where
        )


class BackfillRun:
    """One backfill step, from its checkpoint to the end."""

    def __init__(
        self,
        conn: Connection,
        spec: Backfill,
        settings: BackfillSettings,
        *,
        save: SaveCheckpoint,
        progress: BackfillProgress,
        on_retry: OnRetry,
        after_batch: AfterBatch | None = None,
    ) -> None:
        self.conn, self.spec, self.settings = conn, spec, settings
        self.statements = BatchSql(spec)
        fixed = settings.batch_size is not None
        self.sizer = BatchSizer(settings.batch_size or spec.batch_size, settings.batch_time, fixed=fixed)
        self.save, self.progress, self.on_retry, self.after_batch = save, progress, on_retry, after_batch
        self.integer_key = False  # set by run(): the key is an integer, so batches may be key ranges
        self.dense: bool | None = None  # whether they are: decided once, when pass 1 starts

    def run(self, point: Checkpoint) -> Checkpoint:
        """Backfill from ``point`` until a pass finds no rows left; returns the final checkpoint."""
        row = self.conn.execute(self.statements.key_type(), NO_PARAMS).fetchone()
        self.integer_key = row is not None and str(row[0]) in INTEGER_TYPES
        while True:
            total: int | None = None
            if point.target_key is None:
                started = self._start_pass(point)
                if started is None:
                    return point
                point, total = started
            point = self._walk(point, self._remaining(point) if total is None else total)

    def _start_pass(self, point: Checkpoint) -> tuple[Checkpoint, int | None] | None:
        """Fix the pass's end key (and, after pass 1, count what is left); None when nothing is."""
        count: int | None = None
        if point.pass_no == 1:
            row = self.conn.execute(self.statements.last_key(), NO_PARAMS).fetchone()
            target = row[0] if row else None
        elif not self.spec.where.strip():
            return None  # without a WHERE, stragglers cannot be told apart: one pass is all
        else:
            row = self.conn.execute(self.statements.left_behind(), NO_PARAMS).fetchone()
            count = int(row[0]) if row else 0
            if count == 0:
                return None
            row = self.conn.execute(self.statements.last_left_behind(), NO_PARAMS).fetchone()
            target = row[0] if row else None  # None: the stragglers were filled meanwhile
        if target is None:
            return None
        if point.pass_no > self.settings.max_passes:
            raise ApplyError(
                f"{count} rows of {self.spec.table} still match the backfill's WHERE after "
                f"{self.settings.max_passes} passes; does a writer bypass the sync trigger?"
            )
        point = replace(point, last_key=None, target_key=str(target))
        with self.conn.transaction():
            self.save(self.conn, point)
        return point, count

    def _walk(self, point: Checkpoint, total: int) -> Checkpoint:
        """Batches from ``point.last_key`` to the pass's end."""
        label = f"backfill {self.spec.table} (pass {point.pass_no})"
        self.progress.begin(label, total)
        try:
            while point.target_key is not None:
                point, walked = self._batch_with_retries(point)
                self.progress.advance(walked)
                if self.after_batch is not None:
                    self.after_batch(point)
                if point.target_key is not None and self.settings.pause > 0:
                    time.sleep(self.settings.pause)
        finally:
            self.progress.end()
        return point

    def _batch_with_retries(self, point: Checkpoint) -> tuple[Checkpoint, int]:
        def attempt(number: int) -> tuple[Checkpoint, int]:
            if number > 1:
                self.sizer.backed_off()
            started = time.monotonic()
            done, walked = self._batch(point)
            self.sizer.measured(walked, time.monotonic() - started)
            return done, walked

        return with_retries(attempt, self.settings.policy, self.on_retry)

    def _batch_end(self, point: Checkpoint, lower: bool, params: dict[str, object]) -> tuple[str | None, int]:
        """The key ending the next batch and how many keys it covers; (None, 0) when the pass is done."""
        if self._spans(point) and point.target_key is not None:
            start, target = self._start_of(point), int(point.target_key)
            if start is None or start >= target:
                return None, 0
            upper = min(start + self.sizer.size, target)
            return str(upper), upper - start
        row = self.conn.execute(self.statements.next_upper(lower=lower, filtered=point.pass_no > 1), params).fetchone()
        return (row[0], int(row[1])) if row else (None, 0)

    def _spans(self, point: Checkpoint) -> bool:
        """Pass 1 over a dense integer key walks key ranges by arithmetic: no scan to find a batch's end."""
        if not (self.integer_key and point.pass_no == 1 and point.target_key is not None):
            return False
        if self.dense is None:
            self.dense = self._is_dense(int(point.target_key))
        return self.dense

    def _is_dense(self, target: int) -> bool:
        """Whether the table holds at least one row per two keys up to ``target`` (by its row estimate).

        Key ranges over sparse keys would walk mostly empty ranges; those use the keys themselves.
        One catalog read per run, not per batch.
        """
        row = self.conn.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (self.spec.table,)
        ).fetchone()
        first = self.conn.execute(self.statements.first_key(), NO_PARAMS).fetchone()
        if row is None or first is None or float(row[0]) <= 0:
            return False  # never analysed, or empty: no estimate to trust
        return float(row[0]) * 2 >= target - int(first[0]) + 1

    def _start_of(self, point: Checkpoint) -> int | None:
        """Where the next key range starts (exclusive); None if the table is empty."""
        if point.last_key is not None:
            return int(point.last_key)
        row = self.conn.execute(self.statements.first_key(), NO_PARAMS).fetchone()
        return int(row[0]) - 1 if row else None

    def _remaining(self, point: Checkpoint) -> int:
        if self._spans(point):
            start = self._start_of(point)  # the keys left to walk, not a count(*) over the table
            return 0 if start is None or point.target_key is None else max(0, int(point.target_key) - start)
        query = self.statements.remaining(lower=point.last_key is not None, filtered=point.pass_no > 1)
        row = self.conn.execute(query, {"last": point.last_key, "upper": point.target_key}).fetchone()
        return int(row[0]) if row else 0

    def _batch(self, point: Checkpoint) -> tuple[Checkpoint, int]:
        """One batch in its own transaction, checkpoint included; returns it and the keys it covered."""
        lower = point.last_key is not None
        params: dict[str, object] = {"last": point.last_key, "upper": point.target_key, "n": self.sizer.size}
        with self.conn.transaction():
            # Asynchronous commit is safe here: a batch and its checkpoint commit together, so a
            # server crash can only lose both, and the next run redoes that batch. It spares each
            # batch a WAL flush, which is most of a small batch's cost.
            self.conn.execute(
                "SELECT set_config('lock_timeout', %s, true), set_config('synchronous_commit', 'off', true)",
                (pg_interval(self.settings.lock_timeout),),
            )
            upper, walked = self._batch_end(point, lower, params)
            if upper is None:  # nothing left up to the target (rows deleted meanwhile)
                done = replace(point, pass_no=point.pass_no + 1, last_key=None, target_key=None)
                self.save(self.conn, done)
                return done, 0
            cursor = self.conn.execute(self.statements.update(lower=lower), {**params, "upper": upper})
            point = replace(
                point,
                last_key=str(upper),
                rows_updated=point.rows_updated + max(cursor.rowcount, 0),
                batches=point.batches + 1,
            )
            if upper == point.target_key:
                point = replace(point, pass_no=point.pass_no + 1, last_key=None, target_key=None)
            self.save(self.conn, point)
        return point, walked
