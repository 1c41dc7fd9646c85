"""A run's JSON report condensed to its summary row: one path for the session and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_loadgate.report.check_table import describe_check
from pytest_loadgate.report.schema import ChartPoint, RunReport, SummaryRow, TimelinePoint

#: The index's charts draw at most this many points per run; longer runs are binned.
MAX_CHART_POINTS = 300


def _max(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def chart_points(timeline: Sequence[TimelinePoint], duration_s: float | None = None,
                 max_points: int = MAX_CHART_POINTS) -> list[ChartPoint]:
    """Per-second points for the charts; past ``max_points`` seconds, consecutive seconds are
    merged (mean rps, the highest p95: a spike stays visible). A last second cut short by the
    end of the run (under half a second, whose rate is noise) is left out."""
    if duration_s is not None and len(timeline) > 1:
        step = timeline[1].start_s - timeline[0].start_s
        if duration_s - timeline[-1].start_s < step / 2:
            timeline = timeline[:-1]
    size = max(1, -(-len(timeline) // max_points))  # ceil
    points = []
    for i in range(0, len(timeline), size):
        chunk = timeline[i:i + size]
        names = sorted({name for p in chunk for name in p.endpoints})
        points.append(ChartPoint(
            t=chunk[0].start_s,
            rps=round(sum(p.rps for p in chunk) / len(chunk), 1),
            p95=_max([p.p95_ms for p in chunk]),
            endpoints={name: _max([p.endpoints[name].p95_ms for p in chunk
                                   if name in p.endpoints]) for name in names},
        ))
    return points


def problems_of(report: RunReport) -> list[str]:
    """Everything besides failed checks that a reader must see: problems, broken invariants,
    an abort, notes."""
    return (report.problems
            + [f"invariant {v.get('name')!r}: {v.get('message')}" for v in report.violations]
            + ([report.aborted] if report.aborted else [])
            + [f"note: {n}" for n in report.notes])


def summary_row_of(report: RunReport) -> SummaryRow:
    """The summary row of a run report."""
    total = report.total
    reference = report.reference_p50_ms
    # The open model's pool of users stands in for ``users`` (as in the spec).
    spec_users = report.spec.get("users", report.spec.get("max_users"))
    open_model = "arrival_rate" in report.spec or "arrival_stages" in report.spec
    return SummaryRow(
        test=report.test,
        verdict=report.verdict,
        mode=report.mode,
        users=spec_users if isinstance(spec_users, int) else None,
        requests=total.requests,
        rps=round(total.rps, 1),
        p95_ms=total.p95_ms,
        p99_ms=total.p99_ms,
        error_rate=round(total.error_rate, 4),
        failures=total.failures,
        avg_ms=total.avg_ms,
        p50_ms=total.p50_ms,
        max_ms=total.max_ms,
        failed_checks=[describe_check(c, reference_p50_ms=reference)
                       for c in report.checks if not c.passed],
        checks=report.checks,
        server_resources=report.server_resources,
        generator_cpu_avg=(report.generator_resources or {}).get("cpu_avg"),
        generator_saturated=report.generator_saturated,
        machine_stall=report.machine_stall,
        machine_steal=report.machine_steal,
        pace=report.pace,
        reference=report.reference,
        stalls=report.stalls,
        open=report.open,
        censored=total.censored,
        service_p95_ms=total.service_p95_ms if open_model else None,
        unreliable_reasons=report.unreliable_reasons,
        steps=report.steps,
        window_s=report.window_s,
        duration_s=report.duration_s,
        timeline=chart_points(report.timeline, report.duration_s),
        watched=report.watched,
        problems=problems_of(report),
        files=report.files,
        capacity=report.capacity,
    )
