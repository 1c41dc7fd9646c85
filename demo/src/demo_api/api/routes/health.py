"""``GET /health``: is the app up and can it reach its database?"""

from __future__ import annotations

import logging

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from demo_api import __version__
from demo_api.api.routing import database, shop_router
from demo_api.responses import FastJSONResponse
from demo_api.schemas import Health

router = shop_router("health")
log = logging.getLogger("demo_api")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database cannot be reached."}},
)
async def health(request: Request) -> Response:
    """200 when the database answers, 503 with the reason when it does not."""
    db = database(request)
    body = {
        "status": "ok",
        "database": "ok",
        "database_backend": db.backend,
        "version": __version__,
        "faults": request.app.state.faults.source,
    }
    try:
        await db.run(db.ensure_ready)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.warning("health check failed: %s", reason)
        body.update(
            status="error", database="unreachable", detail=f"database unreachable: {reason}"
        )
        return FastJSONResponse(body, status_code=503)
    return FastJSONResponse(body)
