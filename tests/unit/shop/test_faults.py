"""The fault switch: strict parsing and its effect on requests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.errors import NotFound
from demo_api.faults import Fault, FaultSpecError, parse_faults
from demo_api.main import route_names
from demo_api.services import products as product_service

from .conftest import make_product

# The fault switch sits in front of the handlers: one backend is enough.
pytestmark = [pytest.mark.shop, pytest.mark.backends("sqlite")]


def test_empty_spec_means_no_faults() -> None:
    assert not parse_faults("")
    assert not parse_faults("  ;  ")


def test_parses_routes_keys_and_star() -> None:
    plan = parse_faults(
        "GET /products/{product_id}:latency_ms=25.5,error_rate=0.1; "
        "*:slowdown=2;POST /orders/:error_rate=1;"
    )
    assert plan.rules == {
        "GET /products/{product_id}": Fault(latency_ms=25.5, error_rate=0.1),
        "*": Fault(slowdown=2.0),
        "POST /orders/": Fault(error_rate=1.0),
    }
    assert plan.for_route("GET", "/products/{product_id}") == Fault(latency_ms=25.5, error_rate=0.1)
    assert plan.for_route("GET", "/products/") == Fault(slowdown=2.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("GET /products/", "must look like 'ROUTE:key=value"),
        ("GET /products/:", "must look like 'ROUTE:key=value"),
        (":latency_ms=5", "must look like 'ROUTE:key=value"),
        ("get /products/:latency_ms=5", "route 'get /products/' must be '*' or 'METHOD /template'"),
        ("GET products:latency_ms=5", "must be '*' or 'METHOD /template'"),
        ("FETCH /x:latency_ms=5", "must be '*' or 'METHOD /template'"),
        ("GET /products/:latency=5", "unknown key 'latency'"),
        ("GET /products/:latency_ms", "'latency_ms' is not key=value"),
        ("GET /products/:latency_ms=", "'latency_ms=' is not key=value"),
        ("GET /products/:latency_ms=fast", "latency_ms='fast' is not a number"),
        ("GET /products/:latency_ms=nan", "must be finite"),
        ("GET /products/:latency_ms=-1", "latency_ms must be 0..60000"),
        ("GET /products/:slowdown=0.5", "slowdown must be 1..1000"),
        ("GET /products/:error_rate=1.5", "error_rate must be 0..1"),
        ("GET /products/:error_rate=0.1,error_rate=0.2", "error_rate given twice"),
        ("*:slowdown=2;*:latency_ms=1", "route '*' given twice"),
        ("GET /products/:latency_ms=1,", "'' is not key=value"),
    ],
)
def test_malformed_specs_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match="DEMO_API_FAULTS") as info:
        parse_faults(spec)
    assert message in str(info.value)


def test_unknown_route_fails_app_creation(make_app: Callable[..., FastAPI]) -> None:
    with pytest.raises(FaultSpecError, match=r"unknown route 'GET /product/\{id\}'"):
        make_app(faults="GET /product/{id}:latency_ms=5")


def test_route_names_are_method_and_template() -> None:
    names = route_names()
    assert "GET /products/{product_id}" in names
    assert "POST /orders/{order_id}/pay" in names
    assert "GET /health" in names


def timed(client: TestClient, method: str, url: str, **kwargs: Any) -> tuple[float, Any]:
    """Send one request; return (seconds, response)."""
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    return time.perf_counter() - started, response


def test_latency_applies_to_the_named_route_only(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/{product_id}:latency_ms=300")
    with TestClient(app) as client:
        product = make_product(client)
        slow, response = timed(client, "GET", f"/products/{product['id']}")
        fast, _ = timed(client, "GET", "/products/")
        assert response.status_code == 200
        assert slow >= 0.3
        assert fast < 0.3
        assert client.get("/health").json()["faults"] == "GET /products/{product_id}:latency_ms=300"


def test_error_rate_one_answers_500_without_running_the_handler(
    make_app: Callable[..., FastAPI],
) -> None:
    with TestClient(make_app(faults="POST /orders/:error_rate=1")) as client:
        product = make_product(client, stock=3)
        response = client.post("/orders/", json={"product_id": product["id"], "quantity": 1})
        assert response.status_code == 500
        assert response.json() == {"detail": "injected fault"}
        assert client.get(f"/products/{product['id']}").json()["stock"] == 3


def test_error_rate_is_a_fraction(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(faults="GET /products/:error_rate=0.5")) as client:
        codes = [client.get("/products/").status_code for _ in range(200)]
    assert set(codes) == {200, 500}
    assert 50 <= codes.count(500) <= 150


def test_slowdown_multiplies_handler_time(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = product_service.get_product

    def slow_get(*args: Any) -> Any:
        time.sleep(0.1)
        return real(*args)

    monkeypatch.setattr(product_service, "get_product", slow_get)
    with TestClient(make_app(faults="*:slowdown=3;GET /products/:slowdown=1")) as client:
        product = make_product(client)
        elapsed, response = timed(client, "GET", f"/products/{product['id']}")
        assert response.status_code == 200
        assert elapsed >= 0.3
        listed, _ = timed(client, "GET", "/products/")  # its own entry wins over '*'
        assert listed < 0.3


def test_slowdown_also_applies_to_error_responses(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_missing(*_args: Any) -> Any:
        time.sleep(0.1)
        raise NotFound("product not found")

    monkeypatch.setattr(product_service, "get_product", slow_missing)
    with TestClient(make_app(faults="GET /products/{product_id}:slowdown=2.5")) as client:
        elapsed, response = timed(client, "GET", "/products/1")
    assert response.status_code == 404
    assert elapsed >= 0.25


def test_server_refuses_to_start_with_a_bad_spec(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "DEMO_API_FAULTS": "*:boom=1"}
    result = subprocess.run(
        [sys.executable, "-m", "demo_api", "--port", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DEMO_API_FAULTS part '*:boom=1': unknown key 'boom'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("seconds", [0.0002, 0.0005, 0.003])
def test_precise_wait_is_not_rounded_away_by_uvloop(seconds: float) -> None:
    """uvloop's timers tick in whole ms: asyncio.sleep(0.0002) returns at once there."""

    import uvloop

    from demo_api.faults import precise_wait

    async def shortest_of(n: int) -> float:
        waits = []
        for _ in range(n):
            started = time.perf_counter()
            await precise_wait(seconds)
            waits.append(time.perf_counter() - started)
        return min(waits)

    assert uvloop.run(shortest_of(20)) >= seconds
