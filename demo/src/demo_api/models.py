"""SQLAlchemy 2.0 models: products, orders and the running order figures.

Money is stored as integer cents so that SQLite and PostgreSQL agree exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ORDER_STATUSES = ("pending", "paid", "cancelled")
#: Rows per status in ``order_stats``: an order's figures live in shard ``id % ORDER_STATS_SHARDS``,
#: so concurrent writers (PostgreSQL) spread over this many rows instead of queueing on one.
ORDER_STATS_SHARDS = 16


class Base(DeclarativeBase):
    """Declarative base for the shop's tables."""


class Product(Base):
    """A product with a stock count that can never go below zero."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="ck_products_stock_nonnegative"),
        CheckConstraint("price_cents > 0", name="ck_products_price_positive"),
        Index("ix_products_sku", "sku", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    price_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    stock: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Order(Base):
    """An order for ``quantity`` units of one product."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_orders_quantity_positive"),
        CheckConstraint(
            "status IN ('pending', 'paid', 'cancelled')", name="ck_orders_status_known"
        ),
        Index("ix_orders_product_status", "product_id", "status"),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_idempotency_key", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("products.id", name="fk_orders_product_id"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OrderStats(Base):
    """Running figures of the orders, per status, split over ``ORDER_STATS_SHARDS`` rows.

    For every status, the sums of ``order_count`` and ``total_cents`` over its shards equal
    ``COUNT(*)`` and ``SUM(total_cents)`` of the orders with that status: every transaction
    that inserts an order or changes its status adjusts these rows too (see
    :mod:`demo_api.services.orders`), so ``GET /summary`` reads a few dozen rows instead of
    every order. A missing row counts as zero; rows are created on first use (upsert).
    """

    __tablename__ = "order_stats"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'paid', 'cancelled')", name="ck_order_stats_status_known"
        ),
    )

    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    order_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    total_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)


products_table = cast(Table, Product.__table__)
orders_table = cast(Table, Order.__table__)
order_stats_table = cast(Table, OrderStats.__table__)
