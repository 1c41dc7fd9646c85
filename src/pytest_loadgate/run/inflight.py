"""Requests in flight: what the users are waiting on, so a silent server cannot hide.

Locust reports a request when its response completes; a request that never completes never
reaches the statistics. While a run is measured, :class:`InFlight` knows every request that
was sent and has no answer yet. A user's own greenlet waiting on the server is suspended
inside Locust's ``request`` method, so its requests are read off its stack when they are
needed (see pytest_loadgate.run.request_frames), at no cost per request; a request sent from
any other greenlet (one a task spawned) is booked as it is sent, by a wrapper around the
``request`` method of Locust's two HTTP clients (``HttpSession`` and ``FastHttpSession``).

When the run ends, each request still in flight is *censored*: reported through the
environment's ``request`` event as a failure with its elapsed time as latency (a lower bound of
the real one). A healthy server answers what was in flight at the end within moments, so the
run first *drains*: it waits (up to ``max_stall``) for the requests outstanding at the end,
which then count as answered; only those still unanswered after that are censored. The wrapper
also applies the run's per-request timeout to clients that have none of their own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from itertools import chain, count
from types import FrameType
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from pytest_loadgate.run.pacing import overlap
from pytest_loadgate.run.recorder import CENSORED_GREENLET
from pytest_loadgate.run.request_frames import Outstanding, requests_on_stacks, still_on_stack
from pytest_loadgate.stats.samples import NoResponse

DRAIN_POLL_SEC = 0.01


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


#: A request in flight: the frame of its ``request`` call (found on a user's stack) or the
#: number the wrapper booked it under (sent from another greenlet).
Key = FrameType | int


class InFlight:
    """Tracks outstanding requests of one run and censors them when it ends."""

    def __init__(self, clock: Callable[[], float], request_timeout_s: float | None) -> None:
        self._clock = clock
        self.request_timeout_s = request_timeout_s
        #: Requests sent from greenlets that are not users (booked by the wrapper).
        self.booked: dict[int, Outstanding] = {}
        self._ids = count()
        #: Live sets of user greenlets, whose requests are found on their stacks.
        self.users: tuple[set[Any], ...] = ()
        self._codes: frozenset[int] = frozenset()
        #: When each request frame on a user's stack was first found (see request_frames).
        self._first_seen: dict[FrameType, float] = {}
        self.censored = 0
        self.closed = False
        self.at_end: dict[Key, Outstanding] = {}

    def watch(self, *users: set[Any]) -> None:
        """Find the requests of these greenlets (live sets, e.g. a gevent ``Group``'s
        ``greenlets``) on their stacks instead of booking each one."""
        self.users = users

    def outstanding(self) -> dict[Key, Outstanding]:
        """Every request sent and not yet answered, now (none once censored)."""
        if self.closed:
            return {}
        found: dict[Key, Outstanding] = dict(self.booked.items())
        if self.users and self._codes:
            found.update(requests_on_stacks(chain(*self.users), self._codes, self._clock,
                                            self._first_seen).items())
        return found

    def pending(self) -> tuple[int, float | None]:
        """How many requests are outstanding, and when the longest-waiting one was sent."""
        waiting = self.outstanding()
        if not waiting:
            return 0, None
        return len(waiting), min(o[STARTED] for o in waiting.values())

    def waiting_seconds(self, start: float, stop: float) -> float:
        """User time in ``[start, stop]`` spent waiting on requests outstanding now (answered
        ones are in the recorder's ``waits``)."""
        now = self._clock()
        return sum(overlap(o[STARTED], now - o[STARTED], start, stop)
                   for o in self.outstanding().values())

    def _wrap(self, original: Callable[..., Any], *, timeout_kwarg: bool) -> Callable[..., Any]:
        meter = self
        # Bound once: this wrapper runs for every request of the run.
        clock, ids, booked = self._clock, self._ids, self.booked
        getcurrent = gevent.getcurrent

        def request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if timeout_kwarg and meter.request_timeout_s is not None:
                kwargs.setdefault("timeout", meter.request_timeout_s)
            if meter.closed:
                return original(session, method, url, *args, **kwargs)
            current = getcurrent()
            for users in meter.users:
                if current in users:  # found on its stack when needed
                    return original(session, method, url, *args, **kwargs)
            key = next(ids)
            booked[key] = (clock(), current, session, method, url, kwargs.get("name"))
            try:
                return original(session, method, url, *args, **kwargs)
            finally:
                booked.pop(key, None)

        return request

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Wrap both Locust HTTP clients while active (runs are serialised in a process)."""
        originals = {HttpSession: HttpSession.__dict__["request"],
                     FastHttpSession: FastHttpSession.__dict__["request"]}
        self._codes = frozenset(id(f.__code__) for f in originals.values())
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
        self.at_end = self.outstanding()
        return {o[GREENLET] for o in self.at_end.values()}

    def _unanswered(self) -> list[Outstanding]:
        """The requests outstanding at :meth:`end` that are still unanswered."""
        return [o for key, o in self.at_end.items()
                if (key in self.booked if isinstance(key, int)
                    else still_on_stack(key, o[GREENLET]))]

    def drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the requests outstanding at :meth:`end` to finish."""
        deadline = self._clock() + timeout_s
        while self._clock() < deadline and self._unanswered():
            gevent.sleep(DRAIN_POLL_SEC)

    def censor(self, fire: Callable[..., Any]) -> int:
        """Report each request outstanding since :meth:`end` as failed (``NoResponse``)
        through ``fire`` (an environment's ``events.request.fire``) and stop tracking; returns
        how many."""
        now, wall_now = self._clock(), time.time()
        pending = self._unanswered()
        self.booked.clear()
        self._first_seen.clear()
        self.at_end = {}
        self.closed = True
        for started_s, greenlet, session, method, url, name_kwarg in pending:
            elapsed = max(0.0, now - started_s)
            name = request_name(session, method, url, name_kwarg)
            fire(request_type=str(method).upper(), name=name,
                 response_time=elapsed * 1000.0, response_length=0, response=None,
                 context={CENSORED_GREENLET: greenlet}, start_time=wall_now - elapsed,
                 url=name, exception=NoResponse(
                     f"no response after {elapsed:.0f} s (still in flight when the run ended)"))
        self.censored += len(pending)
        return len(pending)
