"""The knee of the curves and the resource that ran out, on synthetic probes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_loadgate.capacity.knee import (
    NO_RESOURCE,
    explain_limit,
    find_knee,
    latency_knee,
    throughput_knee,
)
from pytest_loadgate.capacity.probe import Probe


def point(rate: float, p95_ms: float | None = 10.0, achieved: float | None = None,
          passed: bool = True, **facts: Any) -> Probe:
    return Probe(rate=rate, achieved_rps=rate if achieved is None else achieved,
                 p95_ms=p95_ms, error_rate=0.0, slo_passed=passed, **facts)


def hockey_stick(bend: float, rates: list[float]) -> list[Probe]:
    """Flat 20 ms with a gentle rise up to ``bend``, then 2 ms more per rps."""
    return [point(r, 20 + 0.01 * r + max(0.0, r - bend) * 2.0) for r in rates]


def test_latency_bends_where_the_slope_jumps() -> None:
    assert latency_knee(hockey_stick(300, [50, 100, 200, 300, 350, 400])) == 300


def test_noise_on_a_flat_curve_is_no_bend() -> None:
    rng = random.Random(7)
    flat = [point(r, 20 + rng.uniform(-1, 1)) for r in range(50, 1000, 50)]
    assert latency_knee(flat) is None


def test_a_smooth_linear_rise_is_no_bend() -> None:
    assert latency_knee([point(r, 5 + 0.2 * r) for r in range(50, 1000, 50)]) is None


def test_latency_needs_three_points() -> None:
    assert latency_knee([point(100, 10), point(200, 500)]) is None


def test_points_without_p95_are_skipped() -> None:
    probes = [*hockey_stick(300, [50, 100, 200, 300, 400]), point(450, None, passed=False)]
    assert latency_knee(probes) == 300


def test_throughput_stops_following_the_offered_rate() -> None:
    probes = [point(r, achieved=min(r, 420) * 3) for r in (100, 200, 400, 500, 800)]
    assert throughput_knee(probes) == 400  # 3 requests per iteration: ratios cancel out


def test_throughput_that_follows_has_no_knee() -> None:
    assert throughput_knee([point(r, achieved=r * 0.97) for r in (100, 200, 400)]) is None


def test_find_knee_takes_the_lower_signal_in_any_order() -> None:
    probes = hockey_stick(300, [50, 100, 200, 300, 400, 500, 600])
    probes = [p if p.rate < 500 else point(p.rate, p.p95_ms, achieved=450) for p in probes]
    knee = find_knee(reversed(probes))
    assert knee is not None
    assert (knee.rate, knee.latency_rps, knee.throughput_rps) == (300, 300, 400)
    assert knee.describe() == ("knee at 300 rps (latency bent after 300 rps; throughput"
                               " stopped following the offered rate after 400 rps)")


def test_generator_bound_probes_are_no_server_knee() -> None:
    probes = [point(r) for r in (100, 200, 400)]
    probes.append(point(800, 900, achieved=300, passed=False, generator_bound=True))
    assert find_knee(probes) is None


def test_a_validation_replaces_the_short_probe_at_its_rate() -> None:
    probes = [point(100), point(200), point(400, achieved=150), point(200, achieved=100)]
    knee = find_knee(probes)
    assert knee is not None and knee.throughput_rps == 100


CPU: dict[str, Any] = {"server_cpu_cores": 0.98, "server_cores": 1}


@pytest.mark.parametrize(("facts", "expected"), [
    (CPU, "the server's CPU was at 98% of 1 core"),
    ({"server_cpu_cores": 1.9, "server_cores": 2}, "the server's CPU was at 95% of 2 cores"),
    ({"server_cpu_cores": 1.0, "server_cores": 2}, NO_RESOURCE),
    ({"status_counts": {200: 600, 503: 400}}, "the server answered 503 (busy) to 40% of requests"),
    ({"status_counts": {200: 975, 0: 25}},
     "connections were refused or reset (2.5% of requests)"),
    ({"status_counts": {200: 90, 500: 10}}, "the server answered 500 to 10% of requests"),
    ({"status_counts": {200: 90, 404: 10}}, "the server answered 404 to 10% of requests"),
    ({"status_counts": {200: 90, 302: 10}}, NO_RESOURCE),
    ({"rss_growth_mb": 180.0}, "memory grew by 180 MB"),
    ({"rss_growth_mb": 5.0}, NO_RESOURCE),
    ({}, NO_RESOURCE),
    ({**CPU, "status_counts": {200: 90, 0: 5, 503: 5}},
     "the server's CPU was at 98% of 1 core; the server answered 503 (busy) to 5% of"
     " requests; connections were refused or reset (5% of requests)"),
])
def test_explain_limit_names_what_ran_out(facts: dict[str, Any], expected: str) -> None:
    probes = [point(100, **CPU), point(200, 900, passed=False, **facts)]
    assert explain_limit(probes, capacity_rps=100) == expected


def test_a_generator_bound_probe_blames_the_generator() -> None:
    probes = [point(100), point(200, None, passed=False, generator_bound=True,
                                generator_cpu=0.97, **CPU)]
    assert explain_limit(probes, 100) == "the load generator ran out (its CPU at 97% of one core)"


def test_the_lowest_failing_probe_that_shows_a_cause_speaks() -> None:
    probes = [point(100), point(300, 900, passed=False, **CPU),
              point(200, 300, passed=False, status_counts={200: 9, 503: 1})]
    assert explain_limit(probes, 100) == "the server answered 503 (busy) to 10% of requests"
    assert explain_limit(probes[:2], 100) == "the server's CPU was at 98% of 1 core"


def test_a_generator_higher_up_does_not_explain_a_server_failure_below_it() -> None:
    probes = [point(100), point(200, 900, passed=False),
              point(300, None, passed=False, generator_bound=True, generator_cpu=0.97)]
    assert explain_limit(probes, 100) == (
        f"at 200 rps {NO_RESOURCE}; at 300 rps the load generator ran out (its CPU at 97% of"
        " one core)")


def test_nothing_failed_nothing_to_explain() -> None:
    assert explain_limit([point(100), point(200)], 200) == ""
