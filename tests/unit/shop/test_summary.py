"""``GET /summary`` from running counters: always equal to a recount, and never reads orders.

The oracle is the aggregate ``/summary`` used to run over every order (GROUP BY status, SUM
of paid totals), executed here against the same database. The counters must match it after
any mix of placing, paying and cancelling, concurrent races included, on every backend.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import Engine, case, event, func, inspect, select, text

from demo_api.db import Database
from demo_api.errors import Conflict, Unprocessable
from demo_api.models import ORDER_STATS_SHARDS, ORDER_STATUSES
from demo_api.models import orders_table as o
from demo_api.models import products_table as p
from demo_api.schemas import OrderCreate, ProductCreate
from demo_api.services import orders, products
from demo_api.services.common import from_cents
from demo_api.services.summary import summary

from .conftest import ShopServer, make_product

pytestmark = pytest.mark.shop


def recount(db: Database) -> dict[str, Any]:
    """The summary computed from scratch over every order (the former implementation)."""
    product_stats = select(
        func.count(),
        func.coalesce(func.sum(p.c.stock), 0),
        func.coalesce(func.sum(case((p.c.stock < 0, 1), else_=0)), 0),
    )
    per_status = select(o.c.status, func.count()).group_by(o.c.status)
    revenue = select(func.coalesce(func.sum(o.c.total_cents), 0)).where(o.c.status == "paid")
    with db.read(snapshot=True) as conn:
        count, units, negative = conn.execute(product_stats).one()
        counts: dict[str, int] = {status: n for status, n in conn.execute(per_status)}
        revenue_cents = conn.execute(revenue).scalar_one()
    return {
        "products": int(count),
        "units_in_stock": int(units),
        "orders": {status: int(counts.get(status, 0)) for status in ORDER_STATUSES},
        "revenue": from_cents(int(revenue_cents)),
        "negative_stock_products": int(negative),
    }


def new_product(db: Database, sku: str, stock: int, price: str = "3.25") -> int:
    data = ProductCreate(name=f"P {sku}", sku=sku, price=price, stock=stock)  # type: ignore[arg-type]
    product_id: int = products.create_product(db, data)["id"]
    return product_id


def place(db: Database, product_id: int, quantity: int, key: str | None = None) -> int | None:
    """Place an order; None if it was refused (sold out)."""
    try:
        placed = orders.place_order(db, OrderCreate(product_id=product_id, quantity=quantity), key)
    except Conflict:
        return None
    order_id: int = placed.order["id"]
    return order_id


def released_together(actions: list[Callable[[], Any]]) -> None:
    """Run every action in its own thread, all released at once; conflicts are expected."""
    barrier = threading.Barrier(len(actions))

    def one(action: Callable[[], Any]) -> None:
        barrier.wait()
        with suppress(Conflict):
            action()

    with ThreadPoolExecutor(max_workers=len(actions)) as pool:
        list(pool.map(one, actions))


def test_summary_of_empty_shop_equals_recount(db: Database) -> None:
    assert summary(db) == recount(db)


def test_summary_equals_recount_through_a_mixed_history(db: Database) -> None:
    rng = random.Random(7)
    prices = ("0.01", "3.25", "19.99", "1000000.00")
    product_ids = [new_product(db, f"M{i}", stock=40, price=prices[i]) for i in range(4)]
    placed: list[int] = []
    for step in range(120):
        roll = rng.random()
        if roll < 0.5 or not placed:
            key = f"k{rng.randrange(15)}" if rng.random() < 0.3 else None
            with suppress(Unprocessable):  # a key reused for another order
                order_id = place(db, rng.choice(product_ids), rng.randint(1, 5), key)
                if order_id is not None and order_id not in placed:
                    placed.append(order_id)
        elif roll < 0.75:
            with suppress(Conflict):  # already settled: must not count twice
                orders.pay_order(db, rng.choice(placed))
        elif roll < 0.95:
            with suppress(Conflict):
                orders.cancel_order(db, rng.choice(placed))
        else:
            products.restock(db, rng.choice(product_ids), rng.randint(1, 9))
        if step % 10 == 0:
            assert summary(db) == recount(db), f"after step {step}"
    figures = summary(db)
    assert figures == recount(db)
    assert all(figures["orders"][status] > 0 for status in ORDER_STATUSES)


def test_summary_equals_recount_after_concurrent_place_pay_cancel(db: Database) -> None:
    """Many threads place, pay and cancel the same orders at once: each order is settled
    exactly once, and the counters move exactly once with it."""
    product_ids = [new_product(db, f"R{i}", stock=10) for i in range(3)]

    # Round 1: more units asked for than there are in stock, across products.
    released_together(
        [(lambda pid=pid, q=q: place(db, pid, q)) for pid in product_ids for q in (1, 2, 3) * 2]
    )
    assert summary(db) == recount(db)
    pending = orders.list_orders(db, "pending", None, 1000, 0)["orders"]
    assert pending

    # Round 2: every pending order gets 2 payers and 2 cancellers at once, while new
    # orders keep arriving.
    actions: list[Callable[[], Any]] = []
    for order in pending:
        for _ in range(2):
            actions.append(lambda oid=order["id"]: orders.pay_order(db, oid))
            actions.append(lambda oid=order["id"]: orders.cancel_order(db, oid))
    actions += [(lambda pid=pid: place(db, pid, 1)) for pid in product_ids for _ in range(2)]
    random.Random(3).shuffle(actions)
    released_together(actions)

    figures = summary(db)
    assert figures == recount(db)
    settled = figures["orders"]["paid"] + figures["orders"]["cancelled"]
    assert settled == len(pending)
    assert figures["negative_stock_products"] == 0


def test_twenty_concurrent_pays_count_revenue_once(db: Database) -> None:
    product_id = new_product(db, "ONCE", stock=5, price="12.34")
    order_id = place(db, product_id, 3)
    assert order_id is not None
    released_together([lambda: orders.pay_order(db, order_id)] * 10)
    released_together([lambda: orders.cancel_order(db, order_id)] * 10)
    figures = summary(db)
    assert figures == recount(db)
    assert figures["orders"] == {"pending": 0, "paid": 1, "cancelled": 0}
    assert figures["revenue"] == 37.02


def test_counters_stay_small_however_many_orders(db: Database) -> None:
    product_id = new_product(db, "MANY", stock=10_000)
    for i in range(3 * ORDER_STATS_SHARDS + 5):
        order_id = place(db, product_id, 1)
        assert order_id is not None
        if i % 3 == 1:
            orders.pay_order(db, order_id)
        elif i % 3 == 2:
            orders.cancel_order(db, order_id)
    with db.read() as conn:
        rows = conn.execute(text("SELECT COUNT(*) FROM order_stats")).scalar_one()
    assert rows <= len(ORDER_STATUSES) * ORDER_STATS_SHARDS
    assert summary(db) == recount(db)


def test_existing_database_without_counters_is_backfilled(db: Database) -> None:
    """A database created before ``order_stats`` existed: the table is created and filled
    from the orders at startup, so the summary is right from the first call."""
    product_id = new_product(db, "OLD", stock=50)
    for quantity in (1, 2, 3, 4, 5, 6):
        place(db, product_id, quantity)
    orders.pay_order(db, 1)
    orders.pay_order(db, 2)
    orders.cancel_order(db, 3)
    expected = recount(db)
    assert expected["orders"] == {"pending": 3, "paid": 2, "cancelled": 1}
    with db.write() as conn:
        conn.execute(text("DROP TABLE order_stats"))
    db.create_schema()
    assert summary(db) == expected
    db.create_schema()  # a table that exists is left alone (no second backfill)
    assert summary(db) == expected


# --- what /summary costs ---------------------------------------------------------------


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every SQL statement SQLAlchemy sends to the database while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def tables_read(db: Database, statement: str, parameters: Any) -> set[str]:
    """The database's tables that its query plan for ``statement`` scans or searches."""
    with db.read() as conn:
        tables = set(inspect(conn).get_table_names())
        if db.is_sqlite:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = " ".join(str(row[-1]) for row in plan)
            return tables & set(re.findall(r"(?:SCAN|SEARCH) (\w+)", details))
        (doc,) = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).one()
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return tables & found


