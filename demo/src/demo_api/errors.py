"""Domain errors and the handlers that turn every failure into JSON with a ``detail``.

No stack trace ever reaches a client: a busy/locked database or an exhausted pool is 503,
an unreachable database is 503, anything unexpected is a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from demo_api.responses import FastJSONResponse

log = logging.getLogger("demo_api")

_BUSY_MARKERS = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "canceling statement due to lock timeout",  # PostgreSQL's lock_timeout
)


class ShopError(Exception):
    """An expected failure with an HTTP status; ``extra`` fields join ``detail`` in the body."""

    status_code = 400

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ShopError):
    """The addressed resource does not exist."""

    status_code = 404


class Conflict(ShopError):
    """The request clashes with the current state (stock, status, unique sku)."""

    status_code = 409


class Unprocessable(ShopError):
    """The request is well-formed but cannot be honoured (e.g. reused idempotency key)."""

    status_code = 422


def _json(
    code: int,
    detail: Any,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    return FastJSONResponse({"detail": detail, **(extra or {})}, status_code=code, headers=headers)


async def _shop_error(_request: Request, exc: Exception) -> Any:
    assert isinstance(exc, ShopError)
    return _json(exc.status_code, exc.detail, exc.extra)


async def _http_error(_request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    return _json(exc.status_code, exc.detail, headers=getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: Exception) -> Any:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in err.items() if k in ("type", "loc", "msg")} for err in exc.errors()]
    return _json(422, jsonable_encoder(errors))


async def _operational_error(_request: Request, exc: Exception) -> Any:
    assert isinstance(exc, DBAPIError)
    message = str(exc.orig).lower()
    if any(marker in message for marker in _BUSY_MARKERS):
        log.warning("database busy: %s", exc.orig)
        return _json(503, "database is busy, retry later", headers={"Retry-After": "1"})
    log.error("database unavailable: %s", exc.orig)
    return _json(503, "database unavailable", headers={"Retry-After": "1"})


async def _pool_timeout(_request: Request, exc: Exception) -> Any:
    log.warning("connection pool exhausted: %s", exc)
    return _json(
        503, "database connection pool exhausted, retry later", headers={"Retry-After": "1"}
    )


async def _integrity_error(_request: Request, exc: Exception) -> Any:
    log.warning("integrity error: %s", getattr(exc, "orig", exc))
    return _json(409, "conflict with existing data")


async def _unexpected(_request: Request, exc: Exception) -> Any:
    log.exception("unhandled error", exc_info=exc)
    return _json(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(ShopError, _shop_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _operational_error)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)
