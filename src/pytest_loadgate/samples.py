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


def status_of(response: Any, exception: BaseException | None) -> int:
    """The HTTP status of a Locust response, 0 when there was none (connection error)."""
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and code > 0:
        return code
    return 0


class SampleRecorder:
    """Listens to Locust's ``request`` event and keeps every sample, keyed by endpoint."""

    def __init__(self, *, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self.started_at = clock()
        self.endpoints: dict[str, EndpointSamples] = {}

    def restart(self) -> None:
        """Make time zero now (before the first request)."""
        self.started_at = self._clock()

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

    def items(self) -> Iterator[tuple[str, EndpointSamples]]:
        return iter(sorted(self.endpoints.items()))

    def count(self) -> int:
        return sum(len(s) for s in self.endpoints.values())
