"""Exact statistics over raw samples, windows, and threshold checks."""

from __future__ import annotations

import math

import pytest

from pytest_loadgate.spec import build_spec
from pytest_loadgate.stats.metrics import percentile, summarize
from pytest_loadgate.stats.samples import EndpointSamples
from pytest_loadgate.verdict.checks import evaluate, format_table


def samples(points: list[tuple[float, float, int, bool]]) -> EndpointSamples:
    part = EndpointSamples()
    for offset, latency, status, failed in points:
        part.append(offset, latency, status, failed)
    return part


def test_nearest_rank_percentiles_are_exact() -> None:
    values = sorted(float(v) for v in range(1, 101))  # 1..100 ms
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_latencies_keep_sub_millisecond_resolution() -> None:
    # Locust would bucket 501.26 and 504.9 both to 500; we keep them apart to 1 us.
    part = samples([(0.1 * i, 501.2604 if i < 95 else 504.9, 200, False) for i in range(100)])
    stats = summarize("GET /x", [part], 0.0, 100.0, 10.0)
    assert stats.p95_ms == 501.26
    assert stats.p99_ms == 504.9
    assert stats.max_ms == 504.9


def test_window_excludes_samples_outside_it() -> None:
    part = samples([(0.5, 900.0, 200, False), (1.5, 10.0, 200, False), (2.5, 20.0, 500, True),
                    (3.5, 999.0, 200, False)])
    stats = summarize("GET /x", [part], 1.0, 3.0, 2.0)
    assert (stats.requests, stats.failures, stats.error_rate, stats.rps) == (2, 1, 0.5, 1.0)
    assert stats.max_ms == 20.0
    assert stats.status_counts == {200: 1, 500: 1}


@pytest.mark.parametrize(("kwargs", "passed"), [
    ({"p95_ms": 100}, True), ({"p95_ms": 10}, False),
    ({"min_rps": 1}, True), ({"min_rps": 100}, False),
    ({"max_error_rate": 0.5}, True), ({"max_error_rate": 0.1}, False),
])
def test_checks_pass_and_fail(kwargs: dict, passed: bool) -> None:
    part = samples([(float(i), 50.0, 500 if i == 0 else 200, i == 0) for i in range(4)])
    total = summarize("Aggregated", [part], 0.0, 4.0, 4.0)
    spec = build_spec("perf", {"users": 1, "run_time": 5, **kwargs}, "m")
    (check,) = evaluate(spec, total, {"GET /x": total})
    assert check.passed is passed
    assert ("FAIL" in format_table([check])) is not passed


def test_endpoint_without_requests_fails_the_check() -> None:
    spec = build_spec("perf", {"users": 1, "run_time": 5,
                               "endpoints": {"GET /never": {"p95_ms": 10}}}, "m")
    total = summarize("Aggregated", [samples([(1.0, 1.0, 200, False)])], 0.0, 2.0, 2.0)
    (check,) = evaluate(spec, total, {})
    assert not check.passed and check.measured is None
    assert "received no requests" in check.describe()


def test_service_times_are_stored_only_once_they_differ_from_latencies() -> None:
    part = EndpointSamples()
    for i in range(10):  # the closed model: service time is the latency
        part.append(float(i), 10.0 + i, 200, False, service_ms=10.0 + i)
    assert part.own_service_ms is None and list(part.service_ms) == list(part.latencies_ms)
    closed = summarize("GET /x", [part], 0.0, 100.0, 10.0)
    assert closed.service_p95_ms == closed.p95_ms == 19.0
    # An open-model request measured from its scheduled start: service times split off,
    # with the earlier ones kept.
    part.append(10.0, 500.0, 200, False, service_ms=20.0)
    assert part.own_service_ms is not None
    assert list(part.service_ms) == [10.0 + i for i in range(10)] + [20.0]
    opened = summarize("GET /x", [part], 0.0, 100.0, 11.0)
    assert opened.max_ms == 500.0 and opened.service_p99_ms == 20.0


def test_extending_mixes_series_with_and_without_own_service_times() -> None:
    closed = samples([(0.0, 5.0, 200, False), (1.0, 6.0, 200, False)])
    opened = EndpointSamples()
    opened.append(2.0, 50.0, 200, False, service_ms=7.0)
    closed.extend(opened)
    assert list(closed.service_ms) == [5.0, 6.0, 7.0]
    assert list(closed.latencies_ms) == [5.0, 6.0, 50.0]
