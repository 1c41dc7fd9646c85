"""Request and response bodies (pydantic v2).

Prices travel as JSON numbers with at most two decimals; they are stored as cents.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_ID = 2_147_483_647  # fits a 32-bit INTEGER column on every backend
MAX_STOCK = 1_000_000_000_000  # restocks may not push stock beyond this
MAX_PRICE = Decimal("1000000.00")

OrderStatus = Literal["pending", "paid", "cancelled"]
ProductName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Price = Annotated[Decimal, Field(gt=0, le=MAX_PRICE, max_digits=9, decimal_places=2)]
EntityId = Annotated[int, Field(ge=1, le=MAX_ID)]


class _Input(BaseModel):
    """Base for request bodies: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class ProductCreate(_Input):
    """Body of ``POST /products/``."""

    name: ProductName
    sku: Sku
    price: Price
    stock: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class ProductUpdate(_Input):
    """Body of ``PATCH /products/{id}``: at least one of name and price."""

    name: ProductName | None = None
    price: Price | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProductUpdate:
        if self.name is None and self.price is None:
            raise ValueError("give at least one of name and price (null is not allowed)")
        for field in ("name", "price"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} may not be null")
        return self


class Restock(_Input):
    """Body of ``POST /products/{id}/restock``."""

    quantity: Annotated[int, Field(ge=1, le=1_000_000)]


class ProductOut(BaseModel):
    """A product as the API shows it."""

    id: int
    sku: str
    name: str
    price: float
    stock: int
    created_at: datetime


class ProductList(BaseModel):
    """A page of products."""

    products: list[ProductOut]
    total: int
    limit: int
    offset: int


class OrderCreate(_Input):
    """Body of ``POST /orders/``."""

    product_id: EntityId
    quantity: Annotated[int, Field(ge=1, le=1000)]


class OrderOut(BaseModel):
    """An order as the API shows it."""

    id: int
    product_id: int
    quantity: int
    status: OrderStatus
    unit_price: float
    total_price: float
    created_at: datetime
    updated_at: datetime


class OrderList(BaseModel):
    """A page of orders."""

    orders: list[OrderOut]
    total: int
    limit: int
    offset: int


class OrdersByStatus(BaseModel):
    """Order counts per status."""

    pending: int
    paid: int
    cancelled: int


class Summary(BaseModel):
    """Body of ``GET /summary``."""

    products: int
    units_in_stock: int
    orders: OrdersByStatus
    revenue: float = Field(description="Sum of total_price over paid orders.")
    negative_stock_products: int


class Health(BaseModel):
    """Body of ``GET /health``."""

    status: Literal["ok", "error"]
    database: Literal["ok", "unreachable"]
    database_backend: str
    version: str
    faults: str
    detail: str | None = None


class ErrorOut(BaseModel):
    """Every error body has a ``detail``."""

    detail: str


class InsufficientStock(ErrorOut):
    """409 body when an order asks for more than is in stock."""

    available: int
