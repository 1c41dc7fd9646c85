"""Pace: did the users reach the request rate that their waits and response times imply?

While a user runs, its time goes to requests, to the waits it asked for (``wait_time``), or
elsewhere: task code, sleeps outside ``wait_time``, and an event loop that resumes it late. A
generator that keeps up spends almost all user time in requests and waits, so the achieved
rate matches ``users / (wait + response time)``. When much of the time went elsewhere, the
achieved rate says more about the client than about the server.
"""

from __future__ import annotations

import contextlib
import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gevent
from locust.user.task import TaskSet

#: Width of the bins that sum up time spent waiting (see :class:`TimeBins`).
TIME_BIN_SEC = 0.1


@dataclass(frozen=True)
class Pace:
    """How the users' time in the verdict window was spent."""

    user_s: float
    request_s: float
    wait_s: float
    achieved_rps: float

    @property
    def ratio(self) -> float:
        """Achieved rate / implied rate: the share of user time spent in requests or waits."""
        if self.user_s <= 0:
            return 1.0
        return min(1.0, (self.request_s + self.wait_s) / self.user_s)

    @property
    def implied_rps(self) -> float:
        """The rate the users would reach if all their time went to requests and waits."""
        return self.achieved_rps / self.ratio if self.ratio > 0 else float("inf")

    def as_dict(self) -> dict[str, float]:
        return {"ratio": round(self.ratio, 3), "achieved_rps": round(self.achieved_rps, 1),
                "implied_rps": round(self.implied_rps, 1), "user_s": round(self.user_s, 2),
                "request_s": round(self.request_s, 2), "wait_s": round(self.wait_s, 2)}


def overlap(start: float, length: float, lo: float, hi: float) -> float:
    """Length of ``[start, start + length]`` inside ``[lo, hi]``."""
    return max(0.0, min(start + length, hi) - max(start, lo))


class TimeBins:
    """Total length of many intervals, kept per ``TIME_BIN_SEC`` bin: memory grows with the
    run's length, not its request count, and a window's share is exact to a bin at each edge."""

    def __init__(self) -> None:
        self.bins: dict[int, float] = {}

    def add(self, start: float, length: float) -> None:
        """Spread ``[start, start + length]`` over the bins it touches."""
        if length <= 0.0:
            return
        end = start + length
        index = math.floor(start / TIME_BIN_SEC)
        if end <= (index + 1) * TIME_BIN_SEC:  # the usual case: inside one bin (hot path)
            bins = self.bins
            bins[index] = bins.get(index, 0.0) + length
            return
        while index * TIME_BIN_SEC < end:
            lo, hi = index * TIME_BIN_SEC, (index + 1) * TIME_BIN_SEC
            share = min(end, hi) - max(start, lo)
            if share > 0:
                self.bins[index] = self.bins.get(index, 0.0) + share
            index += 1

    def add_ended(self, ends_s: Sequence[float], lengths_ms: Sequence[float]) -> None:
        """:meth:`add` ``[end - length, end]`` for each pair, lengths in milliseconds (the
        same arithmetic, without a call per interval)."""
        bins = self.bins
        floor = math.floor
        for end, length_ms in zip(ends_s, lengths_ms, strict=True):
            length = length_ms / 1000.0
            start = end - length
            if length <= 0.0:
                continue
            index = floor(start / TIME_BIN_SEC)
            if start + length <= (index + 1) * TIME_BIN_SEC:
                bins[index] = bins.get(index, 0.0) + length
            else:
                self.add(start, length)

    def overlap(self, start: float, stop: float) -> float:
        """Time inside ``[start, stop]`` (partial edge bins pro rata)."""
        total = 0.0
        for index, seconds in self.bins.items():
            lo = index * TIME_BIN_SEC
            inside = overlap(lo, TIME_BIN_SEC, start, stop)
            if inside > 0:
                total += seconds * inside / TIME_BIN_SEC
        return total


class PaceMeter:
    """Records the waits users ask for and the running user count of an in-process run."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.waits = TimeBins()  # the wait_time sleeps users asked for
        self.user_counts: list[tuple[float, int]] = []  # (at_s, running users), time order
        self.measured = False

    def record_users(self, at_s: float, count: int) -> None:
        self.user_counts.append((at_s, count))

    @contextlib.contextmanager
    def measuring(self) -> Iterator[None]:
        """Note every ``wait_time`` sleep of every user (``TaskSet._sleep``) while active.

        Locust routes both ``User.wait_time`` and a TaskSet's own ``wait_time`` through
        ``TaskSet._sleep``; runs are serialised, so every such sleep belongs to this run.
        """
        original = TaskSet.__dict__.get("_sleep")
        if original is None:  # a Locust without the hook: pace is simply not measured
            yield
            return
        meter = self

        def _sleep(_taskset: Any, seconds: float) -> None:
            if seconds > 0:
                meter.waits.add(meter._clock(), float(seconds))
            gevent.sleep(seconds)

        TaskSet._sleep = _sleep  # type: ignore[method-assign]
        self.measured = True
        try:
            yield
        finally:
            TaskSet._sleep = original  # type: ignore[method-assign]

    def user_seconds(self, start: float, stop: float) -> float:
        """Integral of the running user count over ``[start, stop]`` (a step function)."""
        counts = self.user_counts
        if not counts or stop <= start:
            return 0.0
        total = 0.0
        first = max(bisect_right([at for at, _ in counts], start) - 1, 0)
        for i in range(first, len(counts)):
            at, users = counts[i]
            until = counts[i + 1][0] if i + 1 < len(counts) else stop
            total += users * overlap(at, until - at, start, stop)
            if until >= stop:
                break
        return total

    def summary(self, start: float, stop: float, requests: int, avg_ms: float,
                request_s: float | None = None) -> Pace | None:
        """The pace over the window, given its request count and mean latency.

        ``request_s``, when known, is the user time spent waiting on responses in the window
        (including requests still unanswered, see pytest_loadgate.run.inflight): a server that
        stops answering keeps its users busy waiting, which is not the generator's fault.
        """
        user_s = self.user_seconds(start, stop)
        if user_s <= 0 or stop <= start or not self.measured:
            return None
        if request_s is None:
            if requests == 0:
                return None
            request_s = requests * avg_ms / 1000.0
        wait_s = self.waits.overlap(start, stop)
        return Pace(user_s=user_s, request_s=request_s, wait_s=wait_s,
                    achieved_rps=requests / (stop - start))
