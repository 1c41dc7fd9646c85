"""Requests in flight: what the users are waiting on, so a silent server cannot hide.

Locust reports a request when its response completes; a request that never completes never
reaches the statistics. While a run is measured, :class:`InFlight` wraps the ``request``
method of Locust's two HTTP clients (``HttpSession`` and ``FastHttpSession``), so it knows
every request that was sent and has no answer yet. When the run ends, each of those is
*censored*: reported through the environment's ``request`` event as a failure with its
elapsed time as latency (a lower bound of the real one). A healthy server answers what was in
flight at the end within moments, so the run first *drains*: it waits (up to ``max_stall``)
for the requests outstanding at the end, which then count as answered; only those still
unanswered after that are censored. It also applies the run's per-request
timeout to clients that have none of their own, and keeps how long users spent waiting on
responses (so pace can tell a stalled server from a late generator).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from itertools import count
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from pytest_loadgate.run.pacing import TimeBins, overlap
from pytest_loadgate.run.recorder import CENSORED_GREENLET
from pytest_loadgate.stats.samples import NoResponse

DRAIN_POLL_SEC = 0.01


#: One request sent and not yet answered: a plain tuple, as this is made for every request.
#: (started_s on the run's clock, the user's greenlet, session, method, url, ``name=`` or None)
Outstanding = tuple[float, Any, Any, str, str, "str | None"]
STARTED: Final = 0
GREENLET: Final = 1


def request_name(session: Any, method: str, url: str, name: str | None) -> str:
    """The name Locust will report the request under (explicit, renamed, or its path)."""
    name = name or getattr(session, "request_name", None)
    if name:
        return str(name)
    if isinstance(session, HttpSession) and "://" in url:
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return str(url)


class InFlight:
    """Tracks outstanding requests of one run and censors them when it ends."""

    def __init__(self, clock: Callable[[], float], request_timeout_s: float | None) -> None:
        self._clock = clock
        self.request_timeout_s = request_timeout_s
        self.outstanding: dict[int, Outstanding] = {}
        self._ids = count()
        #: Time users spent waiting on answered (or censored) requests, for pace.
        self.waits = TimeBins()
        self.censored = 0
        self.closed = False
        self.at_end: set[int] = set()

    def oldest_started_s(self) -> float | None:
        """When the longest-waiting outstanding request was sent (None: nothing outstanding)."""
        if not self.outstanding:
            return None
        return min(o[STARTED] for o in self.outstanding.values())

    def waiting_seconds(self, start: float, stop: float) -> float:
        """User time in ``[start, stop]`` spent waiting on a response (finished or not)."""
        total = self.waits.overlap(start, stop)
        now = self._clock()
        total += sum(overlap(o[STARTED], now - o[STARTED], start, stop)
                     for o in self.outstanding.values())
        return total

    def _wrap(self, original: Callable[..., Any], *, timeout_kwarg: bool) -> Callable[..., Any]:
        meter = self
        # Bound once: this wrapper runs for every request of the run.
        clock, ids, outstanding, waits = self._clock, self._ids, self.outstanding, self.waits
        getcurrent = gevent.getcurrent

        def request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if meter.closed:
                return original(session, method, url, *args, **kwargs)
            if timeout_kwarg and meter.request_timeout_s is not None:
                kwargs.setdefault("timeout", meter.request_timeout_s)
            key = next(ids)
            started = clock()
            outstanding[key] = (started, getcurrent(), session, method, url, kwargs.get("name"))
            try:
                return original(session, method, url, *args, **kwargs)
            finally:
                if outstanding.pop(key, None) is not None:
                    waits.add(started, clock() - started)

        return request

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Wrap both Locust HTTP clients while active (runs are serialised in a process)."""
        originals = {HttpSession: HttpSession.__dict__["request"],
                     FastHttpSession: FastHttpSession.__dict__["request"]}
        HttpSession.request = self._wrap(  # type: ignore[method-assign]
            originals[HttpSession], timeout_kwarg=True)
        FastHttpSession.request = self._wrap(  # type: ignore[method-assign]
            originals[FastHttpSession], timeout_kwarg=False)
        try:
            yield
        finally:
            HttpSession.request = originals[HttpSession]  # type: ignore[method-assign]
            FastHttpSession.request = originals[  # type: ignore[method-assign]
                FastHttpSession]

    def end(self) -> set[Any]:
        """Mark the end of the run: the requests outstanding now are the ones to drain and
        censor. Returns the greenlets that sent them."""
        self.at_end = set(self.outstanding)
        return {o[GREENLET] for o in self.outstanding.values()}

    def drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the requests outstanding at :meth:`end` to finish."""
        deadline = self._clock() + timeout_s
        while self._clock() < deadline and any(k in self.outstanding for k in self.at_end):
            gevent.sleep(DRAIN_POLL_SEC)

    def censor(self, fire: Callable[..., Any]) -> int:
        """Report each request outstanding since :meth:`end` as failed (``NoResponse``)
        through ``fire`` (an environment's ``events.request.fire``) and stop tracking; returns
        how many."""
        now, wall_now = self._clock(), time.time()
        pending = [self.outstanding[k] for k in self.at_end if k in self.outstanding]
        self.outstanding.clear()
        self.closed = True
        for started_s, greenlet, session, method, url, name_kwarg in pending:
            elapsed = max(0.0, now - started_s)
            self.waits.add(started_s, elapsed)
            name = request_name(session, method, url, name_kwarg)
            fire(request_type=str(method).upper(), name=name,
                 response_time=elapsed * 1000.0, response_length=0, response=None,
                 context={CENSORED_GREENLET: greenlet}, start_time=wall_now - elapsed,
                 url=name, exception=NoResponse(
                     f"no response after {elapsed:.0f} s (still in flight when the run ended)"))
        self.censored += len(pending)
        return len(pending)
