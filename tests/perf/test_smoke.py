"""Smoke: light load, every endpoint fast, no errors. The first gate of `make demo`."""

from __future__ import annotations

import pytest
from shop_users import Shopper

SHOP_ENDPOINTS = ["GET /products/", "GET /products/{id}", "POST /orders/",
                  "POST /orders/{id}/pay"]


@pytest.mark.perf(
    users=10, spawn_rate=10, run_time="12s", warmup="2s",
    max_error_rate=0,
    endpoints={name: {"p95_ms": 100} for name in SHOP_ENDPOINTS},
    max_regression={"p50_rel": 0.2, "p50_ref": 0.4, "p95": 1.0, "rps": 0.3},
    profiles={"full": {"run_time": "2m", "warmup": "5s"}},
)
def test_smoke(loadgate, shop) -> None:
    result = loadgate.run(Shopper)
    for name in SHOP_ENDPOINTS:
        assert result.endpoint(name).requests > 0
    assert shop.summary()["negative_stock_products"] == 0
