"""Locust users for the demo shop (a locustfile: also used by the interactive mode).

Shopper follows the seed's mix: browse the catalogue, look at products, order, pay, sometimes
cancel. Admin creates and restocks products. Templated URLs are named so each endpoint is one
line in the stats: ``GET /products/{id}``, ``POST /orders/{id}/pay``.
"""

from __future__ import annotations

import random
import uuid

from faker import Faker
from locust import FastHttpUser, LoadTestShape, between, task

fake = Faker()

#: Share of placed orders that the shopper cancels instead of paying.
CANCEL_SHARE = 0.1


class Shopper(FastHttpUser):
    """A customer: 40% list, 30% view, 20% order, 10% pay (or cancel)."""

    weight = 10
    wait_time = between(0.05, 0.1)

    def on_start(self) -> None:
        self.pending: list[int] = []
        with self.client.get("/products/?limit=100", name="/products/ (setup)",
                             catch_response=True) as resp:
            products = resp.json().get("products", []) if resp.status_code == 200 else []
            self.product_ids = [p["id"] for p in products] or [1]

    @task(4)
    def browse(self) -> None:
        self.client.get(f"/products/?limit=20&offset={random.choice((0, 0, 20, 40))}",
                        name="/products/")

    @task(3)
    def view(self) -> None:
        self.client.get(f"/products/{random.choice(self.product_ids)}", name="/products/{id}")

    @task(2)
    def order(self) -> None:
        body = {"product_id": random.choice(self.product_ids),
                "quantity": fake.random_int(min=1, max=3)}
        with self.client.post("/orders/", json=body, name="/orders/", catch_response=True,
                              headers={"Idempotency-Key": str(uuid.uuid4())}) as resp:
            if resp.status_code == 201:
                self.pending.append(resp.json()["id"])
            elif resp.status_code == 409:
                resp.success()  # sold out is a correct answer, not an error

    @task(1)
    def settle(self) -> None:
        if not self.pending:
            return
        order_id = self.pending.pop()
        action = "cancel" if random.random() < CANCEL_SHARE else "pay"
        self.client.post(f"/orders/{order_id}/{action}", name=f"/orders/{{id}}/{action}")


class Admin(FastHttpUser):
    """Back office: adds products and restocks existing ones."""

    weight = 1
    wait_time = between(0.5, 1.0)

    @task(1)
    def create_product(self) -> None:
        body = {"name": fake.catch_phrase()[:200], "sku": f"SKU-{uuid.uuid4().hex[:16]}",
                "price": round(random.uniform(1, 500), 2), "stock": 100_000}
        self.client.post("/products/", json=body, name="/products/ (create)")

    @task(3)
    def restock(self) -> None:
        self.client.post(f"/products/{random.randint(1, 50)}/restock",
                         json={"quantity": fake.random_int(min=1, max=50)},
                         name="/products/{id}/restock")


class Buyer(FastHttpUser):
    """A race participant: buys one unit of ``product_id``; sold out (409) is a valid answer."""

    abstract = True
    product_id = 0
    quantity = 1

    @task
    def buy(self) -> None:
        with self.client.post("/orders/", json={"product_id": self.product_id,
                                                "quantity": self.quantity},
                              name="/orders/", catch_response=True) as resp:
            if resp.status_code == 409:
                resp.success()


class HotShopper(FastHttpUser):
    """Orders and cancels a few hot products as fast as it can (ledger stress)."""

    abstract = True
    product_ids: tuple[int, ...] = ()
    wait_time = between(0.0, 0.02)

    def on_start(self) -> None:
        self.mine: list[int] = []

    @task(3)
    def order(self) -> None:
        body = {"product_id": random.choice(self.product_ids), "quantity": random.randint(1, 3)}
        with self.client.post("/orders/", json=body, name="/orders/", catch_response=True) as r:
            if r.status_code == 201:
                self.mine.append(r.json()["id"])
            elif r.status_code == 409:
                r.success()

    @task(2)
    def cancel(self) -> None:
        if self.mine:
            self.client.post(f"/orders/{self.mine.pop(0)}/cancel", name="/orders/{id}/cancel")

    @task(1)
    def pay(self) -> None:
        if self.mine:
            self.client.post(f"/orders/{self.mine.pop()}/pay", name="/orders/{id}/pay")


def buyers_of(product_id: int, quantity: int = 1) -> type[Buyer]:
    """A concrete Buyer class racing for ``product_id``."""
    return type("Buyer", (Buyer,), {"abstract": False, "product_id": product_id,
                                    "quantity": quantity, "__module__": __name__})


def hot_shoppers_of(product_ids: tuple[int, ...]) -> type[HotShopper]:
    """A concrete HotShopper class for these products."""
    return type("HotShopper", (HotShopper,), {"abstract": False, "product_ids": product_ids,
                                              "__module__": __name__})


class StepLoad(LoadTestShape):
    """Steps users up (e.g. 50 → 100 → 150 → 200), each step held for ``step_s`` seconds."""

    abstract = True  # needs arguments: Locust's loader must not instantiate it from this file

    def __init__(self, users: list[int], step_s: float, spawn_rate: float = 50) -> None:
        super().__init__()
        self.user_steps = users
        self.step_s = step_s
        self.spawn_rate = spawn_rate

    def tick(self) -> tuple[int, float] | None:
        step = int(self.get_run_time() // self.step_s)
        if step >= len(self.user_steps):
            return None
        return self.user_steps[step], self.spawn_rate
