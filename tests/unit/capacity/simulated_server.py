"""A simulated server for the capacity search: a queueing curve with a hard capacity."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_loadgate.capacity.probe import Probe
from pytest_loadgate.capacity.search import CapacitySearch

SLO_P95_MS = 200.0
SLO = {"p95_ms": SLO_P95_MS, "max_error_rate": 0.01}


@dataclass(frozen=True)
class SimulatedServer:
    """p95 = base / (1 - rate/saturation) below ``saturation``; 503s and a flat throughput
    beyond. ``capacity`` is the highest rate whose p95 meets ``SLO_P95_MS``.

    ``sustained`` scales the saturation for validation steps (a longer step sees a slow
    leak); ``generator_limit`` is the rate beyond which the generator cannot deliver.
    """

    saturation: float
    base_ms: float = 10.0
    cores: int = 1
    sustained: float = 1.0
    generator_limit: float | None = None

    @property
    def capacity(self) -> float:
        return self.saturation * (1 - self.base_ms / SLO_P95_MS)

    @property
    def sustained_capacity(self) -> float:
        return self.capacity * self.sustained

    def probe(self, rate: float, validation: bool = False) -> Probe:
        saturation = self.saturation * (self.sustained if validation else 1.0)
        if self.generator_limit is not None and rate > self.generator_limit:
            return Probe(rate=rate, achieved_rps=self.generator_limit, p95_ms=None,
                         error_rate=0.0, slo_passed=False, generator_bound=True,
                         generator_cpu=0.99)
        load = rate / saturation
        if load < 1:
            p95 = self.base_ms / (1 - load)
            return Probe(rate=rate, achieved_rps=rate, p95_ms=p95, error_rate=0.0,
                         slo_passed=p95 <= SLO_P95_MS, server_cpu_cores=load * self.cores,
                         server_cores=self.cores, status_counts={200: round(rate * 10)},
                         failure_reasons=[] if p95 <= SLO_P95_MS else
                         [f"p95 {p95:.0f} ms > {SLO_P95_MS:.0f} ms"])
        busy = 1 - 1 / load
        served = round(rate * 10 * (1 - busy))
        return Probe(rate=rate, achieved_rps=saturation, p95_ms=20 * self.base_ms,
                     error_rate=busy, slo_passed=False, server_cpu_cores=float(self.cores),
                     server_cores=self.cores,
                     status_counts={200: served, 503: round(rate * 10) - served},
                     failure_reasons=[f"error rate {busy:.0%} > 1%"])


def run_search(search: CapacitySearch, server: SimulatedServer) -> list[float]:
    """Drive ``search`` to its end against ``server``; the rates asked for, in order."""
    asked = []
    while (step := search.next_rate()) is not None:
        asked.append(step.rate)
        search.record(server.probe(step.rate, step.validation))
        assert len(asked) <= search.plan.max_probes
    return asked
