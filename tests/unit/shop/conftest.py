"""Fixtures for the shop tests: in-process apps on tmp SQLite files and real servers."""

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

import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.config import Settings
from demo_api.db import Database
from demo_api.main import create_app

READY_TIMEOUT_S = 20.0


def sqlite_url(path: Path) -> str:
    """A SQLAlchemy URL for a SQLite file."""
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., FastAPI]:
    """Build an app on a fresh SQLite file in ``tmp_path``; settings can be overridden."""

    def build(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {"database_url": sqlite_url(tmp_path / "shop.db"), "faults": ""}
        values.update(overrides)
        return create_app(Settings(**values))

    return build


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A TestClient (lifespan run, server errors returned as responses) on a fresh shop."""
    with TestClient(make_app(), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A :class:`Database` on a fresh SQLite file with the schema, pool big enough for races."""
    database = Database(sqlite_url(tmp_path / "svc.db"), pool_size=40, max_overflow=10)
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
    db_path: Path

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
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m demo_api`` on a free port and a tmp SQLite file; stopped afterwards."""
    started: list[ServerProcess] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> ServerProcess:
        port = free_port()
        index = len(started)
        db_path = tmp_path / f"server{index}.db"
        log_path = tmp_path / f"server{index}.log"
        full_env = {
            **os.environ,
            "DATABASE_URL": sqlite_url(db_path),
            "DEMO_API_FAULTS": "",
            **(env or {}),
        }
        cmd = [sys.executable, "-m", "demo_api", "--port", str(port), "--workers", str(workers)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        server = ServerProcess(f"http://127.0.0.1:{port}", proc, log_path, db_path)
        started.append(server)
        _wait_ready(server)
        return server

    yield start
    for server in started:
        _stop(server.proc)
