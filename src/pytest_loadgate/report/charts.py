"""Inline SVG charts of a run for ``index.html``: throughput and p95 latency over time.

Each chart has labelled axes with ticks, the verdict window shaded, and, when the run was
compared with a baseline, the baseline's median as a dashed line with the band the rule allows
around it. The latency chart draws the total's p95 and each endpoint's (the most frequent
:data:`MAX_ENDPOINT_LINES`). Plain SVG and CSS classes: no script, nothing fetched.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_loadgate.report.schema import ChartPoint, CheckRecord, SummaryRow
from pytest_loadgate.report.units import Unit, format_figure

WIDTH = 600
HEIGHT = 230
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 44
MAX_ENDPOINT_LINES = 8
TOTAL_COLOR = "#202124"
RPS_COLOR = "#1a73e8"
PALETTE = ("#e37400", "#188038", "#9334e6", "#d93025", "#12b5cb", "#b06000", "#f538a0",
           "#5f6368")


@dataclass(frozen=True)
class Series:
    """One line: a value per point (None: no requests in that second)."""

    label: str
    color: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Band:
    """A baseline: its median (dashed line) and the limit its rule allows (band edge)."""

    label: str
    color: str
    baseline: float
    limit: float


def nice_step(span: float, count: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^n) giving about ``count`` ticks over ``span``."""
    raw = max(span, 1e-9) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)


def ticks(top: float, count: int = 5) -> list[float]:
    """Tick values from 0 up to the first round value at or above ``top``."""
    step = nice_step(top, count)
    return [round(i * step, 10) for i in range(math.ceil(top / step - 1e-9) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}" if value < 1e5 else f"{value:.3g}"


class Plot:
    """Coordinates of one chart: time (or an offered rate) on x, one figure on y, both from
    0."""

    def __init__(self, t_max: float, y_top: float) -> None:
        self.x_ticks = ticks(max(t_max, 1.0), 8)
        self.y_ticks = ticks(y_top if y_top > 0 else 1.0, 5)
        self.t_max = self.x_ticks[-1]
        self.y_max = self.y_ticks[-1]
        self.left, self.top = MARGIN_LEFT, MARGIN_TOP
        self.right, self.bottom = WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM

    def x(self, t: float) -> float:
        return self.left + (self.right - self.left) * min(max(t, 0.0), self.t_max) / self.t_max

    def y(self, v: float) -> float:
        return self.bottom - (self.bottom - self.top) * min(max(v, 0.0), self.y_max) / self.y_max

    def axes(self, y_label: str, x_label: str = "time (s)") -> str:
        """Both axes with their ticks, grid lines and labels."""
        parts = ['<g class="axis x">',
                 f'<line x1="{self.left}" y1="{self.bottom}" x2="{self.right}"'
                 f' y2="{self.bottom}"/>']
        for t in self.x_ticks:
            x = self.x(t)
            parts.append(f'<line x1="{x:.1f}" y1="{self.bottom}" x2="{x:.1f}"'
                         f' y2="{self.bottom + 4}"/><text x="{x:.1f}" y="{self.bottom + 16}"'
                         f' text-anchor="middle">{_tick_label(t)}</text>')
        parts.append(f'<text class="axis-label" x="{(self.left + self.right) / 2:.1f}"'
                     f' y="{HEIGHT - 6}" text-anchor="middle">{html.escape(x_label)}</text></g>')
        parts.append('<g class="axis y">'
                     f'<line x1="{self.left}" y1="{self.top}" x2="{self.left}"'
                     f' y2="{self.bottom}"/>')
        for v in self.y_ticks:
            y = self.y(v)
            parts.append(f'<line class="grid" x1="{self.left}" y1="{y:.1f}" x2="{self.right}"'
                         f' y2="{y:.1f}"/><text x="{self.left - 6}" y="{y + 4:.1f}"'
                         f' text-anchor="end">{_tick_label(v)}</text>')
        middle = (self.top + self.bottom) / 2
        parts.append(f'<text class="axis-label" x="14" y="{middle:.1f}" text-anchor="middle"'
                     f' transform="rotate(-90 14 {middle:.1f})">{html.escape(y_label)}</text>'
                     "</g>")
        return "".join(parts)

    def window(self, window: Sequence[float] | None) -> str:
        if not window or len(window) != 2:
            return ""
        x0, x1 = self.x(window[0]), self.x(window[1])
        return (f'<rect class="window" x="{x0:.1f}" y="{self.top}"'
                f' width="{max(x1 - x0, 0.0):.1f}" height="{self.bottom - self.top}">'
                f"<title>verdict window {window[0]:.1f}-{window[1]:.1f} s</title></rect>")

    def band(self, band: Band) -> str:
        lo, hi = sorted((band.baseline, band.limit))
        y_hi, y_lo, y_base = self.y(hi), self.y(lo), self.y(band.baseline)
        return (f'<g class="baseline-band"><rect x="{self.left}" y="{y_hi:.1f}"'
                f' width="{self.right - self.left}" height="{max(y_lo - y_hi, 1.0):.1f}"'
                f' fill="{band.color}"/><line x1="{self.left}" y1="{y_base:.1f}"'
                f' x2="{self.right}" y2="{y_base:.1f}" stroke="{band.color}"/>'
                f"<title>{html.escape(band.label)}</title></g>")

    def line(self, times: Sequence[float], series: Series) -> str:
        """A path through the series' points, broken where a second had no value."""
        commands, pen_down = [], False
        for t, v in zip(times, series.values, strict=True):
            if v is None:
                pen_down = False
                continue
            commands.append(f"{'L' if pen_down else 'M'}{self.x(t):.1f},{self.y(v):.1f}")
            pen_down = True
        return (f'<path class="series" d="{" ".join(commands)}" stroke="{series.color}"'
                f' fill="none"><title>{html.escape(series.label)}</title></path>')


def legend(entries: Sequence[tuple[str, str, str]]) -> str:
    """``(kind, color, label)`` entries under a chart: kind ``line``, ``band`` or ``window``."""
    items = "".join(
        f'<li class="{kind}"><span class="swatch" style="--c: {color}"></span>'
        f"{html.escape(label)}</li>" for kind, color, label in entries)
    return f'<ul class="legend">{items}</ul>'


def midpoints(points: Sequence[ChartPoint], end_s: float | None) -> tuple[list[float], float]:
    """Where each point's bin is drawn (its middle), and where the time axis ends."""
    starts = [p.t for p in points]
    step = starts[1] - starts[0] if len(starts) > 1 else 1.0
    ends = [*starts[1:], max(end_s or 0.0, starts[-1] + step)]
    return [(a + b) / 2 for a, b in zip(starts, ends, strict=True)], ends[-1]


def _chart(title: str, y_label: str, row: SummaryRow, series: Sequence[Series],
           bands: Sequence[Band], notes: Sequence[str]) -> str:
    times, t_end = midpoints(row.timeline, row.duration_s)
    window = row.window_s
    values = [v for s in series for v in s.values if v is not None]
    top = max([*values, *(max(b.baseline, b.limit) for b in bands), 0.0])
    plot = Plot(t_end, top * 1.05)
    body = (plot.window(window) + "".join(plot.band(b) for b in bands) + plot.axes(y_label)
            + "".join(plot.line(times, s) for s in series))
    entries = [("line", s.color, s.label) for s in series]
    entries += [("band", b.color, b.label) for b in bands]
    if window:
        entries.append(("window", "#e6f4ea", "verdict window"))
    entries += [("note", "transparent", note) for note in notes]
    return (f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>'
            f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}"'
            f' height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">{body}</svg>'
            f"{legend(entries)}</figure>")


