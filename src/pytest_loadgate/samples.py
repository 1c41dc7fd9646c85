"""Record every request of a run, exactly, so verdicts use real percentiles and a chosen window.

Locust buckets response times to about two significant digits; we keep raw samples instead
(one float time, one float latency, one status code and one failure flag per request).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TOTAL_NAME = "Aggregated"


@dataclass
class EndpointSamples:
    """Raw samples of one endpoint (``"METHOD name"``)."""

    offsets_s: array = field(default_factory=lambda: array("d"))
    latencies_ms: array = field(default_factory=lambda: array("d"))
    statuses: array = field(default_factory=lambda: array("H"))
    failed: array = field(default_factory=lambda: array("b"))

    def append(self, offset_s: float, latency_ms: float, status: int, failed: bool) -> None:
        self.offsets_s.append(offset_s)
        self.latencies_ms.append(latency_ms)
        self.statuses.append(status if 0 <= status < 65536 else 0)
        self.failed.append(1 if failed else 0)

    def __len__(self) -> int:
        return len(self.offsets_s)

    def extend(self, other: EndpointSamples) -> None:
        self.offsets_s.extend(other.offsets_s)
        self.latencies_ms.extend(other.latencies_ms)
        self.statuses.extend(other.statuses)
        self.failed.extend(other.failed)


def exact_bucket(response_time: float) -> float:
    """Locust histogram key rounded to 0.1 ms instead of two significant digits."""
    return round(float(response_time), 1)


def status_of(response: Any, exception: BaseException | None) -> int:
    """The HTTP status of a Locust response, 0 when there was none (connection error)."""
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and code > 0:
        return code
    return 0


#: One sample as a worker ships it: wall-clock end time, latency (ms), status, failed (0/1).
WireSample = tuple[float, float, int, int]


class SampleRecorder:
    """Keeps every sample, keyed by endpoint and source (this process or a worker).

    Samples of one source arrive in time order, so each (endpoint, source) series stays sorted
    and a time window is a slice of it.
    """

    def __init__(self, *, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self.started_at = clock()
        self.wall_origin = time.time()
        self.endpoints: dict[str, EndpointSamples] = {}
        self.remote: dict[tuple[str, str], EndpointSamples] = {}

    def restart(self) -> None:
        """Make time zero now (before the first request)."""
        self.started_at = self._clock()
        self.wall_origin = time.time()

    def ingest(self, source: str, batch: dict[str, list[WireSample]]) -> None:
        """Add samples shipped by a worker (wall-clock times mapped onto this run's clock)."""
        origin = self.wall_origin
        for name, rows in batch.items():
            key = (name, source)
            part = self.remote.get(key)
            if part is None:
                part = self.remote[key] = EndpointSamples()
            for wall_ts, latency, status, failed in rows:
                part.append(wall_ts - origin, latency, status, bool(failed))

    def now(self) -> float:
        """Seconds since the recorder was created."""
        return self._clock() - self.started_at

    def on_request(self, request_type: str, name: str, response_time: float | None,
                   response: Any = None, exception: BaseException | None = None,
                   **_: Any) -> None:
        """Locust ``request`` event listener."""
        key = f"{request_type} {name}"
        samples = self.endpoints.get(key)
        if samples is None:
            samples = self.endpoints[key] = EndpointSamples()
        samples.append(self.now(), float(response_time or 0.0), status_of(response, exception),
                       exception is not None)

    def items(self) -> Iterator[tuple[str, list[EndpointSamples]]]:
        """Endpoint name → its sample series (one per source), sorted by name."""
        merged: dict[str, list[EndpointSamples]] = {n: [p] for n, p in self.endpoints.items()}
        for (name, _), part in self.remote.items():
            merged.setdefault(name, []).append(part)
        return iter(sorted(merged.items()))

    def count(self) -> int:
        return sum(len(p) for _, parts in self.items() for p in parts)
