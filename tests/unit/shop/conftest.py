"""Fixtures for the shop tests: in-process apps and real servers, on SQLite and PostgreSQL.

Every test that uses ``make_app``, ``client``, ``db``, ``start_server`` or ``db_url`` runs
once per backend (ids ``[sqlite]`` / ``[postgresql]``); ``@pytest.mark.backends("sqlite")``
narrows a test that only checks HTTP validation. SQLite gets a file in ``tmp_path``;
PostgreSQL gets the session server's ``shop`` database (one server per xdist worker), with
its tables emptied and ids reset before each test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.config import Settings
from demo_api.db import Database
from demo_api.main import create_app
from demo_api.throwaway_postgres import PostgresServer
from pytest_loadgate.target.server import ServerProcess, start_local_server

READY_TIMEOUT_S = 20.0
BACKENDS = ("sqlite", "postgresql")
PG_DATABASE = "shop"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``backends`` marker."""
    config.addinivalue_line(
        "markers",
        "backends(*names): run this shop test only on these database backends "
        "(default: sqlite and postgresql)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``db_backend`` over the backends (narrowed by ``@pytest.mark.backends``)."""
    if "db_backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else BACKENDS
        unknown = set(names) - set(BACKENDS)
        assert not unknown, f"unknown backends {unknown}; choose from {BACKENDS}"
        metafunc.parametrize("db_backend", names, indirect=True)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"`` (parametrized by ``pytest_generate_tests``)."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def shop_pg_admin(postgres_server: PostgresServer) -> Iterator[psycopg.Connection[Any]]:
    """A fresh ``shop`` database with the schema; yields an admin connection to it."""
    url = postgres_server.create_database(PG_DATABASE, drop_existing=True)
    database = Database(url)
    try:
        database.create_schema()
    finally:
        database.dispose()
    with postgres_server.connect(PG_DATABASE) as conn:
        conn.execute("SET lock_timeout = '10s'")
        yield conn


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The database for this test: a SQLite file, or the emptied PostgreSQL ``shop`` db."""
    if db_backend == "sqlite":
        return sqlite_url(tmp_path / "shop.db")
    admin: psycopg.Connection[Any] = request.getfixturevalue("shop_pg_admin")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    admin.execute("TRUNCATE orders, products, order_stats RESTART IDENTITY CASCADE")
    return server.url_for(PG_DATABASE)


def sqlite_url(path: Path) -> str:
    """A SQLAlchemy URL for a SQLite file."""
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(db_url: str) -> Callable[..., FastAPI]:
    """Build an app on this test's fresh database; settings can be overridden."""

    def build(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {"database_url": db_url, "faults": ""}
        values.update(overrides)
        return create_app(Settings(**values))

    return build


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A TestClient (lifespan run, server errors returned as responses) on a fresh shop."""
    with TestClient(make_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A :class:`Database` on this test's fresh database with the schema, pool big enough for
    races."""
    database = Database(db_url, pool_size=40, max_overflow=10)
    database.create_schema()
    yield database
    database.dispose()


def make_product(
    client: TestClient, *, stock: int = 10, price: float = 9.99, sku: str = "SKU-1"
) -> dict[str, Any]:
    """Create a product through the API and return its JSON."""
    response = client.post(
        "/products/", json={"name": f"Product {sku}", "sku": sku, "price": price, "stock": stock}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class ShopServer:
    """A running ``python -m demo_api`` (the plugin's :class:`ServerProcess`) and its database."""

    process: ServerProcess
    database_url: str

    @property
    def base_url(self) -> str:
        return self.process.url

    def log_tail(self) -> str:
        """The last lines of the server's combined output."""
        return self.process.log_tail()


@pytest.fixture
def start_server(tmp_path: Path, db_url: str) -> Iterator[Callable[..., ShopServer]]:
    """Start ``python -m demo_api`` on a free port and this test's database and wait for its
    ``/health``; stopped afterwards.

    On SQLite each server gets a file of its own; on PostgreSQL they share the test's database.
    """
    started: list[ShopServer] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> ShopServer:
        index = len(started)
        url = sqlite_url(tmp_path / f"server{index}.db") if db_url.startswith("sqlite") else db_url
        process = start_local_server(
            lambda port: [sys.executable, "-m", "demo_api", "--port", str(port),
                          "--workers", str(workers)],
            health_path="/health", log_path=tmp_path / f"server{index}.log",
            timeout_s=READY_TIMEOUT_S,
            env={"DATABASE_URL": url, "DEMO_API_FAULTS": "", **(env or {})})
        started.append(ShopServer(process, url))
        return started[-1]

    yield start
    for server in started:
        server.process.stop()
