"""Locust user of ``bench/fault_matrix.py``: one product page per iteration, short constant wait.

Used by the plugin's closed and open models (``loadgate.run(FaultUser)``) and by Locust's own
CLI. Needs ``SHOP_PRODUCTS`` (the number of seeded products, ids 1..N) and optionally
``FAULT_WAIT_S`` (the closed model's wait between requests; the open model ignores it).
The timeouts stay Locust's defaults, so the plugin applies its ``request_timeout`` (10 s).
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant, task

PRODUCTS = int(os.environ.get("SHOP_PRODUCTS", "20"))
WAIT_S = float(os.environ.get("FAULT_WAIT_S", "0.1"))


class FaultUser(FastHttpUser):
    """``GET /products/{id}`` of a random seeded product, then ``WAIT_S`` of think time."""

    wait_time = constant(WAIT_S)

    @task
    def product(self) -> None:
        self.client.get(f"/products/{random.randint(1, PRODUCTS)}", name="/products/{product_id}")
