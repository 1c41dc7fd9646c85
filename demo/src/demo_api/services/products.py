"""Product catalogue: create, list, read, update, restock.

Hot statements are built once at import (SQLAlchemy then reuses their cache key and
compiled form); values travel as bound parameters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from demo_api.db import AnyRow, Database
from demo_api.errors import Conflict, NotFound
from demo_api.fastexec import fetch, fetch_one
from demo_api.models import products_table as p
from demo_api.schemas import MAX_STOCK, ProductCreate, ProductUpdate
from demo_api.services.common import as_utc, from_cents, to_cents, utcnow

_COLUMNS = (p.c.id, p.c.sku, p.c.name, p.c.price_cents, p.c.stock, p.c.created_at)

_BY_ID = select(*_COLUMNS).where(p.c.id == bindparam("pid"))
_ID_BY_SKU = select(p.c.id).where(p.c.sku == bindparam("sku"))
_STOCK_BY_ID = select(p.c.stock).where(p.c.id == bindparam("pid"))
_COUNT = select(func.count()).select_from(p)
# One statement gives the page and the total, so they always agree.
_PAGE = (
    select(*_COLUMNS, _COUNT.scalar_subquery().label("total"))
    .order_by(p.c.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_INSERT = insert(p).returning(*_COLUMNS)
_RESTOCK = (
    update(p)
    .where(p.c.id == bindparam("pid"), p.c.stock <= MAX_STOCK - bindparam("qty"))
    .values(stock=p.c.stock + bindparam("qty"))
    .returning(*_COLUMNS)
)


def product_dict(row: AnyRow) -> dict[str, Any]:
    """The API form of a product row selected with ``_COLUMNS``."""
    return {
        "id": row.id,
        "sku": row.sku,
        "name": row.name,
        "price": from_cents(row.price_cents),
        "stock": row.stock,
        "created_at": as_utc(row.created_at),
    }


def create_product(db: Database, data: ProductCreate) -> dict[str, Any]:
    """Insert a product; a duplicate sku is a 409."""
    values = {
        "sku": data.sku,
        "name": data.name,
        "price_cents": to_cents(data.price),
        "stock": data.stock,
        "created_at": utcnow(),
    }
    try:
        with db.write() as conn:
            if conn.execute(_ID_BY_SKU, {"sku": data.sku}).first() is not None:
                raise Conflict("a product with this sku already exists", sku=data.sku)
            row = conn.execute(_INSERT, values).one()
    except IntegrityError as exc:  # lost a race with a concurrent insert of the same sku
        raise Conflict("a product with this sku already exists", sku=data.sku) from exc
    return product_dict(row)


def list_products(db: Database, limit: int, offset: int) -> dict[str, Any]:
    """One page of products ordered by id, plus the total count."""
    with db.read() as conn:
        rows = fetch(conn, _PAGE, {"limit": limit, "offset": offset})
        total = rows[0].total if rows else conn.execute(_COUNT).scalar_one()
    return {
        "products": [product_dict(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def get_product(db: Database, product_id: int) -> dict[str, Any]:
    """One product, or 404."""
    with db.read() as conn:
        row = fetch_one(conn, _BY_ID, {"pid": product_id})
    if row is None:
        raise NotFound("product not found")
    return product_dict(row)


def update_product(db: Database, product_id: int, data: ProductUpdate) -> dict[str, Any]:
    """Change name and/or price; stock is only changed by orders and restocks."""
    values: dict[str, Any] = {}
    if data.name is not None:
        values["name"] = data.name
    if data.price is not None:
        values["price_cents"] = to_cents(data.price)
    stmt = update(p).where(p.c.id == product_id).values(**values).returning(*_COLUMNS)
    with db.write() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("product not found")
    return product_dict(row)


def restock(db: Database, product_id: int, quantity: int) -> dict[str, Any]:
    """Atomically add ``quantity`` units; refuses to pass ``MAX_STOCK``."""
    with db.write() as conn:
        row = conn.execute(_RESTOCK, {"pid": product_id, "qty": quantity}).first()
        if row is None:
            stock = conn.execute(_STOCK_BY_ID, {"pid": product_id}).scalar()
            if stock is None:
                raise NotFound("product not found")
            raise Conflict("restock would exceed the stock limit", stock=stock, limit=MAX_STOCK)
    return product_dict(row)
