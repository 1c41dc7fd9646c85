"""``/products/``: the catalogue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from starlette.responses import Response

from demo_api.api.routing import database, shop_router
from demo_api.responses import FastJSONResponse
from demo_api.schemas import (
    MAX_ID,
    ErrorOut,
    ProductCreate,
    ProductList,
    ProductOut,
    ProductUpdate,
    Restock,
)
from demo_api.services import products as service

router = shop_router("products")

ProductId = Annotated[int, Path(ge=1, le=MAX_ID, description="Product id.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


@router.post(
    "/products/",
    status_code=201,
    response_model=ProductOut,
    responses={409: {"model": ErrorOut, "description": "Duplicate sku."}},
)
async def create_product(request: Request, body: ProductCreate) -> Response:
    """Create a product; 409 if the sku is taken."""
    db = database(request)
    return FastJSONResponse(await db.run(service.create_product, db, body), status_code=201)


@router.get("/products/", response_model=ProductList)
async def list_products(request: Request, limit: Limit = 20, offset: Offset = 0) -> Response:
    """A page of products ordered by id, with the total count."""
    db = database(request)
    return FastJSONResponse(await db.run(service.list_products, db, limit, offset))


@router.get("/products/{product_id}", response_model=ProductOut, responses=NOT_FOUND)
async def get_product(request: Request, product_id: ProductId) -> Response:
    """One product."""
    db = database(request)
    return FastJSONResponse(await db.run(service.get_product, db, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut, responses=NOT_FOUND)
async def update_product(request: Request, product_id: ProductId, body: ProductUpdate) -> Response:
    """Change a product's name and/or price."""
    db = database(request)
    return FastJSONResponse(await db.run(service.update_product, db, product_id, body))


@router.post(
    "/products/{product_id}/restock",
    response_model=ProductOut,
    responses={**NOT_FOUND, 409: {"model": ErrorOut, "description": "Stock limit exceeded."}},
)
async def restock(request: Request, product_id: ProductId, body: Restock) -> Response:
    """Atomically add units to a product's stock."""
    db = database(request)
    return FastJSONResponse(await db.run(service.restock, db, product_id, body.quantity))
