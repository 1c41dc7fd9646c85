"""A probe run's figures as the capacity search sees them (:class:`Probe`)."""

from __future__ import annotations

import os

from pytest_loadgate.capacity.probe import Probe
from pytest_loadgate.verdict.result import LoadResult

#: A server whose CPU samples never passed this (percent of one core) used one core at most.
ONE_CORE_PERCENT = 105.0


def requests_per_iteration(result: LoadResult, rate: float) -> float:
    """Requests one iteration makes, from a probe the server kept up with: the window's
    requests over the iterations started in it (at least 1)."""
    started = (result.open or {}).get("started") or 0
    if started > 0:
        return max((result.total.requests - result.total.censored) / started, 1.0)
    return max(result.total.rps / rate, 1.0) if rate > 0 else 1.0


def probe_of(result: LoadResult, rate: float, per_iteration: float) -> Probe:
    """The probe at ``rate``: passed when every check of the run passed (SLO, stall, dropped
    iterations, invariants); generator-bound when the run measured the generator (saturated,
    its scheduler behind, or a short pace), not the server."""
    server = result.server_resources or {}
    generator = result.generator_resources or {}
    reasons = [c.describe() for c in result.checks if not c.passed]
    reasons.extend(result.problems)
    total = result.total
    # Throughput is what was answered: a request still unanswered at the end (censored)
    # counts as a failure, not as work the server did.
    answered = total.rps * (total.requests - total.censored) / total.requests \
        if total.requests else 0.0
    return Probe(
        rate=rate,
        achieved_rps=answered / per_iteration,
        p95_ms=result.total.p95_ms,
        error_rate=result.total.error_rate,
        slo_passed=not reasons and not result.violations,
        generator_bound=result.generator_saturated or result.open_behind or result.pace_short,
        server_cpu_cores=(server["cpu_avg"] / 100.0) if "cpu_avg" in server else None,
        server_cores=server_cores(server),
        generator_cpu=(generator["cpu_avg"] / 100.0) if "cpu_avg" in generator else None,
        status_counts=result.status_counts(),
        rss_growth_mb=server.get("rss_growth_mb"),
        failure_reasons=reasons)


def server_cores(server: dict[str, float]) -> int | None:
    """Cores the server could use: one when it never went past one core (a single Python
    process: the GIL), else every core of the machine."""
    if "cpu_max" not in server:
        return None
    return 1 if server["cpu_max"] <= ONE_CORE_PERCENT else os.cpu_count()
