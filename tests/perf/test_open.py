"""Open model: shoppers arrive on a schedule, whatever the shop does (stalls cannot hide)."""

from __future__ import annotations

import pytest
from shop_users import Shopper


@pytest.mark.perf(
    arrival_rate=60, run_time="12s", warmup="2s", max_users=60,
    max_error_rate=0, p99_ms=250, max_dropped_rate=0,
    profiles={"full": {"arrival_stages": [{"rate": 20, "duration": "20s"},
                                          {"rate": 150, "duration": "1m"},
                                          {"rate": 150, "duration": "1m"}],
                       "max_users": 150}},
)
def test_open_arrivals(loadgate, shop) -> None:
    result = loadgate.run(Shopper)
    assert result.open is not None and result.open["dropped"] == 0
    assert result.open["send_rate"] >= 0.99
    assert shop.summary()["negative_stock_products"] == 0
