"""Calibration: the run-to-run spread of each figure, and limits suggested from it.

``--loadgate-calibrate N`` runs each selected load test N times unchanged. For every scope
(total and endpoint) and metric it reports median, spread (coefficient of variation, min, max),
a suggested limit, and how many of the N runs would have breached it; plus how many breached the
limit the marker sets today. Latency limits are suggested as 1.5× the median (the margin that gave
no false alarms here while still catching a 2× slowdown), raised to 1.1× the worst run if some run
already exceeds that; throughput as 0.7× the median, lowered likewise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

CALIBRATED_METRICS = ("p50", "p95", "p99", "rps", "error_rate")
LATENCY_MARGIN = 1.5
RPS_MARGIN = 0.7
WORST_MARGIN = 1.1
_MARKER_KEY = {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms", "rps": "min_rps",
               "error_rate": "max_error_rate"}


def _breaches(metric: str, values: Sequence[float], limit: float) -> int:
    if metric == "rps":
        return sum(v < limit for v in values)
    return sum(v > limit for v in values)


def suggest(metric: str, values: Sequence[float]) -> float:
    """A limit the observed runs respect, with margin."""
    median = statistics.median(values)
    if metric == "rps":
        return round(min(median * RPS_MARGIN, min(values) / WORST_MARGIN), 1)
    if metric == "error_rate":
        return round(max(0.01, max(values) * 2), 4)
    return round(max(median * LATENCY_MARGIN, max(values) * WORST_MARGIN), 1)


def calibrate(test: str, runs: Sequence[Mapping[str, Mapping[str, float]]],
              configured: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Rows per scope and metric from the figures of N runs (``baseline.figures_of`` shape).

    ``configured`` maps scope → marker threshold key → limit (what the marker sets today).
    """
    rows = []
    scopes = sorted({s for r in runs for s in r}, key=lambda s: (s != "total", s))
    for scope in scopes:
        for metric in CALIBRATED_METRICS:
            values = [float(r[scope][metric]) for r in runs
                      if scope in r and r[scope].get(metric) is not None
                      and not math.isnan(float(r[scope][metric]))]
            if len(values) < 2:
                continue
            mean = statistics.fmean(values)
            limit = suggest(metric, values)
            current = configured.get(scope, {}).get(_MARKER_KEY[metric])
            rows.append({
                "test": test, "scope": scope, "metric": metric, "runs": len(values),
                "median": round(statistics.median(values), 4),
                "cv": round(statistics.stdev(values) / mean, 3) if mean else 0.0,
                "min": round(min(values), 4), "max": round(max(values), 4),
                "suggested": limit, "suggested_false_alarms": _breaches(metric, values, limit),
                "configured": current,
                "configured_false_alarms": (None if current is None
                                            else _breaches(metric, values, current)),
            })
    return rows


def format_rows(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Terminal lines of a calibration table."""
    head = ("scope", "metric", "median", "cv", "min", "max", "suggest", "alarms",
            "marker", "alarms")
    table = [head]
    for r in rows:
        n = r["runs"]
        table.append((r["scope"], r["metric"], f"{r['median']:g}", f"{r['cv'] * 100:.1f}%",
                      f"{r['min']:g}", f"{r['max']:g}", f"{r['suggested']:g}",
                      f"{r['suggested_false_alarms']}/{n}",
                      "-" if r["configured"] is None else f"{r['configured']:g}",
                      "-" if r["configured_false_alarms"] is None
                      else f"{r['configured_false_alarms']}/{n}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table]
