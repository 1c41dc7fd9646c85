"""Raw samples of a run, one per request, kept exactly: verdicts use real percentiles.

Locust buckets response times to about two significant digits; we keep raw samples instead
(per request: completion time, latency, service time, status code, failure and censored flags).

Latency is what verdicts judge. In the closed model it is Locust's own response time (the
service time). In the open model (see pytest_loadgate.run.open_load) the first request of each
iteration is measured from the iteration's *scheduled* start instead, so a generator that
started it late (or a pool that was busy) cannot hide waiting from the figures; later requests
of the iteration are sent as soon as the previous one is answered and keep their service time.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TOTAL_NAME = "Aggregated"


#: One sample as a worker ships it: end time on the worker's monotonic clock, latency (ms),
#: status, failed (0/1), service time (ms), and 0, CENSORED, or ANSWERED_LATE (in flight at
#: the end, answered while draining: dated at the run's end).
WireSample = tuple[float, float, int, int, float, int]
CENSORED = 1
ANSWERED_LATE = 2


@dataclass
class EndpointSamples:
    """Raw samples of one endpoint (``"METHOD name"``): 20 bytes a request, 29 when service
    times differ from latencies (the open model)."""

    offsets_s: array[float] = field(default_factory=lambda: array("d"))
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    #: None while every service time equals its latency (the closed model): not stored twice.
    own_service_ms: array[float] | None = None
    statuses: array[int] = field(default_factory=lambda: array("H"))
    failed: array[int] = field(default_factory=lambda: array("b"))
    censored: array[int] = field(default_factory=lambda: array("b"))

    @property
    def service_ms(self) -> array[float]:
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

    def extend_answered(self, offsets_s: Sequence[float], latencies_ms: Sequence[float],
                        statuses: Sequence[int]) -> None:
        """:meth:`append` for many requests of the common case at once (equal lengths):
        answered, not failed, service time = latency, ``0 < status < 65536``."""
        self.offsets_s.extend(offsets_s)
        self.latencies_ms.extend(latencies_ms)
        if self.own_service_ms is not None:
            self.own_service_ms.extend(latencies_ms)
        self.statuses.extend(statuses)
        zeros = bytes(len(offsets_s))
        self.failed.frombytes(zeros)
        self.censored.frombytes(zeros)

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


class NoResponse(Exception):
    """A request still unanswered when the run ended (see pytest_loadgate.run.inflight)."""


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


def is_censored(exception: BaseException | None) -> bool:
    """True for the failure the in-flight tracker reports for a request left unanswered."""
    return isinstance(exception, NoResponse)


def corrected_ms(service_ms: float, end_s: float, start_s: float | None,
                 scheduled_s: float | None) -> float:
    """Latency as the user sees it: from the scheduled start (when later than the request's
    own start) to the response; the service time when there was no schedule."""
    if scheduled_s is None:
        return service_ms
    sent_s = start_s if start_s is not None else end_s - service_ms / 1000.0
    return service_ms + max(0.0, sent_s - scheduled_s) * 1000.0


