"""A run's JSON report against its stored baseline, per endpoint, as markdown (a PR comment)."""

from __future__ import annotations

import time
from pathlib import Path

from pytest_loadgate.report.check_table import check_cells
from pytest_loadgate.report.markdown import VERDICT_MARK, code, table
from pytest_loadgate.report.schema import Figures, RunReport
from pytest_loadgate.report.units import Unit, format_delta, format_figure
from pytest_loadgate.verdict.baseline import Baseline
from pytest_loadgate.verdict.checks import TOTAL_SCOPE

#: Compared figures: column, field of the run's figures, baseline metric, unit.
COLUMNS: tuple[tuple[str, str, str, Unit], ...] = (
    ("rps", "rps", "rps", "rps"),
    ("p50", "p50_ms", "p50", "ms"),
    ("p95", "p95_ms", "p95", "ms"),
    ("p99", "p99_ms", "p99", "ms"),
    ("errors", "error_rate", "error_rate", "percent"),
)


def figure_cell(measured: float | None, baseline: float | None, unit: Unit) -> str:
    """``30.0/s vs 90.6/s (-66.9%)``: this run, the baseline's median, the change."""
    if measured is None and baseline is None:
        return "-"
    if baseline is None:
        return f"{format_figure(measured, unit)} (not in the baseline)"
    if measured is None:
        return f"- vs {format_figure(baseline, unit)} (not in this run)"
    return (f"{format_figure(measured, unit)} vs {format_figure(baseline, unit)}"
            f" ({format_delta(measured, baseline, unit)})")


def scope_cells(scope: str, figures: Figures | None, baseline: Baseline) -> list[str]:
    cells = [code(scope)]
    for _, field_name, metric, unit in COLUMNS:
        measured = getattr(figures, field_name) if figures is not None else None
        cells.append(figure_cell(measured, baseline.median(scope, metric), unit))
    return cells


def compare_markdown(report: RunReport, baseline: Baseline, baseline_path: Path,
                     report_path: Path | None = None) -> str:
    """Every scope (total first, then each endpoint in the run or the baseline) with this
    run's figures beside the baseline's median, then the regression checks the run made."""
    scopes = [TOTAL_SCOPE, *sorted(set(report.endpoints)
                                   | (set(baseline.scopes()) - {TOTAL_SCOPE}))]
    newest = max((float(r.get("created", 0)) for r in baseline.runs), default=0.0)
    recorded = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(newest)) if newest else "?"
    lo, hi = report.window_s
    source = f" (`{report_path.name}`)" if report_path is not None else ""
    lines = [f"### {code(report.test)} against its baseline", "",
             f"This run{source}: {VERDICT_MARK.get(report.verdict, report.verdict)},"
             f" {report.total.requests} requests in the {hi - lo:.1f} s verdict window."
             f" Baseline: the median of {len(baseline.runs)} run(s), the newest recorded"
             f" {recorded} (`{baseline_path}`).", ""]
    lines += table(("endpoint", *(name for name, _, _, _ in COLUMNS)),
                   [scope_cells(scope, report.total if scope == TOTAL_SCOPE
                                else report.endpoints.get(scope), baseline)
                    for scope in scopes],
                   (False, *(True for _ in COLUMNS)))
    checks = [c for c in report.checks if c.baseline is not None]
    if checks:
        reference = report.reference_p50_ms
        lines += ["", "Regression checks of this run (`max_regression`):", ""]
        lines += table(("scope", "metric", "limit", "this run", "baseline", "verdict"),
                       [[scope, threshold.removesuffix(" vs baseline"), limit, measured, base,
                         verdict]
                        for scope, threshold, limit, measured, base, verdict in
                        (check_cells(c, reference_p50_ms=reference) for c in checks)],
                       (False, False, True, True, True, False))
    return "\n".join(lines) + "\n"
