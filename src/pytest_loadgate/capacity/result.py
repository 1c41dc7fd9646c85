"""What a capacity search found, and the one line that says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_loadgate.capacity.knee import Knee
from pytest_loadgate.capacity.probe import Probe, format_rps

#: ``found``: the SLO held at ``capacity_rps`` (validated) and failed above it;
#: ``at_least``: a lower bound only (generator-bound, max_rate reached, probe budget spent);
#: ``below``: the SLO failed at start_rate already; ``unknown``: nothing measured the server.
Bound = Literal["found", "at_least", "below", "unknown"]


@dataclass(frozen=True, kw_only=True)
class CapacityResult:
    """A capacity search's conclusion, in offered iterations/s.

    ``capacity_rps`` is None for ``below`` and ``unknown``. ``failed_at_rps`` is the lowest
    rate at which the server failed the SLO (the upper bound), ``validated`` whether
    ``capacity_rps`` held in the longer validation step, ``generator_bound`` whether the
    generator, not the server, gave out at the search's upper end (a lower bound).
    ``limit`` says what ran out beyond capacity (empty when nothing failed); ``slo`` the
    thresholds, for :meth:`describe`.
    """

    capacity_rps: float | None
    bound: Bound
    reason: str
    knee: Knee | None
    limit: str
    probes: tuple[Probe, ...]
    validated: bool = False
    generator_bound: bool = False
    failed_at_rps: float | None = None
    slo: Mapping[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``capacity 410 rps (p95 ≤ 200 ms, errors ≤ 1%); beyond it the server's
        CPU was at 100% of 1 core; knee at ...``."""
        slo = f" ({slo_text(self.slo)})" if self.slo else ""
        if self.bound == "unknown" or (self.capacity_rps is None and self.failed_at_rps is None):
            return f"capacity unknown: {self.reason}"
        if self.capacity_rps is None:
            assert self.failed_at_rps is not None
            start = format_rps(self.failed_at_rps)
            tail = f"; at {start} rps {self.limit}" if self.limit else f": {self.reason}"
            return f"capacity < {start} rps{slo}{tail}"
        sign = "≥ " if self.bound == "at_least" else ""
        head = f"capacity {sign}{format_rps(self.capacity_rps)} rps{slo}"
        if self.generator_bound:
            head += " (generator-bound)"
        line = f"{head}; beyond it {self.limit}" if self.limit else f"{head}: {self.reason}"
        return f"{line}; {self.knee.describe()}" if self.knee else line


def slo_text(slo: Mapping[str, float]) -> str:
    """``p95 ≤ 200 ms, errors ≤ 1%`` for ``{"p95_ms": 200, "max_error_rate": 0.01}``."""
    parts = []
    for key, value in slo.items():
        if key == "max_error_rate":
            parts.append(f"errors ≤ {value * 100:.3g}%")
        elif key == "min_rps":
            parts.append(f"throughput ≥ {value:g} rps")
        elif key == "max_rss_growth_mb":
            parts.append(f"memory growth ≤ {value:g} MB")
        elif key.endswith("_ms"):
            parts.append(f"{key.removesuffix('_ms')} ≤ {value:g} ms")
        else:
            parts.append(f"{key}={value:g}")
    return ", ".join(parts)
