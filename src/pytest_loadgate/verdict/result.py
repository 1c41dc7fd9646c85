"""The outcome of one load run, as the test sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_loadgate.spec import LoadSpec
from pytest_loadgate.stats.metrics import EndpointStats
from pytest_loadgate.verdict.checks import Check

__all__ = ["EndpointStats", "InvariantViolation", "LoadResult"]


@dataclass(frozen=True)
class InvariantViolation:
    """An invariant that did not hold: when (seconds into the run) and what the check saw."""

    name: str
    at_s: float
    message: str
    phase: str  # "during" or "after"
    count: int = 1


@dataclass
class LoadResult:
    """Figures of a run over its verdict window, the checks made, and where the report is."""

    spec: LoadSpec
    host: str
    total: EndpointStats
    endpoints: dict[str, EndpointStats]
    window_s: tuple[float, float]
    duration_s: float
    checks: list[Check] = field(default_factory=list)
    violations: list[InvariantViolation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    aborted: str | None = None
    interrupted: bool = False
    report_path: Path | None = None
    reports: dict[str, Path] = field(default_factory=dict)
    worker_count: int = 0
    server_resources: dict[str, float] | None = None
    generator_resources: dict[str, float] | None = None
    generator_saturated: bool = False
    #: Achieved vs implied request rate (see pytest_loadgate.run.pacing); None when not measured.
    pace: dict[str, float] | None = None
    #: Share of the verdict window in which some task on the machine waited for a CPU.
    machine_stall: float | None = None
    #: Share of all CPU time in the window that the hypervisor gave to other guests (steal).
    machine_steal: float | None = None
    #: The machine-speed reference over the window (see pytest_loadgate.target.reference).
    reference: dict[str, float] | None = None
    watched: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    #: Per-second ``start_s``, ``requests``, ``rps``, ``p95_ms``, ``failures`` of the whole run.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    resource_samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Spans without any response while requests waited (see pytest_loadgate.run.stall).
    stalls: list[dict[str, Any]] = field(default_factory=list)
    #: Raw samples kept and requests past the cap (see pytest_loadgate.stats.histograms).
    samples: dict[str, Any] = field(default_factory=dict)
    #: The open model's schedule figures over the window (see pytest_loadgate.run.open_load).
    open: dict[str, float] | None = None
    #: Every attempt of a confirmed run (``confirm=N``), oldest first.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    baseline_path: Path | None = None

    @property
    def machine_busy(self) -> bool:
        """True when other work on the machine (or, for a VM, on its host) competed for CPU
        through much of the window."""
        from pytest_loadgate.run.monitor import MACHINE_BUSY_STALL, MACHINE_BUSY_STEAL

        return ((self.machine_stall is not None and self.machine_stall > MACHINE_BUSY_STALL)
                or (self.machine_steal is not None and self.machine_steal > MACHINE_BUSY_STEAL))

    @property
    def pace_short(self) -> bool:
        """True when the users reached less than ``min_pace`` of the rate their waits imply."""
        # A stalled server held its users waiting: never the generator's fault.
        return (self.pace is not None and self.spec.min_pace > 0 and not self.stalls
                and self.pace["ratio"] < self.spec.min_pace)

    @property
    def open_behind(self) -> bool:
        """True when the open model's scheduler itself fell behind: iterations started late
        (median lateness over the generator limit) or never reached."""
        from pytest_loadgate.run.monitor import GENERATOR_SATURATED_LAG_MS

        if not self.open or not self.open["scheduled"]:
            return False
        unreached = self.open["scheduled"] - self.open["started"] - self.open["dropped"]
        return (self.open["lateness_p50_ms"] > GENERATOR_SATURATED_LAG_MS
                or unreached > max(1, 0.01 * self.open["scheduled"]))

    @property
    def unreliable(self) -> bool:
        """The figures measure the load generator or the machine, not the server."""
        return (self.generator_saturated or self.machine_busy or self.pace_short
                or self.open_behind)

    def endpoint(self, name: str) -> EndpointStats:
        """Figures of ``"METHOD name"``; ``KeyError`` listing the known names when absent."""
        try:
            return self.endpoints[name]
        except KeyError:
            known = ", ".join(sorted(self.endpoints)) or "none"
            raise KeyError(f"no requests recorded for {name!r}; endpoints seen: {known}") from None

    def status_counts(self, name: str | None = None) -> dict[int, int]:
        """HTTP status → count in the window, for one endpoint or all (0: no response)."""
        stats = self.total if name is None else self.endpoint(name)
        return dict(sorted(stats.status_counts.items()))

    @property
    def passed(self) -> bool:
        """True when every check passed, no invariant broke and nothing went wrong."""
        return (all(c.passed for c in self.checks) and not self.violations
                and not self.problems and self.aborted is None and not self.interrupted)

    def summary(self) -> dict[str, Any]:
        """The key figures and failed checks of this run (for attempt lists)."""
        return {"passed": self.passed, "requests": self.total.requests,
                "rps": round(self.total.rps, 1), "p95_ms": self.total.p95_ms,
                "error_rate": round(self.total.error_rate, 4),
                "failed_checks": [c.describe() for c in self.failed_checks()],
                "report": self.report_path.name if self.report_path else None}

    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]
