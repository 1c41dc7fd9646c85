"""The capacity search against a simulated server: where it probes, what it concludes."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulated_server import SLO, SimulatedServer, run_search

from pytest_loadgate.capacity.probe import Probe
from pytest_loadgate.capacity.search import CapacitySearch, NextProbe, SearchPlan
from pytest_loadgate.errors import LoadgateConfigError

#: p95 = 10 ms / (1 - rate/431.6) meets 200 ms up to 410 rps.
SERVER = SimulatedServer(saturation=410 / 0.95)


def search(start: float = 50, max_rate: float = 2000, confirm: int = 0,
           **kwargs: Any) -> CapacitySearch:
    """A search without repeats (the simulated server never hiccups) unless asked."""
    return CapacitySearch(SearchPlan(start_rate=start, max_rate=max_rate, confirm=confirm,
                                     **kwargs), slo=SLO)


def _repeats(found: CapacitySearch) -> Counter[float]:
    return Counter(step.rate for step, _ in found.steps)


def test_converges_within_precision_without_overshooting() -> None:
    found = search(precision=0.05)
    run_search(found, SERVER)
    result = found.result()
    assert result.bound == "found" and result.validated
    assert result.capacity_rps is not None and result.failed_at_rps is not None
    assert result.capacity_rps <= SERVER.capacity < result.failed_at_rps
    assert result.failed_at_rps - result.capacity_rps <= 0.05 * result.capacity_rps
    assert found.steps[-1][0] == NextProbe(result.capacity_rps, validation=True)


def test_ramps_exponentially_then_bisects() -> None:
    found = search(start=50, growth=2.0)
    rates = run_search(found, SERVER)
    assert rates[:6] == [50, 100, 200, 400, 800, 600]


def test_describes_the_capacity_and_what_ran_out() -> None:
    found = search()
    run_search(found, SERVER)
    line = found.result().describe()
    assert line.startswith("capacity 400 rps (p95 ≤ 200 ms, errors ≤ 1%); beyond it the"
                           " server's CPU was at 9")
    assert "of 1 core" in line and "knee at" in line


def test_never_probes_a_rate_twice_except_its_validation() -> None:
    found = search(start=7, max_rate=5000, precision=0.01, max_probes=40)
    run_search(found, SimulatedServer(saturation=1234, sustained=0.8))
    short_rates = [step.rate for step, _ in found.steps if not step.validation]
    assert len(short_rates) == len(set(short_rates))
    assert max(_repeats(found).values()) <= 2


def test_max_rate_passing_is_a_validated_lower_bound() -> None:
    found = search(start=10, max_rate=300)
    rates = run_search(found, SERVER)
    result = found.result()
    assert rates == [10, 20, 40, 80, 160, 300, 300]
    assert (result.bound, result.capacity_rps, result.validated) == ("at_least", 300, True)
    assert result.describe().startswith("capacity ≥ 300 rps (p95 ≤ 200 ms, errors ≤ 1%):"
                                        " max_rate reached")


def test_start_and_max_rate_equal_probe_once_and_validate() -> None:
    found = search(start=100, max_rate=100)
    assert run_search(found, SERVER) == [100, 100]
    assert found.result().bound == "at_least"


def test_a_failing_first_probe_reports_below_start_rate() -> None:
    found = search(start=500)
    assert run_search(found, SERVER) == [500]
    result = found.result()
    assert (result.bound, result.capacity_rps, result.failed_at_rps) == ("below", None, 500)
    assert result.describe().startswith("capacity < 500 rps (p95 ≤ 200 ms, errors ≤ 1%); at"
                                        " 500 rps the server's CPU was at 100% of 1 core")


def test_a_generator_bound_probe_caps_a_bisection_to_a_tight_lower_bound() -> None:
    found = search(start=50)
    rates = run_search(found, SimulatedServer(saturation=2000, generator_limit=150))
    assert rates == [50, 100, 200, 150, 175, 162.5, 156.25, 150]
    result = found.result()
    assert (result.bound, result.capacity_rps, result.generator_bound) == ("at_least", 150, True)
    assert result.validated and found.steps[-1][0] == NextProbe(150, validation=True)
    assert result.failed_at_rps is None  # the server never failed
    line = result.describe()
    assert line.startswith("capacity ≥ 150 rps (p95 ≤ 200 ms, errors ≤ 1%) (generator-bound);"
                           " beyond it the load generator ran out (its CPU at 99%"), line
    assert "gave out at 156.2 iterations/s" in result.reason


def test_a_server_failure_below_the_generator_limit_is_a_found_capacity() -> None:
    found = search(start=50)
    server = SimulatedServer(saturation=410 / 0.95, generator_limit=700)
    run_search(found, server)
    result = found.result()
    assert (result.bound, result.generator_bound, result.validated) == ("found", False, True)
    assert result.capacity_rps is not None and result.failed_at_rps is not None
    assert result.capacity_rps <= server.capacity < result.failed_at_rps


def test_a_generator_bound_validation_demotes_lo_and_lengthens_the_rest() -> None:
    found = search(start=100, precision=0.35)
    for rate, gen in ((100, False), (200, True), (150, False)):
        assert found.next_rate() == NextProbe(rate)
        found.record(Probe(rate=rate, achieved_rps=rate if not gen else 160, p95_ms=20,
                           error_rate=0, slo_passed=not gen, generator_bound=gen))
    assert found.next_rate() == NextProbe(150, validation=True)
    found.record(Probe(rate=150, achieved_rps=140, p95_ms=20, error_rate=0, slo_passed=True,
                       generator_bound=True))
    assert found.next_rate() == NextProbe(125, validation=True)
    found.record(Probe(rate=125, achieved_rps=125, p95_ms=20, error_rate=0, slo_passed=True))
    assert found.next_rate() is None
    result = found.result()
    assert (result.bound, result.capacity_rps, result.validated) == ("at_least", 125, True)
    assert result.generator_bound and "gave out at 150 iterations/s" in result.reason


def test_a_generator_bound_first_probe_vouches_only_for_what_it_delivered() -> None:
    found = search(start=100)
    found.record(Probe(rate=100, achieved_rps=70, p95_ms=20, error_rate=0, slo_passed=True,
                       generator_bound=True, failure_reasons=["30% of iterations dropped"]))
    result = found.result()
    assert (result.bound, result.capacity_rps) == ("at_least", 70)
    assert "the load generator ran out (30% of iterations dropped)" in result.describe()


def test_a_generator_bound_first_probe_that_failed_says_nothing() -> None:
    found = search(start=100)
    found.record(Probe(rate=100, achieved_rps=70, p95_ms=900, error_rate=0, slo_passed=False,
                       generator_bound=True))
    result = found.result()
    assert (result.bound, result.capacity_rps) == ("unknown", None)
    assert result.describe().startswith("capacity unknown: the load generator gave out")


def test_a_failed_validation_moves_the_result_down() -> None:
    leaky = SimulatedServer(saturation=410 / 0.95, sustained=0.9)
    found = search()
    run_search(found, leaky)
    result = found.result()
    assert result.bound == "found" and result.validated
    assert result.capacity_rps is not None
    assert result.capacity_rps <= leaky.sustained_capacity < SERVER.capacity
    failed_validations = [s for s, p in found.steps if s.validation and not p.slo_passed]
    assert failed_validations and all(s.rate > result.capacity_rps for s in failed_validations)


def test_validation_failing_at_start_rate_is_below() -> None:
    found = search(start=380, max_rate=400)
    run_search(found, SimulatedServer(saturation=410 / 0.95, sustained=0.5))
    assert found.result().bound == "below"


@pytest.mark.parametrize("max_probes", [2, 3, 4, 5])
def test_the_budget_is_never_exceeded_and_ends_on_a_validation(max_probes: int) -> None:
    found = search(max_probes=max_probes)
    rates = run_search(found, SERVER)
    result = found.result()
    assert len(rates) <= max_probes
    assert found.steps[-1][0].validation
    assert result.bound in ("found", "at_least") and result.validated
    assert result.capacity_rps is not None and result.capacity_rps <= SERVER.capacity
    assert "probe budget (max_probes=" in result.reason


def test_next_rate_repeats_until_recorded_and_record_checks_the_rate() -> None:
    found = search(start=50)
    assert found.next_rate() == found.next_rate() == NextProbe(50)
    with pytest.raises(ValueError, match="asked for 50"):
        found.record(SERVER.probe(60))
    found.record(SERVER.probe(50))
    assert found.next_rate() == NextProbe(100)


def test_record_after_done_is_an_error() -> None:
    found = search(start=500)
    run_search(found, SERVER)
    assert found.done and found.next_rate() is None
    with pytest.raises(RuntimeError, match="done"):
        found.record(SERVER.probe(500))


def test_a_result_before_the_end_is_a_short_step_lower_bound() -> None:
    found = search(start=50)
    assert found.result().bound == "unknown"
    found.record(SERVER.probe(50))
    result = found.result()
    assert (result.bound, result.capacity_rps, result.validated) == ("at_least", 50, False)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"start_rate": 0}, "capacity: start_rate=0 must be > 0"),
    ({"start_rate": -5}, "capacity: start_rate=-5 must be > 0"),
    ({"start_rate": math.nan}, "capacity: start_rate=nan must be a finite number"),
    ({"start_rate": True}, "capacity: start_rate=True must be a finite number"),
    ({"max_rate": 40}, "capacity: max_rate=40 must be >= start_rate=50"),
    ({"precision": 0}, "capacity: precision=0 must be a fraction between 0 and 1"),
    ({"precision": 1}, "capacity: precision=1 must be a fraction between 0 and 1"),
    ({"growth": 1}, "capacity: growth=1 must be > 1"),
    ({"max_probes": 1}, "capacity: max_probes=1 must be an integer >= 2"),
    ({"max_probes": 2.5}, "capacity: max_probes=2.5 must be an integer >= 2"),
    ({"confirm": -1}, "capacity: confirm=-1 must be an integer >= 0"),
    ({"confirm": True}, "capacity: confirm=True must be an integer >= 0"),
    ({"confirm": 1.5}, "capacity: confirm=1.5 must be an integer >= 0"),
])
def test_bad_plans_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    plan = SearchPlan(**{"start_rate": 50, "max_rate": 1000, **kwargs})
    with pytest.raises(LoadgateConfigError) as excinfo:
        CapacitySearch(plan)
    assert str(excinfo.value).startswith(message)


def test_validate_names_where_the_plan_came_from() -> None:
    with pytest.raises(LoadgateConfigError, match=r"^test_x: @capacity: growth=0.5"):
        SearchPlan(start_rate=1, max_rate=2, growth=0.5).validate("test_x: @capacity")


@settings(max_examples=200, deadline=None)
@given(start=st.floats(1, 500), span=st.floats(1, 1000), saturation=st.floats(1, 50_000),
       precision=st.floats(0.005, 0.5), growth=st.floats(1.2, 4))
def test_converges_within_precision_and_probe_count(start: float, span: float,
                                                    saturation: float, precision: float,
                                                    growth: float) -> None:
    server = SimulatedServer(saturation=saturation)
    found = search(start=start, max_rate=start * span, precision=precision, growth=growth,
                   max_probes=100)
    rates = run_search(found, server)
    result = found.result()
    ramp = math.ceil(math.log(span, growth)) + 1
    bisection = math.ceil(math.log2((growth - 1) / precision)) + 1
    assert len(rates) <= ramp + max(bisection, 0) + 1
    assert max(rates) <= start * span
    assert max(_repeats(found).values()) <= 2
    if server.capacity < start:
        assert result.bound == "below"
    elif server.capacity >= start * span:
        assert (result.bound, result.capacity_rps) == ("at_least", start * span)
    else:
        assert result.bound == "found" and result.validated
        assert result.capacity_rps is not None and result.failed_at_rps is not None
        assert result.capacity_rps <= server.capacity < result.failed_at_rps
        assert result.failed_at_rps - result.capacity_rps <= precision * result.capacity_rps


@settings(max_examples=100, deadline=None)
@given(saturation=st.floats(50, 5000), sustained=st.floats(0.3, 1), max_probes=st.integers(2, 30))
def test_never_claims_more_than_the_validated_server_holds(saturation: float, sustained: float,
                                                           max_probes: int) -> None:
    server = SimulatedServer(saturation=saturation, sustained=sustained)
    found = search(start=20, max_rate=20_000, max_probes=max_probes)
    rates = run_search(found, server)
    result = found.result()
    assert len(rates) <= max_probes
    if result.validated:
        assert result.capacity_rps is not None
        assert result.capacity_rps <= server.sustained_capacity
    else:
        assert result.bound in ("below", "at_least")


@settings(max_examples=200, deadline=None)
@given(saturation=st.floats(50, 20_000), limit=st.floats(20, 20_000),
       precision=st.floats(0.01, 0.5), max_probes=st.integers(2, 40))
def test_a_generator_limit_never_inflates_the_result(saturation: float, limit: float,
                                                     precision: float,
                                                     max_probes: int) -> None:
    server = SimulatedServer(saturation=saturation, generator_limit=limit)
    found = search(start=20, max_rate=50_000, precision=precision, max_probes=max_probes)
    rates = run_search(found, server)
    result = found.result()
    assert len(rates) <= max_probes and max(_repeats(found).values()) <= 2
    if result.capacity_rps is not None and result.bound != "below":
        assert result.capacity_rps <= min(server.capacity, limit)
    if result.generator_bound:
        assert result.bound in ("at_least", "unknown")
        assert result.failed_at_rps is None or result.failed_at_rps > limit
    if limit < server.capacity and result.validated and max_probes >= 40:
        assert result.capacity_rps is not None
        assert limit - result.capacity_rps <= precision * result.capacity_rps


class Hiccup:
    """``server``, but the first ``times`` attempts at each rate in ``at`` fail as a paused
    machine would: p95 far past the SLO, no resource at its limit."""

    def __init__(self, server: SimulatedServer, at: set[float], times: int = 1) -> None:
        self.server, self.left = server, dict.fromkeys(at, times)

    def probe(self, rate: float, validation: bool = False) -> Probe:
        if self.left.get(rate):
            self.left[rate] -= 1
            return Probe(rate=rate, achieved_rps=rate, p95_ms=900.0, error_rate=0.0,
                         slo_passed=False, server_cpu_cores=0.2, server_cores=1,
                         failure_reasons=["p95 900 ms > 200 ms"])
        return self.server.probe(rate, validation)


def _drive(found: CapacitySearch, server: Hiccup) -> None:
    while (step := found.next_rate()) is not None:
        found.record(server.probe(step.rate, step.validation))


def test_a_hiccup_of_the_machine_does_not_cap_the_search() -> None:
    clean = search(confirm=1, max_probes=40)
    run_search(clean, SERVER)
    hiccup = search(confirm=1, max_probes=40)
    _drive(hiccup, Hiccup(SERVER, {100}))
    found = hiccup.result()
    assert found.capacity_rps == clean.result().capacity_rps and found.bound == "found"
    assert [(s.rate, s.repeat, p.slo_passed) for s, p in hiccup.steps[1:3]] == [
        (100, 0, False), (100, 1, True)]
    # The overturned attempt explains nothing: the limit is the CPU, and the knee as without.
    assert found.limit == clean.result().limit and "CPU" in found.limit
    assert found.knee == clean.result().knee
    # Without repeats the same hiccup caps the search below 100 rps.
    capped = search(confirm=0)
    _drive(capped, Hiccup(SERVER, {100}))
    assert capped.result().capacity_rps is not None and capped.result().capacity_rps < 100


def test_a_real_limit_fails_every_attempt_and_still_converges() -> None:
    once = search(confirm=0)
    run_search(once, SERVER)
    thrice = search(confirm=2, max_probes=40)
    run_search(thrice, SERVER)
    assert thrice.result().capacity_rps == once.result().capacity_rps
    assert thrice.result().limit == once.result().limit
    for step, probe in thrice.steps:
        if not probe.slo_passed:  # every failed rate was tried 1 + confirm times
            attempts = [s.repeat for s, _ in thrice.steps
                        if (s.rate, s.validation) == (step.rate, step.validation)]
            assert attempts == [0, 1, 2]
    # The failing rate's reasons are said once, not once per attempt.
    assert thrice.result().reason == once.result().reason
    assert thrice.result().reason.count("p95") == 1


def test_a_failed_validation_is_repeated_before_it_demotes_lo() -> None:
    clean = search(confirm=1)
    run_search(clean, SERVER)
    capacity = clean.result().capacity_rps
    assert capacity is not None
    found = search(confirm=1)
    _drive(found, Hiccup(SERVER, {capacity}))  # the short step at capacity fails once...
    assert found.result().capacity_rps == capacity and found.result().validated
    validations = [(s.repeat, p.slo_passed) for s, p in found.steps if s.validation]
    assert validations == [(0, True)]


def test_the_default_plan_repeats_a_failed_probe_once() -> None:
    assert SearchPlan(start_rate=1, max_rate=2).confirm == 1


def test_every_attempt_a_passing_repeat_overturned_is_left_out_of_knee_and_limit() -> None:
    clean = search(confirm=2, max_probes=60)
    run_search(clean, SERVER)
    hiccup = search(confirm=2, max_probes=60)
    _drive(hiccup, Hiccup(SERVER, {100}, times=2))
    assert [(s.rate, s.repeat, p.slo_passed) for s, p in hiccup.steps[1:4]] == [
        (100, 0, False), (100, 1, False), (100, 2, True)]
    found = hiccup.result()
    assert found.capacity_rps == clean.result().capacity_rps
    assert found.limit == clean.result().limit and found.knee == clean.result().knee


def test_a_pending_repeat_leaves_its_failed_attempt_unjudged() -> None:
    found = search(confirm=1)
    server = Hiccup(SERVER, {100})
    for _ in range(2):
        step = found.next_rate()
        assert step is not None
        found.record(server.probe(step.rate, step.validation))
    assert found.next_rate() == NextProbe(100, repeat=1)
    assert found.next_rate() == NextProbe(100, repeat=1)  # the same until recorded
    assert found.result().failed_at_rps is None and found.result().limit == ""


@pytest.mark.parametrize("max_probes", [12, 16, 24])
def test_repeats_never_take_the_probe_kept_for_the_validation(max_probes: int) -> None:
    """Every rate from 412.5 up fails twice (confirm=1): with 16 probes the bisection used to
    spend the last one on a repeat and end on a short step only."""
    found = search(confirm=1, max_probes=max_probes)
    run_search(found, SERVER)
    result = found.result()
    assert len(found.steps) <= max_probes
    assert result.validated and found.steps[-1][0].validation
    assert result.capacity_rps is not None and result.capacity_rps <= SERVER.capacity


def test_the_default_plan_converges_and_validates_with_its_repeats() -> None:
    found = CapacitySearch(SearchPlan(start_rate=50, max_rate=2000), slo=SLO)
    run_search(found, SERVER)
    result = found.result()
    assert result.bound == "found" and result.validated
    assert result.failed_at_rps is not None and result.capacity_rps is not None
    assert result.failed_at_rps - result.capacity_rps <= 0.05 * result.capacity_rps
    assert any(step.repeat for step, _ in found.steps)
