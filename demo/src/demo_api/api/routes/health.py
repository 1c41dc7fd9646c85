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
        # The driver's text names hosts, users and databases: it goes to the server's log,
        # never to a client (nor, through watched paths, into load-test reports).
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        log.warning("health check failed: %s: %s", type(cause).__name__, reason)
        body.update(
            status="error",
            database="unreachable",
            detail=f"database unreachable: {type(cause).__name__} (details in the server log)",
        )
        return FastJSONResponse(body, status_code=503)
    return FastJSONResponse(body)
