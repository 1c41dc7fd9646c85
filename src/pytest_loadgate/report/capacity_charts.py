"""Inline SVG charts of a capacity search for ``index.html``: what the server delivered, and its
p95 latency, against the offered arrival rate.

The throughput chart draws the achieved rate over the offered rate with the ideal (achieved =
offered) as a dashed diagonal; the latency chart draws p95 with the SLO's ``p95_ms`` as a
dashed horizontal line. On both, every probe is a marker (filled: it met the SLO; hollow red:
it failed it; a triangle: generator-bound, which says nothing about the server) and the
capacity found is a vertical line labelled ``capacity N rps`` (``capacity ≥ N rps`` for a
lower bound). The lines join one point per rate (a validation replaces the short step at its
rate), generator-bound probes left out. Plain SVG and CSS classes: no script, nothing fetched.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pytest_loadgate.capacity.probe import format_rps
from pytest_loadgate.report.charts import (
    HEIGHT,
    RPS_COLOR,
    TOTAL_COLOR,
    WIDTH,
    Plot,
    Series,
    legend,
)
from pytest_loadgate.report.schema import CapacityProbe, CapacityRecord
from pytest_loadgate.report.units import format_figure

PASS_COLOR = "#188038"
FAIL_COLOR = "#d93025"
GENERATOR_COLOR = "#e37400"
IDEAL_COLOR = "#9aa0a6"
CAPACITY_COLOR = "#137333"
SLO_COLOR = "#b3261e"
#: A probe's marker radius, px.
MARKER_RADIUS = 4.0
#: The latency axis ends at this many times the SLO's p95 at most: a failing probe's p95
#: (seconds of timeouts) would flatten every other point; it is drawn at the top.
MAX_SLO_MULTIPLE = 4.0
#: Head room above the highest value on each axis (a ratio).
HEADROOM = 1.05


def capacity_label(cap: CapacityRecord) -> str:
    """``capacity 300 rps``, or ``capacity ≥ 300 rps`` for a lower bound; empty when the search
    found no rate meeting the SLO."""
    if cap.capacity_rps is None:
        return ""
    sign = "≥ " if cap.bound == "at_least" else ""
    return f"capacity {sign}{format_rps(cap.capacity_rps)} rps"


def probe_title(probe: CapacityProbe, validation: bool) -> str:
    """A probe's figures and outcome in one line (its marker's tooltip)."""
    head = f"{format_rps(probe.rate)} rps offered{' (validation)' if validation else ''}"
    figures = (f"{format_figure(probe.achieved_rps, 'rps')} achieved,"
               f" p95 {format_figure(probe.p95_ms, 'ms')},"
               f" errors {format_figure(probe.error_rate, 'percent')}")
    if probe.generator_bound:
        outcome = "generator-bound: says nothing about the server"
    elif probe.slo_passed:
        outcome = "met the SLO"
    else:
        outcome = "failed the SLO" + (f" ({'; '.join(probe.failure_reasons)})"
                                      if probe.failure_reasons else "")
    return f"{head}: {figures}; {outcome}"


def _marker(plot: Plot, probe: CapacityProbe, value: float, validation: bool) -> str:
    x, y = plot.x(probe.rate), plot.y(value)
    kind = "pass" if probe.slo_passed else "fail"
    color = GENERATOR_COLOR if probe.generator_bound else (
        PASS_COLOR if probe.slo_passed else FAIL_COLOR)
    fill = color if probe.slo_passed else "#fff"
    paint = f'fill="{fill}" stroke="{color}" stroke-width="1.5"'
    title = f"<title>{html.escape(probe_title(probe, validation))}</title>"
    if probe.generator_bound:
        r = MARKER_RADIUS + 1
        return (f'<path class="probe {kind} generator-bound" d="M{x:.1f},{y - r:.1f}'
                f' L{x + r:.1f},{y + r * 0.8:.1f} L{x - r:.1f},{y + r * 0.8:.1f} Z" {paint}>'
                f"{title}</path>")
    return (f'<circle class="probe {kind}" cx="{x:.1f}" cy="{y:.1f}" r="{MARKER_RADIUS:g}"'
            f" {paint}>{title}</circle>")


def _capacity_line(plot: Plot, cap: CapacityRecord) -> str:
    if cap.capacity_rps is None:
        return ""
    x = plot.x(cap.capacity_rps)
    anchor, dx = ("end", -4) if x > (plot.left + plot.right) / 2 else ("start", 4)
    return (f'<g class="capacity-line"><line x1="{x:.1f}" y1="{plot.top}" x2="{x:.1f}"'
            f' y2="{plot.bottom}" stroke="{CAPACITY_COLOR}" stroke-width="1.5"'
            f' stroke-dasharray="6 3"/><text x="{x + dx:.1f}" y="{plot.top + 12}"'
            f' text-anchor="{anchor}" fill="{CAPACITY_COLOR}">'
            f"{html.escape(capacity_label(cap))}</text></g>")


def _slo_line(plot: Plot, p95_ms: float) -> str:
    y = plot.y(p95_ms)
    return (f'<g class="slo-line"><line x1="{plot.left}" y1="{y:.1f}" x2="{plot.right}"'
            f' y2="{y:.1f}" stroke="{SLO_COLOR}" stroke-width="1.2" stroke-dasharray="4 3"/>'
            f'<text x="{plot.right - 4}" y="{y - 4:.1f}" text-anchor="end" fill="{SLO_COLOR}">'
            f"SLO p95 ≤ {p95_ms:g} ms</text></g>")


def server_points(probes: Sequence[CapacityProbe]) -> list[CapacityProbe]:
    """The probes that measured the server, one per rate (the last: a validation), sorted by
    offered rate."""
    by_rate = {p.rate: p for p in probes if not p.generator_bound}
    return [by_rate[rate] for rate in sorted(by_rate)]


def _figure(title: str, body: str, entries: Sequence[tuple[str, str, str]]) -> str:
    return (f'<figure class="capacity-chart"><figcaption>{html.escape(title)}</figcaption>'
            f'<svg class="chart capacity" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}"'
            f' height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">{body}</svg>'
            f"{legend(entries)}</figure>")


def _marker_entries(cap: CapacityRecord) -> list[tuple[str, str, str]]:
    entries = [("band", CAPACITY_COLOR, capacity_label(cap))] \
        if cap.capacity_rps is not None else []
    if any(p.slo_passed and not p.generator_bound for p in cap.probes):
        entries.append(("pass", PASS_COLOR, "probe met the SLO"))
    if any(not p.slo_passed and not p.generator_bound for p in cap.probes):
        entries.append(("fail", FAIL_COLOR, "probe failed the SLO"))
    if any(p.generator_bound for p in cap.probes):
        entries.append(("generator", GENERATOR_COLOR,
                        "generator-bound probe (says nothing about the server)"))
    return entries


def _x_top(cap: CapacityRecord) -> float:
    return max([p.rate for p in cap.probes] + [cap.capacity_rps or 0.0]) * HEADROOM


def achieved_chart(cap: CapacityRecord) -> str:
    """The achieved rate against the offered rate, with the ideal diagonal."""
    probes = cap.probes
    top = max([p.achieved_rps for p in probes] + [p.rate for p in probes])
    plot = Plot(_x_top(cap), top * HEADROOM)
    end = min(plot.t_max, plot.y_max)
    ideal = (f'<line class="ideal" x1="{plot.x(0):.1f}" y1="{plot.y(0):.1f}"'
             f' x2="{plot.x(end):.1f}" y2="{plot.y(end):.1f}" stroke="{IDEAL_COLOR}"'
             f' stroke-width="1.2" stroke-dasharray="5 3"/>')
    points = server_points(probes)
    line = plot.line([p.rate for p in points],
                     Series("achieved rate", RPS_COLOR, tuple(p.achieved_rps for p in points)))
    markers = "".join(_marker(plot, p, p.achieved_rps, v)
                      for p, v in zip(probes, cap.validations(), strict=True))
    body = (plot.axes("achieved rate (rps)", "offered rate (rps)") + ideal
            + _capacity_line(plot, cap) + line + markers)
    entries = [("line", RPS_COLOR, "achieved rate"),
               ("band", IDEAL_COLOR, "ideal: achieved = offered"), *_marker_entries(cap)]
    return _figure("Capacity: achieved vs offered rate", body, entries)


def latency_chart(cap: CapacityRecord) -> str:
    """p95 against the offered rate, with the SLO's p95 limit."""
    probes = cap.probes
    slo_p95 = cap.slo.get("p95_ms")
    values = [p.p95_ms for p in probes if p.p95_ms is not None]
    top = max([*values, slo_p95 or 0.0])
    if slo_p95:
        top = min(top, slo_p95 * MAX_SLO_MULTIPLE)
    plot = Plot(_x_top(cap), top * HEADROOM)
    points = server_points(probes)
    line = plot.line([p.rate for p in points],
                     Series("p95", TOTAL_COLOR, tuple(p.p95_ms for p in points)))
    markers = "".join(_marker(plot, p, p.p95_ms, v)
                      for p, v in zip(probes, cap.validations(), strict=True)
                      if p.p95_ms is not None)
    body = (plot.axes("latency p95 (ms)", "offered rate (rps)")
            + (_slo_line(plot, slo_p95) if slo_p95 else "") + _capacity_line(plot, cap)
            + line + markers)
    entries = [("line", TOTAL_COLOR, "p95")]
    if slo_p95:
        entries.append(("band", SLO_COLOR, f"SLO p95 ≤ {slo_p95:g} ms"))
    entries += _marker_entries(cap)
    if any(v > plot.y_max for v in values):
        entries.append(("note", "transparent", f"p95 above {plot.y_max:g} ms drawn at the top"))
    return _figure("Capacity: p95 vs offered rate", body, entries)


def capacity_charts(cap: CapacityRecord) -> str:
    """Both charts of a capacity search and its knee as their caption; nothing without
    probes."""
    if not cap.probes:
        return ""
    knee = f'<p class="knee">{html.escape(cap.knee)}</p>' if cap.knee else ""
    return f'<div class="charts capacity">{achieved_chart(cap)}{latency_chart(cap)}</div>{knee}'
