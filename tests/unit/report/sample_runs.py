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
