"""The one path from a run's figures to its verdict (pytest_loadgate.verdict.decide)."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_loadgate.spec import build_spec
from pytest_loadgate.stats.metrics import summarize
from pytest_loadgate.stats.samples import EndpointSamples
from pytest_loadgate.verdict.checks import Check
from pytest_loadgate.verdict.decide import NO_REQUESTS, Verdict, decide
from pytest_loadgate.verdict.result import InvariantViolation, LoadResult


def _result(latency_ms: float, requests: int = 100, **marker: object) -> LoadResult:
    samples = EndpointSamples()
    for i in range(requests):
        samples.append(i / requests, latency_ms, 200, False)
    total = summarize("Aggregated", [samples], 0.0, 1.0, 1.0)
    endpoint = summarize("GET /", [samples], 0.0, 1.0, 1.0)
    return LoadResult(spec=build_spec("perf", marker, where="test"), host="h", total=total,
                      endpoints={"GET /": endpoint}, window_s=(0.0, 1.0), duration_s=1.0)


def test_a_run_within_its_thresholds_passes_and_a_breaching_one_fails() -> None:
    ok = decide(_result(5.0, p95_ms=10))
    breach = decide(_result(50.0, p95_ms=10))
    assert ok.passed and ok.outcome == "passed"
    assert not breach.passed and breach.outcome == "failed"
    (failed,) = breach.failed_checks()
    assert (failed.threshold, failed.limit, failed.measured) == ("p95_ms", 10, 50.0)


def test_the_verdict_is_immutable() -> None:
    verdict = decide(_result(5.0, p95_ms=10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.problems = ("late",)  # type: ignore[misc]


def test_a_stall_comes_first_and_fails_without_any_threshold() -> None:
    result = _result(5.0, p95_ms=10)
    result.stalls = [{"start_s": 0.5, "duration_s": 3.0, "outstanding": 4, "ongoing": True}]
    verdict = decide(result)
    assert [c.threshold for c in verdict.checks] == ["max_stall", "p95_ms"]
    assert not verdict.passed
    assert "no response for 3.0 s" in verdict.checks[0].detail


def test_regression_checks_join_the_verdict() -> None:
    worse = Check("total", "p95_ms vs baseline", 6.0, 9.0, False, baseline=5.0, allowed=0.2)
    verdict = decide(_result(5.0, p95_ms=10), [worse])
    assert verdict.checks[-1] is worse and verdict.outcome == "failed"


def test_nothing_measured_is_a_problem_not_a_pass() -> None:
    verdict = decide(_result(5.0, requests=0))
    assert verdict.problems == (NO_REQUESTS,) and not verdict.passed


def test_invariants_abort_and_interrupt_decide_too() -> None:
    broken = _result(5.0)
    broken.violations = [InvariantViolation("stock", 1.0, "negative", "during")]
    assert decide(broken).outcome == "failed"
    aborted = _result(5.0)
    aborted.aborted = "aborted at 3.0s"
    assert not decide(aborted).passed
    interrupted = _result(5.0)
    interrupted.interrupted = True
    assert decide(interrupted).outcome == "interrupted"


def test_unreliable_figures_are_named_in_the_verdict() -> None:
    busy = _result(5.0, p95_ms=10)
    busy.machine_steal = 0.2
    verdict = decide(busy)
    assert verdict.passed  # unreliable is a warning on a pass; the gate decides what to do
    assert verdict.unreliable_note.startswith("UNRELIABLE MEASUREMENT: the machine was busy")
    assert Verdict(checks=()).unreliable_note == ""


def test_an_attached_verdict_is_what_the_result_reports() -> None:
    result = _result(50.0, p95_ms=10)
    assert not result.passed  # decided from the figures alone
    result.verdict = Verdict(checks=())
    assert result.passed and result.checks == []
