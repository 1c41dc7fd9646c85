"""Orders: placing, stock, reading, listing, paying, cancelling, idempotency keys."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import make_product

pytestmark = pytest.mark.shop


def order(client: TestClient, product_id: int, quantity: int = 1, **headers: str) -> Any:
    """POST /orders/ and return the response."""
    return client.post(
        "/orders/", json={"product_id": product_id, "quantity": quantity}, headers=headers
    )


def stock_of(client: TestClient, product_id: int) -> int:
    """The product's current stock."""
    stock: int = client.get(f"/products/{product_id}").json()["stock"]
    return stock


def test_order_takes_stock_and_is_pending(client: TestClient) -> None:
    product = make_product(client, stock=5, price=2.5)
    response = order(client, product["id"], 3)
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "product_id", "quantity", "status", "total_price", "created_at"}
    assert body["status"] == "pending"
    assert body["quantity"] == 3 and body["product_id"] == product["id"]
    assert body["total_price"] == 7.5 and body["unit_price"] == 2.5
    assert stock_of(client, product["id"]) == 2
    assert client.get(f"/orders/{body['id']}").json() == body


def test_insufficient_stock_is_409_with_available(client: TestClient) -> None:
    product = make_product(client, stock=2)
    response = order(client, product["id"], 3)
    assert response.status_code == 409
    assert response.json() == {"detail": "insufficient stock", "available": 2}
    assert order(client, product["id"], 2).status_code == 201
    assert order(client, product["id"], 1).json() == {
        "detail": "insufficient stock",
        "available": 0,
    }
    assert stock_of(client, product["id"]) == 0


def test_unknown_product_is_404(client: TestClient) -> None:
    response = order(client, 12345)
    assert response.status_code == 404
    assert response.json() == {"detail": "product not found"}


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": 1, "quantity": 0},
        {"product_id": 1, "quantity": 1001},
        {"product_id": 1, "quantity": -3},
        {"product_id": 0, "quantity": 1},
        {"product_id": 2**31, "quantity": 1},
        {"product_id": 1},
        {"quantity": 1},
        {"product_id": 1, "quantity": 1, "coupon": "FREE"},
        {"product_id": "one", "quantity": 1},
    ],
)
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_invalid_orders_are_422(client: TestClient, body: dict[str, Any]) -> None:
    make_product(client, stock=2000)
    assert client.post("/orders/", json=body).status_code == 422


def test_quantity_limits_are_inclusive(client: TestClient) -> None:
    product = make_product(client, stock=1001)
    assert order(client, product["id"], 1000).status_code == 201
    assert order(client, product["id"], 1).status_code == 201
    assert stock_of(client, product["id"]) == 0


def test_get_unknown_order_is_404_and_bad_id_422(client: TestClient) -> None:
    assert client.get("/orders/77").status_code == 404
    assert client.get("/orders/0").status_code == 422


def test_pay_then_pay_again_is_409(client: TestClient) -> None:
    product = make_product(client)
    order_id = order(client, product["id"]).json()["id"]
    paid = client.post(f"/orders/{order_id}/pay")
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    again = client.post(f"/orders/{order_id}/pay")
    assert again.status_code == 409
    assert again.json() == {"detail": "order is already paid", "status": "paid"}
    assert client.post(f"/orders/{order_id}/cancel").status_code == 409
    assert stock_of(client, product["id"]) == 9


