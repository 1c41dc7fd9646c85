"""Judge measured figures against thresholds: one check per (scope, metric)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from pytest_loadgate.report.check_table import comparison_of, describe_check, format_check_table
from pytest_loadgate.report.units import format_metric
from pytest_loadgate.run.stall import Stall
from pytest_loadgate.spec import SERVER_THRESHOLD_KEYS, LoadSpec, Thresholds
from pytest_loadgate.stats.metrics import EndpointStats

TOTAL_SCOPE = "total"
_METRIC_OF = {"max_error_rate": "error_rate", "min_rps": "rps",
              "max_rss_growth_mb": "rss_growth_mb"}


@dataclass(frozen=True)
class Check:
    """One threshold and what was measured for it."""

    scope: str  # "total" or "METHOD name"
    threshold: str  # e.g. "p95_ms", "max_error_rate", "min_rps"
    limit: float
    measured: float | None  # None: the endpoint received no requests
    passed: bool
    baseline: float | None = None  # for regression checks: the baseline median
    allowed: float | None = None  # for regression checks: the allowed regression
    detail: str = ""  # what the check saw, in words (stalls, dropped iterations)

    @property
    def metric(self) -> str:
        """The measured quantity's key for formatting (``p95_ms``, ``rps``, ...)."""
        if self.baseline is None:
            return self.threshold
        base = self.threshold.split(" ", 1)[0]
        if base in ("p50_rel", "p50_ref"):
            return base
        return base if base in ("rps", "error_rate", "capacity") else f"{base}_ms"

    @property
    def comparison(self) -> str:
        return comparison_of(self.threshold)

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        if isinstance(self.measured, float) and math.isnan(self.measured):
            data["measured"] = None
        if self.baseline is None:
            del data["baseline"], data["allowed"]
        if not self.detail:
            del data["detail"]
        return data

    def describe(self, *, reference_p50_ms: float | None = None) -> str:
        """A sentence such as ``GET /x p95_ms 612.3 ms > limit 500.0 ms`` (see
        :func:`pytest_loadgate.report.check_table.describe_check`)."""
        return describe_check(self, reference_p50_ms=reference_p50_ms)


def format_value(threshold: str, value: float | None) -> str:
    """Render a measured value with its unit (see :mod:`pytest_loadgate.report.units`)."""
    return format_metric(threshold, value)


def _judge(scope: str, thresholds: Thresholds, stats: EndpointStats | None,
           extra: Mapping[str, float] | None = None) -> list[Check]:
    checks = []
    for key, limit in thresholds.items():
        metric = _METRIC_OF.get(key, key)
        if extra is not None and metric in extra:
            value: float | None = extra[metric]
        elif key in SERVER_THRESHOLD_KEYS:
            value = None  # no server process was watched (e.g. --loadgate-host)
        elif stats is None or stats.requests == 0:
            value = None
        else:
            value = float(getattr(stats, metric))
        if value is None:
            checks.append(Check(scope, key, limit, None, False))
            continue
        measured = value
        if key == "min_rps":
            passed = measured >= limit
        else:
            passed = not math.isnan(measured) and measured <= limit
        checks.append(Check(scope, key, limit, measured, passed))
    return checks


def evaluate(spec: LoadSpec, total: EndpointStats,
             endpoints: Mapping[str, EndpointStats],
             server: Mapping[str, float] | None = None) -> list[Check]:
    """All checks of ``spec`` against the window's figures (and the server's resources)."""
    checks = _judge(TOTAL_SCOPE, spec.thresholds, total, server)
    for name, thresholds in spec.endpoints.items():
        checks.extend(_judge(name, thresholds, endpoints.get(name)))
    return checks


def fault_checks(spec: LoadSpec, stalls: list[Stall],
                 open_figures: Mapping[str, float] | None) -> list[Check]:
    """Checks that need no threshold in the marker: a stall (shown only when one happened)
    and, in the open model, dropped iterations (``open_figures``: OpenFigures.as_dict())."""
    checks = []
    if stalls:
        longest = max(stalls, key=lambda s: s.duration_s)
        detail = "; ".join(s.describe() for s in stalls)
        checks.append(Check(TOTAL_SCOPE, "max_stall", spec.max_stall_s, longest.duration_s,
                            False, detail=detail))
    if spec.open is not None and open_figures is not None:
        limit = spec.open.max_dropped_rate
        scheduled, dropped = int(open_figures["scheduled"]), int(open_figures["dropped"])
        measured = dropped / scheduled if scheduled else 0.0
        detail = (f"{dropped} of {scheduled} scheduled iterations dropped: all"
                  f" {int(open_figures['max_users'])} users of the pool (max_users) were"
                  " still busy when they were due" if dropped else "")
        checks.append(Check(TOTAL_SCOPE, "max_dropped_rate", limit, measured,
                            measured <= limit, detail=detail))
    return checks


def format_table(checks: list[Check], *, reference_p50_ms: float | None = None) -> str:
    """A plain-text table: scope, threshold, limit, measured, (baseline,) verdict."""
    return format_check_table(checks, reference_p50_ms=reference_p50_ms)
