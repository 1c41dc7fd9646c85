"""The fault switch: strict parsing and its effect on requests."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo_api.errors import NotFound
from demo_api.faults import Fault, FaultSpecError, parse_faults
from demo_api.main import route_names
from demo_api.services import products as product_service

from .conftest import ShopServer, make_product

# The fault switch sits in front of the handlers: one backend is enough.
pytestmark = [pytest.mark.shop, pytest.mark.backends("sqlite")]


def test_empty_spec_means_no_faults() -> None:
    assert not parse_faults("")
    assert not parse_faults("  ;  ")


def test_parses_routes_keys_and_star() -> None:
    plan = parse_faults(
        "GET /products/{product_id}:latency_ms=25.5,error_rate=0.1; "
        "*:slowdown=2,cpu_ms=1.5;POST /orders/:error_rate=1;"
    )
    assert plan.rules == {
        "GET /products/{product_id}": Fault(latency_ms=25.5, error_rate=0.1),
        "*": Fault(slowdown=2.0, cpu_ms=1.5),
        "POST /orders/": Fault(error_rate=1.0),
    }
    assert plan.for_route("GET", "/products/{product_id}") == Fault(latency_ms=25.5, error_rate=0.1)
    assert plan.for_route("GET", "/products/") == Fault(slowdown=2.0, cpu_ms=1.5)


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
        ("GET /products/:cpu_ms=-1", "cpu_ms must be 0..1000"),
        ("GET /products/:error_rate=1.5", "error_rate must be 0..1"),
        ("GET /products/:error_rate=0.1,error_rate=0.2", "error_rate given twice"),
        ("*:slowdown=2;*:latency_ms=1", "route '*' given twice"),
        ("GET /products/:latency_ms=1,", "'' is not key=value"),
        ("*:stall_ms=1000", "stall_ms needs stall_every_s"),
        ("*:stall_every_s=3", "stall_every_s needs stall_ms"),
        ("*:stall_ms=0,stall_every_s=3", "stall_ms must be > 0 and < stall_every_s x 1000"),
        ("*:stall_ms=-5,stall_every_s=3", "stall_ms must be > 0"),
        ("*:stall_ms=3000,stall_every_s=3", "stall_ms must be < stall_every_s x 1000 (= 3000)"),
        ("*:stall_ms=1,stall_every_s=0", "stall_every_s must be > 0 and <= 3600"),
        ("*:stall_ms=1,stall_every_s=3601", "stall_every_s must be > 0 and <= 3600"),
        ("*:stall_ms=1,stall_every_s=inf", "stall_every_s='inf' must be finite"),
        ("*:stall_ms=1,stall_every_s=3,stall_ms=2", "stall_ms given twice"),
        ("*:hang_after_s=-1", "hang_after_s must be 0..86400"),
        ("*:hang_after_s=86401", "hang_after_s must be 0..86400"),
        ("*:hang_after_s=soon", "hang_after_s='soon' is not a number"),
        ("*:latency_growth_ms_per_s=-0.1", "latency_growth_ms_per_s must be 0..10000"),
        ("*:latency_growth_ms_per_s=10001", "latency_growth_ms_per_s must be 0..10000"),
        ("*:error_rate=1,errors_from_s=5", "errors_from_s needs errors_for_s"),
        ("*:error_rate=1,errors_for_s=5", "errors_for_s needs errors_from_s"),
        ("*:errors_from_s=5,errors_for_s=5", "errors_from_s and errors_for_s need error_rate"),
        ("*:error_rate=1,errors_from_s=-1,errors_for_s=5", "errors_from_s must be 0..86400"),
        ("*:error_rate=1,errors_from_s=0,errors_for_s=0", "errors_for_s must be > 0 and <= 86400"),
        (
            "*:error_rate=1,errors_from_s=0,errors_for_s=1e9",
            "errors_for_s must be > 0 and <= 86400",
        ),
        (
            "*:hang_after=5",
            "unknown key 'hang_after' (use latency_ms, slowdown, cpu_ms, error_rate, "
            "errors_from_s, errors_for_s, stall_ms, stall_every_s, hang_after_s, "
            "latency_growth_ms_per_s)",
        ),
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


# --- time-dependent keys: a stalling, hung, leaking or bursting server -------------------------


def test_parses_time_keys() -> None:
    plan = parse_faults(
        "GET /products/:stall_ms=1000,stall_every_s=3;"
        "POST /orders/:error_rate=1,errors_from_s=10,errors_for_s=5;"
        "GET /products/{product_id}:hang_after_s=0;"
        "*:latency_growth_ms_per_s=2.5,latency_ms=1"
    )
    assert plan.rules == {
        "GET /products/": Fault(stall_ms=1000, stall_every_s=3),
        "POST /orders/": Fault(error_rate=1, errors_from_s=10, errors_for_s=5),
        "GET /products/{product_id}": Fault(hang_after_s=0),
        "*": Fault(latency_growth_ms_per_s=2.5, latency_ms=1),
    }
    # A route's own entry wins over '*' as a whole: no growth for the hung route.
    assert plan.for_route("GET", "/products/{product_id}") == Fault(hang_after_s=0)
    assert plan.for_route("GET", "/health") == Fault(latency_growth_ms_per_s=2.5, latency_ms=1)


def test_the_clock_starts_at_parse_time_or_where_injected() -> None:
    before = time.monotonic()
    plan = parse_faults("*:hang_after_s=5")
    assert before <= plan.started_at <= time.monotonic()
    assert 0 <= plan.elapsed() < 1
    injected = parse_faults("*:hang_after_s=5", started_at=100.0)
    assert injected.started_at == 100.0
    assert injected.elapsed(now=103.5) == 3.5
    assert injected.elapsed(now=99.0) == 0  # never negative
    assert injected == parse_faults("*:hang_after_s=5")  # the clock is not part of the spec


@pytest.mark.parametrize(
    ("elapsed", "left"),
    [
        (0, 1.0),
        (0.25, 0.75),
        (0.999, 0.001),
        (1.0, 0),
        (2.99, 0),
        (3.0, 1.0),
        (3.4, 0.6),
        (7.0, 0),
        (3000.5, 0.5),
    ],
)
def test_stall_holds_until_the_stall_ends(elapsed: float, left: float) -> None:
    fault = Fault(stall_ms=1000, stall_every_s=3)
    assert fault.stall_left(elapsed) == pytest.approx(left, abs=1e-9)
    assert fault.delay(elapsed) == pytest.approx(left, abs=1e-9)


def test_hang_after_s_starts_at_its_second() -> None:
    fault = Fault(hang_after_s=5)
    assert not fault.hangs(4.999)
    assert fault.hangs(5)
    assert fault.hangs(86_400)
    assert Fault(hang_after_s=0).hangs(0)
    assert not Fault().hangs(1e9)


def test_latency_grows_with_time_since_start() -> None:
    assert Fault(latency_growth_ms_per_s=100).delay(0) == 0
    assert Fault(latency_growth_ms_per_s=100).delay(3) == pytest.approx(0.3)
    assert Fault(latency_growth_ms_per_s=100, latency_ms=50).delay(3) == pytest.approx(0.35)
    both = Fault(latency_growth_ms_per_s=10, stall_ms=500, stall_every_s=2)
    assert both.delay(4.1) == pytest.approx(0.4 + 0.041)


def test_error_window_limits_error_rate() -> None:
    burst = Fault(error_rate=0.5, errors_from_s=10, errors_for_s=5)
    assert [burst.errors_on(t) for t in (0, 9.99, 10, 14.99, 15, 100)] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    assert Fault(error_rate=0.5).errors_on(0)
    assert Fault(error_rate=0.5).errors_on(1e6)
    assert not Fault().errors_on(0)


def started_ago(app: FastAPI, seconds: float) -> float:
    """Move the app's fault clock so that it started ``seconds`` ago; return the start."""
    started_at = time.monotonic() - seconds
    app.state.faults = dataclasses.replace(app.state.faults, started_at=started_at)
    return started_at


