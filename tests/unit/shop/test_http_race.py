"""Races over real HTTP against a real ``python -m demo_api`` process."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from .conftest import ShopServer

pytestmark = pytest.mark.shop


def hammer(
    n: int, send: Callable[[requests.Session], requests.Response]
) -> list[requests.Response]:
    """Send one request from each of ``n`` threads, all released at once."""
    barrier = threading.Barrier(n)

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return send(session)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def create_product(base: str, stock: int, sku: str = "LAST") -> int:
    """Create a product over HTTP and return its id."""
    body = {"name": "Last items", "sku": sku, "price": 5, "stock": stock}
    response = requests.post(f"{base}/products/", json=body, timeout=10)
    assert response.status_code == 201, response.text
    product_id: int = response.json()["id"]
    return product_id


@pytest.mark.parametrize("workers", [1, 2])
def test_two_hundred_buyers_for_five_items(
    start_server: Callable[..., ShopServer], workers: int
) -> None:
    server = start_server(workers=workers)
    base = server.base_url
    product_id = create_product(base, stock=5)

    responses = hammer(
        200,
        lambda s: s.post(
            f"{base}/orders/", json={"product_id": product_id, "quantity": 1}, timeout=30
        ),
    )

    codes = Counter(r.status_code for r in responses)
    assert codes == Counter({201: 5, 409: 195}), server.log_tail()
    assert all(
        r.json() == {"detail": "insufficient stock", "available": 0}
        for r in responses
        if r.status_code == 409
    )
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 5
    product = requests.get(f"{base}/products/{product_id}", timeout=10).json()
    assert product["stock"] == 0
    summary = requests.get(f"{base}/summary", timeout=10).json()
    assert summary["negative_stock_products"] == 0
    assert summary["orders"]["pending"] == 5


def test_concurrent_pay_and_idempotent_orders_over_http(
    start_server: Callable[..., ShopServer],
) -> None:
    server = start_server(workers=2)
    base = server.base_url
    product_id = create_product(base, stock=10)
    body: dict[str, Any] = {"product_id": product_id, "quantity": 2}

    placed = hammer(
        30,
        lambda s: s.post(
            f"{base}/orders/", json=body, headers={"Idempotency-Key": "once"}, timeout=30
        ),
    )
    assert {r.status_code for r in placed} == {201}, server.log_tail()
    order_ids = {r.json()["id"] for r in placed}
    assert len(order_ids) == 1
    assert requests.get(f"{base}/products/{product_id}", timeout=10).json()["stock"] == 8

    order_id = order_ids.pop()
    paid = hammer(20, lambda s: s.post(f"{base}/orders/{order_id}/pay", timeout=30))
    assert Counter(r.status_code for r in paid) == Counter({200: 1, 409: 19})
    cancelled = hammer(20, lambda s: s.post(f"{base}/orders/{order_id}/cancel", timeout=30))
    assert Counter(r.status_code for r in cancelled) == Counter({409: 20})
    assert requests.get(f"{base}/products/{product_id}", timeout=10).json()["stock"] == 8
