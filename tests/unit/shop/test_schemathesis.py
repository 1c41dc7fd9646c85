"""Property-based run of schemathesis over the app's OpenAPI schema: no 5xx, ever."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from demo_api.config import Settings
from demo_api.main import create_app
from demo_api.schemas import OrderCreate, ProductCreate
from demo_api.services import orders, products

pytestmark = pytest.mark.shop

MAX_EXAMPLES = 30  # per operation; the whole run takes a few seconds


def _seeded_app() -> object:
    """An app on a fresh SQLite file with a few products and orders, so ids 1..3 exist."""
    path = Path(tempfile.mkdtemp(prefix="shop-schemathesis-")) / "shop.db"
    app = create_app(Settings(database_url=f"sqlite:///{path}", faults=""))
    db = app.state.db
    db.create_schema()  # schemathesis' ASGI client does not run the lifespan
    for i in range(1, 4):
        data = ProductCreate(name=f"P{i}", sku=f"P{i}", price="1.50", stock=10_000)  # type: ignore[arg-type]
        products.create_product(db, data)
        orders.place_order(db, OrderCreate(product_id=i, quantity=1), None)
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _seeded_app())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
