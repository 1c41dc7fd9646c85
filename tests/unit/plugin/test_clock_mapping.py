"""Worker samples carry times on the worker's own monotonic clock: mapped onto the run's clock
by the offset measured at setup, they land where they happened whatever the worker's clock
says, and what was in flight at the end is dated at the end."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pytest_loadgate.run import distributed
from pytest_loadgate.run.distributed import ClockLink, WorkerGroup
from pytest_loadgate.run.recorder import SampleRecorder
from pytest_loadgate.stats.metrics import summarize
from pytest_loadgate.stats.samples import ANSWERED_LATE, CENSORED, WireSample

#: The master's clock when the run starts (seconds; any value, the run counts from here).
MASTER_START_S = 1000.0
#: Worker clock minus master clock: none, an hour ahead, behind, and a worker clock that
#: reads less than the master's (a host booted later).
SKEWS_S = [0.0, 3600.0, -50.0, -997.5]
#: When requests ended, in seconds of the run.
RUN_TIMES_S = [0.5, 1.25, 3.0, 7.75]


def _recorder() -> SampleRecorder:
    return SampleRecorder(clock=lambda: MASTER_START_S)


def _row(run_s: float, skew_s: float, flag: int = 0, latency_ms: float = 12.0,
         failed: int = 0) -> WireSample:
    """A sample as a worker whose clock is ``skew_s`` ahead ships it."""
    return (MASTER_START_S + run_s + skew_s, latency_ms, 200, failed, latency_ms, flag)


def _offsets(recorder: SampleRecorder, name: str = "GET /", source: str = "w1") -> list[float]:
    return list(recorder.remote[(name, source)].offsets_s)


# -- SampleRecorder.ingest ----------------------------------------------------------------------
@pytest.mark.parametrize("skew_s", SKEWS_S)
def test_worker_samples_land_at_their_run_time_whatever_the_workers_clock(
        skew_s: float) -> None:
    recorder = _recorder()
    origin = recorder.started_at + skew_s  # the run's start on the worker's clock
    recorder.ingest("w1", {"GET /": [_row(t, skew_s) for t in RUN_TIMES_S]}, origin)
    assert _offsets(recorder) == pytest.approx(RUN_TIMES_S, abs=1e-9)
    assert recorder.requests == len(RUN_TIMES_S)
    assert recorder.last_response_s == pytest.approx(RUN_TIMES_S[-1], abs=1e-9)


def test_two_workers_with_different_clocks_share_one_timeline() -> None:
    recorder = _recorder()
    for source, skew_s in (("ahead", 3600.0), ("behind", -50.0)):
        recorder.ingest(source, {"GET /": [_row(t, skew_s) for t in RUN_TIMES_S]},
                        recorder.started_at + skew_s)
    assert _offsets(recorder, source="ahead") == pytest.approx(
        _offsets(recorder, source="behind"), abs=1e-9)
    stats = summarize("GET /", [p for _, parts in recorder.items() for p in parts], 1.0, 3.0,
                      2.0)
    assert stats.requests == 4  # 1.25 and 3.0 from each worker


def test_ingest_counts_failures_and_keeps_each_worker_apart() -> None:
    recorder = _recorder()
    recorder.ingest("w1", {"GET /": [_row(1.0, 0.0, failed=1)], "POST /buy": [_row(2.0, 0.0)]},
                    recorder.started_at)
    recorder.ingest("w2", {"GET /": [_row(1.5, 3600.0)]}, recorder.started_at + 3600.0)
    assert (recorder.requests, recorder.failures) == (3, 1)
    assert sorted(recorder.remote) == [("GET /", "w1"), ("GET /", "w2"), ("POST /buy", "w1")]
    assert [name for name, _ in recorder.items()] == ["GET /", "POST /buy"]


@pytest.mark.parametrize("skew_s", SKEWS_S)
def test_in_flight_samples_are_dated_at_the_end_on_any_worker_clock(skew_s: float) -> None:
    recorder = _recorder()
    recorder.close(5.0)
    rows = [
        _row(4.0, skew_s),
        _row(4.5, skew_s, CENSORED, latency_ms=4500.0),  # cut off before the end: kept there
        _row(6.5, skew_s, ANSWERED_LATE),  # answered while draining: at the end
        _row(9.0, skew_s, CENSORED, latency_ms=9000.0),  # never answered: at the end
    ]
    recorder.ingest("w1", {"GET /": rows}, recorder.started_at + skew_s)
    part = recorder.remote[("GET /", "w1")]
    assert list(part.offsets_s) == pytest.approx([4.0, 4.5, 5.0, 5.0], abs=1e-9)
    assert list(part.censored) == [0, 1, 0, 1]
    # Censored requests are not responses; the late answer is, at the end.
    assert recorder.last_response_s == pytest.approx(5.0, abs=1e-9)
    assert recorder.requests == 4
    stats = summarize("GET /", [part], 0.0, 5.0, 5.0)
    assert stats.requests == 4


def test_flagged_samples_before_close_keep_their_time() -> None:
    recorder = _recorder()
    recorder.ingest("w1", {"GET /": [_row(9.0, 3600.0, CENSORED)]},
                    recorder.started_at + 3600.0)
    assert _offsets(recorder) == pytest.approx([9.0], abs=1e-9)  # not closed yet: no clamp


def test_samples_answered_after_the_end_leave_the_in_flight_ones_in_the_window() -> None:
    recorder = _recorder()
    recorder.close(5.0)
    # The master ended at 5.0; the worker heard "stop" 40 ms later: requests it completed
    # meanwhile are unflagged, then comes the one in flight at its stop.
    rows = [_row(4.0, 3600.0), _row(5.01, 3600.0), _row(5.02, 3600.0), _row(5.03, 3600.0),
            _row(5.5, 3600.0, CENSORED, latency_ms=1500.0)]
    recorder.ingest("w1", {"GET /": rows}, recorder.started_at + 3600.0)
    part = recorder.remote[("GET /", "w1")]
    stats = summarize("GET /", [part], 0.0, 5.0, 5.0)
    assert stats.censored == 1
    assert list(part.offsets_s) == sorted(part.offsets_s)


# -- WorkerGroup's clock link -------------------------------------------------------------------
class _Clock:
    """The master's perf_counter, set by the test."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def perf_counter(self) -> float:
        return self.now_s


