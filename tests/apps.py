"""Simulated app versions: threads with their own connections inserting, updating and reading.

Each version sees the table through its :class:`Shape` (old: ``status``; new: ``state``). Every
row either version writes goes into a shared :class:`World` with the values the writer meant;
reads compare what the reader's shape shows with those values, so a value written by one version
and not visible (or wrong) in the other is an error, like any exception a statement raises.
The one allowance: until migrate has run, the new version may read NULL in a column expand added,
on a row that existed before expand, for a value no version has changed since (not copied yet).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from apply_recipes import Recipe, Shape
from psycopg import sql

BEFORE, EXPANDED, MIGRATED, CONTRACTED = range(4)
PACE_S = 0.002  # between operations: steady traffic without starving the migration of CPU


@dataclass
class Written:
    values: dict[str, object]
    stage: int  # migration stage when the write started
    writer: str
    # Fields whose value may not have reached the new version's columns yet: on a row that existed
    # before expand, the sync trigger copies what a version *changes* (whichever side changed wins);
    # the rest waits for migrate's backfill (docs/planning.md, "Rename column").
    uncopied: frozenset[str] = frozenset()


class World:
    """The rows both versions wrote, what they should read back, and where the migration stands."""

    def __init__(self) -> None:
        self.stage = BEFORE
        self.rows: dict[int, Written] = {}
        self._keys: list[int] = []
        self._lock = threading.Lock()
        # A row is written and checked under its stripe, so a reader never compares against a
        # value whose write committed but is not recorded yet.
        self._stripes = [threading.Lock() for _ in range(64)]

    def stripe(self, key: int) -> threading.Lock:
        return self._stripes[key % len(self._stripes)]

    def add(self, key: int, written: Written) -> None:
        with self._lock:
            self.rows[key] = written
            self._keys.append(key)

    def sample(self, rng: random.Random) -> int | None:
        with self._lock:
            return rng.choice(self._keys) if self._keys else None


def connect(dsn: str) -> psycopg.Connection[Any]:
    # No server-side prepared statements: a column swapped for one of another type (the
    # change-type recipe's contract) fails every cached plan that selects it with
    # "cached plan must not change result type" until the app reconnects; see docs/apply.md.
    return psycopg.connect(dsn, autocommit=True, prepare_threshold=None, application_name="bgm-test-app")


def table_of(recipe: Recipe, shape: Shape) -> sql.Identifier:
    """The name this version uses for the table (the old one keeps the old name of a renamed table)."""
    return sql.Identifier(shape.table or recipe.table)


def load_rows(dsn: str, recipe: Recipe, world: World) -> None:
    """Register the rows already in the table as written by the old version before anything ran."""
    columns = recipe.old.columns
    query = sql.SQL("SELECT id, {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns.values()), table_of(recipe, recipe.old)
    )
    with connect(dsn) as conn:
        for key, *values in conn.execute(query):
            written = dict(zip(columns, values, strict=True))
            if recipe.derive is not None:
                written = recipe.derive("seed", written)
            world.add(int(key), Written(written, BEFORE, "seed", frozenset(written)))


class AppVersion(threading.Thread):
    """One app version's traffic: a loop of inserts, updates and reads until stopped."""

    def __init__(self, name: str, dsn: str, recipe: Recipe, shape: Shape, world: World, *, seed: int) -> None:
        super().__init__(name=f"app-{name}", daemon=True)
        self.version, self.dsn, self.recipe, self.shape, self.world = name, dsn, recipe, shape, world
        self.table = table_of(recipe, shape)
        self.rng = random.Random(seed)
        self.errors: list[str] = []
        self.ops = 0
        self.reads = 0
        self._halt = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def run(self) -> None:
        while not self._halt.is_set():
            op = self.rng.choices((self.insert, self.update, self.read), weights=(3, 4, 3))[0]
            try:
                op(self._connection())
            except Exception as exc:  # every failure is the finding, whatever its type
                self.errors.append(f"{self.version} {op.__name__} at stage {self.world.stage}: {exc!r}")
                self._drop_connection()
            self.ops += 1
            time.sleep(PACE_S)
        self._drop_connection()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    def wait_for_ops(self, count: int, timeout: float = 20.0) -> None:
        """Block until this version did ``count`` more operations (traffic really ran in this stage)."""
        target, deadline = self.ops + count, time.monotonic() + timeout
        while self.ops < target and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.01)
        assert self.ops >= target, f"{self.version} did {self.ops} of {target} operations"

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.dsn)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- operations ------------------------------------------------------------------------

    def _values(self, fields: list[str]) -> dict[str, object]:
        writes = self.shape.writes
        if self.world.stage >= CONTRACTED:
            writes = {**writes, **self.shape.contracted_writes}
        return {f: writes[f](self.rng) for f in fields}

    def insert(self, conn: psycopg.Connection[Any]) -> None:
        values = self._values(list(self.shape.writes))
        stage = self.world.stage
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            self.table,
            sql.SQL(", ").join(sql.Identifier(self.shape.columns[f]) for f in values),
            sql.SQL(", ").join(sql.Placeholder() for _ in values),
        )
        row = conn.execute(query, list(values.values())).fetchone()
        assert row is not None
        written = {**self.shape.implied, **values}
        if self.recipe.derive is not None:
            written = self.recipe.derive(self.version, written)
        # Inserted before the trigger was (known to be) in place: nothing copied yet.
        uncopied = frozenset(written) if stage < EXPANDED else frozenset()
        self.world.add(int(row[0]), Written(written, stage, self.version, uncopied))

    def update(self, conn: psycopg.Connection[Any]) -> None:
        key = self.world.sample(self.rng)
        if key is None:
            return
        values = self._values([self.rng.choice(list(self.shape.writes))])
        with self.world.stripe(key):
            stage = self.world.stage
            query = sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
                self.table,
                sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(self.shape.columns[f])) for f in values),
            )
            conn.execute(query, [*values.values(), key])
            before = self.world.rows[key]
            uncopied = before.uncopied
            after = {**before.values, **values}
            if self.recipe.derive is not None:
                after = self.recipe.derive(self.version, after)
                if stage >= EXPANDED:  # the trigger derives the other version's fields from this write
                    uncopied = frozenset()
            elif stage >= EXPANDED:  # the trigger copies what this write changed, and only that
                uncopied -= {f for f, v in values.items() if v != before.values.get(f)}
            self.world.rows[key] = Written(after, stage, self.version, uncopied)

    def read(self, conn: psycopg.Connection[Any]) -> None:
        key = self.world.sample(self.rng)
        if key is None:
            return
        with self.world.stripe(key):
            self._compare(conn, key, self.world.rows[key])
        self.reads += 1

    def _may_be_null(self, written: Written) -> frozenset[str]:
        """Fields this version may still read as NULL: in a column expand added, not copied yet, before migrate."""
        if self.world.stage >= MIGRATED:
            return frozenset()
        added = {f for f, column in self.shape.columns.items() if column not in self.recipe.old.columns.values()}
        return written.uncopied & added

    def _compare(self, conn: psycopg.Connection[Any], key: int, written: Written) -> None:
        pending = self._may_be_null(written)  # before the read: migrate may finish meanwhile
        fields = [f for f in self.shape.columns if f in written.values]
        query = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
            sql.SQL(", ").join(sql.Identifier(self.shape.columns[f]) for f in fields), self.table
        )
        row = conn.execute(query, [key]).fetchone()
        if row is None:
            self.errors.append(f"{self.version} cannot see row {key} written by {written.writer}")
            return
        for field, actual in zip(fields, row, strict=True):
            expected = written.values[field]
            if actual is None and field in pending:
                continue
            if not self.recipe.same(field, expected, actual):
                self.errors.append(
                    f"{self.version} reads row {key} (by {written.writer} at stage {written.stage}): "
                    f"{field} = {actual!r}, expected {expected!r}"
                )

    def verify_all(self) -> int:
        """Read every row either version wrote and compare; returns how many were checked."""
        with connect(self.dsn) as conn:
            for key in list(self.world.rows):
                with self.world.stripe(key):
                    self._compare(conn, key, self.world.rows[key])
        return len(self.world.rows)
