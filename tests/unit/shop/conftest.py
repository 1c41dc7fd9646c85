"""Fixtures for the shop tests: in-process apps and real servers, on SQLite and PostgreSQL.

Every test that uses ``make_app``, ``client``, ``db``, ``start_server`` or ``db_url`` runs
once per backend (ids ``[sqlite]`` / ``[postgresql]``); ``@pytest.mark.backends("sqlite")``
narrows a test that only checks HTTP validation. SQLite gets a file in ``tmp_path``;
PostgreSQL gets the session server's ``shop`` database (one server per xdist worker), with
its tables emptied and ids reset before each test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.config import Settings
from demo_api.db import Database
from demo_api.main import create_app
from pytest_loadgate.postgres import PostgresServer

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A running ``python -m demo_api``."""

    base_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    database_url: str

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's combined output."""
        return self.log_path.read_text(errors="replace")[-chars:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_ready(server: ServerProcess) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if server.proc.poll() is not None:
            pytest.fail(f"server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.base_url}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            _stop(server.proc)
            pytest.fail(f"server not ready within {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")
        time.sleep(0.05)


@pytest.fixture
def start_server(tmp_path: Path, db_url: str) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m demo_api`` on a free port and this test's database; stopped afterwards.

    On SQLite each server gets a file of its own; on PostgreSQL they share the test's database.
    """
    started: list[ServerProcess] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        index = len(started)
        url = sqlite_url(tmp_path / f"server{index}.db") if db_url.startswith("sqlite") else db_url
        log_path = tmp_path / f"server{index}.log"
        full_env = {
            **os.environ,
            "DATABASE_URL": url,
            "DEMO_API_FAULTS": "",
            **(env or {}),
        }
        cmd = [sys.executable, "-m", "demo_api", "--port", str(port), "--workers", str(workers)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = ServerProcess(f"http://127.0.0.1:{port}", proc, log_path, url)
        started.append(server)
        _wait_ready(server)
        return server

    yield start
    for server in started:
        _stop(server.proc)