@pytest.fixture
def master_clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock(0.0)
    monkeypatch.setattr(distributed, "time", clock)
    return clock


def _group(recorder: SampleRecorder) -> Any:
    """The state of a WorkerGroup that its message handlers use, without a Locust master."""
    group: Any = SimpleNamespace(clocks={}, names={}, places={}, pids={}, ready=set(),
                            recorder=recorder, waiting={}, open_logs={}, open_peaks={},
                            flushed=set(), sent_echoes={})
    group.run_origin = lambda node: WorkerGroup.run_origin(group, node)
    group.to_run_clock = lambda node, worker_s: WorkerGroup.to_run_clock(group, node, worker_s)
    group._identify = lambda node, data: WorkerGroup._identify(group, node, data)
    return group


def _ready(group: Any, master_clock: _Clock, node: str, *, sent_s: float, worker_s: float,
           back_s: float) -> None:
    """A worker's setup acknowledgement: the setup left at ``sent_s`` (master clock), the
    worker read ``worker_s`` on its clock, the answer arrived at ``back_s``."""
    master_clock.now_s = back_s
    group.sent_echoes.setdefault(node, set()).add(sent_s)
    msg = SimpleNamespace(node_id=node, data={"echo": sent_s, "clock": worker_s,
                                              "name": f"{node}-name", "pid": 42,
                                              "host": "host-a"})
    WorkerGroup._on_ready(group, msg)


def test_the_offset_is_the_workers_clock_at_the_round_trips_midpoint(
        master_clock: _Clock) -> None:
    group = _group(_recorder())
    _ready(group, master_clock, "n1", sent_s=10.0, worker_s=3610.2, back_s=10.4)
    link = group.clocks["n1"]
    assert isinstance(link, ClockLink)
    assert link.offset_s == pytest.approx(3600.0, abs=1e-9)
    assert link.round_trip_s == pytest.approx(0.4, abs=1e-9)
    assert group.ready == {"n1"}
    assert (group.names["n1"], group.places["n1"], group.pids["n1"]) == (
        "n1-name", "pid 42 on host-a", 42)