def _regression(checks: Sequence[CheckRecord], scope: str, metric: str) -> CheckRecord | None:
    return next((c for c in checks if c.scope == scope and c.threshold == f"{metric} vs baseline"
                 and c.baseline is not None), None)


def _band(check: CheckRecord | None, color: str, what: str, unit: Unit) -> list[Band]:
    if check is None or check.baseline is None:
        return []
    sign = ">=" if unit == "rps" else "<="
    label = (f"{what}: baseline {format_figure(check.baseline, unit)}"
             f" (allowed {sign} {format_figure(check.limit, unit)})")
    return [Band(label, color, check.baseline, check.limit)]


def throughput_chart(row: SummaryRow) -> str:
    points = row.timeline
    series = [Series("requests/s (all endpoints)", RPS_COLOR, tuple(p.rps for p in points))]
    bands = _band(_regression(row.checks, "total", "rps"), RPS_COLOR, "total rps", "rps")
    return _chart("Throughput", "requests/s", row, series, bands, [])


def latency_chart(row: SummaryRow) -> str:
    points = row.timeline
    counts: dict[str, int] = {}
    for p in points:
        for name, value in p.endpoints.items():
            if value is not None:
                counts[name] = counts.get(name, 0) + 1
    names = sorted(counts, key=lambda n: (-counts[n], n))
    drawn = sorted(names[:MAX_ENDPOINT_LINES])
    series = [Series("p95, all endpoints", TOTAL_COLOR, tuple(p.p95 for p in points))]
    bands = _band(_regression(row.checks, "total", "p95"), TOTAL_COLOR, "total p95", "ms")
    for i, name in enumerate(drawn):
        color = PALETTE[i % len(PALETTE)]
        series.append(Series(f"p95 {name}", color,
                             tuple(p.endpoints.get(name) for p in points)))
        bands += _band(_regression(row.checks, name, "p95"), color, f"{name} p95", "ms")
    notes = ([f"{len(names) - len(drawn)} less frequent endpoint(s) not drawn"]
             if len(names) > len(drawn) else [])
    return _chart("Latency (p95 per second)", "latency p95 (ms)", row, series, bands, notes)


def run_charts(row: SummaryRow) -> str:
    """Both charts of a run, or nothing for a run of under two seconds."""
    if len([p for p in row.timeline if p.p95 is not None]) < 2:
        return ""
    return f'<div class="charts">{throughput_chart(row)}{latency_chart(row)}</div>'
