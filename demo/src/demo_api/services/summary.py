"""Shop-wide figures: stock, orders per status, revenue, and the overselling canary.

Cheap however many orders exist: the product figures come from the products table (a
catalogue, small), the order figures from the running counters in ``order_stats`` (at most
``3 x ORDER_STATS_SHARDS`` rows, kept exact by the order service, see
:mod:`demo_api.order_stats`). The ``orders`` table is not read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select, true

from demo_api.db import Database
from demo_api.models import ORDER_STATUSES
from demo_api.models import order_stats_table as s
from demo_api.models import products_table as p
from demo_api.services.common import from_cents


def _sum_where_status(status: str, column: Any) -> Any:
    return func.coalesce(func.sum(case((s.c.status == status, column), else_=0)), 0)


_PRODUCTS = select(
    func.count().label("products"),
    func.coalesce(func.sum(p.c.stock), 0).label("units_in_stock"),
    func.coalesce(func.sum(case((p.c.stock < 0, 1), else_=0)), 0).label("negative"),
).subquery("product_figures")
_ORDERS = select(
    *(_sum_where_status(status, s.c.order_count).label(status) for status in ORDER_STATUSES),
    _sum_where_status("paid", s.c.total_cents).label("revenue_cents"),
).subquery("order_figures")
#: One statement, so one consistent snapshot on every backend (two one-row derived tables).
_SUMMARY = select(_PRODUCTS, _ORDERS).select_from(_PRODUCTS.join(_ORDERS, true()))


def summary(db: Database) -> dict[str, Any]:
    """Counts and totals, all read by one statement."""
    with db.read() as conn:
        row = conn.execute(_SUMMARY).one()
    return {
        "products": int(row.products),
        "units_in_stock": int(row.units_in_stock),
        "orders": {status: int(row._mapping[status]) for status in ORDER_STATUSES},
        "revenue": from_cents(int(row.revenue_cents)),
        "negative_stock_products": int(row.negative),
    }
