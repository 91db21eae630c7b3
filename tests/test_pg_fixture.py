"""The PostgreSQL test fixtures really give a server and isolated databases."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
from pg import (
    ENV_DSN,
    ENV_FORCE_THROWAWAY,
    PgServer,
    _free_port,
    dbname_of,
    discover,
    give_up,
)

_seen_databases: set[str] = set()


def test_server_version_is_supported(pg_server: PgServer) -> None:
    assert pg_server.version_num >= 120000
    assert pg_server.origin in {"env", "shared", "throwaway"}
    if pg_server.origin != "env":
        assert "password" not in psycopg.conninfo.conninfo_to_dict(pg_server.dsn)


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_its_own_empty_database(pg_dsn: str, run: str) -> None:
    # Symmetric on purpose: whichever run goes first, the other must not see its table.
    name = dbname_of(pg_dsn)
    assert name not in _seen_databases
    _seen_databases.add(name)
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute(f"CREATE TABLE marker_{run} (id int)")
        assert conn.execute("SELECT current_database()").fetchone() == (name,)


def test_create_database_is_unique_and_drop_removes_it(pg_server: PgServer) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert dbname_of(first) != dbname_of(second)
    # An open session must not block the drop (WITH (FORCE)).
    lingering = psycopg.connect(first)
    try:
        pg_server.drop_database(first)
    finally:
        lingering.close()
    pg_server.drop_database(second)
    with pg_server.connect() as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
            ([dbname_of(first), dbname_of(second)],),
        ).fetchall()
    assert left == []


def test_throwaway_cluster_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    # The path a machine without PostgreSQL takes: the suite starts (and removes) its own cluster.
    monkeypatch.setenv(ENV_FORCE_THROWAWAY, "1")
    server = discover()
    try:
        assert server.origin == "throwaway"
        cluster = server.cluster
        assert cluster is not None
        assert cluster.port != 5432
        with server.connect() as conn:
            row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        assert Path(str(row[0])).resolve() == cluster.datadir.resolve()
    finally:
        server.close()
    assert not cluster.datadir.exists()


def test_unreachable_env_dsn_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FORCE_THROWAWAY, raising=False)
    # Nothing listens on a port that was just free, so the connect is refused at once.
    monkeypatch.setenv(ENV_DSN, f"postgresql://postgres@127.0.0.1:{_free_port()}/postgres")
    with pytest.raises(RuntimeError, match=ENV_DSN):
        discover()


def test_env_dsn_wins(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_FORCE_THROWAWAY, raising=False)
    monkeypatch.setenv(ENV_DSN, pg_server.dsn)
    found = discover()
    assert (found.origin, found.dsn) == ("env", pg_server.dsn)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_database_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        give_up("no PostgreSQL available")
    assert os.environ["CI"] == ci


def test_a_returned_database_is_reused_only_when_verified_empty(pg_server: PgServer) -> None:
    # Reuse is what keeps the suite fast; it must never leak one test's objects into the next.
    first = pg_server.create_database()
    with psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app; CREATE TABLE app.t (id serial PRIMARY KEY)")
        conn.execute("CREATE TABLE public.u (id int); CREATE TYPE mood AS ENUM ('a')")
        conn.execute("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'")

    pg_server.drop_database(first)
    assert pg_server._pool, "a database that reset cleanly goes back to the pool"
    second = pg_server.create_database()
    try:
        assert dbname_of(second) != dbname_of(first)
        with psycopg.connect(second) as conn:
            leftovers = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
            ).fetchone()
            schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'app'").fetchone()
            types = conn.execute("SELECT count(*) FROM pg_type WHERE typname = 'mood'").fetchone()
        assert (leftovers, schemas, types) == ((0,), (0,), (0,))
    finally:
        pg_server.drop_database(second)


def test_a_database_the_reset_cannot_prove_clean_is_dropped(pg_server: PgServer) -> None:
    # Default privileges survive DROP SCHEMA: the fingerprint must catch them and force a drop.
    dsn = pg_server.create_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC")
    pooled_before = list(pg_server._pool)
    pg_server.drop_database(dsn)
    assert pg_server._pool == pooled_before
    with pg_server.connect() as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (dbname_of(dsn),)).fetchone()
    assert left == (0,)
