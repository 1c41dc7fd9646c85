"""Fixtures of the shop's load scenarios: an HTTP client for set-up and invariants."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import bindparam, create_engine, text

from pytest_loadgate.errors import LoadgateServerError
from pytest_loadgate.settings import Settings
from pytest_loadgate.target.server import Target, boot_target

#: Products the catalogue holds before any scenario runs, each with ample stock.
CATALOGUE_SIZE = 50
CATALOGUE_STOCK = 1_000_000


class ShopClient:
    """Plain HTTP calls to the shop for set-up, invariants and final checks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.http.request(method, self.url + path, timeout=10, **kwargs)
        resp.raise_for_status()
        return resp.json()

    def create_product(self, stock: int, price: float = 9.99) -> int:
        body = {"name": f"Product {stock}", "sku": f"T-{uuid.uuid4().hex[:20]}",
                "price": price, "stock": stock}
        return int(self._json("POST", "/products/", json=body)["id"])

    def stock(self, product_id: int) -> int:
        return int(self._json("GET", f"/products/{product_id}")["stock"])

    def summary(self) -> dict[str, Any]:
        return self._json("GET", "/summary")  # type: ignore[no-any-return]

    def live_units(self, product_id: int) -> int:
        """Units held by pending and paid orders of a product."""
        units = 0
        for status in ("pending", "paid"):
            offset = 0
            while True:
                page = self._json("GET", f"/orders/?product_id={product_id}&status={status}"
                                  f"&limit=100&offset={offset}")
                units += sum(o["quantity"] for o in page["orders"])
                offset += len(page["orders"])
                if not page["orders"] or offset >= page["total"]:
                    break
        return units

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The shop's database for this test: ``sqlite`` unless parametrized indirectly."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def loadgate_server(backend: str, loadgate_settings: Settings,
                    loadgate_server_env: dict[str, str],
                    request: pytest.FixtureRequest) -> Iterator[Target]:
    """The shop booted on the test's backend (one server per backend for the session)."""
    env = dict(loadgate_server_env)
    request.config.stash[DB_URLS_KEY] = request.config.stash.get(DB_URLS_KEY, {})
    if backend == "postgresql":
        if loadgate_settings.host:
            pytest.skip("--loadgate-host targets an external server with its own database")
        postgres = request.getfixturevalue("postgres_server")
        env["DATABASE_URL"] = postgres.create_database("perf_shop", drop_existing=True)
    request.config.stash[DB_URLS_KEY][backend] = env["DATABASE_URL"]
    try:
        with boot_target(loadgate_settings, env, name=f"-{backend}") as target:
            yield target
    except LoadgateServerError as exc:
        pytest.fail(str(exc), pytrace=False)


DB_URLS_KEY = pytest.StashKey[dict[str, str]]()

#: Per product: stock, and units held by live (pending or paid) orders, in one statement, so
#: one consistent snapshot of the database even while orders are being placed and cancelled.
LEDGER_SQL = text(
    "SELECT p.id, p.stock, COALESCE(SUM(CASE WHEN o.status IN ('pending', 'paid')"
    " THEN o.quantity ELSE 0 END), 0) FROM products p LEFT JOIN orders o"
    " ON o.product_id = p.id WHERE p.id IN :ids GROUP BY p.id, p.stock"
).bindparams(bindparam("ids", expanding=True))


class Ledger:
    """Reads the shop's database directly (read-only) for ledger invariants during a run."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def snapshot(self, product_ids: tuple[int, ...]) -> dict[int, tuple[int, int]]:
        """product id → (stock, units in live orders), all from one statement."""
        with self.engine.connect() as conn:
            rows = conn.execute(LEDGER_SQL, {"ids": list(product_ids)}).all()
        return {int(pid): (int(stock), int(live)) for pid, stock, live in rows}

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def ledger(loadgate_server: Target, backend: str,
           request: pytest.FixtureRequest) -> Iterator[Ledger]:
    """Direct read access to the booted shop's database."""
    if loadgate_server.process is None:
        pytest.skip("--loadgate-host: the external shop's database is not reachable from here")
    reader = Ledger(request.config.stash[DB_URLS_KEY][backend])
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def shop(loadgate_server: Target) -> Iterator[ShopClient]:
    """A client of the booted shop whose catalogue has been seeded once."""
    client = ShopClient(loadgate_server.url)
    have = client._json("GET", "/products/?limit=1")["total"]
    for _ in range(max(0, CATALOGUE_SIZE - have)):
        client.create_product(CATALOGUE_STOCK)
    yield client
    client.close()
