"""Products: create, list, read, update, restock; validation limits; duplicate sku."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from demo_api.models import products_table
from demo_api.schemas import MAX_STOCK

from .conftest import make_product

pytestmark = pytest.mark.shop

VALID: dict[str, Any] = {"name": "Widget", "sku": "W-1_a", "price": 19.99, "stock": 5}


def test_create_returns_product_with_id(client: TestClient) -> None:
    response = client.post("/products/", json=VALID)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] >= 1
    assert {k: body[k] for k in ("name", "sku", "price", "stock")} == VALID
    assert body["created_at"].endswith("Z")


def test_price_may_be_a_string_and_stock_defaults_to_zero(client: TestClient) -> None:
    response = client.post("/products/", json={"name": "A", "sku": "A", "price": "0.01"})
    assert response.status_code == 201
    assert response.json()["price"] == 0.01
    assert response.json()["stock"] == 0


def test_duplicate_sku_is_409(client: TestClient) -> None:
    assert client.post("/products/", json=VALID).status_code == 201
    response = client.post("/products/", json={**VALID, "name": "Other"})
    assert response.status_code == 409
    assert response.json()["detail"] == "a product with this sku already exists"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("name", "nul\x00byte"),
        ("name", None),
        ("sku", ""),
        ("sku", "x" * 65),
        ("sku", "has space"),
        ("sku", "é"),
        ("price", 0),
        ("price", -1),
        ("price", 1.001),
        ("price", "abc"),
        ("price", 1_000_000.01),
        ("stock", -1),
        ("stock", 1.5),
        ("stock", 1_000_000_001),
    ],
)
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_invalid_product_fields_are_422(client: TestClient, field: str, value: Any) -> None:
    response = client.post("/products/", json={**VALID, field: value})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] in (field, "body")


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "x" * 200), ("sku", "x" * 64), ("price", 1_000_000), ("stock", 0)],
)
def test_limits_are_inclusive(client: TestClient, field: str, value: Any) -> None:
    assert client.post("/products/", json={**VALID, field: value}).status_code == 201


@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_missing_and_unknown_fields_are_422(client: TestClient) -> None:
    assert client.post("/products/", json={"name": "A"}).status_code == 422
    assert client.post("/products/", json={**VALID, "colour": "red"}).status_code == 422
    assert (
        client.post(
            "/products/", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )


def test_list_paginates_with_total(client: TestClient) -> None:
    for i in range(25):
        make_product(client, sku=f"S{i:02d}")
    first = client.get("/products/").json()
    assert first["total"] == 25
    assert first["limit"] == 20 and first["offset"] == 0
    assert [p["sku"] for p in first["products"]] == [f"S{i:02d}" for i in range(20)]
    rest = client.get("/products/", params={"limit": 10, "offset": 20}).json()
    assert [p["sku"] for p in rest["products"]] == [f"S{i:02d}" for i in range(20, 25)]
    beyond = client.get("/products/", params={"offset": 100}).json()
    assert beyond == {"products": [], "total": 25, "limit": 20, "offset": 100}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_list_bad_paging_is_422(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/products/", params=params).status_code == 422


def test_get_product_and_404(client: TestClient) -> None:
    product = make_product(client)
    assert client.get(f"/products/{product['id']}").json() == product
    missing = client.get("/products/999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "product not found"}


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", str(2**31), str(10**30)])
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_bad_product_ids_are_422(client: TestClient, bad_id: str) -> None:
    assert client.get(f"/products/{bad_id}").status_code == 422


def test_patch_name_and_price(client: TestClient) -> None:
    product = make_product(client, stock=7)
    response = client.patch(f"/products/{product['id']}", json={"name": "New", "price": 1.5})
    assert response.status_code == 200
    assert response.json() | {"created_at": None} == product | {
        "name": "New",
        "price": 1.5,
        "created_at": None,
    }
    only_price = client.patch(f"/products/{product['id']}", json={"price": "2.25"}).json()
    assert only_price["price"] == 2.25 and only_price["name"] == "New"


@pytest.mark.parametrize(
    "body", [{}, {"name": None}, {"price": None}, {"stock": 5}, {"name": ""}, {"price": 0}]
)
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_patch_invalid_is_422(client: TestClient, body: dict[str, Any]) -> None:
    product = make_product(client)
    assert client.patch(f"/products/{product['id']}", json=body).status_code == 422


def test_patch_unknown_product_is_404(client: TestClient) -> None:
    assert client.patch("/products/42", json={"name": "x"}).status_code == 404


def test_restock_adds_units(client: TestClient) -> None:
    product = make_product(client, stock=3)
    response = client.post(f"/products/{product['id']}/restock", json={"quantity": 4})
    assert response.status_code == 200
    assert response.json()["stock"] == 7


@pytest.mark.parametrize("quantity", [0, -1, 1_000_001, "many"])
@pytest.mark.backends("sqlite")  # HTTP validation only: the database plays no part
def test_restock_bad_quantity_is_422(client: TestClient, quantity: Any) -> None:
    product = make_product(client)
    response = client.post(f"/products/{product['id']}/restock", json={"quantity": quantity})
    assert response.status_code == 422


def test_restock_unknown_product_is_404(client: TestClient) -> None:
    assert client.post("/products/5/restock", json={"quantity": 1}).status_code == 404


def test_restock_beyond_limit_is_409(client: TestClient) -> None:
    product = make_product(client)
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.write() as conn:
        conn.execute(update(products_table).values(stock=MAX_STOCK - 5))
    response = client.post(f"/products/{product['id']}/restock", json={"quantity": 10})
    assert response.status_code == 409
    assert response.json()["stock"] == MAX_STOCK - 5
    ok = client.post(f"/products/{product['id']}/restock", json={"quantity": 5})
    assert ok.json()["stock"] == MAX_STOCK
