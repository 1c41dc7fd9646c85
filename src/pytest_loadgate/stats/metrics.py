"""Exact statistics over raw samples in a time window."""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pytest_loadgate.stats.histograms import Combined, SecondBucket, new_histogram
from pytest_loadgate.stats.samples import EndpointSamples

#: How reports show requests without an HTTP status (connection errors, non-HTTP clients).
NO_STATUS = "none"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation) of already sorted values; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class EndpointStats:
    """Figures of one endpoint (or the total) over the verdict window.

    Latencies are exact to 1 µs (raw samples, nearest-rank percentiles); ``error_rate`` is a
    fraction 0-1; ``rps`` is requests per second over the window's duration.
    """

    name: str
    requests: int
    failures: int
    error_rate: float
    rps: float
    avg_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    status_counts: dict[int, int]
    #: Requests still unanswered when the run ended, counted as failed (see inflight).
    censored: int = 0
    #: Service time percentiles (Locust's own response time). They equal the latencies above
    #: in the closed model; in the open model latencies start at the scheduled arrival.
    service_p50_ms: float = math.nan
    service_p95_ms: float = math.nan
    service_p99_ms: float = math.nan
    #: True when part of the window came from histograms (past the raw-sample cap):
    #: latencies are then within HIST_RELATIVE_ERROR (0.1%) of the exact figures.
    approximate: bool = False

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        # 0 stands for "no HTTP status": a connection error, or a non-HTTP client's request.
        data["status_counts"] = {(str(k) if k else NO_STATUS): v
                                 for k, v in sorted(self.status_counts.items())}
        return data


def summarize(name: str, parts: list[EndpointSamples], start_s: float, end_s: float,
              duration_s: float, buckets: Sequence[SecondBucket] = ()) -> EndpointStats:
    """Compute statistics for samples whose completion falls in ``[start_s, end_s]``.

    ``buckets`` hold the requests past the raw-sample cap (see histograms.py); with any, the
    figures read raw samples and histograms as one distribution and are ``approximate``.
    """
    latencies: list[float] = []
    service: list[float] = []
    failures = 0
    censored = 0
    statuses: Counter[int] = Counter()
    # Service times are sorted apart only when some differ from latencies (the open model):
    # a sorted list costs 32 bytes a sample, the largest memory cost at the end of a run.
    same_service = all(part.own_service_ms is None for part in parts) and not any(
        bucket.service_differs for bucket in buckets)
    for part in parts:
        # Offsets are appended in time order, so the window is one contiguous slice.
        lo = bisect_left(part.offsets_s, start_s)
        hi = bisect_right(part.offsets_s, end_s)
        latencies.extend(part.latencies_ms[lo:hi])
        if not same_service:
            service.extend(part.service_ms[lo:hi])
        failures += sum(part.failed[lo:hi])
        censored += sum(part.censored[lo:hi])
        statuses.update(part.statuses[lo:hi])
    latencies.sort()
    service.sort()
    latency_sum = sum(latencies)
    lat_hist = svc_hist = None
    if buckets:
        lat_hist, svc_hist = new_histogram(), new_histogram()
        for bucket in buckets:
            lat, svc = bucket.histograms()
            lat_hist.add(lat)
            svc_hist.add(svc)
            failures += bucket.failures
            censored += bucket.censored
            statuses.update(bucket.statuses)
            latency_sum += bucket.latency_sum_ms
    lat_all = Combined.of(latencies, lat_hist)
    svc_all = lat_all if same_service else Combined.of(service, svc_hist)
    count = lat_all.count

    def r(value: float) -> float:
        # Microseconds, not 0.1 ms: a 2 ms median rounded to 0.1 ms moves in 5% steps.
        return round(value, 3) if not math.isnan(value) else value

    return EndpointStats(
        name=name,
        requests=count,
        failures=failures,
        error_rate=failures / count if count else 0.0,
        rps=count / duration_s if duration_s > 0 else 0.0,
        avg_ms=r(latency_sum / count) if count else math.nan,
        p50_ms=r(lat_all.percentile(0.50)),
        p90_ms=r(lat_all.percentile(0.90)),
        p95_ms=r(lat_all.percentile(0.95)),
        p99_ms=r(lat_all.percentile(0.99)),
        max_ms=r(lat_all.maximum()),
        status_counts=dict(statuses),
        censored=censored,
        service_p50_ms=r(svc_all.percentile(0.50)),
        service_p95_ms=r(svc_all.percentile(0.95)),
        service_p99_ms=r(svc_all.percentile(0.99)),
        approximate=bool(buckets),
    )
