"""Health, JSON errors, 503 on a busy or unreachable database, 413 on big bodies."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.config import Settings
from demo_api.main import create_app
from demo_api.services import products as product_service
from pytest_loadgate.target.server import free_port

from .conftest import make_product

pytestmark = pytest.mark.shop


def test_health_ok(client: TestClient, db_backend: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["database_backend"] == db_backend
    assert body["faults"] == ""


@pytest.fixture
def unreachable() -> Iterator[TestClient]:
    """A shop whose PostgreSQL database refuses connections (nothing listens on the port)."""
    url = f"postgresql+psycopg://shop:shop@127.0.0.1:{free_port()}/shop"
    app = create_app(Settings(database_url=url, faults=""))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_health_is_503_with_reason_when_database_unreachable(unreachable: TestClient) -> None:
    response = unreachable.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["database"] == "unreachable"
    assert body["database_backend"] == "postgresql"
    assert body["detail"] == ("database unreachable: OperationalError"
                              " (details in the server log)")
    # The driver's message (host, port, user) stays in the server's log.
    assert "127.0.0.1" not in response.text and "port" not in response.text


def test_requests_get_503_not_500_when_database_unreachable(unreachable: TestClient) -> None:
    response = unreachable.get("/products/1")
    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable"}
    assert response.headers["retry-after"] == "1"


@pytest.mark.backends("sqlite")
def test_locked_database_is_503(make_app: Callable[..., FastAPI], tmp_path: Path) -> None:
    app = make_app(sqlite_busy_timeout_ms=50)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        product = make_product(test_client)
        blocker = sqlite3.connect(tmp_path / "shop.db", isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # hold the write lock
            response = test_client.post(
                "/orders/", json={"product_id": product["id"], "quantity": 1}
            )
            assert test_client.get(f"/products/{product['id']}").status_code == 200  # reads go on
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status_code == 503
        assert response.json() == {"detail": "database is busy, retry later"}
        ok = test_client.post("/orders/", json={"product_id": product["id"], "quantity": 1})
        assert ok.status_code == 201


@pytest.mark.backends("postgresql")
def test_locked_row_is_503_on_postgresql(make_app: Callable[..., FastAPI], db_url: str) -> None:
    app = make_app(sqlite_busy_timeout_ms=50)  # PostgreSQL's lock_timeout
    with TestClient(app, raise_server_exceptions=False) as test_client:
        product = make_product(test_client)
        dsn = db_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as blocker:  # a transaction holding the product's row lock
            blocker.execute("SELECT 1 FROM products WHERE id = %s FOR UPDATE", (product["id"],))
            response = test_client.post(
                "/orders/", json={"product_id": product["id"], "quantity": 1}
            )
            assert test_client.get(f"/products/{product['id']}").status_code == 200  # reads go on
            blocker.rollback()
        assert response.status_code == 503
        assert response.json() == {"detail": "database is busy, retry later"}
        ok = test_client.post("/orders/", json={"product_id": product["id"], "quantity": 1})
        assert ok.status_code == 201


@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_unexpected_error_is_bare_500(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(product_service, "get_product", boom)
    response = client.get("/products/1")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret" not in response.text and "Traceback" not in response.text


@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    wrong = client.delete("/products/1")
    assert wrong.status_code == 405 and "detail" in wrong.json()


@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_validation_error_body_has_no_input_echo(client: TestClient) -> None:
    response = client.post("/products/", json={"name": "x" * 201, "sku": "A", "price": 1})
    assert response.status_code == 422
    assert all(set(err) == {"type", "loc", "msg"} for err in response.json()["detail"])


@pytest.fixture
def small_body_client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A shop that accepts bodies of at most 100 bytes."""
    with TestClient(make_app(max_body_bytes=100), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.backends("sqlite")  # the body limit sits in front of the handlers
def test_oversized_body_is_413(small_body_client: TestClient) -> None:
    body = {"name": "x" * 150, "sku": "BIG", "price": 1, "stock": 1}
    response = small_body_client.post("/products/", json=body)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large (limit 100 bytes)"}
    assert small_body_client.get("/products/").json()["total"] == 0


@pytest.mark.backends("sqlite")  # the body limit sits in front of the handlers
def test_oversized_chunked_body_is_413(small_body_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "' + b"x" * 80
        yield b"x" * 80 + b'", "sku": "BIG", "price": 1}'

    response = small_body_client.post(
        "/products/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.backends("sqlite")  # the body limit sits in front of the handlers
def test_small_chunked_body_is_accepted(small_body_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "A", "sku": "A",'
        yield b' "price": 1}'

    response = small_body_client.post(
        "/products/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
