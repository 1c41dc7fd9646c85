"""Record every request of a run, exactly, so verdicts use real percentiles and a chosen window.

Locust buckets response times to about two significant digits; we keep raw samples instead
(per request: completion time, latency, service time, status code, failure and censored flags).

Latency is what verdicts judge. In the closed model it is Locust's own response time (the
service time). In the open model (see pytest_loadgate.open_load) the first request of each
iteration is measured from the iteration's *scheduled* start instead, so a generator that
started it late (or a pool that was busy) cannot hide waiting from the figures; later requests
of the iteration are sent as soon as the previous one is answered and keep their service time.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent

from pytest_loadgate.histograms import DEFAULT_MAX_SAMPLES, OverflowStore

TOTAL_NAME = "Aggregated"


@dataclass
class EndpointSamples:
    """Raw samples of one endpoint (``"METHOD name"``): 20 bytes a request, 29 when service
    times differ from latencies (the open model)."""

    offsets_s: array = field(default_factory=lambda: array("d"))
    latencies_ms: array = field(default_factory=lambda: array("d"))
    #: None while every service time equals its latency (the closed model): not stored twice.
    own_service_ms: array | None = None
    statuses: array = field(default_factory=lambda: array("H"))
    failed: array = field(default_factory=lambda: array("b"))
    censored: array = field(default_factory=lambda: array("b"))

    @property
    def service_ms(self) -> array:
        return self.latencies_ms if self.own_service_ms is None else self.own_service_ms

    def append(self, offset_s: float, latency_ms: float, status: int, failed: bool,
               service_ms: float | None = None, censored: bool = False) -> None:
        self.offsets_s.append(offset_s)
        self.latencies_ms.append(latency_ms)
        if self.own_service_ms is not None:
            self.own_service_ms.append(latency_ms if service_ms is None else service_ms)
        elif service_ms is not None and service_ms != latency_ms:
            self.own_service_ms = array("d", self.latencies_ms)
            self.own_service_ms[-1] = service_ms
        self.statuses.append(status if 0 <= status < 65536 else 0)
        self.failed.append(1 if failed else 0)
        self.censored.append(1 if censored else 0)

    def __len__(self) -> int:
        return len(self.offsets_s)

    def extend(self, other: EndpointSamples) -> None:
        if self.own_service_ms is not None or other.own_service_ms is not None:
            own = self.own_service_ms
            if own is None:
                own = self.own_service_ms = array("d", self.latencies_ms)
            own.extend(other.service_ms)
        self.offsets_s.extend(other.offsets_s)
        self.latencies_ms.extend(other.latencies_ms)
        self.statuses.extend(other.statuses)
        self.failed.extend(other.failed)
        self.censored.extend(other.censored)


#: Context key of a censored request: the greenlet of the user that sent it.
CENSORED_GREENLET = "loadgate_greenlet"


class NoResponse(Exception):
    """A request still unanswered when the run ended (see pytest_loadgate.inflight)."""


def exact_bucket(response_time: float) -> float:
    """Locust histogram key rounded to 0.1 ms instead of two significant digits."""
    # Not round(x, 1): this runs for every request, and int() is several times cheaper.
    return int(response_time * 10.0 + 0.5) / 10.0 if response_time >= 0 else 0.0


def status_of(response: Any, exception: BaseException | None) -> int:
    """The HTTP status of a Locust response, 0 when there was none (connection error)."""
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and code > 0:
        return code
    return 0


#: One sample as a worker ships it: wall-clock end time, latency (ms), status, failed (0/1),
#: service time (ms), and 0, CENSORED, or ANSWERED_LATE (in flight at the end, answered while
#: draining: dated at the run's end).
WireSample = tuple[float, float, int, int, float, int]
CENSORED = 1
ANSWERED_LATE = 2


def is_censored(exception: BaseException | None) -> bool:
    """True for the failure the in-flight tracker reports for a request left unanswered."""
    return isinstance(exception, NoResponse)


class IterationClock:
    """Scheduled start of the iteration each user greenlet is running (open model only).

    The first request an iteration reports consumes its entry, so only that request is
    measured from the scheduled start.
    """

    def __init__(self) -> None:
        self.scheduled: dict[Any, float] = {}

    def begin(self, greenlet: Any, scheduled_s: float) -> None:
        self.scheduled[greenlet] = scheduled_s

    def end(self, greenlet: Any) -> None:
        self.scheduled.pop(greenlet, None)

    def take(self, greenlet: Any) -> float | None:
        return self.scheduled.pop(greenlet, None)


def request_origin(exception: BaseException | None, context: Any) -> tuple[bool, Any]:
    """Whether a reported request was censored, and the user greenlet that sent it (a censored
    one is reported from the runner's greenlet, its sender travels in the context)."""
    censored = is_censored(exception)
    return censored, ((context or {}).get(CENSORED_GREENLET) if censored
                      else gevent.getcurrent())


def service_and_latency(iterations: IterationClock, greenlet: Any, response_time: float | None,
                        start_s: float | None, end_s: float) -> tuple[float, float]:
    """Locust's response time, and the latency judged (from the iteration's scheduled start
    for its first request, see :func:`corrected_ms`); all times on one clock."""
    service = float(response_time or 0.0)
    scheduled = iterations.take(greenlet) if greenlet is not None else None
    return service, corrected_ms(service, end_s, start_s, scheduled)


def corrected_ms(service_ms: float, end_s: float, start_s: float | None,
                 scheduled_s: float | None) -> float:
    """Latency as the user sees it: from the scheduled start (when later than the request's
    own start) to the response; the service time when there was no schedule."""
    if scheduled_s is None:
        return service_ms
    sent_s = start_s if start_s is not None else end_s - service_ms / 1000.0
    return service_ms + max(0.0, sent_s - scheduled_s) * 1000.0


class SampleRecorder:
    """Keeps every sample, keyed by endpoint and source (this process or a worker).

    Samples of one source arrive in time order, so each (endpoint, source) series stays sorted
    and a time window is a slice of it.
    """

    def __init__(self, *, clock: Any = time.perf_counter,
                 max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self._clock = clock
        #: Raw samples kept at most; later requests go to per-second histograms.
        self.max_samples = max_samples
        self.kept = 0
        self.overflow = OverflowStore()
        self.started_at = clock()
        self.wall_origin = time.time()
        self.endpoints: dict[str, EndpointSamples] = {}
        self.remote: dict[tuple[str, str], EndpointSamples] = {}
        self.iterations = IterationClock()
        #: Running totals of the whole run, so progress never re-reads every sample.
        self.requests = 0
        self.failures = 0
        #: When the last response arrived (run clock; censored requests do not count).
        self.last_response_s: float | None = None
        #: After the run ended, only the requests that were in flight then are kept (counted
        #: at the end); later ones are not part of the run.
        self.closed_at: float | None = None
        self.late: set[Any] = set()

    def restart(self) -> None:
        """Make time zero now (before the first request)."""
        self.started_at = self._clock()
        self.wall_origin = time.time()
        self.last_response_s = None
        self.closed_at = None
        self.requests = self.failures = 0
        self.kept = 0
        self.overflow = OverflowStore()

    def close(self, at_s: float, late: set[Any] | None = None) -> None:
        """End the run at ``at_s``: afterwards keep only the first sample of each greenlet in
        ``late`` (those with a request in flight at the end) and censored ones, dated at the
        end."""
        self.closed_at = at_s
        self.late = set(late or ())

    def ingest(self, source: str, batch: dict[str, list[WireSample]]) -> None:
        """Add samples shipped by a worker (wall-clock times mapped onto this run's clock)."""
        origin = self.wall_origin
        for name, rows in batch.items():
            key = (name, source)
            part = self.remote.get(key)
            if part is None:
                part = self.remote[key] = EndpointSamples()
            for wall_ts, latency, status, failed, service, flag in rows:
                offset = wall_ts - origin
                if flag and self.closed_at is not None:  # in flight at the end
                    offset = min(offset, self.closed_at)
                censored = flag == CENSORED
                self._keep(part, name, offset, latency, status, bool(failed), service,
                           censored)
                self.requests += 1
                self.failures += 1 if failed else 0
                if not censored and (self.last_response_s is None
                                     or offset > self.last_response_s):
                    self.last_response_s = offset

    def now(self) -> float:
        """Seconds since the recorder was created."""
        return self._clock() - self.started_at

    def on_request(self, request_type: str, name: str, response_time: float | None,
                   response: Any = None, exception: BaseException | None = None,
                   context: Any = None, start_time: float | None = None,
                   **_: Any) -> None:
        """Locust ``request`` event listener."""
        if exception is None:  # the hot path: an answered request
            censored, greenlet = False, gevent.getcurrent()
        else:
            censored, greenlet = request_origin(exception, context)
        now = self._clock() - self.started_at
        if self.closed_at is not None:
            if not censored and greenlet not in self.late:
                return  # sent after the end
            self.late.discard(greenlet)
            now = self.closed_at  # in flight at the end: part of the run
        start_s = start_time - self.wall_origin if isinstance(start_time, float) else None
        if self.iterations.scheduled:
            service, latency = service_and_latency(self.iterations, greenlet, response_time,
                                                   start_s, now)
        else:  # closed model (or no iteration pending): latency is Locust's response time
            service = latency = float(response_time or 0.0)
        key = f"{request_type} {name}"
        samples = self.endpoints.get(key)
        if samples is None:
            samples = self.endpoints[key] = EndpointSamples()
        self._keep(samples, key, now, latency, status_of(response, exception),
                   exception is not None, service, censored)
        self.requests += 1
        self.failures += 1 if exception is not None else 0
        if not censored:
            self.last_response_s = now

    def _keep(self, part: EndpointSamples, name: str, offset: float, latency: float,
              status: int, failed: bool, service: float, censored: bool) -> None:
        """Keep the sample raw while under the cap, else count it in its second's bucket."""
        if self.kept < self.max_samples:
            part.append(offset, latency, status, failed, service, censored)
            self.kept += 1
        else:
            self.overflow.add(name, offset, latency, status if 0 <= status < 65536 else 0,
                              failed, service, censored)

    def items(self) -> Iterator[tuple[str, list[EndpointSamples]]]:
        """Endpoint name → its sample series (one per source), sorted by name."""
        merged: dict[str, list[EndpointSamples]] = {n: [p] for n, p in self.endpoints.items()}
        for (name, _), part in self.remote.items():
            merged.setdefault(name, []).append(part)
        return iter(sorted(merged.items()))

    def count(self) -> int:
        return sum(len(p) for _, parts in self.items() for p in parts)