def test_stall_through_the_app(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/:stall_ms=600,stall_every_s=10")
    with TestClient(app) as client:
        # In the stall's phase 300 ms: answered when the stall ends, 300 ms later, not 600.
        started_at = started_ago(app, 10.3)
        waited, response = timed(client, "GET", "/products/")
        assert response.status_code == 200
        assert time.monotonic() >= started_at + 10.6
        assert 0.28 <= waited < 0.55
        other, _ = timed(client, "GET", "/health")  # another route: not stalled
        assert other < 0.2
        # Phase 1 s, after the stall: not delayed.
        started_ago(app, 11.0)
        outside, response = timed(client, "GET", "/products/")
        assert response.status_code == 200
        assert outside < 0.2


def test_latency_growth_through_the_app(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/:latency_growth_ms_per_s=100")
    with TestClient(app) as client:
        started_ago(app, 0)
        fresh, response = timed(client, "GET", "/products/")
        assert response.status_code == 200
        assert fresh < 0.1
        started_ago(app, 3)  # 3 s x 100 ms/s
        later, response = timed(client, "GET", "/products/")
        assert response.status_code == 200
        assert 0.3 <= later < 0.55


def test_error_burst_through_the_app(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/:error_rate=1,errors_from_s=30,errors_for_s=10")
    with TestClient(app) as client:
        codes = {}
        for seconds in (0, 29.5, 30.5, 39.5, 40.5, 100):
            started_ago(app, seconds)
            codes[seconds] = client.get("/products/").status_code
        assert codes == {0: 200, 29.5: 200, 30.5: 500, 39.5: 500, 40.5: 200, 100: 200}
        started_ago(app, 35)
        assert client.get("/products/").json() == {"detail": "injected fault"}
        assert client.get("/health").status_code == 200  # another route: no burst


def test_hang_after_s_through_the_app(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/:hang_after_s=5")
    with TestClient(app) as client:
        started_ago(app, 4.9)
        assert client.get("/products/").status_code == 200  # not yet


def test_hung_route_never_answers_and_uses_no_cpu(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(faults="GET /products/:hang_after_s=0")

    async def scenario() -> tuple[float, int, set[asyncio.Task[Any]]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            cpu = time.process_time()
            with pytest.raises(TimeoutError):  # the timeout cancels the hung request
                await asyncio.wait_for(client.get("/products/"), 0.3)
            cpu_used = time.process_time() - cpu
            health = await asyncio.wait_for(client.get("/health"), 10)  # the rest answers
        return cpu_used, health.status_code, asyncio.all_tasks() - {asyncio.current_task()}

    cpu_used, health_status, leftover = asyncio.run(scenario())
    assert cpu_used < 0.15  # waiting, not spinning, for 0.3 s
    assert health_status == 200
    assert not leftover


def test_hung_server_still_stops_once_clients_gave_up(
    start_server: Callable[..., ShopServer],
) -> None:
    """A real server: the hung request ends with the client's disconnect, so SIGTERM works."""
    server = start_server(env={"DEMO_API_FAULTS": "GET /products/:hang_after_s=0"})
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{server.base_url}/products/", timeout=0.3)
    assert requests.get(f"{server.base_url}/health", timeout=5).status_code == 200
    server.process.stop()  # SIGTERM to its process group, SIGKILL only after 10 s
    # uvicorn re-raises the SIGTERM it handled; a server still waiting for a hung task would
    # not exit at all (and be killed).
    assert server.process.exit_code() == -signal.SIGTERM, server.log_tail()
    assert "Traceback" not in server.log_tail()


def test_busy_cpu_uses_the_cpu_time_asked() -> None:
    from demo_api.faults import busy_cpu

    before = time.thread_time()
    busy_cpu(0.02)
    assert time.thread_time() - before >= 0.02


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "0"], "error: --workers must be at least 1"),
    (["--shutdown-timeout", "-1"], "error: --shutdown-timeout must be 0 or more"),
])
def test_server_refuses_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "DEMO_API_FAULTS": ""}
    result = subprocess.run([sys.executable, "-m", "demo_api", "--port", "1", *args],
                            env={**os.environ, **env}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
