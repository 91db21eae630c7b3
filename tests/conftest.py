"""Shared pytest fixtures: a real PostgreSQL per session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg import PgServer, PostgresUnavailable, discover, give_up

PG_FIXTURES = frozenset({"pg_server", "pg_dsn"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pg: needs a real PostgreSQL (skipped if none can be had, but never under CI=true)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark database tests automatically so `-m "not pg"` works even where the
    # author forgot the marker.
    for item in items:
        if PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pg)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (env DSN, shared server, or a throwaway cluster)."""
    try:
        server = discover()
    except PostgresUnavailable as exc:
        give_up(str(exc))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """DSN of a fresh, empty database that is dropped after the test."""
    dsn = pg_server.create_database()
    try:
        yield dsn
    finally:
        pg_server.drop_database(dsn)