def test_cancel_returns_units_and_blocks_pay(client: TestClient) -> None:
    product = make_product(client, stock=10)
    order_id = order(client, product["id"], 4).json()["id"]
    assert stock_of(client, product["id"]) == 6
    cancelled = client.post(f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert stock_of(client, product["id"]) == 10
    assert (
        client.post(f"/orders/{order_id}/cancel").json()["detail"] == "order is already cancelled"
    )
    assert client.post(f"/orders/{order_id}/pay").status_code == 409
    assert stock_of(client, product["id"]) == 10


def test_pay_and_cancel_unknown_order_are_404(client: TestClient) -> None:
    assert client.post("/orders/9/pay").status_code == 404
    assert client.post("/orders/9/cancel").status_code == 404


def test_list_orders_filters_and_paginates(client: TestClient) -> None:
    a = make_product(client, sku="A", stock=100)["id"]
    b = make_product(client, sku="B", stock=100)["id"]
    ids = [order(client, a if i % 2 == 0 else b).json()["id"] for i in range(30)]
    for order_id in ids[:6]:
        client.post(f"/orders/{order_id}/pay")
    client.post(f"/orders/{ids[6]}/cancel")

    everything = client.get("/orders/").json()
    assert everything["total"] == 30 and len(everything["orders"]) == 20
    assert [o["id"] for o in everything["orders"]] == ids[:20]
    paid = client.get("/orders/", params={"status": "paid"}).json()
    assert paid["total"] == 6 and {o["status"] for o in paid["orders"]} == {"paid"}
    paid_a = client.get("/orders/", params={"status": "paid", "product_id": a}).json()
    assert [o["id"] for o in paid_a["orders"]] == ids[0:6:2]
    page = client.get("/orders/", params={"product_id": b, "limit": 5, "offset": 10}).json()
    assert [o["id"] for o in page["orders"]] == ids[21:30:2]
    assert page["total"] == 15
    cancelled = client.get("/orders/", params={"status": "cancelled"}).json()
    assert [o["id"] for o in cancelled["orders"]] == [ids[6]]


@pytest.mark.parametrize(
    "params", [{"status": "shipped"}, {"product_id": 0}, {"limit": 101}, {"offset": -1}]
)
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_list_orders_bad_filters_are_422(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/orders/", params=params).status_code == 422


def test_idempotency_key_replays_the_same_order(client: TestClient) -> None:
    product = make_product(client, stock=10)
    first = order(client, product["id"], 2, **{"Idempotency-Key": "k-1"})
    second = order(client, product["id"], 2, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert stock_of(client, product["id"]) == 8
    other = order(client, product["id"], 2, **{"Idempotency-Key": "k-2"})
    assert other.json()["id"] != first.json()["id"]
    assert stock_of(client, product["id"]) == 6


def test_idempotency_key_replay_survives_status_changes(client: TestClient) -> None:
    product = make_product(client, stock=10)
    first = order(client, product["id"], 1, **{"Idempotency-Key": "pay-me"}).json()
    client.post(f"/orders/{first['id']}/pay")
    replay = order(client, product["id"], 1, **{"Idempotency-Key": "pay-me"})
    assert replay.status_code == 201
    assert replay.json()["id"] == first["id"] and replay.json()["status"] == "paid"
    assert stock_of(client, product["id"]) == 9


def test_idempotency_key_with_different_body_is_422(client: TestClient) -> None:
    product = make_product(client, stock=10)
    first = order(client, product["id"], 1, **{"Idempotency-Key": "same"}).json()
    response = order(client, product["id"], 2, **{"Idempotency-Key": "same"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Idempotency-Key was already used for a different order",
        "order_id": first["id"],
    }
    assert stock_of(client, product["id"]) == 9


def test_idempotency_key_failed_order_is_not_remembered(client: TestClient) -> None:
    product = make_product(client, stock=1)
    assert order(client, product["id"], 2, **{"Idempotency-Key": "retry"}).status_code == 409
    client.post(f"/products/{product['id']}/restock", json={"quantity": 5})
    assert order(client, product["id"], 2, **{"Idempotency-Key": "retry"}).status_code == 201


@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_idempotency_key_too_long_is_422(client: TestClient) -> None:
    product = make_product(client)
    assert order(client, product["id"], **{"Idempotency-Key": "x" * 256}).status_code == 422


def test_summary_counts_everything(client: TestClient) -> None:
    a = make_product(client, sku="A", stock=10, price=2.0)["id"]
    make_product(client, sku="B", stock=5, price=1.0)
    ids = [order(client, a).json()["id"] for _ in range(4)]
    client.post(f"/orders/{ids[0]}/pay")
    client.post(f"/orders/{ids[1]}/pay")
    client.post(f"/orders/{ids[2]}/cancel")
    assert client.get("/summary").json() == {
        "products": 2,
        "units_in_stock": 10 - 4 + 1 + 5,
        "orders": {"pending": 1, "paid": 2, "cancelled": 1},
        "revenue": 4.0,
        "negative_stock_products": 0,
    }


def test_summary_of_empty_shop(client: TestClient) -> None:
    assert client.get("/summary").json() == {
        "products": 0,
        "units_in_stock": 0,
        "orders": {"pending": 0, "paid": 0, "cancelled": 0},
        "revenue": 0.0,
        "negative_stock_products": 0,
    }
