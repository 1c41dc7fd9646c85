"""Repository-wide fixtures: a fresh database for the booted shop, a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo_api.throwaway_postgres import PostgresError, PostgresServer


@pytest.fixture(scope="session")
def loadgate_server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Point the booted shop at a SQLite file of its own (one per session and xdist worker)."""
    data_dir = tmp_path_factory.mktemp("shop-data")
    return {"DATABASE_URL": f"sqlite:///{data_dir / 'shop.db'}"}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (temp cluster on a unix socket only), one per session and xdist
    worker, stopped and removed at the end. Missing binaries are an error, never a skip."""
    server = PostgresServer(database="loadgate", max_connections=200)
    try:
        server.start()
    except PostgresError as exc:
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
