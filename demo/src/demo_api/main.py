"""The app factory, and ``app`` for ``uvicorn demo_api.main:app``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError

from demo_api import __version__
from demo_api.api.routes import health, orders, products, summary
from demo_api.body_limit import BodyLimitMiddleware
from demo_api.config import Settings
from demo_api.db import Database, database_from_settings
from demo_api.errors import install_error_handlers
from demo_api.faults import parse_faults
from demo_api.responses import FastJSONResponse

log = logging.getLogger("demo_api")

ROUTERS = (health.router, products.router, orders.router, summary.router)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    db: Database = app.state.db
    try:
        db.create_schema()
    except SQLAlchemyError as exc:
        # Keep serving: /health reports 503 and retries until the database is back.
        log.error("database not ready at startup: %s", getattr(exc, "orig", exc))
    try:
        yield
    finally:
        db.dispose()


def route_names() -> list[str]:
    """Every shop route as ``"METHOD /template"`` (the names the fault spec uses)."""
    return [
        f"{method} {route.path}"
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the shop. Raises ``FaultSpecError`` (a ``ValueError``) on a bad fault spec."""
    settings = settings or Settings()
    faults = parse_faults(settings.faults)
    faults.check_routes(route_names())
    app = FastAPI(
        title="demo shop",
        version=__version__,
        description="A small shop with atomic stock management, load-tested by pytest-loadgate.",
        default_response_class=FastJSONResponse,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = database_from_settings(settings)
    app.state.faults = faults
    if faults:
        log.warning("fault injection active: %s", faults.source)
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app


app = create_app()
