"""``/orders/``: placing, reading, paying and cancelling orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query, Request
from starlette.responses import Response

from demo_api.api.routing import database, shop_router
from demo_api.responses import FastJSONResponse
from demo_api.schemas import (
    MAX_ID,
    ErrorOut,
    InsufficientStock,
    OrderCreate,
    OrderList,
    OrderOut,
    OrderStatus,
)
from demo_api.services import orders as service

router = shop_router("orders")

OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="Order id.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
NOT_PENDING: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "The order is no longer pending."}
}


@router.post(
    "/orders/",
    status_code=201,
    response_model=OrderOut,
    responses={
        404: {"model": ErrorOut, "description": "Unknown product."},
        409: {"model": InsufficientStock, "description": "Not enough stock."},
        422: {"model": ErrorOut, "description": "Invalid body, or a reused Idempotency-Key."},
    },
)
async def place_order(
    request: Request,
    body: OrderCreate,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Retrying with the same key returns the same order (201, "
            "`Idempotent-Replayed: true`); the same key with a different body is 422.",
        ),
    ] = None,
) -> Response:
    """Buy ``quantity`` units: stock is taken and the order inserted atomically."""
    db = database(request)
    placed = await db.run(service.place_order, db, body, idempotency_key)
    headers = {"Idempotent-Replayed": "true"} if placed.replayed else None
    return FastJSONResponse(placed.order, status_code=201, headers=headers)


@router.get("/orders/", response_model=OrderList)
async def list_orders(
    request: Request,
    status: Annotated[OrderStatus | None, Query()] = None,
    product_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """A page of orders ordered by id, filtered by status and/or product."""
    db = database(request)
    return FastJSONResponse(
        await db.run(service.list_orders, db, status, product_id, limit, offset)
    )


@router.get("/orders/{order_id}", response_model=OrderOut, responses=NOT_FOUND)
async def get_order(request: Request, order_id: OrderId) -> Response:
    """One order."""
    db = database(request)
    return FastJSONResponse(await db.run(service.get_order, db, order_id))


@router.post(
    "/orders/{order_id}/pay", response_model=OrderOut, responses={**NOT_FOUND, **NOT_PENDING}
)
async def pay_order(request: Request, order_id: OrderId) -> Response:
    """Pay a pending order; 409 if it is already paid or cancelled."""
    db = database(request)
    return FastJSONResponse(await db.run(service.pay_order, db, order_id))


@router.post(
    "/orders/{order_id}/cancel", response_model=OrderOut, responses={**NOT_FOUND, **NOT_PENDING}
)
async def cancel_order(request: Request, order_id: OrderId) -> Response:
    """Cancel a pending order and return its units to stock; 409 if paid or cancelled."""
    db = database(request)
    return FastJSONResponse(await db.run(service.cancel_order, db, order_id))
