"""Fault injection, switched on by ``DEMO_API_FAULTS``.

The spec is a ``;``-separated list of ``ROUTE:key=value[,key=value]`` where ROUTE is
``METHOD /route/template`` exactly as FastAPI declares it (``GET /products/{product_id}``)
or ``*`` for every route (``/health`` included). Keys:

* ``latency_ms`` - 0..60000: add this many milliseconds before handling;
* ``slowdown`` - factor 1..1000: after handling, wait ``(factor - 1) x`` the handler's time;
* ``cpu_ms`` - 0..1000: after handling, keep the CPU busy this many milliseconds without
  yielding, like slower code: under load it lowers throughput, where ``slowdown``'s wait
  only adds latency;
* ``error_rate`` - fraction 0..1 of requests answered ``500 {"detail": "injected fault"}``
  without running the handler;
* ``errors_from_s`` and ``errors_for_s`` - only together, and only with ``error_rate``: a
  5xx burst. ``error_rate`` applies only to requests arriving in the window
  ``[errors_from_s, errors_from_s + errors_for_s)`` seconds after start; outside it the
  route is healthy. ``errors_from_s`` 0..86400, ``errors_for_s`` > 0 and <= 86400;
* ``stall_ms`` and ``stall_every_s`` - only together: a periodic stall. During the first
  ``stall_ms`` of every ``stall_every_s`` period (counted from start) the route answers
  nothing: a request arriving at phase ``p < stall_ms`` waits ``stall_ms - p`` (until the
  stall ends), then is handled normally; requests arriving after the stall are not delayed.
  ``stall_every_s`` > 0 and <= 3600, ``stall_ms`` > 0 and < ``stall_every_s x 1000``;
* ``hang_after_s`` - 0..86400: requests arriving from this many seconds after start on never
  get an answer. They wait, without using CPU, until the client gives up and disconnects
  (then the task ends, so the server can still shut down once its clients are gone);
* ``latency_growth_ms_per_s`` - 0..10000: a steady leak: each request waits
  ``G x (seconds since start)`` milliseconds before handling.

"Start" is :attr:`FaultPlan.started_at`, a ``time.monotonic()`` reading taken when the spec
is parsed; :func:`demo_api.main.create_app` parses it while building the app, so the fault
clock starts at app creation (once per server process: each uvicorn worker builds its own
app). Every time-dependent key looks at the time the request arrives.

Waits are precise to microseconds (see :func:`precise_wait`): uvloop's timers tick in whole
milliseconds, and a plain ``asyncio.sleep`` of 0.2 or 0.5 ms returns at once (measured: 7 us),
so "2x slower" on a sub-millisecond handler would not slow it at all.

A route's own entry wins over ``*`` (as a whole: keys are not merged). Parsing is strict:
anything malformed raises :class:`FaultSpecError` naming the bad part and key, and the app
refuses to start.
"""

from __future__ import annotations

import asyncio
import hashlib
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

#: Every key, with its allowed range as a test and as the words of the error message.
#: ``stall_ms``'s upper bound depends on ``stall_every_s`` and is checked once both are read.
KEYS: dict[str, tuple[Callable[[float], bool], str]] = {
    "latency_ms": (lambda v: 0 <= v <= 60_000, "0..60000"),
    "slowdown": (lambda v: 1 <= v <= 1000, "1..1000"),
    "cpu_ms": (lambda v: 0 <= v <= 1000, "0..1000"),
    "error_rate": (lambda v: 0 <= v <= 1, "0..1"),
    "errors_from_s": (lambda v: 0 <= v <= 86_400, "0..86400"),
    "errors_for_s": (lambda v: 0 < v <= 86_400, "> 0 and <= 86400"),
    "stall_ms": (lambda v: v > 0, "> 0 and < stall_every_s x 1000"),
    "stall_every_s": (lambda v: 0 < v <= 3600, "> 0 and <= 3600"),
    "hang_after_s": (lambda v: 0 <= v <= 86_400, "0..86400"),
    "latency_growth_ms_per_s": (lambda v: 0 <= v <= 10_000, "0..10000"),
}
#: Keys that only make sense as a pair.
PAIRS = (("stall_ms", "stall_every_s"), ("errors_from_s", "errors_for_s"))


class FaultSpecError(ValueError):
    """``DEMO_API_FAULTS`` could not be parsed."""


@dataclass(frozen=True)
class Fault:
    """What to do to one route's requests.

    The time-dependent methods take ``elapsed``: seconds since the plan's start (see
    :meth:`FaultPlan.elapsed`), so tests can ask about any moment without waiting for it.
    """

    latency_ms: float = 0.0
    slowdown: float = 1.0
    cpu_ms: float = 0.0
    error_rate: float = 0.0
    errors_from_s: float | None = None
    errors_for_s: float | None = None
    stall_ms: float = 0.0
    stall_every_s: float = 0.0
    hang_after_s: float | None = None
    latency_growth_ms_per_s: float = 0.0

    def hangs(self, elapsed: float) -> bool:
        """Whether a request arriving ``elapsed`` seconds after start never gets an answer."""
        return self.hang_after_s is not None and elapsed >= self.hang_after_s

    def stall_left(self, elapsed: float) -> float:
        """Seconds until the current stall ends (0 outside a stall)."""
        if not self.stall_ms:
            return 0.0
        phase_ms = (elapsed % self.stall_every_s) * 1000
        return max(0.0, (self.stall_ms - phase_ms) / 1000)

    def delay(self, elapsed: float) -> float:
        """Seconds to wait before handling: stall, then ``latency_ms`` and the growth."""
        growth_ms = self.latency_growth_ms_per_s * elapsed
        return self.stall_left(elapsed) + (self.latency_ms + growth_ms) / 1000

    def errors_on(self, elapsed: float) -> bool:
        """Whether ``error_rate`` applies to a request arriving ``elapsed`` s after start."""
        if not self.error_rate:
            return False
        if self.errors_from_s is None or self.errors_for_s is None:
            return True
        return self.errors_from_s <= elapsed < self.errors_from_s + self.errors_for_s


