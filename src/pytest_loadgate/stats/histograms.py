"""Past the raw-sample cap: one HdrHistogram per endpoint and second, with a stated error.

Raw samples make percentiles exact but cost memory per request (see samples.py). Once a run
has kept ``max_samples`` of them, later requests are counted in per-second buckets instead:
counts, failures, status codes and two HdrHistograms (latency and service time, in
microseconds, 3 significant digits: a value is known to within 0.1%). Buckets older than a
few seconds are kept encoded (compressed), so memory grows with the run's length in seconds,
not with its requests.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

#: Default cap on raw samples per run (20-29 bytes each, see samples.EndpointSamples).
DEFAULT_MAX_SAMPLES = 5_000_000
HIST_LOWEST_US = 1
HIST_HIGHEST_US = 3_600_000_000  # one hour
HIST_DIGITS = 3
#: A value read back from the histograms is within this share of the recorded one.
HIST_RELATIVE_ERROR = 10.0 ** -HIST_DIGITS
#: Buckets this many seconds older than the newest of their endpoint are encoded.
HOT_SECONDS = 5


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_US, HIST_HIGHEST_US, HIST_DIGITS)


def _us(ms: float) -> int:
    return min(HIST_HIGHEST_US, max(HIST_LOWEST_US, round(ms * 1000)))


@dataclass
class SecondBucket:
    """One endpoint's requests that completed in one second, past the cap."""

    count: int = 0
    failures: int = 0
    censored: int = 0
    latency_sum_ms: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: HdrHistogram | None = field(default_factory=new_histogram)
    service: HdrHistogram | None = field(default_factory=new_histogram)
    encoded: tuple[bytes, bytes] | None = None
    #: Some service time differed from its latency (the open model).
    service_differs: bool = False

    def add(self, latency_ms: float, service_ms: float, status: int, failed: bool,
            censored: bool) -> None:
        latency, service = self.histograms()
        self.count += 1
        self.failures += failed
        self.censored += censored
        self.latency_sum_ms += latency_ms
        self.statuses[status] += 1
        latency.record_value(_us(latency_ms))
        service.record_value(_us(service_ms))
        if service_ms != latency_ms:
            self.service_differs = True

    def freeze(self) -> None:
        """Keep the histograms encoded (a few hundred bytes instead of ~190 KB each)."""
        if self.latency is not None and self.service is not None:
            self.encoded = (self.latency.encode(), self.service.encode())
            self.latency = self.service = None

    def histograms(self) -> tuple[HdrHistogram, HdrHistogram]:
        if self.latency is None or self.service is None:
            assert self.encoded is not None
            self.latency = HdrHistogram.decode(self.encoded[0])
            self.service = HdrHistogram.decode(self.encoded[1])
            self.encoded = None
        return self.latency, self.service


class OverflowStore:
    """Per-second buckets of every endpoint for the requests past the raw-sample cap."""

    def __init__(self) -> None:
        self.endpoints: dict[str, dict[int, SecondBucket]] = {}
        self.requests = 0
        self.first_s: float | None = None

    def add(self, name: str, offset_s: float, latency_ms: float, status: int, failed: bool,
            service_ms: float, censored: bool) -> None:
        seconds = self.endpoints.setdefault(name, {})
        second = math.floor(offset_s)
        bucket = seconds.get(second)
        if bucket is None:
            bucket = seconds[second] = SecondBucket()
            for old, other in seconds.items():
                if old < second - HOT_SECONDS:
                    other.freeze()
        bucket.add(latency_ms, service_ms, status, failed, censored)
        self.requests += 1
        if self.first_s is None:
            self.first_s = offset_s

    def buckets(self, name: str, start_s: float, end_s: float) -> list[SecondBucket]:
        """The buckets of ``name`` whose second lies in the window (by its midpoint)."""
        return [b for second, b in self.endpoints.get(name, {}).items()
                if start_s <= second + 0.5 <= end_s]


@dataclass
class Combined:
    """Raw samples (exact, sorted) and histogram counts, read as one distribution (ms)."""

    raw: Sequence[float]
    values_ms: list[float]  # distinct histogram values, ascending
    cumulative: list[int]  # histogram count at or below each value

    @classmethod
    def of(cls, raw: Sequence[float], histogram: HdrHistogram | None) -> Combined:
        values, cumulative, running = [], [], 0
        if histogram is not None:
            for item in histogram.get_recorded_iterator():
                running += item.count_at_value_iterated_to
                values.append(item.value_iterated_to / 1000.0)
                cumulative.append(running)
        return cls(raw, values, cumulative)

    @property
    def count(self) -> int:
        return len(self.raw) + (self.cumulative[-1] if self.cumulative else 0)

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile over both parts (NaN when empty)."""
        total = self.count
        if total == 0:
            return math.nan
        rank = min(total, max(1, math.ceil(fraction * total)))

        def at_or_below(j: int) -> int:
            return bisect_right(self.raw, self.values_ms[j]) + self.cumulative[j]

        lo, hi = 0, len(self.values_ms)
        while lo < hi:  # first histogram value whose rank reaches ``rank``
            mid = (lo + hi) // 2
            if at_or_below(mid) >= rank:
                hi = mid
            else:
                lo = mid + 1
        below = self.cumulative[lo - 1] if lo > 0 else 0
        index = rank - below - 1  # the raw value that would reach the rank
        if lo == len(self.values_ms):
            return self.raw[index]
        if 0 <= index < len(self.raw) and self.raw[index] <= self.values_ms[lo]:
            return self.raw[index]
        return self.values_ms[lo]

    def maximum(self) -> float:
        candidates = [*self.raw[-1:], *self.values_ms[-1:]]
        return max(candidates) if candidates else math.nan
