"""Every figure a report shows, formatted by its unit: one formatter for every view.

A metric's unit follows from its name: ``*_ms`` and latency percentiles are milliseconds,
``rps`` requests per second, ``*error_rate``/``*dropped_rate`` fractions shown as percent,
``p50_rel`` a ratio (×), ``*_s`` seconds, ``*_mb`` megabytes, request counts plain integers.
``p50_ref`` is a scope's p50 above the machine-speed reference in units of the reference's p50:
with the reference's p50 in milliseconds it reads as milliseconds above the reference, never as
a ratio.
"""

from __future__ import annotations

import math
from typing import Literal

Unit = Literal["ms", "ratio", "rps", "percent", "s", "count", "mb", "ref"]

#: Regression metrics (``max_regression`` keys) that are latencies, in milliseconds.
LATENCY_REGRESSION_METRICS = frozenset({"avg", "p50", "p90", "p95", "p99", "max"})
#: Names whose figures are plain counts.
COUNT_METRICS = frozenset({"requests", "failures", "censored", "users", "probes", "dropped",
                           "scheduled", "started"})
#: The suffix of a regression check's threshold name: ``p95 vs baseline``.
VS_BASELINE = " vs baseline"


def regression_metric(threshold: str) -> str | None:
    """``p95`` for ``p95 vs baseline``; None for a plain threshold."""
    if threshold.endswith(VS_BASELINE):
        return threshold[: -len(VS_BASELINE)]
    return None


def unit_of(metric: str) -> Unit:
    """The unit of a figure, threshold or regression check named ``metric``."""
    base = regression_metric(metric) or metric
    if base == "p50_ref":
        return "ref"
    if base in ("p50_rel", "ratio"):
        return "ratio"
    if base in LATENCY_REGRESSION_METRICS or base.endswith("_ms"):
        return "ms"
    if base.endswith("error_rate") or base.endswith("dropped_rate") or base == "send_rate":
        return "percent"
    if base.endswith("rps") or base == "capacity":
        return "rps"
    if base.endswith("_mb"):
        return "mb"
    if base == "max_stall" or base.endswith("_s"):
        return "s"
    if base in COUNT_METRICS:
        return "count"
    return "ms"  # unknown latency-like keys read best in ms, as the thresholds do


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_figure(value: float | None, unit: Unit, *,
                  reference_p50_ms: float | None = None) -> str:
    """``value`` with its unit: ``7.2 ms``, ``126.3/s``, ``0.50%``, ``1.20×``, ``2.0 s``,
    ``1275``, ``12.0 MB``; ``-`` when there is no value.

    ``ref`` figures (``p50_ref``) are shown in milliseconds above the reference when the
    reference's p50 is known (``12.6 ms above ref``), else in units of it (``6.30 ref``).
    """
    if _missing(value):
        return "-"
    assert value is not None
    if unit == "ms":
        return f"{value:.1f} ms" if abs(value) >= 1 else f"{value:.3f} ms"
    if unit == "rps":
        return f"{value:.1f}/s"
    if unit == "percent":
        return f"{value * 100:.2f}%"
    if unit == "ratio":
        return f"{value:.2f}×"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "mb":
        return f"{value:.1f} MB"
    if unit == "count":
        return f"{int(value)}"
    if reference_p50_ms is not None and reference_p50_ms > 0:
        return f"{format_figure(value * reference_p50_ms, 'ms')} above ref"
    return f"{value:.2f} ref"


def format_metric(metric: str, value: float | None, *,
                  reference_p50_ms: float | None = None) -> str:
    """``value`` formatted by the unit of ``metric`` (see :func:`unit_of`)."""
    return format_figure(value, unit_of(metric), reference_p50_ms=reference_p50_ms)


def format_delta(measured: float | None, baseline: float | None, unit: Unit) -> str:
    """How far ``measured`` moved from ``baseline``: relative (``+12.3%``) for most units,
    percentage points (``+0.50 pts``) for rates that are percentages already."""
    if _missing(measured) or _missing(baseline):
        return "-"
    assert measured is not None and baseline is not None
    if unit == "percent":
        return f"{(measured - baseline) * 100:+.2f} pts"
    if baseline == 0:
        return "-" if measured == 0 else "new"
    return f"{(measured / baseline - 1) * 100:+.1f}%"



def plain_figure(value: float | None, unit: Unit) -> str:
    """A figure for machine-readable output (CSV): the bare number in the unit its column
    names (``p95_ms`` in ms, ``error_rate`` a fraction 0-1), rounded to what is measured;
    empty when there is no value."""
    if _missing(value):
        return ""
    assert value is not None
    if unit == "count":
        return str(int(value))
    digits = {"ms": 3, "rps": 2, "percent": 6, "ratio": 4, "s": 3, "mb": 1, "ref": 4}[unit]
    return str(round(value, digits))
