"""Fault injection, switched on by ``DEMO_API_FAULTS``.

The spec is a ``;``-separated list of ``ROUTE:key=value[,key=value]`` where ROUTE is
``METHOD /route/template`` exactly as FastAPI declares it (``GET /products/{product_id}``)
or ``*`` for every route. Keys:

* ``latency_ms`` - add this many milliseconds before handling;
* ``slowdown`` - factor >= 1: after handling, wait ``(factor - 1) x`` the handler's time;

Waits are precise to microseconds (see :func:`precise_wait`): uvloop's timers tick in whole
milliseconds, and a plain ``asyncio.sleep`` of 0.2 or 0.5 ms returns at once (measured: 7 us),
so "2x slower" on a sub-millisecond handler would not slow it at all.
* ``error_rate`` - fraction 0..1 of requests answered ``500 {"detail": "injected fault"}``
  without running the handler.

A route's own entry wins over ``*``. Parsing is strict: anything malformed raises
:class:`FaultSpecError` naming the bad part, and the app refuses to start.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from demo_api.responses import FastJSONResponse

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
ALL_ROUTES = "*"


class FaultSpecError(ValueError):
    """``DEMO_API_FAULTS`` could not be parsed."""


@dataclass(frozen=True)
class Fault:
    """What to do to one route's requests."""

    latency_ms: float = 0.0
    slowdown: float = 1.0
    error_rate: float = 0.0


@dataclass(frozen=True)
class FaultPlan:
    """Parsed faults keyed by ``"METHOD /template"`` or ``"*"``."""

    rules: dict[str, Fault] = field(default_factory=dict)
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.rules)

    def for_route(self, method: str, path: str) -> Fault | None:
        """The fault for a route, its own entry first, then ``*``."""
        return self.rules.get(f"{method} {path}") or self.rules.get(ALL_ROUTES)

    def check_routes(self, known: Iterable[str]) -> None:
        """Fail if the spec names a route the app does not have."""
        known_set = set(known)
        for route in self.rules:
            if route != ALL_ROUTES and route not in known_set:
                raise FaultSpecError(
                    f"DEMO_API_FAULTS names unknown route {route!r}; "
                    f"known routes: {', '.join(sorted(known_set))}"
                )


def _number(part: str, key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(
            f"DEMO_API_FAULTS part {part!r}: {key}={raw!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: {key}={raw!r} must be finite")
    return value


def _parse_route(part: str, route: str) -> str:
    if route == ALL_ROUTES:
        return route
    method, sep, path = route.partition(" ")
    if not sep or method not in METHODS or not path.startswith("/") or " " in path:
        raise FaultSpecError(
            f"DEMO_API_FAULTS part {part!r}: route {route!r} must be '*' or "
            "'METHOD /template' with an upper-case HTTP method, e.g. 'GET /products/{product_id}'"
        )
    return route


def _parse_fault(part: str, settings: str) -> Fault:
    values: dict[str, float] = {}
    for item in settings.split(","):
        key, sep, raw = (s.strip() for s in item.partition("="))
        if not sep or not key or not raw:
            raise FaultSpecError(
                f"DEMO_API_FAULTS part {part!r}: {item.strip()!r} is not key=value"
            )
        if key in values:
            raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: {key} given twice")
        value = _number(part, key, raw)
        if key == "latency_ms":
            if not 0 <= value <= 60_000:
                raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: latency_ms must be 0..60000")
        elif key == "slowdown":
            if not 1 <= value <= 1000:
                raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: slowdown must be 1..1000")
        elif key == "error_rate":
            if not 0 <= value <= 1:
                raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: error_rate must be 0..1")
        else:
            raise FaultSpecError(
                f"DEMO_API_FAULTS part {part!r}: unknown key {key!r} "
                "(use latency_ms, slowdown, error_rate)"
            )
        values[key] = value
    return Fault(**values)


def parse_faults(spec: str) -> FaultPlan:
    """Parse a fault spec; empty means no faults. Raises :class:`FaultSpecError`."""
    rules: dict[str, Fault] = {}
    for raw_part in spec.split(";"):
        part = raw_part.strip()
        if not part:
            continue
        route, sep, settings = part.rpartition(":")
        route = route.strip()
        if not sep or not route or not settings.strip():
            raise FaultSpecError(
                f"DEMO_API_FAULTS part {part!r} must look like 'ROUTE:key=value[,key=value]'"
            )
        route = _parse_route(part, route)
        if route in rules:
            raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: route {route!r} given twice")
        rules[route] = _parse_fault(part, settings)
    return FaultPlan(rules=rules, source=spec.strip())


Handler = Callable[[Request], Awaitable[Response]]
#: Waits longer than this sleep on the event loop for all but this much; the rest spins.
COARSE_TIMER_SEC = 0.002


async def precise_wait(seconds: float) -> None:
    """Wait ``seconds`` to within a few microseconds, also below the loop's 1 ms timer tick.

    The last ``COARSE_TIMER_SEC`` spin on the event loop, yielding to other requests at every
    turn: like slower code, it costs CPU when the server has nothing else to do.
    """
    if seconds <= 0:
        return
    deadline = time.perf_counter() + seconds
    if seconds > COARSE_TIMER_SEC:
        await asyncio.sleep(seconds - COARSE_TIMER_SEC)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0)


def wrap_handler(handler: Handler, path: str) -> Handler:
    """Wrap the handler of the route ``path`` so the app's :class:`FaultPlan` applies to it."""

    async def faulty(request: Request) -> Response:
        plan: FaultPlan = request.app.state.faults
        fault = plan.for_route(request.method, path) if plan else None
        if fault is None:
            return await handler(request)
        if fault.latency_ms:
            await precise_wait(fault.latency_ms / 1000)
        if fault.error_rate and random.random() < fault.error_rate:
            return FastJSONResponse({"detail": "injected fault"}, status_code=500)
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if fault.slowdown > 1:
                await precise_wait((time.perf_counter() - started) * (fault.slowdown - 1))

    return faulty
