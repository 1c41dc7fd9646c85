"""Judge measured figures against thresholds: one check per (scope, metric)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

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
            return "ratio"
        return base if base in ("rps", "error_rate") else f"{base}_ms"

    @property
    def comparison(self) -> str:
        if self.threshold == "max_stall":
            return "<"  # a stall counts once it lasts max_stall
        return ">=" if self.threshold in ("min_rps", "rps vs baseline") else "<="

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        if isinstance(self.measured, float) and math.isnan(self.measured):
            data["measured"] = None
        if self.baseline is None:
            del data["baseline"], data["allowed"]
        if not self.detail:
            del data["detail"]
        return data

    def describe(self) -> str:
        """A sentence such as ``GET /x p95_ms 612.3 > limit 500``."""
        if self.baseline is not None:
            metric = self.threshold.split(" ", 1)[0]
            if self.measured is None:
                return f"{self.scope} {metric}: in the baseline but not measured in this run"
            if metric == "error_rate":
                return (f"{self.scope} error_rate {format_value('error_rate', self.measured)}"
                        f" vs baseline {format_value('error_rate', self.baseline)}"
                        f" (limit +{(self.allowed or 0) * 100:.2f} points)")
            ratio = self.measured / self.baseline if self.baseline else math.inf
            bound = 1 - (self.allowed or 0) if metric == "rps" else 1 + (self.allowed or 0)
            return (f"{self.scope} {metric} {ratio:.2f}× baseline"
                    f" ({format_value(self.metric, self.measured)} vs"
                    f" {format_value(self.metric, self.baseline)}; limit {bound:.2f}×)")
        if self.threshold == "max_stall" and self.detail:
            return self.detail
        if self.measured is None:
            if self.threshold in SERVER_THRESHOLD_KEYS:
                return f"{self.threshold} set but no server process was watched"
            return f"{self.scope}: {self.threshold} set but the endpoint received no requests"
        op = "OK" if self.passed else ("<" if self.threshold == "min_rps" else ">")
        value = format_value(self.threshold, self.measured)
        limit = format_value(self.threshold, self.limit)
        text = f"{self.scope} {self.threshold} {value} {op} limit {limit}"
        return f"{text} ({self.detail})" if self.detail else text


def format_value(threshold: str, value: float | None) -> str:
    """Render a measured value with its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if threshold.endswith("error_rate") or threshold.endswith("dropped_rate"):
        return f"{value * 100:.2f}%"
    if threshold.endswith("rps"):
        return f"{value:.1f}/s"
    if threshold.endswith("_mb"):
        return f"{value:.1f} MB"
    if threshold == "ratio":
        return f"{value:.2f}×"
    if threshold == "max_stall":
        return f"{value:.1f} s"
    return f"{value:.1f} ms" if value >= 1 else f"{value:g} ms"


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


def format_table(checks: list[Check]) -> str:
    """A plain-text table: scope, threshold, limit, measured, verdict."""
    rows = [("scope", "threshold", "limit", "measured", "verdict")]
    for c in checks:
        verdict = "PASS" if c.passed else ("NO DATA" if c.measured is None else "FAIL")
        rows.append((c.scope, c.threshold, f"{c.comparison} {format_value(c.metric, c.limit)}",
                     format_value(c.metric, c.measured), verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
