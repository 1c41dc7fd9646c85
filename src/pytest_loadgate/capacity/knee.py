"""What the probes say beyond capacity: the knee of the curves and the resource that ran out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pytest_loadgate.capacity.probe import Probe, format_rps

#: Throughput follows the offered rate while achieved/offered stays above this share of the
#: best ratio seen at lower rates (a ratio, so requests per iteration cancel out).
FOLLOW_RATIO = 0.95
#: Latency bends where its slope (ms of p95 per offered rps) exceeds this many times the
#: slope of the first segments.
LATENCY_BEND_FACTOR = 3.0
#: The reference slope never counts as less than this share of p95/rate at the lowest rate:
#: on a flat curve, noise would otherwise look like a bend.
FLAT_SLOPE_SHARE = 0.1
#: A bend must also lift p95 this far (ratio) above the lowest p95 seen before it.
MIN_LATENCY_RISE = 0.2
#: Server CPU at or above this share of its cores counts as having run out.
CPU_LIMIT_SHARE = 0.9
#: A response status (503, connection errors) is named at or above this share of requests.
MIN_STATUS_SHARE = 0.001
#: Memory growth over a probe worth naming, megabytes.
MEMORY_GROWTH_MB = 50.0
NO_RESOURCE = ("latency rose past the SLO with no resource at its limit"
               " (a lock, a queue or a pool?)")


@dataclass(frozen=True)
class Knee:
    """Where the curves bend, in offered rps: ``rate`` is the lower of the two signals.

    ``throughput_rps`` is the last rate whose throughput still followed the offered rate,
    ``latency_rps`` the rate after which p95 started to climb steeply; None when unseen.
    """

    rate: float
    throughput_rps: float | None
    latency_rps: float | None

    def describe(self) -> str:
        """``knee at 300 rps (latency bent after 300 rps; throughput ... after 380 rps)``."""
        parts = []
        if self.latency_rps is not None:
            parts.append(f"latency bent after {format_rps(self.latency_rps)} rps")
        if self.throughput_rps is not None:
            parts.append("throughput stopped following the offered rate after"
                         f" {format_rps(self.throughput_rps)} rps")
        return f"knee at {format_rps(self.rate)} rps ({'; '.join(parts)})"


def server_points(probes: Iterable[Probe]) -> list[Probe]:
    """The probes that measured the server, one per rate (the last, e.g. a validation),
    sorted by offered rate."""
    by_rate = {p.rate: p for p in probes if not p.generator_bound and p.rate > 0}
    return [by_rate[rate] for rate in sorted(by_rate)]


def throughput_knee(points: Sequence[Probe]) -> float | None:
    """The last offered rate before achieved/offered fell below ``FOLLOW_RATIO`` of its best
    at lower rates and stayed below at every higher rate (a dip that recovers is noise: a
    short step's window edges)."""
    ratios = [p.achieved_rps / p.rate for p in points]
    best = 0.0
    for i, ratio in enumerate(ratios):
        if i and all(r < FOLLOW_RATIO * best for r in ratios[i:]):
            return points[i - 1].rate
        best = max(best, ratio)
    return None


def latency_knee(points: Sequence[Probe]) -> float | None:
    """The start of the first segment whose p95 slope exceeds ``LATENCY_BEND_FACTOR`` times
    the reference slope (the gentler of the first two segments, floored) and that lifts p95
    by ``MIN_LATENCY_RISE`` above its lowest so far. Needs at least three points."""
    pts = [(p.rate, p.p95_ms) for p in points if p.p95_ms is not None]
    if len(pts) < 3:
        return None
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in pairwise(pts)]
    floor = FLAT_SLOPE_SHARE * max(pts[0][1], 0.0) / pts[0][0]
    reference = max(floor, min(slopes[:2]))
    for i in range(1, len(slopes)):
        lowest = min(p95 for _, p95 in pts[: i + 2])
        if slopes[i] > LATENCY_BEND_FACTOR * reference and (
                pts[i + 1][1] >= (1 + MIN_LATENCY_RISE) * lowest):
            return pts[i][0]
    return None


def find_knee(probes: Iterable[Probe]) -> Knee | None:
    """The knee of the server's curves over ``probes`` (any order); None when neither
    throughput nor latency bent within the rates probed."""
    points = server_points(probes)
    throughput, latency = throughput_knee(points), latency_knee(points)
    signals = [rate for rate in (throughput, latency) if rate is not None]
    if not signals:
        return None
    return Knee(rate=min(signals), throughput_rps=throughput, latency_rps=latency)


def _percent(share: float) -> str:
    return f"{share * 100:.3g}%"


def _generator_cause(probe: Probe) -> str:
    if probe.failure_reasons:
        detail = "; ".join(probe.failure_reasons)
    elif probe.generator_cpu is not None:
        detail = f"its CPU at {_percent(probe.generator_cpu)} of one core"
    else:
        detail = f"it could not deliver {format_rps(probe.rate)} iterations/s"
    return f"the load generator ran out ({detail})"


def _status_causes(counts: dict[int, int]) -> list[str]:
    total = sum(counts.values())
    if not total:
        return []
    causes = []
    for status in sorted(counts, key=lambda s: (s != 503, s != 0, s)):
        share = counts[status] / total
        if share < MIN_STATUS_SHARE or not (status == 0 or status >= 400):
            continue
        if status == 503:
            causes.append(f"the server answered 503 (busy) to {_percent(share)} of requests")
        elif status == 0:
            causes.append(f"connections were refused or reset ({_percent(share)} of requests)")
        else:
            causes.append(f"the server answered {status} to {_percent(share)} of requests")
    return causes


def probe_causes(probe: Probe) -> list[str]:
    """The resources this probe shows at their limit, most telling first; empty if none."""
    if probe.generator_bound:
        return [_generator_cause(probe)]
    causes = []
    if probe.server_cpu_cores is not None and probe.server_cores:
        share = probe.server_cpu_cores / probe.server_cores
        if share >= CPU_LIMIT_SHARE:
            plural = "" if probe.server_cores == 1 else "s"
            causes.append(f"the server's CPU was at {_percent(share)} of"
                          f" {probe.server_cores} core{plural}")
    causes += _status_causes(probe.status_counts)
    if probe.rss_growth_mb is not None and probe.rss_growth_mb >= MEMORY_GROWTH_MB:
        causes.append(f"memory grew by {probe.rss_growth_mb:.0f} MB")
    return causes


def explain_limit(probes: Iterable[Probe], capacity_rps: float | None = None) -> str:
    """What ran out beyond ``capacity_rps``: the causes shown by the lowest failing probe at
    or above it that shows any (generator first, then CPU, errors, memory), else
    ``NO_RESOURCE``; empty when no probe failed. A generator that gave out only above a
    probe whose SLO failed without a cause is no explanation of that probe: both are said."""
    beyond = sorted((p for p in probes if p.failed
                     and (capacity_rps is None or p.rate >= capacity_rps)),
                    key=lambda p: p.rate)
    for probe in beyond:
        causes = probe_causes(probe)
        if causes and probe.generator_bound and probe.rate > beyond[0].rate:
            return (f"at {format_rps(beyond[0].rate)} rps {NO_RESOURCE}; at"
                    f" {format_rps(probe.rate)} rps {causes[0]}")
        if causes:
            return "; ".join(causes)
    return NO_RESOURCE if beyond else ""
