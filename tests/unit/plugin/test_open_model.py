"""The open model's parts on their own: schedule math, stalls, weights, spec validation."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from pytest_loadgate.arrivals import RateProfile
from pytest_loadgate.errors import LoadgateConfigError
from pytest_loadgate.run.recorder import IterationClock
from pytest_loadgate.run.stall import StallDetector
from pytest_loadgate.spec import build_spec
from pytest_loadgate.stats.samples import corrected_ms


def test_uniform_constant_rate_is_evenly_spaced() -> None:
    times = list(RateProfile.constant(200, 10).schedule("uniform"))
    assert len(times) == 2000
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.005}
    assert times[0] == pytest.approx(0.0025)


def test_ramp_follows_the_profile() -> None:
    profile = RateProfile.from_points([(100, 10), (100, 5), (0, 0)])
    times = list(profile.schedule("uniform"))
    # 0 → 100/s over 10 s is 500 arrivals, then 500 more at 100/s.
    assert len(times) == 1000
    assert sum(1 for t in times if t < 5) == pytest.approx(125, abs=1)  # quarter of the ramp
    assert profile.count_between(10, 15) == pytest.approx(500)


def test_split_over_generators_is_the_whole_schedule() -> None:
    profile = RateProfile.from_points([(50, 4), (300, 3)])
    whole = list(profile.schedule("uniform"))
    parts = [list(profile.schedule("uniform", index=i, of=3)) for i in range(3)]
    assert sorted(t for part in parts for t in part) == whole


def test_poisson_has_the_asked_rate_and_exponential_gaps() -> None:
    times = list(RateProfile.constant(500, 20).schedule("poisson", seed=7))
    assert len(times) == pytest.approx(10_000, rel=0.05)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Exponential gaps: standard deviation equals the mean.
    assert statistics.stdev(gaps) / statistics.mean(gaps) == pytest.approx(1.0, abs=0.05)
    again = list(RateProfile.constant(500, 20).schedule("poisson", seed=7))
    assert again == times  # deterministic for a seed (figures regenerate the schedule)


def test_stall_starts_at_the_later_of_last_response_and_oldest_send() -> None:
    detector = StallDetector(2.0)
    assert detector.observe(5.0, last_response_s=4.0, oldest_outstanding_s=4.1,
                            outstanding=5) is None
    stall = detector.observe(6.2, last_response_s=4.0, oldest_outstanding_s=4.1, outstanding=5)
    assert stall is not None and stall.start_s == 4.1 and stall.duration_s == pytest.approx(2.1)
    assert stall.describe() == ("server stalled: no response for 2.1 s from 4.1 s while 5"
                                " requests were outstanding (still stalled when the run ended)")
    # A response ends it; the stall is kept with its real length.
    assert detector.observe(7.0, last_response_s=6.9, oldest_outstanding_s=6.95,
                            outstanding=1) is None
    (kept,) = detector.finish(8.0)
    assert kept.duration_s == pytest.approx(2.8) and not kept.ongoing


def test_no_stall_when_nothing_waits_or_answers_keep_coming() -> None:
    detector = StallDetector(2.0)
    for t in range(10):  # users idle in wait_time: no request outstanding
        assert detector.observe(float(t), last_response_s=0.0, oldest_outstanding_s=None,
                                outstanding=0) is None
    for t in range(10, 20):  # slow but answering
        assert detector.observe(float(t), last_response_s=t - 0.5,
                                oldest_outstanding_s=t - 0.9, outstanding=3) is None
    assert detector.finish(20.0) == []


def test_corrected_latency_counts_from_the_scheduled_start() -> None:
    clock = IterationClock()
    clock.begin("g", 1.0)
    scheduled = clock.take("g")
    # Sent 0.2 s after its scheduled start, answered in 30 ms: the user waited 230 ms.
    assert corrected_ms(30.0, end_s=1.23, start_s=1.2, scheduled_s=scheduled) == pytest.approx(230)
    assert clock.take("g") is None  # only the iteration's first request
    assert corrected_ms(30.0, end_s=1.3, start_s=1.27, scheduled_s=None) == 30.0


GOOD = {"arrival_rate": 100, "run_time": "5s"}
BAD = [
    ({"arrival_rate": 100, "users": 5}, "users=5 is not used by the open model"),
    ({"arrival_rate": 100, "spawn_rate": 5}, "spawn_rate=5 is not used by the open model"),
    ({"arrival_rate": 0}, "arrival_rate=0 must be > 0"),
    ({"arrival_rate": "fast"}, "arrival_rate='fast' must be a finite number"),
    ({"arrival_rate": 10, "arrival_stages": [{"rate": 1, "duration": 1}]}, "not both"),
    ({"arrival_stages": []}, "arrival_stages=[] must be a non-empty list"),
    ({"arrival_stages": [{"rate": 5}]}, "arrival_stages[0]={'rate': 5} must be a dict with"),
    ({"arrival_stages": [{"rate": -1, "duration": 1}]}, "arrival_stages[0]['rate']=-1"),
    ({"arrival_stages": [{"rate": 5, "duration": "soon"}]},
     "arrival_stages[0]['duration']='soon'"),
    ({"arrival_stages": [{"rate": 5, "duration": 5}], "run_time": "5s"},
     "run_time='5s' cannot be combined with arrival_stages"),
    ({"arrival_rate": 10, "max_users": 0}, "max_users=0 must be an integer >= 1"),
    ({"arrival_rate": 10, "arrivals": "bursty"}, "arrivals='bursty' must be 'uniform' or"),
    ({"arrival_rate": 10, "max_dropped_rate": 2}, "max_dropped_rate=2 must be a fraction"),
    ({"max_users": 10}, "max_users=10 belongs to the open model"),
    ({"users": 2, "max_stall": -1}, "max_stall=-1"),
    ({"users": 2, "request_timeout": 0}, "request_timeout=0 must be > 0"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_open_arguments_name_themselves(kwargs: dict, message: str) -> None:
    with pytest.raises(LoadgateConfigError) as info:
        build_spec("perf", kwargs, where="@pytest.mark.perf")
    assert str(info.value).startswith("@pytest.mark.perf: ")
    assert message in str(info.value)


def test_open_spec_defaults_and_overrides() -> None:
    spec = build_spec("perf", {**GOOD, "p95_ms": 50}, where="m")
    assert spec.open is not None
    assert spec.open.max_users == 100 and spec.open.arrivals == "uniform"
    assert spec.open.max_dropped_rate == 0 and spec.max_stall_s == 2.0
    assert spec.as_kwargs()["arrival_rate"] == 100
    staged = spec.with_overrides({"arrival_stages": [{"rate": 40, "duration": "2s"},
                                                     {"rate": 40, "duration": "4s"}]}, "run()")
    assert staged.run_time_s == 6 and staged.open is not None
    assert staged.open.max_users == 40 and staged.thresholds.p95_ms == 50
    closed = spec.with_overrides({"users": 3}, "run()")
    assert closed.open is None and closed.users == 3
    with pytest.raises(LoadgateConfigError, match="run\\(\\): users=3 is not used"):
        spec.with_overrides({"users": 3, "arrival_rate": 5}, "run()")
    assert math.isclose(build_spec("race", {}, "r").max_stall_s, 2.0)
    with pytest.raises(LoadgateConfigError, match="arrival_rate and arrival_stages are for perf"):
        build_spec("race", {"arrival_rate": 5}, "r")
