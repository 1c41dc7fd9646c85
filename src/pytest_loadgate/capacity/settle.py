"""Between capacity probes: let the server work off what the previous probe left queued.

A probe above capacity leaves a backlog: requests the server accepted but had not answered
when the probe ended (it still runs them after the clients are gone). The next probe would
measure that backlog instead of its own rate, and a search that just failed high would fail
its next, lower rate too. So before each probe after the first the search waits until the
server is quiet again, as it was before the first probe:

- a server the plugin started: its CPU (process tree) over two consecutive intervals is at
  most twice what it used idle, and at least ``MIN_QUIET_CORES``;
- any other target: two consecutive requests to its URL answer (any status) within three times
  the idle round trip, and at least ``MIN_QUIET_RTT_S``.

The wait is bounded by ``timeout_s``; a server still busy then is probed anyway and the search
says so. Nothing here sleeps in place of a check: each interval is a measurement.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from pytest_loadgate.run.monitor import process_tree

INTERVAL_S = 0.25
QUIET_READINGS = 2
MIN_QUIET_CORES = 0.1
QUIET_CPU_FACTOR = 2.0
MIN_QUIET_RTT_S = 0.02
QUIET_RTT_FACTOR = 3.0
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Settled:
    """How long the wait took, whether the server went quiet, and by which measure."""

    waited_s: float
    quiet: bool
    how: str  # "cpu", "latency" or "unreachable"


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of ``pid`` and its children; None once it is gone."""
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return None
    total = 0.0
    for proc in process_tree(root):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            if proc is root:
                return None
            continue
        total += times.user + times.system
    return total


def round_trip_s(url: str, timeout_s: float) -> float | None:
    """Seconds until ``url`` answered (any HTTP status counts); None when nothing answered."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            resp.read(1)
    except urllib.error.HTTPError:
        pass  # an answer all the same: the server got to the request
    except (urllib.error.URLError, OSError):
        return None
    return time.perf_counter() - began


class QuietServer:
    """Measures the server idle once (:meth:`baseline`), then :meth:`wait` for it to be as
    quiet again. ``cpu_seconds`` (None when the server's process is unknown) and ``rtt`` are
    injectable for tests."""

    def __init__(self, *, cpu_seconds: Callable[[], float | None] | None,
                 rtt: Callable[[], float | None], timeout_s: float = DEFAULT_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._cpu_seconds = cpu_seconds
        self._rtt = rtt
        self.timeout_s = timeout_s
        self._clock = clock
        self._sleep = sleep
        self.idle_cores: float | None = None
        self.idle_rtt_s: float | None = None

    def _cores_over_interval(self) -> float | None:
        assert self._cpu_seconds is not None
        before, began = self._cpu_seconds(), self._clock()
        self._sleep(INTERVAL_S)
        after, ended = self._cpu_seconds(), self._clock()
        if before is None or after is None or ended <= began:
            return None
        return max(0.0, after - before) / (ended - began)

    def baseline(self) -> None:
        """Measure the idle server (before the first probe)."""
        if self._cpu_seconds is not None:
            self.idle_cores = self._cores_over_interval()
        else:
            self.idle_rtt_s = self._rtt()

    @property
    def quiet_cores(self) -> float:
        return max(MIN_QUIET_CORES, QUIET_CPU_FACTOR * (self.idle_cores or 0.0))

    @property
    def quiet_rtt_s(self) -> float:
        return max(MIN_QUIET_RTT_S, QUIET_RTT_FACTOR * (self.idle_rtt_s or 0.0))

    def wait(self) -> Settled:
        """Return once the server has been quiet for ``QUIET_READINGS`` intervals in a row,
        or ``timeout_s`` has passed."""
        began = self._clock()
        how = "cpu" if self._cpu_seconds is not None else "latency"
        streak = 0
        while True:
            if how == "cpu":
                cores = self._cores_over_interval()
                if cores is None:
                    return Settled(self._clock() - began, False, "unreachable")
                quiet = cores <= self.quiet_cores
            else:
                rtt = self._rtt()
                if rtt is None:
                    return Settled(self._clock() - began, False, "unreachable")
                quiet = rtt <= self.quiet_rtt_s
                if not quiet:
                    self._sleep(INTERVAL_S)
            streak = streak + 1 if quiet else 0
            waited = self._clock() - began
            if streak >= QUIET_READINGS:
                return Settled(waited, True, how)
            if waited >= self.timeout_s:
                return Settled(waited, False, how)


def quiet_server_for(pid: int | None, url: str,
                     timeout_s: float = DEFAULT_TIMEOUT_S) -> QuietServer:
    """Watch the server process ``pid`` when the plugin started it, else the round trip of
    ``url``."""
    return QuietServer(
        cpu_seconds=(lambda: tree_cpu_seconds(pid)) if pid is not None else None,
        rtt=lambda: round_trip_s(url, timeout_s=min(timeout_s, 10.0)), timeout_s=timeout_s)


def settle_notes(settles: list[tuple[float, float, Settled]]) -> list[str]:
    """A note for each probe that started on a server still busy: (previous rate, rate,
    how the wait ended)."""
    return [f"capacity probe at {rate:g}/s started on a server still busy {s.waited_s:.0f} s"
            f" after the probe at {previous:g}/s (it did not go quiet by {s.how}): its result"
            " may include that probe's backlog"
            for previous, rate, s in settles if not s.quiet and s.how != "unreachable"]