@dataclass(frozen=True)
class FaultPlan:
    """Parsed faults keyed by ``"METHOD /template"`` or ``"*"``.

    ``started_at`` (``time.monotonic()`` seconds) is where the fault clock starts: by default
    when the plan is parsed, i.e. at app creation.
    """

    rules: dict[str, Fault] = field(default_factory=dict)
    source: str = ""
    started_at: float = field(default_factory=time.monotonic, compare=False)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def for_route(self, method: str, path: str) -> Fault | None:
        """The fault for a route, its own entry first, then ``*``."""
        return self.rules.get(f"{method} {path}") or self.rules.get(ALL_ROUTES)

    def elapsed(self, now: float | None = None) -> float:
        """Seconds from ``started_at`` to ``now`` (default: ``time.monotonic()``), >= 0."""
        return max(0.0, (time.monotonic() if now is None else now) - self.started_at)

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
        if key not in KEYS:
            raise FaultSpecError(
                f"DEMO_API_FAULTS part {part!r}: unknown key {key!r} (use {', '.join(KEYS)})"
            )
        if key in values:
            raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: {key} given twice")
        value = _number(part, key, raw)
        allowed, words = KEYS[key]
        if not allowed(value):
            raise FaultSpecError(f"DEMO_API_FAULTS part {part!r}: {key} must be {words}")
        values[key] = value
    for first, second in PAIRS:
        if (first in values) != (second in values):
            given, missing = (first, second) if first in values else (second, first)
            raise FaultSpecError(
                f"DEMO_API_FAULTS part {part!r}: {given} needs {missing} "
                f"({first} and {second} go together)"
            )
    if "stall_ms" in values and values["stall_ms"] >= values["stall_every_s"] * 1000:
        raise FaultSpecError(
            f"DEMO_API_FAULTS part {part!r}: stall_ms must be < stall_every_s x 1000 "
            f"(= {values['stall_every_s'] * 1000:g}): the route must answer at some point"
        )
    if "errors_from_s" in values and "error_rate" not in values:
        raise FaultSpecError(
            f"DEMO_API_FAULTS part {part!r}: errors_from_s and errors_for_s need error_rate "
            "(they limit it to a window)"
        )
    return Fault(**values)


def parse_faults(spec: str, *, started_at: float | None = None) -> FaultPlan:
    """Parse a fault spec; empty means no faults. Raises :class:`FaultSpecError`.

    The plan's clock starts at ``started_at`` (``time.monotonic()`` seconds; default: now).
    """
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
    if started_at is None:
        return FaultPlan(rules=rules, source=spec.strip())
    return FaultPlan(rules=rules, source=spec.strip(), started_at=started_at)


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


#: Hashed over and over by :func:`busy_cpu`: big enough that hashlib lets go of the GIL.
_BURN_BLOCK = bytes(16384)


def busy_cpu(seconds: float) -> None:
    """Use this much CPU time in this thread, holding the event loop (no await) but not the
    GIL: the server's worker threads go on as they would beside slower code of its own."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        hashlib.sha256(_BURN_BLOCK).digest()


async def never_answer(request: Request) -> Response:
    """Hang: wait, without using CPU, until the client disconnects; then end the task.

    The ASGI ``receive`` blocks until the next body chunk or the disconnect, so this costs
    nothing while it waits. Ending on the disconnect (rather than never) frees the task, so
    a hung server still shuts down once its clients have given up. The returned response is
    never delivered: the server drops sends to a closed connection.
    """
    while (await request.receive())["type"] != "http.disconnect":
        pass  # the request body: not read by anyone
    return Response(status_code=503)


def wrap_handler(handler: Handler, path: str) -> Handler:
    """Wrap the handler of the route ``path`` so the app's :class:`FaultPlan` applies to it."""

    async def faulty(request: Request) -> Response:
        plan: FaultPlan = request.app.state.faults
        fault = plan.for_route(request.method, path) if plan else None
        if fault is None:
            return await handler(request)
        elapsed = plan.elapsed()  # every time-dependent key looks at the arrival time
        if fault.hangs(elapsed):
            return await never_answer(request)
        await precise_wait(fault.delay(elapsed))
        if fault.errors_on(elapsed) and random.random() < fault.error_rate:
            return FastJSONResponse({"detail": "injected fault"}, status_code=500)
        started = time.perf_counter()
        try:
            return await handler(request)
        finally:
            if fault.slowdown > 1:
                await precise_wait((time.perf_counter() - started) * (fault.slowdown - 1))
            if fault.cpu_ms > 0:
                busy_cpu(fault.cpu_ms / 1000)

    return faulty
