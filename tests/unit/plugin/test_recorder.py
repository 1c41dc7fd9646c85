"""The recorder's fast path for answered requests stores exactly what its general path stores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_loadgate.run import recorder as recorder_module
from pytest_loadgate.run.pacing import TimeBins
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.stats.histograms import OverflowStore
from pytest_loadgate.stats.samples import EndpointSamples, status_of


@dataclass
class Response:
    status_code: Any


CASES: list[tuple[Any, BaseException | None]] = [
    (Response(200), None),
    (Response(404), None),  # answered: a failure only if Locust reports an exception
    (Response(503), RuntimeError("503")),
    (Response(0), None),  # no status: the general path stores 0
    (Response(True), None),  # a bool is not a status code
    (Response(70000), None),  # out of the stored range: 0
    (Response("200"), None),
    (None, ConnectionError("refused")),
    (None, None),
]


def _expected(reports: list[tuple[Any, BaseException | None]]) -> EndpointSamples:
    """The n-th report (from 1) at n s with n ms, through the general ``append``."""
    samples = EndpointSamples()
    for n, (response, exception) in enumerate(reports, start=1):
        samples.append(float(n), float(n), status_of(response, exception),
                       exception is not None, float(n), False)
    return samples


@pytest.mark.parametrize("service_times_differ", [False, True])
def test_every_kind_of_report_is_stored_as_the_general_path_stores_it(
        service_times_differ: bool) -> None:
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()  # time zero at tick 0
    reports = CASES * 3
    if service_times_differ:  # an open-model sample first: service times stored separately
        recorder.endpoints["GET /x"] = EndpointSamples()
        recorder.endpoints["GET /x"].append(0.5, 9.0, 200, False, 4.0, False)
    for latency, (response, exception) in enumerate(reports, start=1):
        recorder.on_request("GET", "/x", float(latency), response=response,
                            exception=exception, context={}, start_time=None,
                            response_length=0, url="/x")
    stored = recorder.endpoints["GET /x"]
    expected = _expected(reports)
    if service_times_differ:
        head = EndpointSamples()
        head.append(0.5, 9.0, 200, False, 4.0, False)
        head.extend(expected)
        expected = head
    assert stored == expected
    assert recorder.requests == len(reports)
    assert recorder.failures == sum(1 for _, e in reports if e is not None)
    assert recorder.kept == len(reports)
    assert recorder.last_response_s == float(len(reports))


def test_the_wait_of_every_report_is_kept_for_pace() -> None:
    """Each report's response time, ending when it is reported, is spread over the time bins
    as ``TimeBins.add`` spreads it, on the fast path and the general one alike."""
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()
    expected = TimeBins()
    for n, (response, exception) in enumerate(CASES * 2, start=1):
        latency_ms = 250.0 * n  # within a bin, across bins, several bins
        recorder.on_request("GET", "/x", latency_ms, response=response, exception=exception,
                            context={}, start_time=None, response_length=0, url="/x")
        expected.add(float(n) - latency_ms / 1000.0, latency_ms / 1000.0)
    assert recorder.waits.bins.keys() == expected.bins.keys()
    for index, seconds in expected.bins.items():
        assert recorder.waits.bins[index] == pytest.approx(seconds, abs=1e-9)


def _bucket_figures(store: OverflowStore, name: str) -> dict[int, tuple[Any, ...]]:
    """Each second's counts and histogram contents, read through the buckets' own API."""
    figures = {}
    for second, bucket in store.endpoints[name].items():
        latency, service = bucket.histograms()
        figures[second] = (
            bucket.count, bucket.failures, bucket.censored, bucket.latency_sum_ms,
            dict(bucket.statuses), bucket.service_differs, service is latency,
            [(v.value_iterated_to, v.count_at_value_iterated_to)
             for v in latency.get_recorded_iterator()])
    return figures


def test_past_the_cap_every_report_is_counted_as_the_general_path_counts_it() -> None:
    ticks = iter(i * 0.4 for i in range(1000))  # several per second; old seconds freeze
    recorder = SampleRecorder(clock=lambda: next(ticks), max_samples=0)
    recorder.restart()
    reports = CASES * 3
    expected = OverflowStore()
    for n, (response, exception) in enumerate(reports, start=1):
        latency = 1.0 + n * 0.37
        recorder.on_request("GET", "/x", latency, response=response, exception=exception,
                            context={}, start_time=None, response_length=0, url="/x")
        status = status_of(response, exception)
        expected.add("GET /x", n * 0.4, latency, status if status < 65536 else 0,
                     exception is not None, latency, False)
    assert recorder.kept == 0
    assert recorder.overflow.requests == expected.requests == len(reports)
    assert recorder.overflow.first_s == expected.first_s
    assert _bucket_figures(recorder.overflow, "GET /x") == _bucket_figures(expected, "GET /x")
    assert recorder.failures == sum(1 for _, e in reports if e is not None)


def _answer(recorder: SampleRecorder, latency_ms: float, status: int = 200) -> None:
    recorder.on_request("GET", "/x", latency_ms, response=Response(status), exception=None,
                        context={}, start_time=None, response_length=0, url="/x")


def test_the_cap_reached_inside_one_batch_splits_it_where_the_general_path_would() -> None:
    """Queued answers counted in together: the first ones up to the cap stay raw, the rest go
    to the histograms, exactly as one at a time."""
    ticks = iter(i * 0.3 for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks), max_samples=5)
    recorder.restart()
    for n in range(1, 13):
        _answer(recorder, float(n))
    assert recorder.kept == 5
    assert list(recorder.endpoints["GET /x"].latencies_ms) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert recorder.overflow.requests == 7
    assert recorder.requests == 12
    assert recorder.last_response_s == pytest.approx(12 * 0.3)


@pytest.mark.parametrize("cap", [1000, 7])
def test_answers_of_several_endpoints_counted_in_together_keep_each_series(cap: int) -> None:
    """A batch that interleaves endpoints (and crosses the cap) is split into each endpoint's
    series in arrival order, as one request at a time would be."""
    ticks = iter(i * 0.25 for i in range(-1, 1000))  # exact in binary
    recorder = SampleRecorder(clock=lambda: next(ticks), max_samples=cap)
    recorder.restart()
    names = ["/a", "/b", "/a", "/a", "/c", "/b", "/a", "/c", "/c", "/b", "/a", "/b"]
    expected: dict[str, EndpointSamples] = {}
    overflow = OverflowStore()
    for n, name in enumerate(names, start=1):
        recorder.on_request("GET", name, float(n), response=Response(200 + n), exception=None,
                            context={}, start_time=None, response_length=0, url=name)
        if n <= cap:
            expected.setdefault(f"GET {name}", EndpointSamples()).append(
                n * 0.25, float(n), 200 + n, False)
        else:
            overflow.add(f"GET {name}", n * 0.25, float(n), 200 + n, False, float(n), False)
    assert len(recorder._queue) == len(names)  # nothing read yet: one batch
    assert recorder.endpoints == expected
    assert recorder.kept == min(cap, len(names))
    assert recorder.overflow.endpoints.keys() == overflow.endpoints.keys()
    for name in overflow.endpoints:
        assert _bucket_figures(recorder.overflow, name) == _bucket_figures(overflow, name)
    assert recorder.last_response_s == pytest.approx(len(names) * 0.25)


def test_answers_queued_before_the_end_count_and_later_ones_do_not() -> None:
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()
    for _ in range(3):
        _answer(recorder, 1.0)
    recorder.close(3.5)  # no greenlet had a request in flight at the end
    _answer(recorder, 1.0)
    assert recorder.requests == 3
    assert list(recorder.endpoints["GET /x"].offsets_s) == [1.0, 2.0, 3.0]


def test_the_queue_stays_bounded_when_nothing_reads_the_figures(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_module, "QUEUE_LIMIT", 8)
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()
    longest = 0
    for _ in range(50):
        _answer(recorder, 1.0)
        longest = max(longest, len(recorder._queue))
    assert longest < 8
    assert recorder.requests == 50


def test_a_report_with_a_bad_response_time_fails_on_arrival_and_changes_nothing() -> None:
    """Locust logs a listener's error and drops that one report; the answers queued before it
    must not be lost or blamed on whoever reads the figures next."""
    ticks = iter(float(i) for i in range(1000))
    recorder = SampleRecorder(clock=lambda: next(ticks))
    recorder.restart()
    _answer(recorder, 1.0)
    with pytest.raises(ValueError):
        recorder.on_request("GET", "/x", "not a time", response=Response(200))  # type: ignore[arg-type]
    _answer(recorder, 2.0)
    assert recorder.requests == 2
    assert list(recorder.endpoints["GET /x"].latencies_ms) == [1.0, 2.0]
