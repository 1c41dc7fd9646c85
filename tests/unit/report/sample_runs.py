"""Synthetic runs for the report tests: a LoadResult with endpoints, a timeline and, on
request, regression checks against a baseline, wrapped like the runner's ``Run``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_loadgate.spec import build_spec
from pytest_loadgate.stats.metrics import summarize
from pytest_loadgate.stats.samples import EndpointSamples
from pytest_loadgate.verdict.checks import Check
from pytest_loadgate.verdict.decide import decide
from pytest_loadgate.verdict.result import LoadResult

ENDPOINTS = {"GET /": 4.0, "GET /slow": 40.0}


@dataclass
class FakeRun:
    """What the report writers read of a ``pytest_loadgate.run.runner.Run``."""

    result: LoadResult
    history: list[Any] = field(default_factory=list)


def _samples(latency_ms: float, requests: int, seconds: float) -> EndpointSamples:
    samples = EndpointSamples()
    for i in range(requests):
        samples.append(seconds * i / requests, latency_ms + (i % 10) / 10, 200, False)
    return samples


def timeline(seconds: int) -> list[dict[str, Any]]:
    return [{"start_s": float(s), "requests": 30, "rps": 30.0, "p95_ms": 39.9 + s % 3,
             "failures": 0,
             "endpoints": {name: {"requests": 15, "p95_ms": ms + s % 3}
                           for name, ms in ENDPOINTS.items()}}
            for s in range(seconds)]


def sample_run(*, regression: bool = False, seconds: int = 6, **marker: Any) -> FakeRun:
    """A run of two endpoints over ``seconds`` s; ``regression`` adds checks against a
    baseline (total rps and p95, an endpoint's p50_ref) and a machine-speed reference."""
    parts = {name: _samples(ms, 15 * seconds, seconds) for name, ms in ENDPOINTS.items()}
    window = (1.0, float(seconds))
    duration = window[1] - window[0]
    endpoints = {name: summarize(name, [p], *window, duration) for name, p in parts.items()}
    total = summarize("Aggregated", list(parts.values()), *window, duration)
    spec = build_spec("perf", {"users": 3, "run_time": f"{seconds}s", **marker}, where="test")
    result = LoadResult(spec=spec, host="http://127.0.0.1:1", total=total, endpoints=endpoints,
                        window_s=window, duration_s=float(seconds), timeline=timeline(seconds))
    checks: list[Check] = []
    if regression:
        result.reference = {"p50_ms": 2.0, "p95_ms": 3.0, "probes": 80.0, "failures": 0.0}
        checks = [
            Check("total", "rps vs baseline", 63.4, total.rps, total.rps >= 63.4,
                  baseline=90.6, allowed=0.3),
            Check("total", "p95 vs baseline", 60.0, total.p95_ms, total.p95_ms <= 60.0,
                  baseline=40.0, allowed=0.5),
            Check("GET /slow", "p50_ref vs baseline", 7.54, 9.0, False, baseline=5.8,
                  allowed=0.3),
            Check("GET /slow", "p50_rel vs baseline", 1.2, 0.87291, True, baseline=1.0,
                  allowed=0.2),
        ]
    result.verdict = decide(result, checks)
    result.reports = files(Path("reports"))
    return FakeRun(result)


def files(folder: Path, stem: str = "20261130-010203_test_x_test_a") -> dict[str, Path]:
    return {kind: folder / f"{stem}.{kind}" for kind in ("html", "csv", "json")}


def _probe(rate: float, achieved: float, p95_ms: float, *, passed: bool = True,
           generator_bound: bool = False, reasons: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"rate": rate, "achieved_rps": achieved, "p95_ms": p95_ms, "error_rate": 0.0,
            "slo_passed": passed, "generator_bound": generator_bound,
            "server_cpu_cores": min(rate / 300, 1.0), "failure_reasons": list(reasons)}


#: A capacity search as ``gate.capacity_document`` writes it: a ramp to 400/s, bisection
#: between 300 and 400, the validation of 300 last.
CAPACITY_DESCRIBE = ("capacity 300 rps (p95 ≤ 200 ms, errors ≤ 1%); beyond it the server's"
                     " CPU was at 100% of 1 core; knee at 200 rps (latency bent after 200 rps)")
CAPACITY: dict[str, Any] = {
    "capacity_rps": 300.0, "bound": "found",
    "reason": "the SLO held at 300 rps in a validation step and failed at 350 rps",
    "validated": True, "generator_bound": False, "failed_at_rps": 350.0,
    "limit": "the server's CPU was at 100% of 1 core",
    "knee": "knee at 200 rps (latency bent after 200 rps)", "describe": CAPACITY_DESCRIBE,
    "slo": {"p95_ms": 200, "max_error_rate": 0.01}, "requests": 41250,
    "probes": [_probe(50, 50.0, 12.0), _probe(100, 99.8, 14.0), _probe(200, 199.1, 25.0),
               _probe(400, 301.5, 950.0, passed=False, reasons=("p95 950 ms > 200 ms",)),
               _probe(300, 297.2, 120.0),
               _probe(350, 300.4, 420.0, passed=False, reasons=("p95 420 ms > 200 ms",)),
               _probe(300, 298.9, 140.0)]}

#: A search the generator cut short: 400/s not delivered, so only a lower bound.
CAPACITY_AT_LEAST: dict[str, Any] = {
    **CAPACITY, "capacity_rps": 200.0, "bound": "at_least", "generator_bound": True,
    "failed_at_rps": None, "limit": "", "knee": None,
    "describe": "capacity ≥ 200 rps (p95 ≤ 200 ms, errors ≤ 1%) (generator-bound): ...",
    "probes": [_probe(50, 50.0, 12.0), _probe(100, 99.8, 14.0), _probe(200, 199.1, 25.0),
               _probe(400, 250.0, 30.0, generator_bound=True), _probe(200, 199.4, 26.0)]}