def test_the_shortest_round_trip_sets_the_offset(master_clock: _Clock) -> None:
    group = _group(_recorder())
    _ready(group, master_clock, "n1", sent_s=10.0, worker_s=-39.7, back_s=10.4)
    assert group.clocks["n1"].offset_s == pytest.approx(-49.9, abs=1e-9)
    _ready(group, master_clock, "n1", sent_s=12.0, worker_s=-37.95, back_s=12.1)  # shorter
    assert (group.clocks["n1"].offset_s, group.clocks["n1"].round_trip_s) == pytest.approx(
        (-50.0, 0.1), abs=1e-9)
    _ready(group, master_clock, "n1", sent_s=14.0, worker_s=-30.0, back_s=15.0)  # longer
    assert group.clocks["n1"].offset_s == pytest.approx(-50.0, abs=1e-9)
    assert group.clocks["n1"].round_trip_s == pytest.approx(0.1, abs=1e-9)


@pytest.mark.parametrize("skew_s", SKEWS_S)
def test_samples_of_a_skewed_worker_land_at_their_run_time(master_clock: _Clock,
                                                           skew_s: float) -> None:
    group = _group(_recorder())
    # A setup round trip of 0.2 s, answered at its midpoint.
    _ready(group, master_clock, "n1", sent_s=MASTER_START_S - 1.0,
           worker_s=MASTER_START_S - 0.9 + skew_s, back_s=MASTER_START_S - 0.8)
    msg = SimpleNamespace(node_id="n1", data={
        "samples": {"GET /": [_row(t, skew_s) for t in RUN_TIMES_S]},
        "outstanding": [2, MASTER_START_S + 6.0 + skew_s], "final": True})
    WorkerGroup._on_samples(group, msg)
    assert _offsets(group.recorder, source="n1") == pytest.approx(RUN_TIMES_S, abs=1e-6)
    count, oldest = group.waiting["n1"]
    assert (count, oldest) == (2, pytest.approx(6.0, abs=1e-6))
    assert group.flushed == {"n1"}
    assert WorkerGroup.to_run_clock(group, "n1", MASTER_START_S + skew_s) == pytest.approx(
        0.0, abs=1e-6)


def test_an_off_centre_answer_misplaces_samples_by_at_most_half_the_round_trip(
        master_clock: _Clock) -> None:
    group = _group(_recorder())
    skew_s = 3600.0
    # The worker read its clock 0.05 s after the setup left, not at the 0.2 s midpoint.
    _ready(group, master_clock, "n1", sent_s=MASTER_START_S - 1.0,
           worker_s=MASTER_START_S - 0.95 + skew_s, back_s=MASTER_START_S - 0.6)
    WorkerGroup._on_samples(group, SimpleNamespace(node_id="n1", data={
        "samples": {"GET /": [_row(t, skew_s) for t in RUN_TIMES_S]}}))
    errors = [got - want for got, want in zip(_offsets(group.recorder, source="n1"),
                                              RUN_TIMES_S, strict=True)]
    half_round_trip = group.clocks["n1"].round_trip_s / 2
    assert errors == pytest.approx([0.15] * len(RUN_TIMES_S), abs=1e-6)
    assert all(abs(e) <= half_round_trip for e in errors)
    assert group.waiting["n1"] == (0, None)
    assert group.flushed == set()


def test_an_acknowledgement_of_a_setup_never_sent_is_refused(master_clock: _Clock) -> None:
    group = _group(_recorder())
    group.sent_echoes["w1"] = {1.0}
    master_clock.now_s = 2.0
    replayed = SimpleNamespace(node_id="w1", data={"echo": 0.5, "clock": 7.0, "name": "w1"})
    with pytest.raises(ValueError, match="never sent"):
        WorkerGroup._on_ready(group, replayed)
    assert "w1" not in group.ready and "w1" not in group.clocks
