"""Requests in flight: what the users are waiting on, so a silent server cannot hide.

Locust reports a request when its response completes; a request that never completes never
reaches the statistics. While a run is measured, :class:`InFlight` knows every request that
was sent during the run and has no answer yet. A greenlet waiting on the server, a user's own or
one a task spawned, is suspended inside Locust's ``request`` method, so the requests are read
off the stacks of the process's greenlets when they are needed (see
pytest_loadgate.run.request_frames), at no cost per request.

When the run ends, each request still in flight is *censored*: reported through the
environment's ``request`` event as a failure with its elapsed time as latency (a lower bound of
the real one). A healthy server answers what was in flight at the end within moments, so the
run first *drains*: it waits (up to ``max_stall``) for the requests outstanding at the end,
which then count as answered; only those still unanswered after that are censored. A wrapper
around ``HttpSession.request`` applies the run's per-request timeout to that client, which has
none of its own.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from itertools import chain
from types import FrameType
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from pytest_loadgate.run.pacing import overlap
from pytest_loadgate.run.recorder import CENSORED_GREENLET
from pytest_loadgate.run.request_frames import (
    Outstanding,
    live_greenlets,
    requests_on_stacks,
    still_on_stack,
)
from pytest_loadgate.stats.samples import NoResponse

DRAIN_POLL_SEC = 0.01
#: How often the process's greenlets are listed anew while requests are looked up.
RESCAN_SEC = 1.0


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
        self._codes: frozenset[int] = frozenset()
        #: Live sets of user greenlets, read at every look.
        self.users: tuple[set[Any], ...] = ()
        #: Every greenlet of the process at the last scan, and when that was (run clock).
        self._others: list[Any] = []
        self._scanned_at: float | None = None
        #: Wall-clock time tracking began: requests sent earlier (by a greenlet an earlier run
        #: left behind) are not this run's.
        self._since_wall: float | None = None
        #: When each request frame was first found (see request_frames).
        self._first_seen: dict[FrameType, float] = {}
        self.censored = 0
        self.closed = False
        self.at_end: dict[FrameType, Outstanding] = {}

    def watch(self, *users: set[Any]) -> None:
        """Read these greenlets (live sets, e.g. a gevent ``Group``'s ``greenlets``) at every
        look; the process's other greenlets are listed at most every ``RESCAN_SEC``."""
        self.users = users

    def outstanding(self, rescan: bool = False) -> dict[FrameType, Outstanding]:
        """Every request sent during the run and not yet answered, now (none once
        censored). ``rescan``: list the process's greenlets anew whatever their age."""
        if self.closed or not self._codes:
            return {}
        now = self._clock()
        if rescan or self._scanned_at is None or now - self._scanned_at >= RESCAN_SEC:
            # One pass over every object: tens of ms in a large process, so not at every
            # look of a stall check (10 a second); a greenlet spawned since is seen within
            # RESCAN_SEC, and its request then dated by its own send time.
            self._others = live_greenlets()
            self._scanned_at = now
        return requests_on_stacks(chain(*self.users, self._others), self._codes, self._clock,
                                  self._first_seen, self._since_wall)

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

    def _with_timeout(self, original: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        def request(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if meter.request_timeout_s is not None:
                kwargs.setdefault("timeout", meter.request_timeout_s)
            return original(session, method, url, *args, **kwargs)

        return request

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Look for requests of Locust's two HTTP clients while active (runs are serialised
        in a process), and give ``HttpSession`` the run's timeout."""
        original = HttpSession.__dict__["request"]
        self._codes = frozenset(id(f.__code__) for f in (
            original, FastHttpSession.__dict__["request"]))
        self._since_wall = time.time()
        HttpSession.request = self._with_timeout(original)  # type: ignore[method-assign]
        try:
            yield
        finally:
            HttpSession.request = original  # type: ignore[method-assign]

    def end(self) -> set[Any]:
        """Mark the end of the run: the requests outstanding now are the ones to drain and
        censor. Returns the greenlets that sent them."""
        self.at_end = self.outstanding(rescan=True)
        return {o[GREENLET] for o in self.at_end.values()}

    def _unanswered(self) -> list[Outstanding]:
        """The requests outstanding at :meth:`end` that are still unanswered."""
        return [o for frame, o in self.at_end.items() if still_on_stack(frame, o[GREENLET])]

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
