"""Races for the last items: exactly the stock is sold, never more, stock never negative."""

from __future__ import annotations

import pytest
from shop_users import buyers_of, hot_shoppers_of

#: Every race runs on SQLite and on a real PostgreSQL server (test ids say which).
pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _never_negative(shop, product_id: int):
    def check() -> None:
        stock = shop.stock(product_id)
        assert stock >= 0, f"stock of product {product_id} is {stock}"
    return check


@pytest.mark.race(users=20, max_error_rate=0)
def test_last_item_race(loadgate, shop) -> None:
    """5 in stock, 20 buyers released at the same instant: 5 × 201, 15 × 409, stock 0."""
    product_id = shop.create_product(stock=5)
    loadgate.invariant("stock never negative", _never_negative(shop, product_id), interval=0.2)
    result = loadgate.run(buyers_of(product_id))
    assert result.status_counts("POST /orders/") == {201: 5, 409: 15}
    assert shop.stock(product_id) == 0
    assert shop.summary()["negative_stock_products"] == 0


@pytest.mark.race(users=1000, spawn_rate=250, run_time="60s", max_error_rate=0)
def test_race_at_scale(loadgate, shop) -> None:
    """100 in stock, 1,000 buyers at once: exactly 100 sold, stock 0."""
    product_id = shop.create_product(stock=100)
    loadgate.invariant("stock never negative", _never_negative(shop, product_id), interval=0.5)
    result = loadgate.run(buyers_of(product_id))
    assert result.status_counts("POST /orders/") == {201: 100, 409: 900}
    assert shop.stock(product_id) == 0
    assert shop.live_units(product_id) == 100


HOT_STOCK = 60


@pytest.mark.perf(users=30, spawn_rate=30, run_time="12s", max_error_rate=0,
                  profiles={"full": {"users": 100, "spawn_rate": 20, "run_time": "3m"}})
def test_hot_products_ledger(loadgate, shop, ledger) -> None:
    """Many users ordering, paying and cancelling 3 products: at every sample and at the end,
    stock + units in live orders == initial stock, and stock >= 0."""
    products = tuple(shop.create_product(stock=HOT_STOCK) for _ in range(3))

    def balanced() -> None:
        for pid, (stock, live) in ledger.snapshot(products).items():
            assert stock >= 0, f"product {pid} stock {stock}"
            assert stock + live == HOT_STOCK, (
                f"product {pid}: stock {stock} + live units {live} != initial {HOT_STOCK}")

    loadgate.invariant("ledger balances and stock >= 0", balanced, interval=0.25)
    result = loadgate.run(hot_shoppers_of(products))
    assert result.status_counts("POST /orders/").get(409, 0) > 0, "stock never ran out"
    for pid in products:
        assert shop.stock(pid) + shop.live_units(pid) == HOT_STOCK, f"ledger of {pid}"
