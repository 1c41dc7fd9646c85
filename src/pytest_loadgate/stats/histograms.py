"""Past the raw-sample cap: one HdrHistogram per endpoint and second, with a stated error.

Raw samples make percentiles exact but cost memory per request (see samples.py). Once a run
has kept ``max_samples`` of them, later requests are counted in per-second buckets instead:
counts, failures, status codes and two HdrHistograms (latency and service time, in
microseconds, 3 significant digits: a value is known to within 0.1%). A request is only
appended to its second's pending arrays; they are recorded into the histograms in one batch
when the second is read or goes cold, so requests past the cap cost what raw ones do. Buckets
older than a few seconds are kept encoded (compressed), so memory grows with the run's length
in seconds, not with its requests.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress

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


def _clamp_us(value_us: int) -> int:
    """A microsecond value inside what the histograms can hold."""
    return min(HIST_HIGHEST_US, max(HIST_LOWEST_US, value_us))


@dataclass
class SecondBucket:
    """One endpoint's requests that completed in one second, past the cap.

    A request only appends to the pending arrays (as cheap as a raw sample); they are counted
    into the histograms in one batch when the second is read or goes cold, so a run past the
    cap does not slow down per request.
    """

    count: int = 0
    failures: int = 0
    censored: int = 0
    latency_sum_ms: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    latency: HdrHistogram | None = None
    service: HdrHistogram | None = None
    encoded: tuple[bytes, bytes | None] | None = None
    #: Some service time differed from its latency (the open model).
    service_differs: bool = False
    pending_latency_ms: array[float] = field(default_factory=lambda: array("d"))
    #: Service times of the pending requests; None while each equals its latency.
    pending_service_ms: array[float] | None = None
    pending_status: array[int] = field(default_factory=lambda: array("H"))

    def add(self, latency_ms: float, service_ms: float, status: int, failed: bool,
            censored: bool) -> None:
        pending = self.pending_latency_ms
        if self.pending_service_ms is not None:
            self.pending_service_ms.append(service_ms)
        elif service_ms != latency_ms:
            self.pending_service_ms = array("d", pending)
            self.pending_service_ms.append(service_ms)
            self.service_differs = True
        pending.append(latency_ms)
        self.pending_status.append(status)
        if failed:
            self.failures += 1
        if censored:
            self.censored += 1

    def add_answered(self, latency_ms: float, status: int) -> None:
        """:meth:`add` for the common case: answered, not failed, service time = latency."""
        self.pending_latency_ms.append(latency_ms)
        if self.pending_service_ms is not None:
            self.pending_service_ms.append(latency_ms)
        self.pending_status.append(status)

    def flush(self) -> None:
        """Count the pending requests into the totals and the histograms."""
        pending = self.pending_latency_ms
        if not pending:
            return
        latency, service = self.histograms(flush=False)
        if self.pending_service_ms is not None and service is latency:
            # The first service times that differ: until now they equalled the latencies.
            self.service = service = HdrHistogram.decode(latency.encode())
        _record(latency, pending)
        if service is not latency:
            _record(service, pending if self.pending_service_ms is None
                    else self.pending_service_ms)
        self.count += len(pending)
        self.latency_sum_ms += sum(pending)
        self.statuses.update(self.pending_status)
        self.pending_latency_ms = array("d")
        self.pending_service_ms = None
        self.pending_status = array("H")

    def freeze(self) -> None:
        """Keep the histograms encoded (a few hundred bytes instead of ~190 KB each)."""
        self.flush()
        if self.latency is not None:
            self.encoded = (self.latency.encode(),
                            self.service.encode() if self.service is not None else None)
            self.latency = self.service = None

    def histograms(self, flush: bool = True) -> tuple[HdrHistogram, HdrHistogram]:
        """Latency and service-time histograms (one object while they are equal)."""
        if flush:
            self.flush()
        if self.encoded is not None:
            latency_bytes, service_bytes = self.encoded
            self.latency = HdrHistogram.decode(latency_bytes)
            self.service = (HdrHistogram.decode(service_bytes) if service_bytes is not None
                            else None)
            self.encoded = None
        if self.latency is None:
            self.latency = new_histogram()
        return self.latency, self.service if self.service is not None else self.latency


def _record(histogram: HdrHistogram, values_ms: array[float]) -> None:
    """Record many values at once: each distinct microsecond value once, with its count."""
    # Rounded in one pass (a request's latency is never negative; rounding half up rather
    # than to even moves a value by at most 1 us), clamped once per distinct value.
    for value_us, count in Counter([int(v * 1000.0 + 0.5) for v in values_ms]).items():
        histogram.record_value(_clamp_us(value_us), count)


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

    def add_answered(self, name: str, offset_s: float, latency_ms: float, status: int) -> None:
        """:meth:`add` for the common case: answered, not failed, service time = latency,
        ``0 < status < 65536``."""
        seconds = self.endpoints.get(name)
        bucket = seconds.get(int(offset_s)) if seconds is not None and offset_s >= 0 else None
        if bucket is None:
            self.add(name, offset_s, latency_ms, status, False, latency_ms, False)
            return
        bucket.add_answered(latency_ms, status)
        self.requests += 1

    def buckets(self, name: str, start_s: float, end_s: float) -> list[SecondBucket]:
        """The buckets of ``name`` whose second lies in the window (by its midpoint), with
        their pending requests counted in."""
        found = [b for second, b in self.endpoints.get(name, {}).items()
                 if start_s <= second + 0.5 <= end_s]
        for bucket in found:
            bucket.flush()
        return found


#: Per histogram layout: the value (us) each counts index reads back as, the one hdrh's
#: recorded iterator reports (the highest value equivalent to the index's). Filled lazily.
_INDEX_VALUES: dict[tuple[int, int, int], dict[int, int]] = {}


def recorded(histogram: HdrHistogram) -> tuple[list[int], list[int]]:
    """The recorded values (us, ascending) and each one's count, as hdrh's
    ``get_recorded_iterator`` yields them, without its Python walk over every index up to the
    maximum (40 ms a second for the progress line of a run at 10k requests/s past the cap)."""
    counts = histogram.counts[:histogram.counts_len]
    indexes = list(compress(range(len(counts)), counts))
    layout = (histogram.lowest_trackable_value, histogram.highest_trackable_value,
              histogram.significant_figures)
    known = _INDEX_VALUES.setdefault(layout, {})
    values = []
    for index in indexes:
        value = known.get(index)
        if value is None:
            value = known[index] = histogram.get_highest_equivalent_value(
                histogram.get_value_from_index(index))
        values.append(value)
    return values, [counts[i] for i in indexes]


@dataclass
class Combined:
    """Raw samples (exact, sorted) and histogram counts, read as one distribution (ms)."""

    raw: Sequence[float]
    values_ms: list[float]  # distinct histogram values, ascending
    cumulative: list[int]  # histogram count at or below each value

    @classmethod
    def of(cls, raw: Sequence[float], histogram: HdrHistogram | None) -> Combined:
        if histogram is None:
            return cls(raw, [], [])
        values_us, counts = recorded(histogram)
        return cls(raw, [v / 1000.0 for v in values_us], list(accumulate(counts)))

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
