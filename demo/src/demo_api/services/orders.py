"""Orders and the stock logic.

Stock is never read-then-written. Placing an order is one conditional
``UPDATE products SET stock = stock - :q WHERE id = :id AND stock >= :q`` followed by the
order's ``INSERT`` in the same transaction; ``CHECK (stock >= 0)`` stands behind it.
Pay and cancel are conditional status updates ``WHERE status = 'pending'``, so of any
number of concurrent attempts exactly one wins; cancel returns the units in the same
transaction.

Each of these transactions also keeps the running figures of ``order_stats`` (what
``GET /summary`` reports, see :mod:`demo_api.order_stats`): a placed order is counted as
pending, and a settled order's figures move from pending to its new status only when the
conditional status update returned the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from demo_api.db import AnyRow, Database
from demo_api.errors import Conflict, NotFound, Unprocessable
from demo_api.fastexec import fetch, fetch_one
from demo_api.models import orders_table as o
from demo_api.models import products_table as p
from demo_api.order_stats import record_placed, record_settled
from demo_api.schemas import OrderCreate
from demo_api.services.common import as_utc, from_cents, utcnow

_COLUMNS = (
    o.c.id,
    o.c.product_id,
    o.c.quantity,
    o.c.status,
    o.c.unit_price_cents,
    o.c.total_cents,
    o.c.created_at,
    o.c.updated_at,
)

_BY_ID = select(*_COLUMNS).where(o.c.id == bindparam("oid"))
_BY_KEY = select(*_COLUMNS).where(o.c.idempotency_key == bindparam("key"))
_STATUS_BY_ID = select(o.c.status).where(o.c.id == bindparam("oid"))
_STOCK_BY_ID = select(p.c.stock).where(p.c.id == bindparam("pid"))
# The whole overselling defence: stock only moves if enough is there, in one statement.
_TAKE_STOCK = (
    update(p)
    .where(p.c.id == bindparam("pid"), p.c.stock >= bindparam("qty"))
    .values(stock=p.c.stock - bindparam("qty"))
    .returning(p.c.price_cents)
)
_RETURN_STOCK = (
    update(p).where(p.c.id == bindparam("pid")).values(stock=p.c.stock + bindparam("qty"))
)
_INSERT = (
    insert(o)
    .values(
        {
            column: bindparam(column)
            for column in (
                "product_id",
                "quantity",
                "unit_price_cents",
                "total_cents",
                "status",
                "idempotency_key",
                "created_at",
                "updated_at",
            )
        }
    )
    .returning(o.c.id)
)
_SETTLE = (
    update(o)
    .where(o.c.id == bindparam("oid"), o.c.status == "pending")
    .values(status=bindparam("new_status"), updated_at=bindparam("now"))
    .returning(*_COLUMNS)
)


@dataclass(frozen=True)
class PlacedOrder:
    """The outcome of ``place_order``: the order and whether it was an idempotent replay."""

    order: dict[str, Any]
    replayed: bool


def order_dict(row: AnyRow) -> dict[str, Any]:
    """The API form of an order row selected with ``_COLUMNS``."""
    return {
        "id": row.id,
        "product_id": row.product_id,
        "quantity": row.quantity,
        "status": row.status,
        "unit_price": from_cents(row.unit_price_cents),
        "total_price": from_cents(row.total_cents),
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
    }


def _replay(conn: Connection, key: str, data: OrderCreate) -> PlacedOrder | None:
    """The order already placed under ``key``; 422 if it was for something else."""
    row = fetch_one(conn, _BY_KEY, {"key": key})
    if row is None:
        return None
    if (row.product_id, row.quantity) != (data.product_id, data.quantity):
        raise Unprocessable(
            "Idempotency-Key was already used for a different order",
            order_id=row.id,
        )
    return PlacedOrder(order_dict(row), replayed=True)


def place_order(db: Database, data: OrderCreate, idempotency_key: str | None) -> PlacedOrder:
    """Take stock and insert a pending order atomically (409 if stock is short)."""
    try:
        return _place(db, data, idempotency_key)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key committed first: replay its order.
        with db.read() as conn:
            placed = _replay(conn, idempotency_key, data)
        if placed is None:
            raise
        return placed


def _place(db: Database, data: OrderCreate, key: str | None) -> PlacedOrder:
    now = utcnow()
    with db.write() as conn:
        if key is not None and (placed := _replay(conn, key, data)) is not None:
            return placed
        take = {"pid": data.product_id, "qty": data.quantity}
        taken = fetch_one(conn, _TAKE_STOCK, take)
        if taken is None:
            row = fetch_one(conn, _STOCK_BY_ID, {"pid": data.product_id})
            if row is None:
                raise NotFound("product not found")
            raise Conflict("insufficient stock", available=row.stock)
        price_cents: int = taken.price_cents
        total = price_cents * data.quantity
        values = {
            "product_id": data.product_id,
            "quantity": data.quantity,
            "unit_price_cents": price_cents,
            "total_cents": total,
            "status": "pending",
            "idempotency_key": key,
            "created_at": now,
            "updated_at": now,
        }
        order_id: int = fetch_one(conn, _INSERT, values).id
        record_placed(conn, order_id, total)
    order = {
        "id": order_id,
        "product_id": data.product_id,
        "quantity": data.quantity,
        "status": "pending",
        "unit_price": from_cents(price_cents),
        "total_price": from_cents(total),
        "created_at": now,
        "updated_at": now,
    }
    return PlacedOrder(order, replayed=False)


def get_order(db: Database, order_id: int) -> dict[str, Any]:
    """One order, or 404."""
    with db.read() as conn:
        row = fetch_one(conn, _BY_ID, {"oid": order_id})
    if row is None:
        raise NotFound("order not found")
    return order_dict(row)


def list_orders(
    db: Database, status: str | None, product_id: int | None, limit: int, offset: int
) -> dict[str, Any]:
    """One page of orders ordered by id, optionally filtered, plus the filtered total."""
    conditions = []
    if status is not None:
        conditions.append(o.c.status == status)
    if product_id is not None:
        conditions.append(o.c.product_id == product_id)
    page = select(*_COLUMNS).where(*conditions).order_by(o.c.id).limit(limit).offset(offset)
    count = select(func.count()).select_from(o).where(*conditions)
    with db.read() as conn:
        rows = conn.execute(page).all()
        total = conn.execute(count).scalar_one()
    return {
        "orders": [order_dict(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def _settle(conn: Connection, order_id: int, new_status: str) -> AnyRow:
    """Move a pending order to ``new_status``; 404 if absent, 409 if not pending."""
    params = {"oid": order_id, "new_status": new_status, "now": utcnow()}
    row: AnyRow | None = fetch_one(conn, _SETTLE, params)
    if row is None:
        current = fetch_one(conn, _STATUS_BY_ID, {"oid": order_id})
        if current is None:
            raise NotFound("order not found")
        raise Conflict(f"order is already {current.status}", status=current.status)
    return row


def pay_order(db: Database, order_id: int) -> dict[str, Any]:
    """Mark a pending order paid; exactly one of concurrent attempts succeeds."""
    with db.write() as conn:
        row = _settle(conn, order_id, "paid")  # raises unless this call moved the order
        record_settled(conn, row.id, row.total_cents, "paid")
    return order_dict(row)


def cancel_order(db: Database, order_id: int) -> dict[str, Any]:
    """Cancel a pending order and put its units back in stock, atomically."""
    with db.write() as conn:
        row = _settle(conn, order_id, "cancelled")  # raises unless this call moved the order
        # Product row before counter rows: the lock order of ``_place`` too (no deadlock).
        fetch(conn, _RETURN_STOCK, {"pid": row.product_id, "qty": row.quantity})
        record_settled(conn, row.id, row.total_cents, "cancelled")
    return order_dict(row)
