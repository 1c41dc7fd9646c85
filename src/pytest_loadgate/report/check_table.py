"""A run's checks as table cells: the same cells in the terminal, index.html and markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from pytest_loadgate.report.units import format_metric, regression_metric
from pytest_loadgate.spec import SERVER_THRESHOLD_KEYS

HEADER = ("scope", "threshold", "limit", "measured", "baseline", "verdict")


class CheckLike(Protocol):
    """What a check row needs: a :class:`pytest_loadgate.verdict.checks.Check` or the
    report schema's :class:`pytest_loadgate.report.schema.CheckRecord`."""

    @property
    def scope(self) -> str: ...
    @property
    def threshold(self) -> str: ...
    @property
    def limit(self) -> float: ...
    @property
    def measured(self) -> float | None: ...
    @property
    def passed(self) -> bool: ...
    @property
    def baseline(self) -> float | None: ...
    @property
    def allowed(self) -> float | None: ...
    @property
    def detail(self) -> str: ...


#: Checks whose measured value must reach the limit (the others must stay under it).
AT_LEAST = frozenset({"min_rps", "rps vs baseline", "min_capacity_rps", "capacity vs baseline"})


def comparison_of(threshold: str) -> str:
    """How a check's measured value must stand to its limit."""
    if threshold == "max_stall":
        return "<"  # a stall counts once it lasts max_stall
    return ">=" if threshold in AT_LEAST else "<="


def verdict_word(check: CheckLike) -> str:
    if check.passed:
        return "PASS"
    # Nothing measured but a stated reason (a capacity search that found no rate meeting the
    # SLO): a failure, not missing data.
    return "NO DATA" if check.measured is None and not check.detail else "FAIL"


def check_cells(check: CheckLike, *, reference_p50_ms: float | None = None) -> tuple[str, ...]:
    """``(scope, threshold, limit, measured, baseline, verdict)``, each figure with its unit;
    the baseline cell is ``-`` for checks that are not against a baseline."""
    def fmt(value: float | None) -> str:
        return format_metric(check.threshold, value, reference_p50_ms=reference_p50_ms)

    baseline = fmt(check.baseline) if regression_metric(check.threshold) else "-"
    return (check.scope, check.threshold, f"{comparison_of(check.threshold)} {fmt(check.limit)}",
            fmt(check.measured), baseline, verdict_word(check))


def describe_check(check: CheckLike, *, reference_p50_ms: float | None = None) -> str:
    """A sentence such as ``GET /x p95_ms 612.3 ms > limit 500.0 ms``, or for a regression
    check ``GET /x rps 0.62× baseline (55.1/s vs 88.9/s; limit 0.70×)``."""
    def fmt(value: float | None) -> str:
        return format_metric(check.threshold, value, reference_p50_ms=reference_p50_ms)

    metric = regression_metric(check.threshold)
    if metric is not None and check.baseline is not None:
        if check.measured is None:
            return f"{check.scope} {metric}: in the baseline but not measured in this run"
        if metric == "error_rate":
            return (f"{check.scope} error_rate {fmt(check.measured)} vs baseline"
                    f" {fmt(check.baseline)} (limit +{(check.allowed or 0) * 100:.2f} points)")
        ratio = check.measured / check.baseline if check.baseline else math.inf
        allowed = check.allowed or 0
        bound = 1 - allowed if metric == "rps" else 1 + allowed
        return (f"{check.scope} {metric} {ratio:.2f}× baseline ({fmt(check.measured)} vs"
                f" {fmt(check.baseline)}; limit {bound:.2f}×)")
    if check.threshold == "max_stall" and check.detail:
        return check.detail
    if check.measured is None:
        if check.detail:  # e.g. a capacity search that found none: it says why
            return f"{check.scope} {check.threshold}: {check.detail}"
        if check.threshold in SERVER_THRESHOLD_KEYS:
            return f"{check.threshold} set but no server process was watched"
        return f"{check.scope}: {check.threshold} set but the endpoint received no requests"
    op = "OK" if check.passed else ("<" if check.threshold in AT_LEAST else ">")
    text = f"{check.scope} {check.threshold} {fmt(check.measured)} {op} limit {fmt(check.limit)}"
    return f"{text} ({check.detail})" if check.detail else text


def check_rows(checks: Sequence[CheckLike], *,
               reference_p50_ms: float | None = None) -> list[tuple[str, ...]]:
    """The header and one row per check; the baseline column only when some check has one."""
    with_baseline = any(regression_metric(c.threshold) for c in checks)
    keep = [i for i in range(len(HEADER)) if with_baseline or HEADER[i] != "baseline"]
    rows = [HEADER, *(check_cells(c, reference_p50_ms=reference_p50_ms) for c in checks)]
    return [tuple(row[i] for i in keep) for row in rows]


def format_check_table(checks: Sequence[CheckLike], *,
                       reference_p50_ms: float | None = None) -> str:
    """A plain-text table: scope, threshold, limit, measured, (baseline,) verdict."""
    rows = check_rows(checks, reference_p50_ms=reference_p50_ms)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
