"""Baseline comparisons on synthetic figures: identical runs never flag, real shifts always do."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_loadgate.verdict.baseline import Baseline, BaselineStore, compare, fingerprint
from pytest_loadgate.verdict.checks import format_table

FP = {"cpu_model": "x", "cores": "2", "python": "3.11", "locust": "2.47.0",
      "pytest_loadgate": "0.1.0", "users": "50", "spawn_rate": "10", "wait_model": "m",
      "host": "h", "workers": "0"}


def figures(p95: float, rps: float, slow_endpoint_p95: float | None = None) -> dict:
    fast = {"avg": p95 / 2, "p50": p95 / 2, "p90": p95 * 0.9, "p95": p95, "p99": p95 * 1.5,
            "max": p95 * 3, "rps": rps, "error_rate": 0.0, "requests": rps * 10}
    slow = dict(fast, p95=slow_endpoint_p95 or p95, rps=rps / 20)
    return {"total": fast, "GET /fast": fast, "GET /rare": slow}


def baseline_of(*runs: dict) -> Baseline:
    return Baseline("t", [{"created": time.time(), "fingerprint": FP, "figures": r}
                          for r in runs])


RULES = {"p95": 0.5, "rps": 0.3}


def test_identical_runs_never_flag() -> None:
    base = baseline_of(figures(10.0, 500), figures(11.0, 480), figures(9.5, 520))
    for p95, rps in ((10.0, 500), (11.0, 480), (9.5, 520), (14.0, 400)):
        assert all(c.passed for c in compare(base, figures(p95, rps), RULES))


def test_a_clear_shift_always_flags_and_reads_as_a_ratio() -> None:
    base = baseline_of(figures(10.0, 500), figures(10.0, 500), figures(10.0, 500))
    checks = compare(base, figures(20.0, 500), RULES)
    failed = [c for c in checks if not c.passed]
    assert {c.scope for c in failed} == {"total", "GET /fast", "GET /rare"}
    assert "GET /fast p95 2.00× baseline (20.0 ms vs 10.0 ms; limit 1.50×)" in [
        c.describe() for c in failed]
    slower = compare(base, figures(10.0, 250), RULES)
    assert next(c.describe() for c in slower if not c.passed).startswith(
        "total rps 0.50× baseline")
    assert "p95 vs baseline" in format_table(checks)


def test_endpoint_regression_is_caught_when_the_aggregate_hides_it() -> None:
    base = baseline_of(figures(10.0, 500, slow_endpoint_p95=10.0))
    checks = compare(base, figures(10.0, 500, slow_endpoint_p95=25.0), RULES)
    failed = [(c.scope, c.threshold) for c in checks if not c.passed]
    assert failed == [("GET /rare", "p95 vs baseline")]


def test_median_of_runs_resists_one_outlier() -> None:
    base = baseline_of(figures(10.0, 500), figures(40.0, 100), figures(10.0, 500))
    assert all(c.passed for c in compare(base, figures(12.0, 480), RULES))


def test_fingerprint_mismatch_and_age_warn() -> None:
    base = baseline_of(figures(10.0, 500))
    assert base.warnings(FP, 30) == []
    other = dict(FP, users="60", cores="8")
    (warning,) = base.warnings(other, 30)
    assert "users: '50' → '60'" in warning and "cores: '2' → '8'" in warning
    (old,) = base.warnings(FP, 30, now=time.time() + 40 * 86400)
    assert "40 days old" in old


def test_store_keeps_the_newest_runs_and_replaces_only_when_asked(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    for p95 in range(1, 8):
        store.record("tests/x.py::t", figures(float(p95), 500), FP, replace=False)
    kept = store.load("tests/x.py::t")
    assert kept is not None and [r["figures"]["total"]["p95"] for r in kept.runs] == [
        3.0, 4.0, 5.0, 6.0, 7.0]
    store.record("tests/x.py::t", figures(99.0, 500), FP, replace=True)
    replaced = store.load("tests/x.py::t")
    assert replaced is not None and len(replaced.runs) == 1


def test_fingerprint_describes_the_load_model() -> None:
    from locust import HttpUser, between

    class U(HttpUser):
        wait_time = between(0.1, 0.3)

    fp = fingerprint(users=5, spawn_rate=5, user_classes=[U], host="http://x", workers=0)
    assert fp["users"] == "5" and fp["host"] == "http://x"
    mean = int(fp["wait_model"].split("mean ")[1].rstrip("ms"))
    assert 150 <= mean <= 250


@pytest.mark.parametrize("bad", [{"p95": -1}, {"rps": 1.0}, {"latency": 0.5}, {}])
def test_bad_regression_rules_error(bad: dict) -> None:
    from pytest_loadgate.errors import LoadgateConfigError
    from pytest_loadgate.spec import build_spec

    with pytest.raises(LoadgateConfigError, match="max_regression"):
        build_spec("perf", {"run_time": "10s", "max_regression": bad}, "m")


def test_wait_model_is_the_same_every_time_and_leaves_random_alone() -> None:
    import random

    from locust import HttpUser, between

    from pytest_loadgate.verdict.baseline import wait_model

    class Shopper(HttpUser):
        wait_time = between(0.05, 0.1)

    random.seed(7)
    expected_next = random.random()
    random.seed(7)
    first = wait_model([Shopper])
    assert random.random() == expected_next  # the caller's random stream is untouched
    assert all(wait_model([Shopper]) == first for _ in range(5))


def test_scopes_with_few_requests_are_not_compared() -> None:
    base = baseline_of(figures(10.0, 500))
    base.runs[0]["figures"]["GET /rare"]["requests"] = 15
    notes: list[str] = []
    checks = compare(base, figures(10.0, 500, slow_endpoint_p95=99.0), RULES, notes)
    assert "GET /rare" not in {c.scope for c in checks}
    assert notes == ["GET /rare: not compared with the baseline (only 15 requests; at least"
                     " 200 are needed)"]


def test_relative_p50_sees_one_endpoint_slow_down_but_not_the_whole_machine() -> None:
    from pytest_loadgate.stats.metrics import summarize
    from pytest_loadgate.stats.samples import EndpointSamples
    from pytest_loadgate.verdict.baseline import figures_of

    def run(latency_ms: dict[str, float]) -> dict:
        parts = {}
        for name, ms in latency_ms.items():
            part = EndpointSamples()
            for i in range(300):
                part.append(i * 0.01, ms, 200, False)
            parts[name] = summarize(name, [part], 0.0, 10.0, 10.0)
        total = summarize("Aggregated", [], 0.0, 10.0, 10.0)
        return figures_of(total, parts)

    normal = run({"GET /a": 10.0, "GET /b": 12.0, "GET /c": 8.0})
    base = baseline_of(normal)
    rules = {"p50_rel": 0.2}
    contended = run({"GET /a": 25.0, "GET /b": 30.0, "GET /c": 20.0})  # everything 2.5x slower
    assert all(c.passed for c in compare(base, contended, rules))
    one_slow = run({"GET /a": 20.0, "GET /b": 12.0, "GET /c": 8.0})
    failed = [c for c in compare(base, one_slow, rules) if not c.passed]
    assert [c.scope for c in failed] == ["GET /a"]
    assert failed[0].describe().startswith("GET /a p50_rel 2.00× baseline")


def test_steal_or_stall_makes_the_machine_busy_and_the_run_unreliable() -> None:
    from pytest_loadgate.spec import build_spec
    from pytest_loadgate.stats.metrics import summarize
    from pytest_loadgate.verdict.reliability import unreliable_reasons
    from pytest_loadgate.verdict.result import LoadResult

    def result(stall: float | None, steal: float | None) -> LoadResult:
        return LoadResult(spec=build_spec("perf", {}, where="t"), host="h",
                          total=summarize("Aggregated", [], 0.0, 1.0, 1.0), endpoints={},
                          window_s=(0.0, 1.0), duration_s=1.0, machine_stall=stall,
                          machine_steal=steal)

    assert not result(0.05, 0.01).unreliable and not result(None, None).unreliable
    assert result(0.40, 0.0).machine_busy
    stolen = result(0.05, 0.12)
    assert stolen.machine_busy and stolen.unreliable
    (reason,) = unreliable_reasons(stolen)
    assert "the hypervisor took 12% of the CPU time" in reason
    assert "waited for a CPU" not in reason  # a 5% stall is below its limit: not cited
    (busy,) = unreliable_reasons(result(0.40, 0.0))
    assert "waited for a CPU 40%" in busy and "hypervisor" not in busy


def _reference_run(app_ms: dict[str, float], overhead_ms: float) -> dict:
    """Figures of a run whose endpoints take ``overhead + app`` ms and the reference takes
    ``overhead`` ms (the bare cost of a request on this machine)."""
    from pytest_loadgate.stats.metrics import summarize
    from pytest_loadgate.stats.samples import EndpointSamples
    from pytest_loadgate.verdict.baseline import figures_of

    parts = {}
    everything = EndpointSamples()
    for name, ms in app_ms.items():
        part = EndpointSamples()
        for i in range(300):
            part.append(i * 0.01, overhead_ms + ms, 200, False)
            everything.append(i * 0.01, overhead_ms + ms, 200, False)
        parts[name] = summarize(name, [part], 0.0, 10.0, 10.0)
    total = summarize("Aggregated", [everything], 0.0, 10.0, 10.0)
    return figures_of(total, parts, reference_p50_ms=overhead_ms)


def test_reference_relative_p50_sees_the_whole_app_slow_down_but_not_the_machine() -> None:
    app = {"GET /a": 1.0, "GET /b": 1.2, "GET /c": 0.8}
    base = baseline_of(_reference_run(app, overhead_ms=1.0))
    rules = {"p50_ref": 0.5}
    assert base.runs[0]["figures"]["GET /a"]["p50_ref"] == pytest.approx(1.0)
    # The machine is 40% slower: the bare request cost and the app's own work both grow.
    slower_machine = _reference_run({n: ms * 1.4 for n, ms in app.items()}, overhead_ms=1.4)
    assert all(c.passed for c in compare(base, slower_machine, rules))
    assert not all(c.passed for c in compare(base, slower_machine, {"p50": 0.25}))
    # Every handler does twice the work on the same machine: every scope flags, which the
    # per-run relative p50 (p50_rel) cannot see.
    slower_app = _reference_run({n: ms * 2 for n, ms in app.items()}, overhead_ms=1.0)
    failed = [c for c in compare(base, slower_app, rules) if not c.passed]
    assert {c.scope for c in failed} == {"total", "GET /a", "GET /b", "GET /c"}
    assert all(c.passed for c in compare(base, slower_app, {"p50_rel": 0.2}))


def test_reference_relative_p50_skips_scopes_as_fast_as_the_reference() -> None:
    base = baseline_of(_reference_run({"GET /a": 0.05, "GET /b": 2.0}, overhead_ms=1.0))
    notes: list[str] = []
    checks = compare(base, _reference_run({"GET /a": 0.5, "GET /b": 2.0}, overhead_ms=1.0),
                     {"p50_ref": 0.5}, notes)
    assert "GET /a" not in {c.scope for c in checks}
    assert ("GET /a: p50_ref not compared with the baseline (its p50 is only +0.05× the"
            " reference's above it)") in notes
    assert "GET /b" in {c.scope for c in checks}


def test_without_a_reference_there_is_no_p50_ref() -> None:
    from pytest_loadgate.stats.metrics import summarize
    from pytest_loadgate.verdict.baseline import figures_of

    total = summarize("Aggregated", [], 0.0, 10.0, 10.0)
    assert all("p50_ref" not in row for row in figures_of(total, {}).values())
