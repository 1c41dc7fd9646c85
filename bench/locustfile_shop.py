"""Locust scenario for the shop's seed mix: 40% list, 30% get, 20% order, 10% pay.

Used by ``bench/shop_mix.py``; needs ``SHOP_PRODUCTS`` (the number of seeded products,
ids 1..N). Users do not wait between requests.
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant, task

PRODUCTS = int(os.environ.get("SHOP_PRODUCTS", "100"))
PAGE = 20


class ShopUser(FastHttpUser):
    """A shopper browsing, buying one unit at a time and paying for some orders."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Start with no orders to pay."""
        self.pending: list[int] = []

    @task(4)
    def list_products(self) -> None:
        """Browse a page of the catalogue."""
        offset = random.randrange(0, max(PRODUCTS - PAGE, 1))
        self.client.get(f"/products/?limit={PAGE}&offset={offset}", name="/products/")

    @task(3)
    def get_product(self) -> None:
        """Look at one product."""
        product_id = random.randint(1, PRODUCTS)
        self.client.get(f"/products/{product_id}", name="/products/{product_id}")

    @task(2)
    def place_order(self) -> None:
        """Buy one unit of a random product."""
        self._order()

    @task(1)
    def pay(self) -> None:
        """Pay the oldest unpaid order (placing one first if there is none)."""
        if not self.pending:
            self._order()
        if self.pending:
            order_id = self.pending.pop(0)
            self.client.post(f"/orders/{order_id}/pay", name="/orders/{order_id}/pay")

    def _order(self) -> None:
        body = {"product_id": random.randint(1, PRODUCTS), "quantity": 1}
        with self.client.post("/orders/", json=body, name="/orders/", catch_response=True) as r:
            if r.status_code == 201:
                self.pending.append(r.json()["id"])
                r.success()
            else:
                r.failure(f"status {r.status_code}: {r.text[:200]}")
