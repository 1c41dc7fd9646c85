"""Pace arithmetic on synthetic inputs: user-seconds, wait overlap, achieved vs implied rate."""

from __future__ import annotations

import pytest

from pytest_loadgate.run.pacing import Pace, PaceMeter, TimeBins, overlap


def meter_with(user_counts: list[tuple[float, int]], waits: list[tuple[float, float]]
               ) -> PaceMeter:
    meter = PaceMeter(lambda: 0.0)
    meter.user_counts = user_counts
    for at, length in waits:
        meter.waits.add(at, length)
    meter.measured = True
    return meter


def test_overlap_clips_to_the_window() -> None:
    assert overlap(1.0, 2.0, 0.0, 10.0) == 2.0
    assert overlap(-1.0, 2.0, 0.0, 10.0) == 1.0
    assert overlap(9.5, 2.0, 0.0, 10.0) == 0.5
    assert overlap(11.0, 2.0, 0.0, 10.0) == 0.0


def test_time_bins_sum_intervals_per_window() -> None:
    bins = TimeBins()
    bins.add(0.05, 0.3)  # 0.05-0.35
    bins.add(1.0, 1.0)   # 1.0-2.0
    assert bins.overlap(0.0, 10.0) == pytest.approx(1.3)
    assert bins.overlap(1.0, 2.0) == pytest.approx(1.0)
    assert bins.overlap(0.1, 0.3) == pytest.approx(0.2)
    assert len(bins.bins) == 14  # bins, not intervals


def test_user_seconds_integrates_a_step_function() -> None:
    meter = meter_with([(0.0, 10), (5.0, 20), (8.0, 0)], [])
    assert meter.user_seconds(0.0, 10.0) == pytest.approx(10 * 5 + 20 * 3)
    assert meter.user_seconds(4.0, 6.0) == pytest.approx(10 + 20)
    assert meter.user_seconds(6.0, 6.0) == 0.0


def test_a_generator_that_keeps_up_has_full_pace() -> None:
    # 2 users for 10 s; each iteration: 10 ms request, 90 ms wait -> 200 requests in 10 s.
    waits = [(i * 0.1 + 0.01, 0.09) for i in range(100)] * 2
    pace = meter_with([(0.0, 2)], waits).summary(0.0, 10.0, requests=200, avg_ms=10.0)
    assert pace is not None
    assert pace.ratio == pytest.approx(1.0)
    assert pace.implied_rps == pytest.approx(pace.achieved_rps)


def test_time_spent_elsewhere_lowers_the_pace() -> None:
    # Same users, but each iteration also spends 400 ms outside requests and waits.
    waits = [(i * 0.5 + 0.01, 0.09) for i in range(20)] * 2
    pace = meter_with([(0.0, 2)], waits).summary(0.0, 10.0, requests=40, avg_ms=10.0)
    assert pace is not None
    assert pace.ratio == pytest.approx(0.2)
    assert pace.implied_rps == pytest.approx(5 * pace.achieved_rps)


def test_no_pace_without_measurement_or_requests() -> None:
    meter = meter_with([(0.0, 2)], [])
    assert meter.summary(0.0, 10.0, requests=0, avg_ms=float("nan")) is None
    meter.measured = False
    assert meter.summary(0.0, 10.0, requests=10, avg_ms=1.0) is None


def test_pace_figures_round_trip() -> None:
    d = Pace(user_s=20.0, request_s=2.0, wait_s=8.0, achieved_rps=10.0).as_dict()
    assert d["ratio"] == 0.5 and d["implied_rps"] == 20.0
