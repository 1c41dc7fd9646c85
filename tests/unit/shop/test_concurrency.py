"""Races at the service layer: real threads, real SQLite connections, one shared file."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from demo_api.db import Database
from demo_api.errors import Conflict
from demo_api.schemas import OrderCreate, ProductCreate
from demo_api.services import orders, products
from demo_api.services.summary import summary

pytestmark = pytest.mark.shop


def race(n: int, action: Callable[[int], Any]) -> Counter[str]:
    """Run ``action(i)`` in ``n`` threads released together; count outcomes by kind."""
    barrier = threading.Barrier(n)

    def one(i: int) -> str:
        barrier.wait()
        try:
            action(i)
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(max_workers=n) as pool:
        return Counter(pool.map(one, range(n)))


def new_product(db: Database, stock: int) -> int:
    """Create a product and return its id."""
    data = ProductCreate(name="Race", sku=f"R{stock}", price="1.00", stock=stock)  # type: ignore[arg-type]
    product_id: int = products.create_product(db, data)["id"]
    return product_id


def new_order(db: Database, product_id: int, quantity: int) -> int:
    """Place a pending order and return its id."""
    order_id: int = orders.place_order(db, OrderCreate(product_id=product_id, quantity=quantity),
                                       None).order["id"]
    return order_id


def test_twenty_concurrent_pays_exactly_one_wins(db: Database) -> None:
    product_id = new_product(db, 5)
    order_id = new_order(db, product_id, 1)
    outcome = race(20, lambda _: orders.pay_order(db, order_id))
    assert outcome == Counter(ok=1, conflict=19)
    assert orders.get_order(db, order_id)["status"] == "paid"


def test_twenty_concurrent_cancels_return_stock_once(db: Database) -> None:
    product_id = new_product(db, 10)
    order_id = new_order(db, product_id, 3)
    outcome = race(20, lambda _: orders.cancel_order(db, order_id))
    assert outcome == Counter(ok=1, conflict=19)
    assert products.get_product(db, product_id)["stock"] == 10


def test_pay_racing_cancel_has_one_winner_and_consistent_stock(db: Database) -> None:
    product_id = new_product(db, 10)
    order_id = new_order(db, product_id, 4)
    outcome = race(20, lambda i: (orders.pay_order if i % 2 else orders.cancel_order)(db, order_id))
    assert outcome == Counter(ok=1, conflict=19)
    status = orders.get_order(db, order_id)["status"]
    assert products.get_product(db, product_id)["stock"] == (10 if status == "cancelled" else 6)


def test_concurrent_orders_never_oversell(db: Database) -> None:
    product_id = new_product(db, 7)
    outcome = race(
        40, lambda _: orders.place_order(db, OrderCreate(product_id=product_id, quantity=1), None)
    )
    assert outcome == Counter(ok=7, conflict=33)
    figures = summary(db)
    assert figures["units_in_stock"] == 0
    assert figures["negative_stock_products"] == 0
    assert figures["orders"]["pending"] == 7


def test_concurrent_orders_with_one_idempotency_key_buy_once(db: Database) -> None:
    product_id = new_product(db, 10)
    data = OrderCreate(product_id=product_id, quantity=2)
    seen: list[int] = []
    lock = threading.Lock()

    def buy(_: int) -> None:
        placed = orders.place_order(db, data, "same-key")
        with lock:
            seen.append(placed.order["id"])

    assert race(20, buy) == Counter(ok=20)
    assert len(set(seen)) == 1
    assert products.get_product(db, product_id)["stock"] == 8


def test_concurrent_restocks_and_orders_add_up(db: Database) -> None:
    product_id = new_product(db, 0)

    def act(i: int) -> None:
        if i % 2:
            products.restock(db, product_id, 3)
        else:
            with contextlib.suppress(Conflict):
                orders.place_order(db, OrderCreate(product_id=product_id, quantity=1), None)

    race(30, act)
    sold = orders.list_orders(db, None, product_id, 100, 0)["total"]
    assert products.get_product(db, product_id)["stock"] == 15 * 3 - sold
