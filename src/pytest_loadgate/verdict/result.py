"""What one load run measured, as the test sees it, and the verdict on it.

The figures are facts of the run (filled by pytest_loadgate.run); whether they pass is decided
in one place, :func:`pytest_loadgate.verdict.decide.decide`, and kept as an immutable
:class:`~pytest_loadgate.verdict.decide.Verdict` in ``verdict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_loadgate.spec import LoadSpec
from pytest_loadgate.stats.metrics import EndpointStats
from pytest_loadgate.verdict import reliability
from pytest_loadgate.verdict.checks import Check

if TYPE_CHECKING:
    from pytest_loadgate.verdict.decide import Verdict

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
    #: Unix time of the run's second 0 (window, timeline and stalls count from it).
    started_unix: float | None = None
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
    #: A capacity test's search: result, explanation and probes (see gate.capacity_document).
    capacity: dict[str, Any] | None = None
    #: Every attempt of a confirmed run (``confirm=N``), oldest first.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    baseline_path: Path | None = None

    #: The verdict, decided once the run's figures (and its baseline comparison) are in.
    verdict: Verdict | None = None

    @property
    def decision(self) -> Verdict:
        """The verdict; decided from the figures alone when none was attached."""
        if self.verdict is not None:
            return self.verdict
        from pytest_loadgate.verdict.decide import decide

        return decide(self)

    @property
    def checks(self) -> list[Check]:
        return list(self.decision.checks)

    @property
    def generator_saturated(self) -> bool:
        return reliability.generator_saturated(self.generator_resources)

    @property
    def machine_busy(self) -> bool:
        return reliability.machine_busy(self.machine_stall, self.machine_steal)

    @property
    def pace_short(self) -> bool:
        return reliability.pace_short(self.pace, self.spec.min_pace, bool(self.stalls))

    @property
    def open_behind(self) -> bool:
        return reliability.open_behind(self.open)

    @property
    def capacity_rps(self) -> float | None:
        """A capacity test's found (or lower-bound) capacity, iterations/s; None otherwise."""
        value = (self.capacity or {}).get("capacity_rps")
        return None if value is None else float(value)

    @property
    def unreliable(self) -> bool:
        """The figures measure the load generator or the machine, not the server."""
        return bool(self.decision.unreliable)

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
        return self.decision.passed

    def summary(self) -> dict[str, Any]:
        """The key figures and failed checks of this run (for attempt lists)."""
        return {"passed": self.passed, "requests": self.total.requests,
                "rps": round(self.total.rps, 1), "p95_ms": self.total.p95_ms,
                "error_rate": round(self.total.error_rate, 4),
                "failed_checks": [c.describe() for c in self.failed_checks()],
                "report": self.report_path.name if self.report_path else None}

    def failed_checks(self) -> list[Check]:
        return self.decision.failed_checks()
