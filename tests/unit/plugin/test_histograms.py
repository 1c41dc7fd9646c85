"""Past the raw-sample cap: histogram figures agree with exact ones within the stated bound."""

from __future__ import annotations

import math
import random

import pytest
from hdrh.histogram import HdrHistogram

from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.stats.histograms import (
    HIST_HIGHEST_US,
    HIST_RELATIVE_ERROR,
    Combined,
    OverflowStore,
    new_histogram,
    recorded,
)
from pytest_loadgate.stats.metrics import percentile, summarize
from pytest_loadgate.stats.samples import EndpointSamples

FRACTIONS = (0.5, 0.9, 0.95, 0.99, 0.999)


def _latencies(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    # A long-tailed mix: most fast, some slow, a few very slow.
    return [rng.lognormvariate(0.5, 0.6) if rng.random() < 0.97 else rng.uniform(50, 3000)
            for _ in range(n)]


def _store(values: list[float], start_s: float = 0.0, rate: int = 1000) -> OverflowStore:
    store = OverflowStore()
    for i, v in enumerate(values):
        store.add("GET /x", start_s + i / rate, v, 200, False, v, False)
    return store


@pytest.mark.parametrize("split", [0, 3000, 10_000])
def test_combined_percentiles_are_within_the_stated_error(split: int) -> None:
    values = _latencies(10_000, seed=split)
    exact = sorted(values)
    raw = sorted(values[:split])
    store = _store(values[split:], start_s=split / 1000)
    buckets = store.buckets("GET /x", 0.0, 1e9)
    part = EndpointSamples()
    for i, v in enumerate(values[:split]):
        part.append(i / 1000, v, 200, False)
    stats = summarize("GET /x", [part], 0.0, 1e9, 10.0, buckets)
    assert stats.requests == len(values)
    assert stats.approximate == bool(buckets)
    for fraction, measured in zip(FRACTIONS[:4], (stats.p50_ms, stats.p90_ms, stats.p95_ms,
                                                  stats.p99_ms), strict=True):
        truth = percentile(exact, fraction)
        # Each histogram value is within 0.1% of a recorded one, and 1 us rounding on top.
        assert measured == pytest.approx(truth, rel=HIST_RELATIVE_ERROR, abs=0.0011), fraction
    combined = Combined.of(raw, None)
    if raw:
        assert combined.percentile(0.95) == percentile(raw, 0.95)


def test_combined_rank_interleaves_raw_and_histogram_values() -> None:
    raw = [1.0, 3.0, 5.0]
    store = _store([2.0, 4.0, 6.0])
    lat, _ = store.buckets("GET /x", 0, 10)[0].histograms()
    both = Combined.of(raw, lat)
    ranked = [both.percentile(k / 6) for k in range(1, 7)]
    assert ranked == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], rel=HIST_RELATIVE_ERROR)
    assert math.isnan(Combined.of([], None).percentile(0.5))


def test_old_buckets_are_encoded_and_still_read() -> None:
    store = _store([float(i % 100 + 1) for i in range(20_000)], rate=1000)  # 20 seconds
    buckets = store.endpoints["GET /x"]
    frozen = [b for b in buckets.values() if b.encoded is not None]
    assert len(frozen) >= 10  # only the last few seconds stay as live histograms
    stats = summarize("GET /x", [], 0.0, 20.0, 20.0, store.buckets("GET /x", 0.0, 20.0))
    assert stats.requests == 20_000 and stats.p50_ms == pytest.approx(50, rel=0.01)


