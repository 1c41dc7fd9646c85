"""The route class every shop router uses (it applies the fault switch)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from demo_api.db import Database
from demo_api.faults import wrap_handler


class ShopRoute(APIRoute):
    """``APIRoute`` whose handler honours ``app.state.faults``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The normal handler, wrapped by the fault switch."""
        return wrap_handler(super().get_route_handler(), self.path)  # type: ignore[return-value]


def shop_router(tag: str) -> APIRouter:
    """A router for one resource. Paths are written in full (no prefix) so that
    ``route.path`` is exactly the template the fault spec names."""
    return APIRouter(tags=[tag], route_class=ShopRoute)


def database(request: Request) -> Database:
    """The app's :class:`Database`."""
    db: Database = request.app.state.db
    return db
