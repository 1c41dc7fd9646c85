"""Shop-wide figures: stock, orders per status, revenue, and the overselling canary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from demo_api.db import Database
from demo_api.models import ORDER_STATUSES
from demo_api.models import orders_table as o
from demo_api.models import products_table as p
from demo_api.services.common import from_cents


def summary(db: Database) -> dict[str, Any]:
    """Counts and totals read in one transaction (one consistent snapshot)."""
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
