"""Standard and stress load on the shop with the seed's verdicts (short in CI, long with
``--loadgate-profile=full``)."""

from __future__ import annotations

import pytest
from shop_users import Admin, Shopper, StepLoad


@pytest.mark.perf(
    users=50, spawn_rate=25, run_time="20s", warmup="3s",
    avg_ms=500, p95_ms=1000, max_error_rate=0.01, min_rps=300,
    endpoints={
        "GET /products/": {"p95_ms": 200},
        "GET /products/{id}": {"p95_ms": 200},
        "POST /orders/": {"p95_ms": 500},
        "POST /orders/{id}/pay": {"p95_ms": 500},
    },
    max_regression={"p50_rel": 0.2, "p50_ref": 0.5, "rps": 0.3},
    profiles={"full": {"run_time": "5m", "warmup": "10s"}},
)
def test_standard(loadgate, shop) -> None:
    result = loadgate.run(Shopper, Admin)
    assert result.endpoint("POST /orders/").requests > 0
    assert shop.summary()["negative_stock_products"] == 0


STRESS_STEPS = [50, 100, 150, 200]


@pytest.mark.perf(
    users=200, spawn_rate=50, run_time="20s", warmup="3s",
    p99_ms=2000, max_error_rate=0.05,
    profiles={"full": {"run_time": "10m", "warmup": "10s"}},
)
def test_stress(loadgate, shop) -> None:
    """Users step up 50 → 200; the report shows rps and p95 per step (where the shop bends).
    The capacity itself, as a gated number with its limit and knee, is tests/perf/test_capacity.py
    (docs/capacity.md)."""
    step_s = loadgate.spec.run_time_s / len(STRESS_STEPS)
    result = loadgate.run(Shopper, Admin, shape=StepLoad(STRESS_STEPS, step_s))
    assert [s["users"] for s in result.steps] == STRESS_STEPS
    assert shop.summary()["negative_stock_products"] == 0


#: Light load after stress must be back near its earlier level within this many seconds.
RECOVERY_LIMIT_S = 3
SETTLED_SHARE = 0.8


@pytest.mark.perf(users=10, spawn_rate=10, run_time="6s", warmup="1s",
                  p99_ms=2000, max_error_rate=0.05)
def test_recovery_after_stress(loadgate, shop) -> None:
    """Light p95 → stress → light again: p95 returns to its light-load level quickly."""
    before = loadgate.run(Shopper)
    loadgate.run(Shopper, Admin, users=200, spawn_rate=50, run_time="12s", warmup="4s")
    after = loadgate.run(Shopper, run_time="10s", warmup=0)
    bound_ms = max(2 * before.total.p95_ms, before.total.p95_ms + 10)
    # Whole seconds only (the last bin is cut short by the stop); "settled" means at least
    # SETTLED_SHARE of the seconds from then on are back under the bound, so one stray spike
    # on a shared box does not count as "not recovered", while a shop that stays slow does.
    seconds = [p for p in after.timeline[:-1] if p["requests"]]

    def settled(i: int) -> bool:
        rest = seconds[i:]
        return len(rest) >= 3 and sum(p["p95_ms"] <= bound_ms for p in rest) >= (
            SETTLED_SHARE * len(rest))

    recovered_at = next((i for i in range(len(seconds)) if settled(i)), None)
    assert recovered_at is not None and recovered_at <= RECOVERY_LIMIT_S, (
        f"p95 per second after stress {[p['p95_ms'] for p in seconds]} did not settle under"
        f" {bound_ms:.1f} ms (2x light-load p95 {before.total.p95_ms} ms) within"
        f" {RECOVERY_LIMIT_S} s")
