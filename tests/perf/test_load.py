"""Standard and stress load on the shop with the seed's verdicts (short in CI, long with
``--loadgate-profile=full``)."""

from __future__ import annotations

import pytest
from shop_users import Admin, Shopper


@pytest.mark.perf(
    users=50, spawn_rate=25, run_time="20s", warmup="3s",
    avg_ms=500, p95_ms=1000, max_error_rate=0.01, min_rps=300,
    endpoints={
        "GET /products/": {"p95_ms": 200},
        "GET /products/{id}": {"p95_ms": 200},
        "POST /orders/": {"p95_ms": 500},
        "POST /orders/{id}/pay": {"p95_ms": 500},
    },
    profiles={"full": {"run_time": "5m", "warmup": "10s"}},
)
def test_standard(loadgate, shop) -> None:
    result = loadgate.run(Shopper, Admin)
    assert result.endpoint("POST /orders/").requests > 0
    assert shop.summary()["negative_stock_products"] == 0


@pytest.mark.perf(
    users=200, spawn_rate=50, run_time="20s", warmup="3s",
    p99_ms=2000, max_error_rate=0.05,
    profiles={"full": {"run_time": "10m", "spawn_rate": 10, "warmup": "10s"}},
)
def test_stress(loadgate, shop) -> None:
    result = loadgate.run(Shopper, Admin)
    assert result.total.requests > 0
    assert shop.summary()["negative_stock_products"] == 0