def test_past_the_cap_a_request_is_only_appended_and_counted_in_a_batch() -> None:
    store = OverflowStore()
    # The open model: service times differ from latencies for some requests only.
    for latency, service, status, failed in [(5.0, 5.0, 200, False), (7.0, 3.0, 500, True),
                                             (4.0, 4.0, 200, False)]:
        store.add("GET /x", 0.5, latency, status, failed, service, False)
    (bucket,) = store.endpoints["GET /x"].values()
    assert bucket.latency is None and bucket.count == 0  # nothing recorded per request
    assert list(bucket.pending_latency_ms) == [5.0, 7.0, 4.0]
    (read,) = store.buckets("GET /x", 0.0, 1.0)  # reading counts the pending ones in
    latency, service = read.histograms()
    assert (read.count, read.failures, read.latency_sum_ms) == (3, 1, 16.0)
    assert read.statuses == {200: 2, 500: 1} and read.service_differs
    assert [v / 1000 for v in (latency.get_min_value(), latency.get_max_value())] == \
        pytest.approx([4.0, 7.0], rel=HIST_RELATIVE_ERROR)
    assert [v / 1000 for v in (service.get_min_value(), service.get_max_value())] == \
        pytest.approx([3.0, 5.0], rel=HIST_RELATIVE_ERROR)
    store.add("GET /x", 0.6, 9.0, 200, False, 9.0, False)  # more after a read: counted too
    (again,) = store.buckets("GET /x", 0.0, 1.0)
    assert again.count == 4 and again.histograms()[0].get_total_count() == 4


def test_recorder_switches_to_histograms_at_the_cap() -> None:
    clock = iter(i / 100 for i in range(10_000))
    recorder = SampleRecorder(clock=lambda: next(clock), max_samples=1000)
    recorder.restart()
    for i in range(3000):
        recorder.on_request("GET", "/x", response_time=float(i % 10 + 1))
    assert recorder.kept == 1000 and recorder.overflow.requests == 2000
    assert recorder.requests == 3000
    (parts,) = [series for _, series in recorder.items()]
    stats = summarize("GET /x", parts, 0.0, 1e9, 10.0,
                      recorder.overflow.buckets("GET /x", 0.0, 1e9))
    assert stats.requests == 3000 and stats.approximate
    assert stats.p50_ms == pytest.approx(5.0, rel=HIST_RELATIVE_ERROR)


def test_a_run_past_the_cap_says_so(project: pytest.Pytester, run) -> None:
    project.makepyfile(test_cap="""
        import pytest, users

        @pytest.mark.perf(users=8, run_time='4s', warmup=0, max_error_rate=0)
        def test_cap(loadgate):
            result = loadgate.run(users.Fast)
            assert result.total.approximate
            assert result.samples["raw_kept"] == 1000
            assert result.samples["histogram_requests"] > 0
            # Histogram seconds count in the window by their midpoint: the edges are whole
            # seconds, so the window holds about (not exactly) every request.
            assert result.total.requests > 1000
    """)
    result = run("--loadgate-max-samples=1000", "-W", "always")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*raw samples capped at 1000 (--loadgate-max-samples): the *"
                                 " requests from *s on are summarised by per-second"
                                 " HdrHistograms (latencies within 0.1%*"])
    bad = run("--loadgate-max-samples=10")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--loadgate-max-samples: '10' must be at least 1000*"])


def _iterated(histogram: HdrHistogram) -> tuple[list[int], list[int]]:
    values, counts = [], []
    for item in histogram.get_recorded_iterator():  # one object, updated at each step
        values.append(item.value_iterated_to)
        counts.append(item.count_at_value_iterated_to)
    return values, counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recorded_values_are_what_hdrh_iterates(seed: int) -> None:
    """``recorded`` reads the counts directly; it must yield exactly the recorded iterator's
    values and counts: fresh, merged, decoded, and at the edges of the range."""
    rng = random.Random(seed)
    first, second = new_histogram(), new_histogram()
    for value in [1, 2, 1023, 1024, 2047, 2048, HIST_HIGHEST_US,
                  *(rng.randint(1, 10**rng.randint(1, 9)) for _ in range(3000))]:
        first.record_value(value, rng.randint(1, 5))
    for value in (rng.randint(500, 50_000) for _ in range(2000)):
        second.record_value(value)
    merged = new_histogram()
    merged.add(first)
    merged.add(second)
    for histogram in (first, second, merged, HdrHistogram.decode(merged.encode()),
                      new_histogram()):
        assert recorded(histogram) == _iterated(histogram)
