"""``GET /summary``: shop-wide figures."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from demo_api.api.routing import database, shop_router
from demo_api.responses import FastJSONResponse
from demo_api.schemas import Summary
from demo_api.services.summary import summary as compute_summary

router = shop_router("summary")


@router.get("/summary", response_model=Summary)
async def summary(request: Request) -> Response:
    """Products, units in stock, orders per status, revenue (paid orders) and the count of
    products with negative stock, which must always be 0."""
    db = database(request)
    return FastJSONResponse(await db.run(compute_summary, db))