def test_summary_route_runs_one_statement_that_never_reads_orders(client: TestClient) -> None:
    product = make_product(client, stock=50, price=2.5)
    for quantity in (1, 2, 3):
        body = {"product_id": product["id"], "quantity": quantity}
        assert client.post("/orders/", json=body).status_code == 201
    assert client.post("/orders/1/pay").status_code == 200
    assert client.post("/orders/2/cancel").status_code == 200
    db: Database = client.app.state.db  # type: ignore[attr-defined]

    with statements_of(db.engine) as seen:
        response = client.get("/summary")
    assert response.status_code == 200
    assert response.json() == recount(db)
    assert response.json()["orders"] == {"pending": 1, "paid": 1, "cancelled": 1}

    assert len(seen) == 1, seen
    statement, parameters = seen[0]
    assert not re.search(r"\borders\b", statement, re.IGNORECASE), statement
    assert tables_read(db, statement, parameters) == {"products", "order_stats"}


def test_summary_over_http_equals_recount_after_races_between_two_workers(
    start_server: Callable[..., ShopServer],
) -> None:
    server = start_server(workers=2)
    base = server.base_url
    body = {"name": "Hot", "sku": "HOT", "price": 4.99, "stock": 30}
    product_id = requests.post(f"{base}/products/", json=body, timeout=10).json()["id"]

    def post(path: str, json: Any = None) -> Callable[[requests.Session], Any]:
        return lambda session: session.post(f"{base}{path}", json=json, timeout=30)

    def hammer(calls: list[Callable[[requests.Session], Any]]) -> list[Any]:
        barrier = threading.Barrier(len(calls))

        def one(call: Callable[[requests.Session], Any]) -> Any:
            with requests.Session() as session:
                barrier.wait()
                return call(session)

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(one, calls))

    placed = hammer([post("/orders/", {"product_id": product_id, "quantity": 2})] * 20)
    order_ids = [r.json()["id"] for r in placed if r.status_code == 201]
    assert len(order_ids) == 15, server.log_tail()
    settle = [post(f"/orders/{oid}/{action}") for oid in order_ids for action in ("pay", "cancel")]
    settle += [post("/orders/", {"product_id": product_id, "quantity": 1})] * 10
    random.Random(5).shuffle(settle)
    codes = {r.status_code for r in hammer(settle)}
    assert codes <= {200, 201, 409}, server.log_tail()

    figures = requests.get(f"{base}/summary", timeout=10).json()
    database = Database(server.database_url)
    try:
        assert figures == recount(database)
    finally:
        database.dispose()
    assert figures["orders"]["paid"] + figures["orders"]["cancelled"] == 15
