"""Requests in flight read off the stacks of suspended greenlets.

A user waiting on the server is a greenlet suspended inside Locust's ``HttpSession.request`` or
``FastHttpSession.request``; so is any greenlet a task spawned to send a request. That frame
holds the session, the method, the URL, the ``name=`` and (``start_time``, on the wall clock)
when the request was sent, so the requests in flight can be found when they are needed, with no
work per request. gevent keeps no registry of its greenlets, but the garbage collector tracks
every one (gevent's own run-info dump finds them the same way).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Collection, Iterable
from types import FrameType
from typing import Any

from greenlet import greenlet as Greenlet

#: One request sent and not yet answered: a plain tuple.
#: (started_s on the run's clock, the sending greenlet, session, method, url, ``name=`` or None)
Outstanding = tuple[float, Any, Any, str, str, "str | None"]


def live_greenlets() -> list[Any]:
    """Every greenlet alive in this process (one pass over the collector's objects: tens of
    milliseconds in a large pytest process, so only when a look is needed)."""
    # type(), not isinstance(): that would read ``__class__``, which some proxies compute.
    return [obj for obj in gc.get_objects() if issubclass(type(obj), Greenlet)]


def frames_of(greenlet: Any) -> Iterable[FrameType]:
    """The frames of a suspended greenlet, innermost first (none while it runs or is dead)."""
    frame = getattr(greenlet, "gr_frame", None)
    while frame is not None:
        yield frame
        frame = frame.f_back


def outstanding_of(frame: FrameType, greenlet: Any, now_s: float,
                   first_seen_s: float | None = None) -> Outstanding:
    """The request a ``request`` frame is sending, dated on the clock that reads ``now_s``
    (``first_seen_s``: when this frame was first found, for a frame that holds no send time,
    e.g. a wrapper someone else put around ``request``)."""
    local = frame.f_locals
    sent = local.get("start_time")
    # Locust dates the send on the wall clock.
    if isinstance(sent, float):
        started = now_s - max(0.0, time.time() - sent)
    else:
        started = now_s if first_seen_s is None else first_seen_s
    name = local.get("name")
    return (started, greenlet, local.get("self"), str(local.get("method", "")),
            str(local.get("url", "")), name if isinstance(name, str) else None)


def requests_on_stacks(greenlets: Iterable[Any], code_ids: Collection[int],
                       clock: Callable[[], float],
                       first_seen: dict[FrameType, float] | None = None,
                       sent_since: float | None = None) -> dict[FrameType, Outstanding]:
    """Every request in flight on the stacks of ``greenlets`` (frames running a code object
    whose ``id`` is in ``code_ids``), keyed by its frame: held here, a frame cannot be
    mistaken for a later request's. ``first_seen`` (frame -> time), when given, is kept for
    the frames found (and only those), to date requests whose frame holds no send time.
    ``sent_since`` (wall clock) leaves out requests sent before it (an earlier run's)."""
    now = clock()
    found = {}
    for greenlet in list(greenlets):
        for frame in frames_of(greenlet):
            if id(frame.f_code) in code_ids:
                sent = frame.f_locals.get("start_time")
                if sent_since is not None and isinstance(sent, float) and sent < sent_since:
                    continue
                seen = None if first_seen is None else first_seen.setdefault(frame, now)
                found[frame] = outstanding_of(frame, greenlet, now, seen)
    if first_seen is not None:
        for gone in first_seen.keys() - found.keys():
            del first_seen[gone]
    return found


def still_on_stack(frame: FrameType, greenlet: Any) -> bool:
    """Whether ``frame`` is still running on ``greenlet`` (its request not yet answered)."""
    return any(f is frame for f in frames_of(greenlet))
