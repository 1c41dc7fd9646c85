"""One capacity probe: a load run at a fixed offered arrival rate, as the search sees it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Probe:
    """The outcome of one probe step, judged by the caller with the usual run rules.

    ``rate`` is the offered arrival rate (iterations/s) the search asked for;
    ``achieved_rps`` the throughput the server delivered in the same unit (completed
    iterations/s; requests/s only with one request per iteration), which a generator-bound
    first probe reports as the lower bound; ``error_rate`` is a fraction 0-1.
    ``generator_bound`` means the generator, not the server, failed to deliver (dropped
    iterations for want of users, a saturated generator CPU, a short pace): such a probe says
    nothing about the server. The remaining fields are optional facts that explain the limit:
    ``server_cpu_cores`` is the average number of cores the server used out of its
    ``server_cores``, ``generator_cpu`` a fraction of one core, ``status_counts`` maps HTTP
    status to responses (0 = no response: refused, reset or timed out).
    """

    rate: float
    achieved_rps: float
    p95_ms: float | None
    error_rate: float
    slo_passed: bool
    generator_bound: bool = False
    server_cpu_cores: float | None = None
    server_cores: int | None = None
    generator_cpu: float | None = None
    status_counts: dict[int, int] = field(default_factory=dict)
    rss_growth_mb: float | None = None
    failure_reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when this probe marks a limit: the SLO failed or the generator gave out."""
        return self.generator_bound or not self.slo_passed


def format_rps(rate: float) -> str:
    """A rate for a sentence: ``410`` or ``412.5`` at and above 100/s, three significant
    digits below (``37.5``)."""
    return f"{rate:.1f}".removesuffix(".0") if rate >= 100 else f"{rate:.3g}"
